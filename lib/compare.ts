/**
 * Compares two run directories (two runs, or the same plan on two clusters): for
 * every (workload, mesh, load point) present in both, the change of each metric from
 * A to B with a bootstrap confidence interval over the iterations of both runs, and
 * whether it exceeds the noise; and the change of each overhead figure. The comparison
 * as charts and HTML is in `compare_report.ts`.
 *
 * @example
 * ```ts
 * import { changeExceedsNoise } from "./compare.ts";
 * if (!changeExceedsNoise([4, 9], { a: 3, b: 3 })) throw new Error("excludes 0");
 * const small = { changePct: 6, noisePct: 8 };
 * if (changeExceedsNoise([4, 9], { a: 3, b: 3 }, small)) throw new Error("within the CV");
 * if (changeExceedsNoise([4, 9], { a: 1, b: 3 })) throw new Error("one iteration is no noise");
 * ```
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { FileProblem, LoadedRun } from "./load_results.ts";
import {
  formatMs,
  formatNumber,
  formatPct,
  meshLabel,
  payloadKey,
  payloadLabel,
  rateLabel,
} from "./format.ts";
import { metricLabel, type MetricName, metricsFor, overheadLabel } from "./metric_vocabulary.ts";
import { type Measured, pooledValue } from "./metric_values.ts";
import { bootstrapOverheads, cvPct, fromSamples } from "./stats.ts";
import { type Gate, gateRuns } from "./gate.ts";
import type { Overhead, RunRecord } from "./types.ts";

/** Which run a side of the comparison is. */
export interface RunRef {
  dir: string;
  runId: string;
  target: string;
  emulated: boolean;
}

/** The change of one metric of one (workload, mesh, load point) from run A to run B. */
export interface Difference {
  workload: string;
  mesh: string;
  emulated: boolean;
  mode: string;
  rate: number | null;
  metric: MetricName;
  unit: string;
  a: number;
  b: number;
  /** (B - A) / A x 100. */
  changePct: number;
  /** 95 % bootstrap interval of changePct, resampling iterations of A and of B. */
  ci95: [number, number];
  /** For latencies: B - A in milliseconds, with its interval from the same resamples. */
  deltaMs?: number;
  deltaMsCi95?: [number, number];
  iterations: { a: number; b: number };
  /**
   * Run-to-run noise: the larger coefficient of variation (%) of the metric over the
   * iterations of A and of B.
   */
  noisePct: number;
  /**
   * The change is real: both runs have 2+ iterations, its interval excludes zero, and
   * it is larger than the run-to-run noise.
   */
  exceedsNoise: boolean;
  note?: string;
}

/** The change of one overhead figure (mesh vs baseline) from run A to run B. */
export interface OverheadChange {
  workload: string;
  mesh: string;
  emulated: boolean;
  rate: number | null;
  metric: MetricName;
  a: Overhead;
  b: Overhead;
  /** Overhead B minus overhead A, in percentage points. */
  deltaPoints: number;
  /** Added latency (ms) of B minus that of A, when both summaries have it. */
  deltaMsChange?: number;
  /** The two 95 % intervals do not overlap (a conservative test). */
  exceedsNoise: boolean;
}

/** Everything `compare` found. */
export interface Comparison {
  kind: "meshbench.comparison";
  generatedAt: string;
  a: RunRef;
  b: RunRef;
  differences: Difference[];
  overheadChanges: OverheadChange[];
  /** Points measured in only one of the runs (`workload mesh @ rate`). */
  onlyIn: { a: string[]; b: string[] };
  /** Problems reading either run directory. */
  problems: FileProblem[];
  /**
   * Pinpoint-rule verdict per metric, and the family-wise decision over them (`compare
   * --gate` exits 1 when it failed).
   */
  gate: Gate;
}

/** Options of {@linkcode compareRuns}. */
export interface CompareOptions {
  resamples?: number;
  confidence?: number;
  seed?: number;
  now?: Date;
  /** Family-wise level of the gate (`compare --gate-alpha`; default `GATE_ALPHA`, 0.01). */
  gateAlpha?: number;
}

type Usable = Measured;

function pointKey(r: RunRecord): string {
  const p = r.spec.point;
  return `${r.spec.workload}|${r.spec.mesh}|${p.mode}|${p.tool}|${p.rate ?? "-"}${payloadKey(p)}`;
}

function pointName(r: RunRecord): string {
  return `${r.spec.workload} ${meshLabel(r.mesh.name, r.mesh.emulated)} @ ` +
    `${rateLabel(r.spec.point.rate, r.spec.point.mode)}${
      r.spec.point.payloadBytes === undefined ? "" : `, ${payloadLabel(r.spec.point.payloadBytes)}`
    }${r.spec.point.httpProtocol === "h2c" ? ", h2c" : ""} (${r.spec.point.tool})`;
}

/** The usable records of a run by (workload, mesh, load point), as compared and gated. */
export function usableByPoint(run: LoadedRun): Map<string, Usable[]> {
  const out = new Map<string, Usable[]>();
  for (const r of run.runs) {
    if (!((r.status === "ok" || r.status === "saturated") && r.load)) continue;
    const k = pointKey(r);
    out.set(k, [...(out.get(k) ?? []), r as Usable]);
  }
  return out;
}

/**
 * Whether a change is real: 2+ iterations a side, its interval excludes 0 and, when
 * given, the change is larger than the run-to-run noise (CV %). With 3-5 iterations a
 * percentile bootstrap is too narrow on its own; the CV guard keeps it honest.
 */
export function changeExceedsNoise(
  ci95: readonly [number, number],
  iterations: { a: number; b: number },
  change?: { changePct: number; noisePct: number },
): boolean {
  if (iterations.a < 2 || iterations.b < 2) return false;
  if (change && !(Math.abs(change.changePct) > change.noisePct)) return false;
  return ci95[0] > 0 || ci95[1] < 0;
}

function ref(run: LoadedRun): RunRef {
  return {
    dir: run.dir,
    runId: run.runId,
    target: run.manifest?.target ?? run.summary?.target ?? run.runs[0]?.target ?? "unknown",
    emulated: run.emulated,
  };
}

/** Compares loaded runs A and B (pure; see {@linkcode writeComparison} for files). */
export function compareRuns(a: LoadedRun, b: LoadedRun, options: CompareOptions = {}): Comparison {
  const pa = usableByPoint(a);
  const pb = usableByPoint(b);
  const differences: Difference[] = [];
  let seed = options.seed ?? 1;
  for (const [key, ra] of pa) {
    const rb = pb.get(key);
    if (!rb) continue;
    const first = ra[0];
    // The metrics of the point's mode, each read the same way on both sides.
    const metrics = metricsFor(first.spec.point.mode).map((m) => ({
      ...m,
      stat: (rs: Usable[]) => pooledValue(m.source, rs),
    })).filter((m) => {
      const va = m.stat(ra);
      const vb = m.stat(rb);
      return Number.isFinite(va) && Number.isFinite(vb) && va !== 0;
    });
    if (metrics.length === 0) continue;
    // All metrics of a point share their resamples (the lead's common random numbers).
    const estimates = bootstrapOverheads(
      ra.length,
      rb.length,
      metrics.map((m) => ({
        baseline: fromSamples(ra, m.stat),
        mesh: fromSamples(rb, m.stat),
        delta: m.addedLatency === true,
      })),
      {
        resamples: options.resamples ?? 1000,
        confidence: options.confidence ?? 0.95,
        seed: seed++,
      },
    );
    for (const [i, metric] of metrics.entries()) {
      const est = estimates[i];
      const va = est.baseline;
      const vb = est.value;
      const iterations = { a: ra.length, b: rb.length };
      const noisePct = Math.max(
        cvPct(ra.map((r) => metric.stat([r]))),
        cvPct(rb.map((r) => metric.stat([r]))),
      );
      differences.push({
        workload: first.spec.workload,
        mesh: first.spec.mesh,
        emulated: first.mesh.emulated || rb[0].mesh.emulated,
        mode: first.spec.point.mode,
        rate: first.spec.point.rate,
        metric: metric.name,
        unit: metric.unit,
        a: va,
        b: vb,
        changePct: est.overheadPct,
        ci95: est.ci95,
        iterations,
        ...(est.delta !== undefined ? { deltaMs: est.delta, deltaMsCi95: est.deltaCi95! } : {}),
        noisePct,
        exceedsNoise: changeExceedsNoise(est.ci95, iterations, {
          changePct: est.overheadPct,
          noisePct,
        }),
        ...(iterations.a < 2 || iterations.b < 2
          ? { note: "fewer than 2 iterations on a side: noise cannot be judged" }
          : {}),
      });
    }
  }
  const overheadChanges: OverheadChange[] = [];
  const oKey = (o: Overhead) =>
    `${o.workload}|${o.mesh}|${o.metric}|${o.rate ?? "-"}${payloadKey(o)}`;
  const ob = new Map((b.summary?.overheads ?? []).map((o) => [oKey(o), o]));
  for (const oa of a.summary?.overheads ?? []) {
    const o2 = ob.get(oKey(oa));
    if (!o2) continue;
    overheadChanges.push({
      workload: oa.workload,
      mesh: oa.mesh,
      emulated: oa.emulated || o2.emulated,
      rate: oa.rate,
      metric: oa.metric,
      a: oa,
      b: o2,
      deltaPoints: o2.overheadPct - oa.overheadPct,
      ...(typeof oa.deltaMs === "number" && typeof o2.deltaMs === "number"
        ? { deltaMsChange: o2.deltaMs - oa.deltaMs }
        : {}),
      exceedsNoise: oa.iterations.mesh >= 2 && o2.iterations.mesh >= 2 &&
        (o2.ci95[0] > oa.ci95[1] || o2.ci95[1] < oa.ci95[0]),
    });
  }
  const names = (m: Map<string, Usable[]>, other: Map<string, Usable[]>) =>
    [...m].filter(([k]) => !other.has(k)).map(([, rs]) => pointName(rs[0])).sort();
  return {
    kind: "meshbench.comparison",
    generatedAt: (options.now ?? new Date()).toISOString(),
    a: ref(a),
    b: ref(b),
    differences,
    overheadChanges,
    onlyIn: { a: names(pa, pb), b: names(pb, pa) },
    problems: [...a.problems, ...b.problems],
    gate: gateRuns(pa, pb, { alpha: options.gateAlpha }),
  };
}

/** One difference in words: workload, mesh, metric and load point. */
export function diffLabel(d: Difference): string {
  return `${d.workload} · ${meshLabel(d.mesh, d.emulated)} · ${metricLabel(d.metric)} @ ` +
    rateLabel(d.rate, d.mode);
}

/** The comparison as plain text: what exceeds the noise, then counts and caveats. */
export function formatComparison(c: Comparison, options: { all?: boolean } = {}): string {
  const lines: string[] = [];
  lines.push(`Comparing A ${c.a.runId} (${c.a.target}) with B ${c.b.runId} (${c.b.target})`);
  if (c.a.emulated || c.b.emulated) {
    lines.push(
      "Note: meshes marked (emulated) are local stand-ins, not the real mesh.",
    );
  }
  for (const p of c.problems) lines.push(`Problem: ${p.file}: ${p.problem}`);
  const shown = options.all ? c.differences : c.differences.filter((d) => d.exceedsNoise);
  const within = c.differences.length - c.differences.filter((d) => d.exceedsNoise).length;
  lines.push("");
  lines.push(
    shown.length
      ? `${options.all ? "All" : "Changes that exceed the noise"} (B vs A, 95 % CI):`
      : `No change exceeds the noise (${c.differences.length} metrics compared).`,
  );
  for (const d of shown) {
    lines.push(
      `  ${d.exceedsNoise ? "*" : " "} ${diffLabel(d)}: ${formatNumber(d.a)} -> ` +
        `${formatNumber(d.b)} ${d.unit}, ${formatPct(d.changePct)} ` +
        `[${formatPct(d.ci95[0])}, ${formatPct(d.ci95[1])}] ` +
        (d.deltaMs !== undefined
          ? `(${formatMs(d.deltaMs)} [${formatMs(d.deltaMsCi95![0])}, ${
            formatMs(d.deltaMsCi95![1])
          }]) `
          : "") +
        `noise ${d.noisePct.toFixed(1)} % ` +
        `n=${d.iterations.a}/${d.iterations.b}` +
        (d.note ? ` (${d.note})` : ""),
    );
  }
  if (!options.all && shown.length) {
    lines.push(`  (${within} of ${c.differences.length} metrics compared are within the noise)`);
  }
  const oc = c.overheadChanges.filter((o) => options.all || o.exceedsNoise);
  if (oc.length) {
    lines.push("");
    lines.push("Overhead vs baseline changed (95 % intervals do not overlap):");
    for (const o of oc) {
      lines.push(
        `  ${o.workload} · ${meshLabel(o.mesh, o.emulated)} · ${overheadLabel(o.metric)} @ ` +
          `${rateLabel(o.rate)}: ${formatPct(o.a.overheadPct)} -> ${formatPct(o.b.overheadPct)}` +
          (typeof o.a.deltaMs === "number" && typeof o.b.deltaMs === "number"
            ? ` (added ${formatMs(o.a.deltaMs)} -> ${formatMs(o.b.deltaMs)})`
            : ""),
      );
    }
  }
  if (c.onlyIn.a.length) lines.push("", `Only in A: ${c.onlyIn.a.join("; ")}`);
  if (c.onlyIn.b.length) lines.push("", `Only in B: ${c.onlyIn.b.join("; ")}`);
  if (c.differences.length === 0) {
    lines.push("", "Nothing to compare: the runs share no (workload, mesh, load point).");
  }
  return lines.join("\n");
}

/** The two runs a comparison notebook should compare, or why there are none. */
export interface ComparisonPair {
  a?: string;
  b?: string;
  /** How the pair was chosen, or why there is none. */
  why: string;
}

async function siblingRuns(dir: string): Promise<string[]> {
  const parent = dirname(resolve(dir));
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(parent)) {
      if (!e.isDirectory) continue;
      try {
        await Deno.stat(join(parent, e.name, "manifest.json"));
        out.push(join(parent, e.name));
      } catch { /* not a run directory */ }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/**
 * Picks runs A and B: `$MESHBENCH_COMPARE_A`/`$MESHBENCH_COMPARE_B` when set; else B is
 * `runDir` (or `$MESHBENCH_RUN_DIR`, or the newest run under `resultsDir`) and A the run
 * just before it in the same folder (run ids sort by time).
 */
export async function pickComparisonPair(
  runDir: string | undefined,
  resultsDir: string,
): Promise<ComparisonPair> {
  const envA = Deno.env.get("MESHBENCH_COMPARE_A");
  const envB = Deno.env.get("MESHBENCH_COMPARE_B");
  const b = envB ?? runDir ?? Deno.env.get("MESHBENCH_RUN_DIR") ??
    (await siblingRuns(join(resultsDir, "x"))).at(-1);
  if (!b) {
    return { why: "No runs at all: run `deno task bench:all` twice (or on two clusters)." };
  }
  if (envA) return { a: envA, b, why: "A from MESHBENCH_COMPARE_A" };
  const siblings = await siblingRuns(b);
  const i = siblings.indexOf(resolve(b));
  const a = i > 0 ? siblings[i - 1] : undefined;
  if (!a) {
    return {
      b,
      why: `Only one run next to "${b}": nothing to compare it with. Run the benchmark ` +
        "again (or on another cluster), or set MESHBENCH_COMPARE_A=<run dir>.",
    };
  }
  return { a, b, why: "A is the run before B in the same folder" };
}
