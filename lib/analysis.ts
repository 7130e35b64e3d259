/**
 * Tidy rows for analysis: a run (or a whole results folder) as plain objects that
 * Observable Plot, `simple-statistics`, a spreadsheet or pandas take as they are.
 *
 * - {@linkcode RecordRow}: one per run record (failed ones too), its inputs and status.
 * - {@linkcode MetricRow}: one per run record and metric (latency percentiles of that
 *   record, achieved rate, errors, resources), with the record's inputs repeated.
 * - {@linkcode ResourceRow}: one per run record and measured component.
 * - {@linkcode OverheadRow}: one per overhead figure of `summary.json`, with its
 *   interval, the baseline's noise and the added milliseconds.
 *
 * Per-record percentiles are for inspection: pooled percentiles come from the
 * records' histograms merged ({@linkcode Analysis.histogram} gives each record's),
 * never from averaging rows (METHODOLOGY rule 4).
 *
 * @example
 * ```ts
 * import { tidyRuns } from "./analysis.ts";
 * const data = tidyRuns([]);
 * if (data.rows.length !== 0 || data.empty === undefined) throw new Error("empty");
 * ```
 *
 * @module
 */
import { dirname } from "node:path";
import type * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { emptyHistogram, percentile } from "./histogram.ts";
import {
  type FileProblem,
  implausibleLatency,
  listRunDirs,
  type LoadedRun,
  loadRun,
  NO_RESULTS_HELP,
  resolveRunDir,
} from "./load_results.ts";
import { escapeHtml, type Figure, JUPYTER_DISPLAY, notice, table } from "./figure.ts";
import { meshLabel } from "./format.ts";
import { resultsDir } from "./report.ts";
import { runFileStem } from "./run_dir.ts";
import { readStoredConfig } from "./config.ts";
import { type Measured, recordMetrics } from "./metric_values.ts";
import { isMetricName, metricSpec, RECORD_METRICS } from "./metric_vocabulary.ts";
import type {
  Component,
  Histogram,
  HttpProtocol,
  IntervalMethod,
  LoadMode,
  MeshKind,
  RunRecord,
  RunStatus,
  Sweep,
  TargetName,
  TimingMode,
} from "./types.ts";

/** What identifies a run record in every row: its run and its inputs. */
export interface RecordKey {
  runId: string;
  target: TargetName;
  /** When the run was created (manifest), else the time in its run id (ISO 8601). */
  runDate: string;
  profile: string;
  /** Position in the run's execution order: with `runId`, names the record. */
  seq: number;
  workload: string;
  mesh: string;
  meshKind: MeshKind;
  emulated: boolean;
  /** The mesh as every chart names it: `sidecar-emu (emulated)` for a local stand-in. */
  meshLabel: string;
  mode: LoadMode;
  /** Requested rate per second; null for max-throughput and batch. */
  rate: number | null;
  connections: number;
  /**
   * The series beyond the standard points: `connections` (the connection sweep), `knee` (a
   * step of the knee ramp); null for a standard point. Per-rate views keep null only.
   */
  sweep: Sweep | null;
  /** Request body bytes of the load point (the inference workload's payloads), if any. */
  payloadBytes?: number;
  /** HTTP version of the load point where it is not HTTP/1.1 (`h2c`). */
  httpProtocol?: HttpProtocol;
  iteration: number;
  tool: string;
  /** How latency was timed (null when the run produced no load result). */
  timing: TimingMode | null;
  status: RunStatus;
  /**
   * Why not to take a figure at face value: `emulated` (a local stand-in for the mesh),
   * `saturated` (the rate was not held), `closed-loop` (latency under a closed loop),
   * `not-co-corrected` (open loop timed from the actual send), `suspect-latency`
   * (implausible timings), `errors` (some operations failed).
   */
  flags: string[];
}

/** One run record: its inputs, status and why it failed (failed records have no metrics). */
export interface RecordRow extends RecordKey {
  file: string;
  reason: string;
  achievedRate: number | null;
  operations: number | null;
  errors: number | null;
  durationS: number | null;
}

/** One metric of one run record. */
export interface MetricRow extends RecordKey {
  metric: string;
  value: number;
  unit: string;
}

/** Resource use of one component during one run record's load window. */
export interface ResourceRow extends RecordKey {
  component: Component;
  name: string;
  cpuCores: number;
  cpuSeconds: number;
  memoryPeakMB: number;
  /** CPU-seconds per 1,000 operations of the record (NaN when it completed none). */
  cpuSecondsPer1k: number;
  /**
   * Context switches over the record's window, all of the component's threads (node:
   * node-wide); NaN where they were not counted.
   */
  ctxSwitches: number;
  /** `ctxSwitches` per operation of the same record (NaN when none, or not counted). */
  ctxSwitchesPerOp: number;
  /**
   * Of them, the involuntary ones (the scheduler took the CPU) per operation; NaN where not
   * split (the node's).
   */
  involuntaryCtxSwitchesPerOp: number;
}

/** One proxy's own counters over one run record's window (see `proxy_counters.ts`). */
export interface ProxyRow extends RecordKey {
  name: string;
  software: string;
  /** Operations the load generator completed in the record. */
  operations: number;
  /** The shared counters; NaN where the proxy does not count one. */
  downstreamConnections: number;
  downstreamRequests: number;
  upstreamConnections: number;
  upstreamRequests: number;
  retries: number;
  upstreamConnectFailures: number;
  resets: number;
}

/** One overhead figure of a run's summary: mesh vs baseline, pooled over iterations. */
export interface OverheadRow {
  runId: string;
  target: TargetName;
  runDate: string;
  profile: string;
  workload: string;
  mesh: string;
  emulated: boolean;
  /** The mesh as every chart names it: `sidecar-emu (emulated)` for a local stand-in. */
  meshLabel: string;
  /**
   * The load mode the figure pools: fixed-rate when it has a rate, else the metric's
   * other load mode in `metric_vocabulary.ts` (max-throughput for `throughput_rps`).
   */
  mode: LoadMode;
  rate: number | null;
  /** Request body bytes of the load point, where it has one. */
  payloadBytes?: number;
  /** HTTP version of the load point where it is not HTTP/1.1 (`h2c`). */
  httpProtocol?: HttpProtocol;
  /** The load tool of the pooled records. */
  tool: string;
  metric: string;
  unit: string;
  basis: "relative" | "share-of-baseline-app";
  baseline: number;
  value: number;
  overheadPct: number;
  /** 95 % bootstrap interval of `overheadPct`; NaN when there is none (one iteration). */
  ciLow: number;
  ciHigh: number;
  /** How the interval was obtained (`exact`, `sampled`, `too-few-iterations`); null in v1. */
  ciMethod: IntervalMethod | null;
  /**
   * What the mesh added in milliseconds (the vocabulary's `addedLatency` metrics, null for
   * others): the summary's own `deltaMs` when it has one, else value minus baseline of the
   * pooled figures.
   */
  deltaMs: number | null;
  /** 95 % interval of `deltaMs` (summaries of schema version 2; NaN otherwise). */
  deltaMsCiLow: number;
  deltaMsCiHigh: number;
  /** Null when the baseline has a single iteration (no variation to measure). */
  baselineCvPct: number | null;
  iterationsBaseline: number;
  iterationsMesh: number;
  /**
   * `emulated`, `saturated`, `noisy-baseline`, `no-interval`, `ci-includes-zero`,
   * `few-iterations` (fewer than 3 a side).
   */
  flags: string[];
}

/** Which runs of a results folder to read. Every given condition must hold. */
export interface RunFilter {
  /** Runs created at or after this date (ISO 8601, e.g. `2026-11-01`). */
  since?: string;
  /** Runs created before this date (ISO 8601). */
  until?: string;
  target?: TargetName;
  profile?: string;
  /**
   * Values the run's effective configuration must have, by dotted path:
   * `{ "load.durationS": 30, iterations: 5 }`.
   */
  config?: Record<string, unknown>;
  /** Only these run ids. */
  runIds?: string[];
}

/** Rows of one or more runs, and how to get back to their histograms. */
export interface Analysis {
  /** The runs read, oldest first. */
  runs: LoadedRun[];
  records: RecordRow[];
  rows: MetricRow[];
  resources: ResourceRow[];
  /** One row per run record and proxy whose own counters were read. */
  proxies: ProxyRow[];
  overheads: OverheadRow[];
  /** Files that could not be read (the rest is kept), per run. */
  problems: FileProblem[];
  /**
   * Why there is nothing to analyse (no results folder, no run matched the filter, no
   * valid record), in words with what to do; undefined when there are rows.
   */
  empty?: string;
  /** The latency histogram of the record a row belongs to (empty when it has none). */
  histogram(row: Pick<RecordKey, "runId" | "seq">): Histogram;
}

/** Units of the per-record metrics, in row order (declared in `metric_vocabulary.ts`). */
export const METRIC_UNITS: Readonly<Record<string, string>> = Object.fromEntries(
  RECORD_METRICS.map((m) => [m.name, m.unit]),
);

const RUN_ID_TIME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/;

/** When a run was made: its manifest's `createdAt`, else the time its run id carries. */
export function runDate(run: Pick<LoadedRun, "runId" | "manifest">): string {
  if (run.manifest?.createdAt) return run.manifest.createdAt;
  const m = RUN_ID_TIME.exec(run.runId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : "";
}

function recordFlags(r: RunRecord): string[] {
  const flags: string[] = [];
  if (r.mesh.emulated) flags.push("emulated");
  if (r.status === "saturated") flags.push("saturated");
  if (r.load?.timing === "closed-loop") flags.push("closed-loop");
  if (r.load?.timing === "actual-send" || r.load?.timing === "paced") {
    flags.push("not-co-corrected");
  }
  if (implausibleLatency(r)) flags.push("suspect-latency");
  if ((r.load?.errors ?? 0) > 0) flags.push("errors");
  return flags;
}

/** Rows of one loaded run (pure). */
function tidyRun(run: LoadedRun, hist: Map<string, Histogram>) {
  const target = run.manifest?.target ?? run.summary?.target ?? run.runs[0]?.target ?? "local";
  const date = runDate(run);
  const profile = run.manifest?.profile ?? "";
  const records: RecordRow[] = [];
  const rows: MetricRow[] = [];
  const resources: ResourceRow[] = [];
  const proxies: ProxyRow[] = [];
  for (const r of run.runs) {
    const key: RecordKey = {
      runId: run.runId,
      target,
      runDate: date,
      profile,
      seq: r.spec.seq,
      workload: r.spec.workload,
      mesh: r.spec.mesh,
      meshKind: r.mesh.kind,
      emulated: r.mesh.emulated,
      meshLabel: meshLabel(r.mesh.name, r.mesh.emulated),
      mode: r.spec.point.mode,
      rate: r.spec.point.rate,
      connections: r.spec.point.connections,
      sweep: r.spec.point.sweep ?? null,
      ...(r.spec.point.payloadBytes !== undefined
        ? { payloadBytes: r.spec.point.payloadBytes }
        : {}),
      ...(r.spec.point.httpProtocol ? { httpProtocol: r.spec.point.httpProtocol } : {}),
      iteration: r.spec.iteration,
      tool: r.spec.point.tool,
      timing: r.load?.timing ?? null,
      status: r.status,
      flags: recordFlags(r),
    };
    records.push({
      ...key,
      file: `${runFileStem(r)}.json`,
      reason: r.reason ?? "",
      achievedRate: r.load?.achievedRate ?? null,
      operations: r.load?.operations ?? null,
      errors: r.load?.errors ?? null,
      durationS: r.load?.durationS ?? null,
    });
    if (r.load) hist.set(`${run.runId}|${r.spec.seq}`, r.load.latency);
    // A failed or interrupted record measured nothing: it is a record row, not a value.
    if ((r.status !== "ok" && r.status !== "saturated") || !r.load) continue;
    for (const [metric, value] of recordMetrics(r as Measured)) {
      rows.push({ ...key, metric, value, unit: METRIC_UNITS[metric] });
    }
    const ops = r.load?.operations ?? 0;
    for (const x of r.resources) {
      resources.push({
        ...key,
        component: x.component,
        name: x.name,
        cpuCores: x.cpuCores,
        cpuSeconds: x.cpuSeconds,
        memoryPeakMB: x.memoryPeakMB,
        cpuSecondsPer1k: ops > 0 ? (x.cpuSeconds / ops) * 1000 : NaN,
        ctxSwitches: x.contextSwitches?.total ?? NaN,
        ctxSwitchesPerOp: x.contextSwitches && ops > 0 ? x.contextSwitches.total / ops : NaN,
        involuntaryCtxSwitchesPerOp: x.contextSwitches?.involuntary !== undefined && ops > 0
          ? x.contextSwitches.involuntary / ops
          : NaN,
      });
    }
    for (const p of r.proxies ?? []) {
      proxies.push({
        ...key,
        name: p.name,
        software: p.software,
        operations: ops,
        downstreamConnections: p.downstreamConnections ?? NaN,
        downstreamRequests: p.downstreamRequests ?? NaN,
        upstreamConnections: p.upstreamConnections ?? NaN,
        upstreamRequests: p.upstreamRequests ?? NaN,
        retries: p.retries ?? NaN,
        upstreamConnectFailures: p.upstreamConnectFailures ?? NaN,
        resets: p.resets ?? NaN,
      });
    }
  }
  const overheads: OverheadRow[] = (run.summary?.overheads ?? []).map((o) => {
    const spec = isMetricName(o.metric) ? metricSpec(o.metric) : undefined;
    // A figure with a rate pools fixed-rate runs; without, the metric's other mode.
    const mode: LoadMode = o.rate !== null
      ? "fixed-rate"
      : spec?.appliesTo.find((m) => m !== "fixed-rate") ?? "max-throughput";
    const group = run.summary?.groups.find((g) =>
      g.workload === o.workload && g.mesh === o.mesh && g.mode === mode && g.rate === o.rate &&
      g.payloadBytes === o.payloadBytes && g.httpProtocol === o.httpProtocol
    );
    // JSON has null where a bound is NaN (no interval from a single iteration).
    const bound = (v: unknown) => (typeof v === "number" ? v : NaN);
    const [ciLow, ciHigh] = [bound(o.ci95?.[0]), bound(o.ci95?.[1])];
    const flags: string[] = [];
    if (o.emulated) flags.push("emulated");
    if (o.saturated) flags.push("saturated");
    if (o.noisyBaseline) flags.push("noisy-baseline");
    if (!Number.isFinite(ciLow) || !Number.isFinite(ciHigh)) flags.push("no-interval");
    else if (ciLow <= 0 && ciHigh >= 0) flags.push("ci-includes-zero");
    if (Math.min(o.iterations.baseline, o.iterations.mesh) < 3) flags.push("few-iterations");
    return {
      runId: run.runId,
      target,
      runDate: date,
      profile,
      workload: o.workload,
      mesh: o.mesh,
      emulated: o.emulated,
      meshLabel: meshLabel(o.mesh, o.emulated),
      mode,
      rate: o.rate,
      ...(o.payloadBytes !== undefined ? { payloadBytes: o.payloadBytes } : {}),
      ...(o.httpProtocol ? { httpProtocol: o.httpProtocol } : {}),
      tool: group?.tool ?? "",
      metric: o.metric,
      unit: o.unit,
      basis: o.basis,
      baseline: o.baseline,
      value: o.value,
      overheadPct: o.overheadPct,
      ciLow,
      ciHigh,
      ciMethod: o.ciMethod ?? null,
      deltaMs: typeof o.deltaMs === "number"
        ? o.deltaMs
        : spec?.addedLatency
        ? o.value - o.baseline
        : null,
      deltaMsCiLow: bound(o.deltaMsCi95?.[0]),
      deltaMsCiHigh: bound(o.deltaMsCi95?.[1]),
      baselineCvPct: o.baselineCvPct,
      iterationsBaseline: o.iterations.baseline,
      iterationsMesh: o.iterations.mesh,
      flags,
    };
  });
  return { records, rows, resources, proxies, overheads };
}

/** Rows of runs already loaded (pure): the building block of the loaders below. */
export function tidyRuns(runs: readonly LoadedRun[], why?: string): Analysis {
  const hist = new Map<string, Histogram>();
  const out: Analysis = {
    runs: [...runs],
    records: [],
    rows: [],
    resources: [],
    proxies: [],
    overheads: [],
    problems: runs.flatMap((r) => r.problems),
    histogram: (row) => hist.get(`${row.runId}|${row.seq}`) ?? emptyHistogram(),
  };
  for (const run of runs) {
    const t = tidyRun(run, hist);
    out.records.push(...t.records);
    out.rows.push(...t.rows);
    out.resources.push(...t.resources);
    out.proxies.push(...t.proxies);
    out.overheads.push(...t.overheads);
  }
  if (out.rows.length === 0 && out.overheads.length === 0) {
    out.empty = why ??
      (runs.length === 0
        ? NO_RESULTS_HELP
        : `The ${runs.length === 1 ? "run" : `${runs.length} runs`} read (` +
          `${runs.map((r) => r.runId).join(", ")}) ha${runs.length === 1 ? "s" : "ve"} no ` +
          `valid measured run record${
            runs[0].problems.length ? ": see the problems listed above" : ""
          }.`);
  }
  return out;
}

/**
 * Reads one run: `dir`, else `$MESHBENCH_RUN_DIR`, else the newest under the results
 * folder (`$MESHBENCH_RESULTS`, default the repository's `results/`).
 */
export async function analyseRun(dir?: string): Promise<Analysis> {
  const resolved = await resolveRunDir(dir, { resultsDir: resultsDir() });
  if (!resolved) return tidyRuns([]);
  return tidyRuns([await loadRun(resolved)]);
}

function configAt(config: Record<string, unknown>, path: string): unknown {
  let v: unknown = config;
  for (const k of path.split(".")) {
    v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  }
  return v;
}

/** Why a run fails `filter`, or undefined when it passes. */
export function filterMismatch(run: LoadedRun, filter: RunFilter): string | undefined {
  const date = runDate(run);
  const target = run.manifest?.target ?? run.summary?.target ?? run.runs[0]?.target;
  if (filter.runIds && !filter.runIds.includes(run.runId)) return "not among the run ids asked";
  if (filter.since && !(date >= new Date(filter.since).toISOString())) {
    return `created ${date || "at an unknown time"}, before ${filter.since}`;
  }
  if (filter.until && !(date < new Date(filter.until).toISOString())) {
    return `created ${date || "at an unknown time"}, not before ${filter.until}`;
  }
  if (filter.target && target !== filter.target) return `target ${target}, not ${filter.target}`;
  if (filter.profile && run.manifest?.profile !== filter.profile) {
    return `profile ${run.manifest?.profile ?? "unknown"}, not ${filter.profile}`;
  }
  for (const [path, want] of Object.entries(filter.config ?? {})) {
    const have = run.manifest ? configAt(run.manifest.config, path) : undefined;
    if (JSON.stringify(have) !== JSON.stringify(want)) {
      return `config ${path} is ${JSON.stringify(have)}, not ${JSON.stringify(want)}`;
    }
  }
  return undefined;
}

function checkFilter(filter: RunFilter): void {
  for (const k of ["since", "until"] as const) {
    const v = filter[k];
    if (v !== undefined && Number.isNaN(Date.parse(v))) {
      throw new RangeError(`Cannot filter runs by "${k}": expected an ISO 8601 date, got "${v}"`);
    }
  }
}

/**
 * The results folder notebooks read many runs from: `$MESHBENCH_RESULTS`, else the folder
 * holding `$MESHBENCH_RUN_DIR` (the run the other notebooks read, and its neighbours),
 * else the repository's `results/`.
 */
export function resultsFolder(): string {
  if (Deno.env.get("MESHBENCH_RESULTS")) return resultsDir();
  const run = Deno.env.get("MESHBENCH_RUN_DIR");
  return run ? dirname(run) : resultsDir();
}

/**
 * Reads every run under a results folder (default {@linkcode resultsFolder}) that passes
 * `filter`, oldest first. Runs left out and why are in `skipped`.
 */
export async function analyseResults(
  dir: string = resultsFolder(),
  filter: RunFilter = {},
): Promise<Analysis & { skipped: Array<{ runId: string; why: string }> }> {
  checkFilter(filter);
  const all = await Promise.all((await listRunDirs(dir)).map(loadRun));
  const kept: LoadedRun[] = [];
  const skipped: Array<{ runId: string; why: string }> = [];
  for (const run of all) {
    const why = filterMismatch(run, filter);
    if (why) skipped.push({ runId: run.runId, why });
    else kept.push(run);
  }
  const why = all.length === 0
    ? `${NO_RESULTS_HELP} (Looked in "${dir}".)`
    : kept.length === 0
    ? `None of the ${all.length} runs in "${dir}" passes the filter ` +
      `${JSON.stringify(filter)}: ${skipped.map((s) => `${s.runId} ${s.why}`).join("; ")}.`
    : undefined;
  return { ...tidyRuns(kept, why), skipped };
}

/** How a run's summary computed its overheads: what a notebook needs to repeat them. */
export interface StatsSettings {
  baselineMesh: string;
  seed: number;
  resamples: number;
  confidence: number;
  /** Baseline CV (%) above which an overhead is flagged `noisy-baseline`. */
  noisyCvPct: number;
  /** `manifest` when the run's manifest recorded them all, else which were defaulted. */
  source: string;
}

/** The statistics settings a run was summarised with (its manifest's config). */
export function statsSettings(run: Pick<LoadedRun, "manifest" | "summary">): StatsSettings {
  // The values collect (and the reader's recomputation) use when the config lacks them.
  const { config, defaulted } = readStoredConfig(run.manifest?.config ?? {});
  const used = ["seed", "bootstrap.resamples", "bootstrap.confidence", "noisyCvPct"];
  const missing = used.filter((p) => defaulted.includes(p))
    .map((p) => `${p}=${configAt(config as unknown as Record<string, unknown>, p)}`);
  return {
    baselineMesh: run.summary?.baselineMesh ?? "baseline",
    seed: config.seed,
    resamples: config.bootstrap.resamples,
    confidence: config.bootstrap.confidence,
    noisyCvPct: config.noisyCvPct,
    source: missing.length ? `defaults (${missing.join(", ")})` : "manifest",
  };
}

/** Values of `key` in `rows`, distinct, in first-seen order. */
export function distinct<T, K extends keyof T>(rows: readonly T[], key: K): T[K][] {
  return [...new Set(rows.map((r) => r[key]))];
}

/**
 * The percentile spectrum of a histogram, for a "nines" axis: one point per bucket,
 * the share of values at or below it (`p`, 0-100), its value in ms, and
 * `nines` = 1 / (1 - p/100) (2 at p50, 100 at p99), capped where p reaches 100.
 */
export function spectrum(h: Histogram): Array<{ p: number; ms: number; nines: number }> {
  const out: Array<{ p: number; ms: number; nines: number }> = [];
  let seen = 0;
  for (let i = 0; i < h.values.length; i++) {
    seen += h.counts[i];
    const p = (100 * seen) / h.total;
    const ms = Math.min(h.values[i], h.max) / 1000;
    out.push({ p, ms, nines: p >= 100 ? h.total : 1 / (1 - p / 100) });
  }
  return out;
}

/** `percentile` of the histogram in milliseconds (the histogram stores microseconds). */
export function percentileMs(h: Histogram, p: number): number {
  return percentile(h, p) / 1000;
}

// ---------------------------------------------------------------------------------------
// CSV

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  const s = Array.isArray(v) ? v.join(";") : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Rows as CSV (RFC 4180, header first, `\r\n` line ends); arrays joined with `;`. */
export function toCsv<T extends object>(rows: readonly T[], columns: readonly (keyof T)[]): string {
  const lines = [columns.map((c) => csvCell(String(c))).join(",")];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

const KEY_COLUMNS: (keyof RecordKey)[] = [
  "runId",
  "target",
  "runDate",
  "profile",
  "seq",
  "workload",
  "mesh",
  "meshKind",
  "emulated",
  "mode",
  "rate",
  "connections",
  "sweep",
  "iteration",
  "tool",
  "timing",
  "status",
  "flags",
];

const RECORD_COLUMNS: (keyof RecordRow)[] = [...KEY_COLUMNS, "file", "reason"];

/**
 * One row per run record (failed ones too), with one column per metric: the
 * {@linkcode MetricRow}s of each record spread out, for spreadsheets.
 */
export function recordsWide(data: Pick<Analysis, "records" | "rows">): {
  columns: string[];
  rows: Array<Record<string, unknown>>;
} {
  const metrics = Object.keys(METRIC_UNITS).filter((m) => data.rows.some((r) => r.metric === m));
  const byRecord = new Map<string, Record<string, unknown>>();
  const rows = data.records.map((rec) => {
    const row: Record<string, unknown> = {};
    for (const c of RECORD_COLUMNS) row[c] = rec[c];
    byRecord.set(`${rec.runId}|${rec.seq}`, row);
    return row;
  });
  for (const r of data.rows) {
    const row = byRecord.get(`${r.runId}|${r.seq}`);
    if (row) row[r.metric] = r.value;
  }
  return { columns: [...RECORD_COLUMNS, ...metrics], rows };
}

/** The run records as CSV, one row per record with a column per metric. */
export function recordsCsv(data: Pick<Analysis, "records" | "rows">): string {
  const { columns, rows } = recordsWide(data);
  return toCsv(rows, columns);
}

/** The metric rows as CSV (long form: one row per record and metric). */
export function rowsCsv(rows: readonly MetricRow[]): string {
  return toCsv(rows, [...KEY_COLUMNS, "metric", "value", "unit"]);
}

// ---------------------------------------------------------------------------------------
// Notebook display

/** The DOM document type Observable Plot takes. */
export type PlotDocument = NonNullable<Plot.PlotOptions["document"]>;

let doc: unknown;
/**
 * A DOM document for Observable Plot outside a browser (linkedom):
 * `Plot.plot({ document, marks: [...] })`.
 */
export function plotDocument(): PlotDocument {
  doc ??= (parseHTML("<!doctype html><html><head></head><body></body></html>") as unknown as {
    document: unknown;
  }).document;
  return doc as PlotDocument;
}

type Displayable = Figure | { outerHTML: string } | string;

function asHtml(item: Displayable): string {
  if (typeof item === "string") return `<p>${escapeHtml(item)}</p>`;
  if ("html" in item) return item.html;
  return item.outerHTML;
}

/**
 * Shows charts (what `Plot.plot` returns), figures and sentences in a Deno Jupyter cell,
 * as one output, while the cell runs (a cell's last value, or a second output, can
 * arrive after nbconvert stops listening on a loaded machine).
 */
export async function display(...items: Displayable[]): Promise<void> {
  const jupyter = (Deno as unknown as {
    jupyter?: { display(value: unknown): Promise<unknown> };
  }).jupyter;
  if (!jupyter) {
    throw new Error("Cannot display: Deno.jupyter is only there in the Deno Jupyter kernel");
  }
  const html = items.map(asHtml).join("\n");
  await jupyter.display({
    [JUPYTER_DISPLAY]: () => ({ "text/html": html, "text/plain": html.replace(/<[^>]+>/g, "") }),
  });
  // Counted for the notebook runner (lib/notebooks.ts), which checks every output arrived.
  const log = Deno.env.get("MESHBENCH_DISPLAY_LOG");
  if (log) Deno.writeTextFileSync(log, "1\n", { append: true });
  // The kernel queues the output and another task sends it; its "idle" after the cell can
  // overtake it, and nbconvert drops what comes after "idle". A turn of the event loop lets
  // the queued output go first (a race narrowed, not a condition awaited: none is exposed).
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * False, after showing why, when `items` is empty: the guard at the top of a notebook
 * cell, so a machine without results gets a sentence instead of a stack trace.
 */
export async function has(
  items: readonly unknown[],
  what: string,
  why = "",
): Promise<boolean> {
  if (items.length > 0) return true;
  await display(notice(`No ${what} to show.${why ? ` ${why}` : ""}`, "warning"));
  return false;
}

/** A table of plain rows (the first `limit`), columns as given or every key of the first row. */
export function rowsTable<T extends object>(
  title: string,
  rows: readonly T[],
  options: { columns?: (keyof T)[]; limit?: number } = {},
): Figure {
  const limit = options.limit ?? 20;
  const columns = options.columns ?? (rows[0] ? Object.keys(rows[0]) as (keyof T)[] : []);
  const shown = rows.slice(0, limit);
  return table(title, shown, {
    columns: columns.map((c) => ({
      header: String(c),
      value: (r: T) => {
        const v = r[c] as unknown;
        if (typeof v === "number") return v;
        if (Array.isArray(v)) return v.join(" ");
        return v === null || v === undefined ? "" : String(v);
      },
      numeric: typeof (shown[0]?.[c]) === "number",
    })),
    caption: rows.length > limit ? `First ${limit} of ${rows.length} rows.` : undefined,
  });
}
