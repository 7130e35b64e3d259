/**
 * From run records to `summary.json`: pool iterations per (workload, mesh, load
 * point), merge histograms, compute overheads vs the baseline with bootstrap CIs,
 * and flag noisy baselines and saturated runs. Pure: no I/O.
 *
 * @module
 */
import {
  compactBuffers,
  type CompactHistogram,
  compactHistogram,
  emptyHistogram,
  HistogramSet,
  mergeHistograms,
  packable,
  packHistogram,
  packIfPackable,
  summarize,
  unpackHistogram,
} from "./histogram.ts";
import { metricAlerts, metricsFor, type MetricSource } from "./metric_vocabulary.ts";
import { isGeneratorLimited, sendTimingOf } from "./send_timing.ts";
import { type BenchConfig, CONFIG_DEFAULTS } from "./config_schema.ts";
import { payloadKey } from "./format.ts";
import { weightedValue } from "./metric_values.ts";
import {
  bootstrapOverheads,
  cvPct,
  MIN_ITERATIONS_FOR_INTERVAL,
  type WeightedStatistic,
} from "./stats.ts";
import type {
  Component,
  GroupProxy,
  GroupStats,
  Histogram,
  LoadResult,
  MeshRef,
  Overhead,
  PackedHistogram,
  ProxyCounters,
  ReadRunRecord,
  ResourceUse,
  RunRecord,
  RunSpec,
  RunStatus,
  StoredGroupStats,
  StoredSummary,
  Summary,
  TargetName,
} from "./types.ts";
import { SUMMARY_SCHEMA_VERSION } from "./types.ts";
import { computeKnees, judgeStep, type KneeCriteria, kneeCriteria, type KneeStep } from "./knee.ts";

/** Settings that shape the summary (from the run's config). */
export interface SummaryOptions {
  runId: string;
  target: TargetName;
  baseline: string;
  noisyCvPct: number;
  resamples: number;
  confidence: number;
  seed: number;
  /**
   * Send-lag p99 above this % of the baseline's p50 service time flags a group and its
   * overheads `generatorLimited` (config `generatorLimitedPct`; default its default).
   */
  generatorLimitedPct?: number;
  /** What a knee ramp step must hold (config `knee.*`, `saturationPct`; default: defaults). */
  knee?: KneeCriteria;
  /**
   * The knee ramp's steps (config `knee.rates`): a ramp every mesh broke early shows only its
   * low steps in records. Absent: the steps the records show.
   */
  kneeRates?: number[];
  /** Problems met while reading records, carried into `notes`. */
  notes?: string[];
  now?: Date;
}

/** What the summary keeps of a load result: its figures and a compact histogram. */
type KeptLoad =
  & Pick<LoadResult, "timing" | "achievedRate" | "durationS" | "operations" | "errors">
  & {
    latency: CompactHistogram;
  };

/**
 * Send lag and service time of a group's usable runs, merged as they are added (only the pooled
 * figures are reported, so no run's histograms are kept): `runs` counts the runs merged.
 */
interface TimingPool {
  runs: number;
  sendLag: Histogram;
  serviceTime: Histogram | null;
}

/**
 * What the summary keeps of a run record: no tool extras, no raw file list, the latency
 * histogram in typed arrays. Collect streams 10,000 records through this.
 */
interface Kept {
  spec: RunSpec;
  mesh: MeshRef;
  status: RunStatus;
  reason?: string;
  resources: ResourceUse[];
  load?: KeptLoad;
  /** The proxies' shared counters, without each proxy's own-named ones (not summarised). */
  proxies?: ProxyCounters[];
}

type Usable = Kept & { load: KeptLoad };

function keep(r: ReadRunRecord): Kept {
  const { spec, mesh, status, reason, resources, load, proxies } = r;
  return {
    spec,
    mesh,
    status,
    ...(reason !== undefined ? { reason } : {}),
    resources,
    ...(proxies ? { proxies: proxies.map((p) => ({ ...p, counters: {} })) } : {}),
    ...(load
      ? {
        load: {
          timing: load.timing,
          achievedRate: load.achievedRate,
          durationS: load.durationS,
          operations: load.operations,
          errors: load.errors,
          latency: compactHistogram(load.latency),
        },
      }
      : {}),
  };
}

/** What tells a sweep's point apart beyond its rate (nothing for a standard point). */
function sweepSuffix(p: { sweep?: string; connections: number }): string {
  return p.sweep ? `|${p.sweep}|${p.connections}` : "";
}

function groupKey(r: Kept): string {
  const p = r.spec.point;
  return `${r.spec.workload}|${r.spec.mesh}|${p.mode}|${p.tool}|${p.rate ?? "-"}${axes(p)}`;
}

function pointKey(r: Kept): string {
  const p = r.spec.point;
  return `${r.spec.workload}|${p.mode}|${p.tool}|${p.rate ?? "-"}${axes(p)}`;
}

/** The key suffix of a point's dimensions beyond its rate (payload, sweep); "" for none. */
function axes(
  p: { payloadBytes?: number; httpProtocol?: string; sweep?: string; connections: number },
): string {
  return `${payloadKey(p)}${sweepSuffix(p)}`;
}

/**
 * Whether a group is at a load point: same workload, mode, tool, rate and payload, and the same
 * sweep and connections (a connection-sweep group is not the standard point at its rate).
 */
export function atPoint(
  g: Pick<
    GroupStats,
    | "workload"
    | "mode"
    | "tool"
    | "rate"
    | "connections"
    | "sweep"
    | "payloadBytes"
    | "httpProtocol"
  >,
  workload: string,
  p: Pick<
    GroupStats,
    "mode" | "tool" | "rate" | "connections" | "sweep" | "payloadBytes" | "httpProtocol"
  >,
): boolean {
  return g.workload === workload && g.mode === p.mode && g.tool === p.tool && g.rate === p.rate &&
    g.payloadBytes === p.payloadBytes && g.httpProtocol === p.httpProtocol &&
    (g.sweep ?? null) === (p.sweep ?? null) &&
    (!p.sweep || g.connections === p.connections);
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

/**
 * Per-group histogram sets, built once and shared by the group's pooled histogram and its
 * latency metrics; dropped once its load point is done, so only one point's are alive.
 */
const histogramSets = new Map<Usable[], HistogramSet>();
function setOf(rs: Usable[]): HistogramSet {
  let s = histogramSets.get(rs);
  if (!s) {
    s = new HistogramSet(rs.map((r) => r.load.latency));
    histogramSets.set(rs, s);
  }
  return s;
}

/** A metric read from a group's iterations as a weighted statistic (see `stats.ts`). */
const statOf = (source: MetricSource, rs: Usable[]) => weightedValue(source, rs, () => setOf(rs));

function hashSeed(seed: number, key: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/**
 * The bootstrap seed of one overhead figure: the run's seed mixed with its load point and
 * mesh, so each figure has its own resamples and a notebook can repeat them exactly.
 */
export function overheadSeed(
  seed: number,
  point: {
    workload: string;
    mode: string;
    tool: string;
    rate: number | null;
    payloadBytes?: number;
    httpProtocol?: string;
    connections?: number;
    sweep?: string;
  },
  mesh: string,
): number {
  const sweep = point.sweep
    ? sweepSuffix({ sweep: point.sweep, connections: point.connections! })
    : "";
  return hashSeed(
    seed,
    `${point.workload}|${point.mode}|${point.tool}|${point.rate ?? "-"}${
      payloadKey(point)
    }${sweep}|${mesh}`,
  );
}

function isUsable(r: Kept): r is Usable {
  return (r.status === "ok" || r.status === "saturated") && r.load !== undefined;
}

function groupStats(rs: Kept[], usable: Usable[], timing?: TimingPool): GroupStats {
  const first = rs[0];
  // Packed and summarised here from the set's shared buffers: 2,000 groups' histograms as
  // number arrays, made only to be packed, were ~100 MB of garbage.
  const hist = usable.length ? setOf(usable).pooledView() : emptyHistogram();
  // Kept packed until read: 2,000 groups' histograms as arrays were 85 MB of heap.
  const packed = packIfPackable(hist);
  const kept = packed ? lazyHistogram(packed) : setOf(usable).merged();
  const rates = usable.map((r) => r.load.achievedRate);
  const ops = usable.reduce((s, r) => s + r.load.operations, 0);
  const byName = new Map<
    string,
    {
      component: Component;
      cpu: number[];
      mem: number[];
      cpuS: number;
      /** Switches summed over the runs that counted them, and those runs' operations. */
      switches: number;
      switchOps: number;
      switchRuns: number;
    }
  >();
  for (const r of usable) {
    for (const x of r.resources) {
      const e = byName.get(x.name) ??
        {
          component: x.component,
          cpu: [],
          mem: [],
          cpuS: 0,
          switches: 0,
          switchOps: 0,
          switchRuns: 0,
        };
      e.cpu.push(x.cpuCores);
      e.mem.push(x.memoryPeakMB);
      e.cpuS += x.cpuSeconds;
      if (x.contextSwitches) {
        e.switches += x.contextSwitches.total;
        e.switchOps += r.load.operations;
        e.switchRuns++;
      }
      byName.set(x.name, e);
    }
  }
  // Send timing only when every usable iteration has it: a partial pool would mislead.
  const complete = usable.length > 0 && timing?.runs === usable.length;
  const sendLag = complete ? summarize(timing.sendLag) : undefined;
  const serviceTime = complete && timing.serviceTime ? summarize(timing.serviceTime) : undefined;
  return {
    workload: first.spec.workload,
    mesh: first.spec.mesh,
    meshKind: first.mesh.kind,
    emulated: first.mesh.emulated,
    mode: first.spec.point.mode,
    tool: first.spec.point.tool,
    timing: usable[0]?.load.timing ?? "closed-loop",
    rate: first.spec.point.rate,
    connections: first.spec.point.connections,
    ...(first.spec.point.payloadBytes !== undefined
      ? { payloadBytes: first.spec.point.payloadBytes }
      : {}),
    ...(first.spec.point.httpProtocol ? { httpProtocol: first.spec.point.httpProtocol } : {}),
    ...(first.spec.point.sweep ? { sweep: first.spec.point.sweep } : {}),
    iterations: usable.length,
    failed: rs.filter((r) => r.status === "failed" || r.status === "interrupted").length,
    saturated: rs.filter((r) => r.status === "saturated").length,
    latency: summarize(hist),
    ...(sendLag ? { sendLag } : {}),
    ...(serviceTime ? { serviceTime } : {}),
    histogram: kept,
    achievedRate: {
      mean: mean(rates),
      min: rates.length ? Math.min(...rates) : NaN,
      max: rates.length ? Math.max(...rates) : NaN,
      cvPct: cvPct(rates),
    },
    errors: usable.reduce((s, r) => s + r.load.errors, 0),
    operations: ops,
    ...proxyTotals(usable),
    resources: [...byName.entries()].map(([name, e]) => ({
      component: e.component,
      name,
      cpuCores: mean(e.cpu),
      memoryPeakMB: mean(e.mem),
      cpuSecondsPer1k: ops > 0 ? (e.cpuS / ops) * 1000 : NaN,
      // Only when every iteration counted them, each run's switches over its own operations.
      ...(e.switchRuns === e.cpu.length && e.switchOps > 0
        ? { ctxSwitchesPerOp: e.switches / e.switchOps }
        : {}),
    })),
  };
}

/** The proxies' shared counters that {@linkcode GroupProxy} sums. */
const PROXY_FIELDS = [
  "downstreamConnections",
  "downstreamRequests",
  "upstreamConnections",
  "upstreamConnectionReuses",
  "upstreamRequests",
  "retries",
  "upstreamConnectFailures",
  "resets",
] as const;

/**
 * Each proxy's counters summed over the group's usable runs that read them, beside those
 * runs' operations (the load generator's count); absent when no run read any.
 */
function proxyTotals(usable: readonly Usable[]): { proxies?: GroupProxy[] } {
  const byName = new Map<string, GroupProxy>();
  for (const r of usable) {
    for (const p of r.proxies ?? []) {
      let t = byName.get(p.name);
      if (!t) {
        byName.set(p.name, t = { name: p.name, software: p.software, runs: 0, operations: 0 });
      }
      t.runs++;
      t.operations += r.load.operations;
      for (const f of PROXY_FIELDS) {
        if (p[f] !== undefined) t[f] = (t[f] ?? 0) + p[f]!;
      }
    }
  }
  return byName.size ? { proxies: [...byName.values()] } : {};
}

/** Per-iteration value of a metric, for the baseline noise check. */
function perIteration(stat: WeightedStatistic, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const w = new Float64Array(n);
    w[i] = 1;
    return stat(w);
  });
}

/**
 * Builds the summary from run records given one at a time, keeping of each only what the
 * summary needs ({@linkcode keep}): collect streams a run's records through it.
 */
export class SummaryBuilder {
  readonly #options: SummaryOptions;
  readonly #groups = new Map<string, Kept[]>();
  readonly #timing = new Map<string, TimingPool>();
  readonly #readNotes: string[] = [];
  readonly #runNotes: string[] = [];
  #count = 0;
  #emulated = false;
  #consumed = false;
  readonly #kneeSteps: KneeStep[] = [];
  readonly #kneeMeta = new Map<
    string,
    { emulated: boolean; tool: string; connections: number; durationS: number }
  >();

  constructor(options: SummaryOptions) {
    this.#options = options;
  }

  /** Adds one run record (its latency buckets may be in typed arrays: see `ReadRunRecord`). */
  add(record: ReadRunRecord): void {
    if (record.spec.point.sweep === "knee") {
      // A ramp step: judged for the knee, never pooled (a mesh climbs only as far as it holds,
      // so its steps are not a load point every mesh ran the same number of times).
      const p = record.spec.point;
      this.#kneeSteps.push(judgeStep(record, this.#options.knee ?? kneeDefaults()));
      this.#kneeMeta.set(`${record.spec.workload}|${record.spec.mesh}`, {
        emulated: record.mesh.emulated,
        tool: p.tool,
        connections: p.connections,
        durationS: p.durationS,
      });
      this.#count++;
      if (record.mesh.emulated) this.#emulated = true;
      return;
    }
    const r = keep(record);
    const k = groupKey(r);
    const timing = isUsable(r) ? sendTimingOf(record.load) : undefined;
    if (timing) {
      const pool = this.#timing.get(k);
      if (!pool) {
        this.#timing.set(k, {
          runs: 1,
          sendLag: timing.sendLag,
          serviceTime: timing.serviceTime ?? null,
        });
      } else {
        pool.runs++;
        pool.sendLag = mergeHistograms([pool.sendLag, timing.sendLag]);
        pool.serviceTime = pool.serviceTime && timing.serviceTime
          ? mergeHistograms([pool.serviceTime, timing.serviceTime])
          : null;
      }
    }
    const g = this.#groups.get(k);
    if (g) g.push(r);
    else this.#groups.set(k, [r]);
    this.#count++;
    if (r.mesh.emulated) this.#emulated = true;
    if (r.status === "failed" || r.status === "interrupted") {
      this.#runNotes.push(
        `Run ${r.spec.seq} (${r.spec.workload}, ${r.spec.mesh}, iteration ${r.spec.iteration}) ${r.status}: ${
          r.reason ?? "no reason recorded"
        }`,
      );
    }
  }

  /** Adds a problem met while reading records (after `options.notes`, before the runs'). */
  note(problem: string): void {
    this.#readNotes.push(problem);
  }

  /** The summary of every record added. */
  finish(): Summary {
    const plan = this.#plan();
    const options = pointSettings(this.#options);
    return this.#assemble(plan, plan.points.map((p) => computePoint(p, options)));
  }

  /**
   * {@linkcode finish} with the load points' pooling and bootstrap shared with a worker
   * thread (the other core): the same summary, in the same order. Three of every seven
   * points go to the worker (`worker`, collect's, already reading records; else one started
   * here) with their kept records (their histogram buffers moved, not copied, so this
   * builder cannot finish again). With fewer than `minPoints` load points (default 64: a
   * worker takes ~0.1 s to start) or a single core, the points are computed here. Either
   * way the builder lets go of its records once the summary is made (collect writes
   * `summary.json` and the report renders after it, while the builder is still in scope).
   */
  async finishInParallel(
    opts: { minPoints?: number; worker?: SummaryWorker } = {},
  ): Promise<Summary> {
    const plan = this.#plan();
    this.#consumed = true;
    try {
      return await this.#finishInParallel(plan, opts);
    } finally {
      this.#groups.clear();
      this.#timing.clear();
    }
  }

  async #finishInParallel(
    plan: Plan,
    opts: { minPoints?: number; worker?: SummaryWorker },
  ): Promise<Summary> {
    const options = pointSettings(this.#options);
    if (plan.points.length < (opts.minPoints ?? 64) || navigator.hardwareConcurrency < 2) {
      return this.#assemble(plan, plan.points.map((p) => computePoint(p, options)));
    }
    const theirs = plan.points.filter((_, i) => toWorker(i));
    const worker = opts.worker ?? new SummaryWorker();
    try {
      // The worker's records' histogram buffers are moved, not copied (their points are
      // computed there only): this builder cannot finish again.
      const buffers = new Set<ArrayBuffer>();
      for (const p of theirs) {
        for (const g of p.meshes) {
          for (const r of g.all) {
            if (r.load) { for (const b of compactBuffers(r.load.latency)) buffers.add(b); }
          }
        }
      }
      const answer = worker.request<{ results: PointResult[] }>(
        { points: theirs, options },
        [...buffers],
      );
      const mine = plan.points.filter((_, i) => !toWorker(i)).map((p) => computePoint(p, options));
      const received = (await answer).results;
      for (const r of received) {
        for (const g of r.stats) {
          if (isPacked(g.histogram)) g.histogram = lazyHistogram(g.histogram);
        }
      }
      let m = 0;
      let t = 0;
      const results = plan.points.map((_, i) => toWorker(i) ? received[t++] : mine[m++]);
      return this.#assemble(plan, results);
    } finally {
      if (!opts.worker) worker.terminate();
    }
  }

  /** The groups, their usable runs and the load points, as {@linkcode finish} works them. */
  #plan(): Plan {
    if (this.#consumed) {
      throw new Error(
        "Cannot finish a summary again after finishInParallel: it moved or let go of its records",
      );
    }
    const groups = this.#groups;
    // One usable list per group, shared by the group's stats and its overheads, so each
    // group's histogram set is built once.
    const usableOf = new Map<string, Usable[]>();
    for (const [k, rs] of groups) usableOf.set(k, rs.filter(isUsable));
    const byPoint = new Map<string, PointGroup[]>();
    for (const [key, usable] of usableOf) {
      if (usable.length === 0) continue;
      const pk = pointKey(usable[0]);
      const list = byPoint.get(pk) ?? [];
      list.push({
        key,
        mesh: usable[0].spec.mesh,
        all: groups.get(key)!,
        usable,
        timing: this.#timing.get(key),
      });
      byPoint.set(pk, list);
    }
    return { usableOf, points: [...byPoint].map(([key, meshes]) => ({ key, meshes })) };
  }

  /** The summary from the points' results (in the plan's order) and every other group. */
  #assemble(plan: Plan, results: PointResult[]): Summary {
    const options = this.#options;
    const notes = [...(options.notes ?? []), ...this.#readNotes, ...this.#runNotes];
    const groups = this.#groups;
    // Stats per group in the groups' order (sorted at the end).
    const keys = [...groups.keys()];
    const index = new Map(keys.map((k, i) => [k, i]));
    const stats: GroupStats[] = new Array(keys.length);
    const overheads: Overhead[] = [];
    results.forEach((r, i) => {
      plan.points[i].meshes.forEach((g, j) => stats[index.get(g.key)!] = r.stats[j]);
      overheads.push(...r.overheads);
      notes.push(...r.notes);
    });
    keys.forEach((k, i) => {
      stats[i] ??= groupStats(groups.get(k)!, plan.usableOf.get(k)!, this.#timing.get(k));
    });
    flagGeneratorLimited(stats, overheads, options, notes);
    stats.sort((a, b) =>
      a.workload.localeCompare(b.workload) || a.mode.localeCompare(b.mode) ||
      (a.rate ?? 0) - (b.rate ?? 0) || (a.httpProtocol ?? "").localeCompare(b.httpProtocol ?? "") ||
      (a.payloadBytes ?? 0) - (b.payloadBytes ?? 0) ||
      (a.sweep ?? "").localeCompare(b.sweep ?? "") || a.connections - b.connections ||
      a.mesh.localeCompare(b.mesh)
    );
    const knees = this.#knees(stats, notes);
    const single = overheads.filter((o) => o.ciMethod === "too-few-iterations").length;
    if (single) {
      notes.push(
        `${single} overhead figure(s) rest on a single iteration of the baseline or the mesh: ` +
          `no confidence interval (one iteration shows no run-to-run variation to resample); ` +
          `run at least ${MIN_ITERATIONS_FOR_INTERVAL} iterations, better 5`,
      );
    }
    // The connection sweep is its own section: its groups share rates with the standard
    // points, and every reader of `groups` and `overheads` expects one group per rate.
    const swept = stats.filter((g) => g.sweep === "connections");
    const sweptOverheads = overheads.filter((o) => o.sweep === "connections");
    return {
      kind: "meshbench.summary",
      schemaVersion: SUMMARY_SCHEMA_VERSION,
      runId: options.runId,
      target: options.target,
      generatedAt: (options.now ?? new Date()).toISOString(),
      emulated: this.#emulated,
      baselineMesh: options.baseline,
      groups: stats.filter((g) => g.sweep === undefined),
      overheads: overheads.filter((o) => o.sweep === undefined),
      notes: this.#count ? notes : [...notes, "No run records found"],
      metrics: metricAlerts(overheads.map((o) => o.metric)),
      ...(swept.length ? { connectionSweep: { groups: swept, overheads: sweptOverheads } } : {}),
      ...(knees.length ? { knees } : {}),
    };
  }

  /** The knee of every ramp, beside each mesh's closed-loop max throughput. */
  #knees(stats: readonly GroupStats[], notes: string[]) {
    if (this.#kneeSteps.length === 0) return [];
    const criteria = this.#options.knee ?? kneeDefaults();
    const ladder = new Map<string, number[]>();
    for (const s of this.#kneeSteps) {
      const l = ladder.get(s.workload) ?? [];
      if (!l.includes(s.rate)) l.push(s.rate);
      ladder.set(s.workload, l);
    }
    for (const [w, l] of ladder) {
      const configured = this.#options.kneeRates ?? [];
      ladder.set(w, [...new Set([...l, ...configured])].sort((a, b) => a - b));
    }
    const knees = computeKnees(this.#kneeSteps, {
      criteria,
      meta: (workload, mesh) => ({
        ...this.#kneeMeta.get(`${workload}|${mesh}`)!,
        rates: ladder.get(workload)!,
      }),
      maxThroughput: (workload, mesh) => {
        const g = stats.find((x) =>
          x.workload === workload && x.mesh === mesh && x.mode === "max-throughput" &&
          x.iterations > 0
        );
        return g
          ? { mean: g.achievedRate.mean, min: g.achievedRate.min, max: g.achievedRate.max }
          : null;
      },
    });
    for (const k of knees) {
      const below = k.iterations.filter((i) => i.kneeRate === 0).length;
      if (below) {
        notes.push(
          `Knee: ${k.workload} ${k.mesh} broke at the ramp's first step (${k.rates[0]}/s) in ` +
            `${below} of ${k.iterations.length} iteration(s): its knee is below the ramp`,
        );
      }
    }
    return knees;
  }
}

/**
 * Collect's thread on the other core (`_summary_worker.ts`): it reads and checks a share of
 * the record files (`forEachRecordFileShared` in `load_results.ts`) and computes a share of
 * the load points ({@linkcode SummaryBuilder.finishInParallel}). Started before the records
 * are read, so its start-up (~0.1 s) overlaps this thread's reading. One request at a time.
 */
export class SummaryWorker {
  readonly #worker: Worker;
  #pending: { resolve: (data: unknown) => void; reject: (e: Error) => void } | undefined;
  #failed: Error | undefined;

  constructor() {
    this.#worker = new Worker(new URL("./_summary_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (e: MessageEvent<{ error?: string }>) => {
      const p = this.#pending;
      this.#pending = undefined;
      if (e.data.error !== undefined) {
        p?.reject(new Error(`Summary worker failed: ${e.data.error}`));
      } else p?.resolve(e.data);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.#failed = new Error(`Summary worker failed: ${e.message}`);
      const p = this.#pending;
      this.#pending = undefined;
      p?.reject(this.#failed);
    };
  }

  /** Sends `message` (moving `transfer`) and resolves with the worker's answer. */
  request<T>(message: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#pending) {
      return Promise.reject(new Error("Summary worker is busy: one request at a time"));
    }
    return new Promise<T>((resolve, reject) => {
      this.#pending = { resolve: resolve as (data: unknown) => void, reject };
      this.#worker.postMessage(message, transfer);
    });
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/**
 * Whether load point `i` goes to the worker in {@linkcode SummaryBuilder.finishInParallel}:
 * three of every seven. The worker takes ~30 % longer per point than this thread (it first
 * rebuilds the points' records from the message), so both finish at about the same time.
 */
const toWorker = (i: number) => i % 7 === 1 || i % 7 === 3 || i % 7 === 5;

/** One group of a load point, with what its stats and overheads are computed from. */
interface PointGroup {
  key: string;
  mesh: string;
  all: Kept[];
  usable: Usable[];
  timing: TimingPool | undefined;
}

/** A load point: every mesh's group at it, in the order the groups were first met. */
export interface PointWork {
  key: string;
  meshes: PointGroup[];
}

interface Plan {
  usableOf: Map<string, Usable[]>;
  points: PointWork[];
}

/** What a load point gives: its groups' stats (in `meshes` order), overheads and notes. */
export interface PointResult {
  stats: GroupStats[];
  overheads: Overhead[];
  notes: string[];
}

/** The settings a load point's overheads need (structured-cloneable, for the worker). */
export type PointSettings = Pick<
  SummaryOptions,
  "baseline" | "noisyCvPct" | "resamples" | "confidence" | "seed"
>;

function pointSettings(o: SummaryOptions): PointSettings {
  const { baseline, noisyCvPct, resamples, confidence, seed } = o;
  return { baseline, noisyCvPct, resamples, confidence, seed };
}

/**
 * The stats of every group of load point `p` and their overheads against the baseline: pure,
 * and the same in a worker (whose histograms are packed, not lazy: see `_summary_worker.ts`).
 */
export function computePoint(p: PointWork, options: PointSettings): PointResult {
  const stats = p.meshes.map((g) => groupStats(g.all, g.usable, g.timing));
  const overheads: Overhead[] = [];
  const notes: string[] = [];
  const meshes = new Map(p.meshes.map((g) => [g.mesh, { rs: g.usable }]));
  pointOverheads(p.key, meshes, options, overheads, notes);
  for (const g of p.meshes) {
    // Nothing reads the point's sets any more: their arrays go to the next point's.
    histogramSets.get(g.usable)?.release();
    histogramSets.delete(g.usable);
  }
  return { stats, overheads, notes };
}

/** {@linkcode computePoint} with each group's lazy histogram given as its packed form. */
export function computePointPacked(p: PointWork, options: PointSettings): PointResult {
  const r = computePoint(p, options);
  for (const g of r.stats) {
    const packed = packedOf.get(g.histogram);
    if (packed) (g as StoredGroupStats).histogram = packed;
  }
  return r;
}

function kneeDefaults(): KneeCriteria {
  return {
    p99TargetMs: CONFIG_DEFAULTS.knee.p99TargetMs,
    maxSendLagPct: CONFIG_DEFAULTS.knee.maxSendLagPct,
    saturationPct: CONFIG_DEFAULTS.saturationPct,
  };
}

/**
 * The baseline figure a generator's lag is held against: the baseline's p50 service time at
 * the same load point (the system's own p50, without the lag), else its p50 response time.
 */
function baselineP50Ms(stats: readonly GroupStats[], g: GroupStats, baseline: string) {
  const b = stats.find((x) => x.mesh === baseline && atPoint(x, g.workload, g));
  if (!b || b.iterations === 0) return undefined;
  return b.serviceTime?.p50Ms ?? b.latency.p50Ms;
}

/**
 * Marks the groups whose send-lag p99 exceeds `generatorLimitedPct` % of their baseline's
 * p50, and every overhead of a load point where the baseline or the mesh group is marked; a
 * note names them.
 */
function flagGeneratorLimited(
  stats: readonly GroupStats[],
  overheads: Overhead[],
  options: SummaryOptions,
  notes: string[],
): void {
  const pct = options.generatorLimitedPct ?? CONFIG_DEFAULTS.generatorLimitedPct;
  const limited = new Set<string>();
  for (const g of stats) {
    if (!g.sendLag) continue;
    const base = baselineP50Ms(stats, g, options.baseline);
    g.generatorLimited = isGeneratorLimited(g.sendLag.p99Ms, base, pct);
    if (g.generatorLimited) {
      limited.add(`${g.workload}|${g.mode}|${g.tool}|${g.rate}${axes(g)}|${g.mesh}`);
      notes.push(
        `Generator-limited: ${g.workload} ${g.mesh} at ${g.rate}/s${
          g.sweep ? ` over ${g.connections} connection(s)` : ""
        } (${g.tool}): send lag p99 ` +
          `${g.sendLag.p99Ms} ms is above ${pct} % of the baseline's p50 ${base} ms; its ` +
          `latencies carry the load generator's own lateness (service time p50 ${
            g.serviceTime?.p50Ms ?? "n/a"
          } ms)`,
      );
    }
  }
  // The groups an overhead can belong to, by everything but connections, in stats order: one
  // pass over 12,000 overheads instead of a scan of every group for each.
  const pointOf = (
    x: Pick<Overhead, "workload" | "mesh" | "rate" | "payloadBytes" | "httpProtocol" | "sweep">,
  ) =>
    JSON.stringify([
      x.workload,
      x.mesh,
      x.rate,
      x.payloadBytes ?? "none",
      x.httpProtocol ?? "http/1.1",
      x.sweep ?? null,
    ]);
  const candidates = new Map<string, GroupStats[]>();
  for (const x of stats) {
    if (x.mode === "max-throughput") continue;
    const k = pointOf(x);
    const list = candidates.get(k);
    if (list) list.push(x);
    else candidates.set(k, [x]);
  }
  for (const o of overheads) {
    const g = candidates.get(pointOf(o))?.find((x) => !o.sweep || x.connections === o.connections);
    if (!g?.sendLag) continue;
    const key = (mesh: string) => `${g.workload}|${g.mode}|${g.tool}|${g.rate}${axes(g)}|${mesh}`;
    o.generatorLimited = limited.has(key(o.mesh)) || limited.has(key(options.baseline));
  }
}

/** Overheads of every mesh of one load point against its baseline, in `out`. */
function pointOverheads(
  pk: string,
  meshes: Map<string, { rs: Usable[] }>,
  options: PointSettings,
  out: Overhead[],
  notes: string[],
): void {
  const base = meshes.get(options.baseline)?.rs;
  if (!base?.length) {
    notes.push(`No usable baseline runs for ${pk.replaceAll("|", " ")}: overheads not computed`);
    return;
  }
  const mode = base[0].spec.point.mode;
  const metrics = metricsFor(mode);
  // The same statistics for every mesh: the bootstrap evaluates each of them once.
  const baseStats = metrics.map((m) => statOf(m.shareOf ?? m.source, base));
  const baseCvs = baseStats.map((stat) => cvPct(perIteration(stat, base.length)));
  for (const [mesh, { rs }] of meshes) {
    if (mesh === options.baseline) continue;
    const estimates = bootstrapOverheads(
      base.length,
      rs.length,
      metrics.map((m, i) => ({
        baseline: baseStats[i],
        mesh: statOf(m.source, rs),
        basis: m.shareOf ? "share" as const : "relative" as const,
        delta: m.addedLatency === true,
      })),
      {
        resamples: options.resamples,
        confidence: options.confidence,
        seed: overheadSeed(options.seed, {
          ...base[0].spec.point,
          workload: base[0].spec.workload,
        }, mesh),
      },
    );
    metrics.forEach((metric, i) => {
      const est = estimates[i];
      if (!Number.isFinite(est.overheadPct)) return;
      // One iteration shows no run-to-run variation: its CV would read 0, not "quiet".
      const baseCv = base.length < MIN_ITERATIONS_FOR_INTERVAL ? null : baseCvs[i];
      out.push({
        workload: base[0].spec.workload,
        mesh,
        emulated: rs[0].mesh.emulated,
        metric: metric.name,
        unit: metric.unit,
        rate: base[0].spec.point.rate,
        ...(base[0].spec.point.payloadBytes !== undefined
          ? { payloadBytes: base[0].spec.point.payloadBytes }
          : {}),
        ...(base[0].spec.point.httpProtocol
          ? { httpProtocol: base[0].spec.point.httpProtocol }
          : {}),
        ...(base[0].spec.point.sweep
          ? { sweep: base[0].spec.point.sweep, connections: base[0].spec.point.connections }
          : {}),
        baseline: est.baseline,
        value: est.value,
        basis: metric.shareOf ? "share-of-baseline-app" : "relative",
        overheadPct: est.overheadPct,
        ci95: est.ci95,
        deltaMs: est.delta ?? null,
        deltaMsCi95: est.deltaCi95 ?? null,
        ciMethod: est.method,
        iterations: { baseline: base.length, mesh: rs.length },
        baselineCvPct: baseCv,
        noisyBaseline: baseCv !== null && baseCv > options.noisyCvPct,
        saturated: [...base, ...rs].some((r) => r.status === "saturated"),
      });
    });
  }
}

/**
 * The summary settings a run's config makes (baseline, noise and generator thresholds, the
 * knee's criteria and steps, bootstrap resamples, confidence and seed): collect, a reader
 * that recomputes a missing summary and the scale benchmark all pool with these.
 */
export function summarySettings(
  config: BenchConfig,
): Omit<SummaryOptions, "runId" | "target" | "notes" | "now"> {
  return {
    baseline: config.baseline,
    noisyCvPct: config.noisyCvPct,
    generatorLimitedPct: config.generatorLimitedPct,
    knee: kneeCriteria(config),
    kneeRates: config.knee.rates,
    resamples: config.bootstrap.resamples,
    confidence: config.bootstrap.confidence,
    seed: config.seed,
  };
}

/** Builds the summary from run records. */
export function summarizeRuns(records: readonly RunRecord[], options: SummaryOptions): Summary {
  const builder = new SummaryBuilder(options);
  for (const r of records) builder.add(r);
  return builder.finish();
}

const isPacked = (h: Histogram | PackedHistogram): h is PackedHistogram => "packed" in h;

/**
 * The summary as collect writes it (schema version 3): each group's pooled histogram packed
 * ({@linkcode packHistogram}), a few times smaller than two number arrays and read back
 * without parsing a number per bucket. A histogram with fractional buckets stays as it is.
 */
export function packSummary(summary: Summary): StoredSummary {
  const pack = (g: GroupStats): StoredGroupStats => {
    const packed = packedOf.get(g.histogram);
    if (packed) return { ...g, histogram: packed };
    return packable(g.histogram) ? { ...g, histogram: packHistogram(g.histogram) } : g;
  };
  return {
    ...summary,
    groups: summary.groups.map(pack),
    ...(summary.connectionSweep
      ? {
        connectionSweep: {
          ...summary.connectionSweep,
          groups: summary.connectionSweep.groups.map(pack),
        },
      }
      : {}),
  };
}

/**
 * The summary a valid `summary.json` holds: a packed histogram's buckets are unpacked when
 * first read (the report draws a few of 2,000 groups' distributions and only counts the
 * rest); its total, min, max and sum are there at once. Schema 1 and 2 files have none
 * packed. Changes `stored` in place.
 */
export function unpackSummary(stored: StoredSummary): Summary {
  for (const g of [...stored.groups, ...stored.connectionSweep?.groups ?? []]) {
    if (isPacked(g.histogram)) g.histogram = lazyHistogram(g.histogram);
  }
  return stored as Summary;
}

/**
 * `h`'s buckets for one reading: a histogram still packed ({@linkcode lazyHistogram}) is
 * unpacked into arrays that are not kept with it, and stays packed. The report reads the
 * spectrum of 120 of 10,000 synthetic records' 2,000 groups once; settled into the summary
 * the report holds, their buckets were ~6-9 MB more live heap while the rest renders.
 */
export function bucketsForReading(h: Histogram): Histogram {
  const p = packedOf.get(h);
  return p ? unpackHistogram(p) : h;
}

/** The packed form of each histogram {@linkcode lazyHistogram} made, until it is unpacked. */
const packedOf = new WeakMap<Histogram, PackedHistogram>();

/**
 * A histogram whose `values` and `counts` are unpacked from `p` on first read, and are plain
 * properties from then on (percentile loops read them once per bucket).
 */
function lazyHistogram(p: PackedHistogram): Histogram {
  const { unit, significantDigits, total, min, max } = p;
  const h = { unit, significantDigits, total, min, max } as Histogram;
  const settle = (values: number[], counts: number[]) => {
    Object.defineProperty(h, "values", { value: values, writable: true, enumerable: true });
    Object.defineProperty(h, "counts", { value: counts, writable: true, enumerable: true });
  };
  const unpack = () => {
    const { values, counts } = unpackHistogram(p);
    settle(values, counts);
    // Arrays handed out can be changed in place: from now on packing reads them.
    packedOf.delete(h);
  };
  for (const key of ["values", "counts"] as const) {
    Object.defineProperty(h, key, {
      enumerable: true,
      configurable: true,
      get: () => {
        unpack();
        return h[key];
      },
      set: (v: number[]) => {
        unpack();
        h[key] = v;
      },
    });
  }
  // The key order of an unpacked histogram: `sum` last.
  if (p.sum !== undefined) h.sum = p.sum;
  packedOf.set(h, p);
  return h;
}
