/**
 * `compare --gate`: per metric of every (workload, mesh, load point) in both runs, a
 * verdict on the per-iteration values of run A and run B by Chromium Pinpoint's rule
 * (catapult `dashboard/pinpoint/models/compare/compare.py`): the smaller p-value of a
 * Mann-Whitney U and a Kolmogorov-Smirnov test; `different` at p <= 0.01, `same` above a
 * high threshold that shrinks as the samples grow, `inconclusive, run more` between.
 *
 * What fails the gate is controlled over the whole comparison: each gating test (a metric
 * with an alert threshold, Perfherder's `alertThreshold` in `metric_vocabulary.ts`) gets the
 * exact permutation p-value of Pinpoint's statistic (`permutationPValue` in
 * `rank_tests.ts`), Holm's step-down adjusts them over the family, and a metric fails the
 * gate when it is `different`, its adjusted p is at most the level ({@linkcode GATE_ALPHA},
 * 0.01) and it went the bad way by more than its alert threshold. Two runs whose iterations
 * are exchangeable then fail with probability at most the level, however many metrics,
 * meshes and load points they share.
 *
 * @example
 * ```ts
 * import { pinpointVerdict } from "./gate.ts";
 * const a = [1.00, 1.02, 0.98, 1.01, 0.99];
 * const slower = [1.50, 1.52, 1.49, 1.55, 1.51];
 * if (pinpointVerdict(a, slower, 3).verdict !== "different") throw new Error();
 * // Three iterations a side can never be "different" (p >= 0.033).
 * if (pinpointVerdict(a.slice(0, 3), slower.slice(0, 3), 3).verdict === "different") {
 *   throw new Error();
 * }
 * ```
 *
 * @module
 */
import { formatNumber, formatPct, meshLabel, rateLabel } from "./format.ts";
import { type Direction, metricLabel, type MetricName, metricsFor } from "./metric_vocabulary.ts";
import { type Measured, pooledValue } from "./metric_values.ts";
import { binomial, kolmogorovSmirnov, mannWhitneyU, permutationPValue } from "./rank_tests.ts";
import { quantileSorted } from "./stats.ts";

/** A gate verdict: Pinpoint's DIFFERENT, SAME and UNKNOWN. */
export type Verdict = "different" | "same" | "inconclusive, run more";

/** Pinpoint's significance level: p at or below it is `different`. */
export const LOW_THRESHOLD = 0.01;

/**
 * The gate's default family-wise level: the largest probability that a comparison of two
 * runs whose iterations are exchangeable (no real difference) fails the gate
 * (`compare --gate-alpha`).
 */
export const GATE_ALPHA = 0.01;

/** Whether `alpha` can be the gate's family-wise level: strictly between 0 and 1. */
export function isGateAlpha(alpha: number): boolean {
  return alpha > 0 && alpha < 1;
}

/**
 * The smallest exact permutation p-value two samples of `n1` and `n2` values can reach
 * (complete separation, no ties): 2 / C(n1 + n2, n1).
 */
export function bestPValue(n1: number, n2: number): number {
  return Math.min(1, 2 / binomial(n1 + n2, n1));
}

/**
 * Whether a gating test of `n1` and `n2` values can fail the gate at all in a family of
 * `family` tests at level `alpha`: complete separation must be `different` by Pinpoint's
 * rule (p <= 0.01; never below 5 a side) and its exact p must reach Holm's first step,
 * alpha / family.
 */
export function canFailWith(n1: number, n2: number, family: number, alpha: number): boolean {
  if (family < 1 || n1 < 1 || n2 < 1) return false;
  const a = Array.from({ length: n1 }, (_, i) => i);
  const b = Array.from({ length: n2 }, (_, i) => n1 + i);
  return Math.min(mannWhitneyU(a, b), kolmogorovSmirnov(a, b)) <= LOW_THRESHOLD &&
    bestPValue(n1, n2) <= alpha / family;
}

/**
 * The fewest iterations a side at which the gate can fail with `family` gating tests at
 * family-wise level `alpha` ({@linkcode canFailWith}); null when nothing gates.
 */
export function iterationsToFail(family: number, alpha: number): number | null {
  if (family < 1) return null;
  let n = 1;
  while (!canFailWith(n, n, family, alpha)) n++;
  return n;
}

/**
 * Holm's step-down adjustment of `pValues` (Holm 1979): sorted ascending, the i-th smallest
 * (from 0) times (m - i), made non-decreasing, at most 1. Rejecting those at or below alpha
 * keeps the probability of any false rejection at or below alpha, whatever the dependence
 * between the tests.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(m);
  let running = 0;
  for (const [rank, [p, i]] of order.entries()) {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  }
  return out;
}

/**
 * Pinpoint's high thresholds, recomputed here with the procedure of its
 * `thresholds_performance.py`: two normal samples `m` interquartile ranges apart, n values
 * each; the 99th percentile over 20,000 simulations of the two-sided asymptotic
 * Mann-Whitney p-value (SciPy 1.17.1, seed 1), rounded up to 4 places. Row i is the
 * magnitude m = 0.3 + 0.1 i (up to 4.0); entry j the sample size j + 1. A row stops where
 * it reaches 0.01; larger samples use its last value. The figures agree with Pinpoint's
 * published table to the simulation's noise.
 */
// deno-fmt-ignore
const HIGH_THRESHOLDS: readonly (readonly number[])[] = [
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, .9817, 1, .985, 1, .9874, 1, .9893, .98, .9907, .9825,
    .9754, .9846, .9781, .9724, .9804, .9752, .9706],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, .977, 1, .9817, 1, .985, .9726, .9874, .9768, .9677, .9599,
    .972, .965, .9427, .9536, .949, .9449, .9282, .9381, .9235],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, .977, .9592, .9817, .967, .955, .9451, .937, .9303, .9246,
    .9199, .9159, .8952, .8771, .8614, .8477, .8221, .8122, .8035, .7845],
  [1, 1, 1, 1, 1, 1, 1, 1, 1, .9699, .9477, .977, .9592, .9451, .901, .8951, .8633, .8371, .793,
    .7972, .7628, .7336, .7088, .6877, .6415, .6148, .5564, .5498, .5138, .4918],
  [1, 1, 1, 1, 1, 1, 1, .9582, 1, .9699, .8956, .8853, .8375, .8362, .8035, .7204, .6794, .6693,
    .6197, .5428, .4971, .4456, .4039, .3698, .3517, .3186, .2914, .2617, .2373, .2171],
  [1, 1, 1, 1, 1, 1, 1, .9582, .9297, .8502, .8439, .7951, .7584, .6625, .6483, .5592, .5129,
    .4385, .3972, .337, .3024, .2649, .227, .1975, .1745, .1509, .1324, .1139, .0993, .085],
  [1, 1, 1, 1, 1, .9362, .8994, .8749, .7911, .7914, .6936, .6237, .5384, .4764, .4068, .3366,
    .2857, .2614, .2094, .1806, .1517, .1301, .1041, .0852, .0775, .0633, .0571, .0465, .0372,
    .0339],
  [1, 1, 1, 1, 1, .9362, .8984, .7929, .6595, .6232, .4702, .4026, .3299, .2803, .2455, .1936,
    .1683, .1329, .1084, .091, .0702, .0589, .0456, .0403, .0329, .0262, .0214, .0172, .0147,
    .0113],
  [1, 1, 1, 1, 1, .9362, .7983, .6366, .5365, .3847, .3247, .2366, .1999, .1611, .115, .0936,
    .0733, .0557, .044, .0338, .0269, .0208, .0157, .0116, .0094],
  [1, 1, 1, .8853, .8362, .8102, .6093, .4949, .3773, .2731, .2122, .1749, .124, .0936, .0745,
    .0523, .0389, .0303, .0211, .0155, .0111, .0089],
  [1, 1, 1, .8853, .8346, .5752, .4433, .3721, .251, .1859, .131, .0999, .0649, .0509, .0344,
    .025, .0175, .0119, .0087],
  [1, 1, 1, .8853, .6762, .4712, .3067, .2272, .1578, .1213, .0763, .0531, .0356, .0259, .0162,
    .011, .0073],
  [1, 1, 1, .8853, .5309, .3785, .2502, .1563, .112, .0757, .0489, .0351, .0241, .014, .0102,
    .0063],
  [1, 1, 1, .6651, .4034, .298, .2014, .1036, .0774, .0452, .0256, .0166, .0104, .0072],
  [1, 1, 1, .4705, .2963, .2298, .1253, .0661, .0423, .0258, .0181, .0102, .0057],
  [1, 1, .6626, .4705, .2963, .1735, .0967, .0521, .0273, .0173, .0105, .0061],
  [1, 1, .6626, .4705, .2101, .1283, .0737, .0406, .0217, .0114, .0059],
  [1, 1, .6626, .3124, .1437, .0927, .0553, .024, .0135, .0073],
  [1, 1, .6626, .3124, .1437, .0656, .041, .0182, .0105, .0046],
  [1, 1, .3828, .194, .0947, .0456, .0299, .0136, .0062],
  [1, .6986, .3828, .194, .0947, .0454, .0215, .0101, .0048],
  [1, .6986, .3828, .194, .0947, .0307, .0152, .0075],
  [1, .6986, .3828, .1124, .0602, .0307, .0152, .0054],
  [1, .6986, .1905, .1124, .0602, .0203, .0107, .0054],
  [1, .6986, .1905, .1124, .0368, .0203, .0107, .0039],
  [1, .6986, .1905, .1124, .0368, .0131, .0073],
  [1, .6986, .1905, .0607, .0368, .0131, .0073],
  [1, .2453, .1905, .0607, .0216, .0131, .005],
  [1, .2453, .1905, .0607, .0216, .0131, .005],
  [1, .2453, .0809, .0607, .0216, .0083],
  [1, .2453, .0809, .0607, .0216, .0083],
  [1, .2453, .0809, .0304, .0216, .0083],
  [1, .2453, .0809, .0304, .0122, .0083],
  [1, .2453, .0809, .0304, .0122, .0051],
  [1, .2453, .0809, .0304, .0122, .0051],
  [1, .2453, .0809, .0304, .0122, .0051],
  [1, .2453, .0809, .0304, .0122, .0051],
  [1, .2453, .0809, .0304, .0122, .0051],
];

/**
 * Pinpoint's high threshold for a change of `magnitude` interquartile ranges and
 * `sampleSize` values a side (Pinpoint passes the mean of the two sizes, rounded down).
 */
export function highThreshold(magnitude: number, sampleSize: number): number {
  const m = Math.min(
    Math.max(Math.floor(magnitude * 10 + 1e-9) - 3, 0),
    HIGH_THRESHOLDS.length - 1,
  );
  const row = HIGH_THRESHOLDS[m];
  return row[Math.min(Math.max(sampleSize, 1), row.length) - 1];
}

/** What {@linkcode pinpointVerdict} found. */
export interface PinpointResult {
  verdict: Verdict;
  /** The smaller of the two p-values. */
  pValue: number;
  pMannWhitney: number;
  pKolmogorovSmirnov: number;
  /** Above this p-value: `same`. */
  highThreshold: number;
  /**
   * The exact permutation p-value of `pValue` (its probability when the two samples'
   * values are exchangeable; `permutationPValue` in `rank_tests.ts`): what the gate tests.
   */
  pPermutation: number;
  /** `exact`, or `bonferroni` (twice `pValue`) above 50 values a side. */
  pPermutationMethod: "exact" | "bonferroni";
}

/**
 * Pinpoint's verdict on samples `a` and `b` for a change of `magnitude` interquartile
 * ranges (Pinpoint's default when nothing says what size matters: 1).
 */
export function pinpointVerdict(
  a: readonly number[],
  b: readonly number[],
  magnitude: number,
): PinpointResult {
  const high = highThreshold(magnitude, Math.floor((a.length + b.length) / 2));
  const pMannWhitney = mannWhitneyU(a, b);
  const pKolmogorovSmirnov = kolmogorovSmirnov(a, b);
  const pValue = Math.min(pMannWhitney, pKolmogorovSmirnov);
  const exact = permutationPValue(a, b);
  const verdict: Verdict = pValue <= LOW_THRESHOLD
    ? "different"
    : pValue > high
    ? "same"
    : "inconclusive, run more";
  return {
    verdict,
    pValue,
    pMannWhitney,
    pKolmogorovSmirnov,
    highThreshold: high,
    pPermutation: exact.p,
    pPermutationMethod: exact.method,
  };
}

/** Interquartile range (linear interpolation between order statistics, as NumPy). */
export function iqr(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  return quantileSorted(s, 0.75) - quantileSorted(s, 0.25);
}

/** The gate's verdict on one metric of one (workload, mesh, load point). */
export interface GateResult {
  workload: string;
  mesh: string;
  emulated: boolean;
  mode: string;
  rate: number | null;
  metric: MetricName;
  unit: string;
  /** Which way the metric improves (Perfherder's `lowerIsBetter`). */
  better: Direction;
  /** Change beyond which a `different` in the bad direction fails the gate; null: never. */
  alertThresholdPct: number | null;
  /** The metric per iteration (one value per run record), as tested. */
  values: { a: number[]; b: number[] };
  /** Pooled over iterations (as `compare` and the summary read them). */
  a: number;
  b: number;
  /** (B - A) / A x 100 of the pooled values. */
  changePct: number;
  /** The change that matters, in interquartile ranges of the noisier run (Pinpoint's magnitude). */
  magnitude: number;
  verdict: Verdict;
  pValue: number;
  pMannWhitney: number;
  pKolmogorovSmirnov: number;
  lowThreshold: number;
  highThreshold: number;
  /** Exact permutation p-value of `pValue` (see {@linkcode PinpointResult}). */
  pPermutation: number;
  pPermutationMethod: "exact" | "bonferroni";
  /** The metric has an alert threshold, so its test is one of the gate's family. */
  gating: boolean;
  /** Holm-adjusted `pPermutation` over the family; null when the metric does not gate. */
  pHolm: number | null;
  /**
   * Fails the gate: `different` by Pinpoint's rule, `pHolm` at or below the gate's level,
   * the bad way, and by more than the alert threshold.
   */
  regression: boolean;
}

/** How the gate kept its false alarms below its level. */
export interface GateFamily {
  /** Family-wise level: P(the gate fails | no real difference) is at most this. */
  alpha: number;
  /** Gating tests (metrics with an alert threshold), each one of which can fail the gate. */
  size: number;
  correction: "holm";
  /** What each test's p-value is. */
  pValue: "exact permutation p-value of min(Mann-Whitney U p, Kolmogorov-Smirnov p)";
  /** Holm's first step: some gating test must reach this for the gate to fail. */
  firstStepP: number | null;
  /** Fewest iterations a side at which a family this size can fail; null: nothing gates. */
  iterationsToFail: number | null;
  /** Some gating test has the iterations to fail the gate (see `canFailWith`). */
  canFail: boolean;
}

/** Every verdict of a gate and whether it failed. */
export interface Gate {
  results: GateResult[];
  family: GateFamily;
  /** True when any result is a regression. */
  failed: boolean;
}

/** Options of {@linkcode gateRuns}. */
export interface GateOptions {
  /** Family-wise level (default {@linkcode GATE_ALPHA}). */
  alpha?: number;
}

/** Groups the usable records of a run by (workload, mesh, load point). */
export type PointGroups = Map<string, Measured[]>;

/**
 * Gates run B against run A: `groupsA`/`groupsB` are the usable records of each run by
 * (workload, mesh, load point), as `compare` groups them.
 */
export function gateRuns(
  groupsA: PointGroups,
  groupsB: PointGroups,
  options: GateOptions = {},
): Gate {
  const alpha = options.alpha ?? GATE_ALPHA;
  if (!isGateAlpha(alpha)) {
    throw new RangeError(`Cannot gate: the level must be between 0 and 1, got ${alpha}`);
  }
  const results: GateResult[] = [];
  const worseBy: boolean[] = [];
  for (const [key, ra] of groupsA) {
    const rb = groupsB.get(key);
    if (!rb) continue;
    const first = ra[0];
    for (const m of metricsFor(first.spec.point.mode)) {
      const va = ra.map((r) => pooledValue(m.source, [r]));
      const vb = rb.map((r) => pooledValue(m.source, [r]));
      if (![...va, ...vb].every(Number.isFinite)) continue;
      const a = pooledValue(m.source, ra);
      const b = pooledValue(m.source, rb);
      if (!(a !== 0 && Number.isFinite(a) && Number.isFinite(b))) continue;
      const changePct = (b - a) / Math.abs(a) * 100;
      const threshold = m.alertThresholdPct ?? null;
      const spread = Math.max(iqr(va), iqr(vb));
      // Pinpoint: the size that matters over the noisier side's IQR; without a declared
      // size, 1 IQR. No spread at all: any change of that size is many IQRs.
      const magnitude = threshold === null
        ? 1
        : spread > 0
        ? threshold / 100 * Math.abs(a) / spread
        : 4;
      const p = pinpointVerdict(va, vb, magnitude);
      worseBy.push(
        (m.better === "lower" ? changePct > 0 : changePct < 0) && threshold !== null &&
          Math.abs(changePct) > threshold,
      );
      results.push({
        workload: first.spec.workload,
        mesh: first.spec.mesh,
        emulated: first.mesh.emulated || rb[0].mesh.emulated,
        mode: first.spec.point.mode,
        rate: first.spec.point.rate,
        metric: m.name,
        unit: m.unit,
        better: m.better,
        alertThresholdPct: threshold,
        values: { a: va, b: vb },
        a,
        b,
        changePct,
        magnitude,
        ...p,
        lowThreshold: LOW_THRESHOLD,
        gating: threshold !== null,
        pHolm: null,
        regression: false,
      });
    }
  }
  return decideGate(results, worseBy, alpha);
}

/**
 * The family-wise decision over `results` (their `regression` and `pHolm` are set here):
 * Holm over the gating tests' exact permutation p-values; a result fails the gate when it
 * is `different`, its adjusted p is at most `alpha`, and `beyondThreshold` (it went the bad
 * way by more than its alert threshold).
 */
function decideGate(results: GateResult[], beyondThreshold: boolean[], alpha: number): Gate {
  const gating = results.flatMap((r, i) => r.gating ? [i] : []);
  const adjusted = holmAdjust(gating.map((i) => results[i].pPermutation));
  for (const [k, i] of gating.entries()) {
    const r = results[i];
    r.pHolm = adjusted[k];
    r.regression = r.verdict === "different" && adjusted[k] <= alpha && beyondThreshold[i];
  }
  const size = gating.length;
  const firstStepP = size ? alpha / size : null;
  return {
    results,
    family: {
      alpha,
      size,
      correction: "holm",
      pValue: "exact permutation p-value of min(Mann-Whitney U p, Kolmogorov-Smirnov p)",
      firstStepP,
      iterationsToFail: iterationsToFail(size, alpha),
      canFail: gating.some((i) =>
        canFailWith(results[i].values.a.length, results[i].values.b.length, size, alpha)
      ),
    },
    failed: results.some((r) => r.regression),
  };
}

/** One gate result in words: workload, mesh, metric and load point. */
export function gateLabel(r: GateResult): string {
  return `${r.workload} · ${meshLabel(r.mesh, r.emulated)} · ${metricLabel(r.metric)} @ ` +
    rateLabel(r.rate, r.mode);
}

/** The gate as plain text: its rule and level, every verdict, then whether it failed. */
export function formatGate(g: Gate): string {
  const lines: string[] = [];
  const f = g.family;
  const count = (v: Verdict) => g.results.filter((r) => r.verdict === v).length;
  const p2 = (p: number) => p.toPrecision(2);
  lines.push(
    `Gate (Pinpoint's rule per metric: min p of Mann-Whitney U and Kolmogorov-Smirnov over ` +
      `iterations; different at p <= ${LOW_THRESHOLD}): ${count("different")} different, ${
        count("same")
      } same, ${count("inconclusive, run more")} inconclusive of ${g.results.length} metrics.`,
    `Fails on a metric different the bad way beyond its alert threshold whose exact ` +
      `permutation p-value, Holm-adjusted over the ${f.size} gating tests, is <= ${f.alpha} ` +
      `(family-wise level ${f.alpha}: runs with no real difference fail at most that often).`,
  );
  for (const r of g.results) {
    const mark = r.regression ? "FAIL" : r.verdict === "different" ? "diff" : "    ";
    lines.push(
      `  ${mark} ${gateLabel(r)}: ${formatNumber(r.a)} -> ${formatNumber(r.b)} ${r.unit}, ` +
        `${formatPct(r.changePct)} (${r.better} is better, alert ${
          r.alertThresholdPct === null ? "off" : `${r.alertThresholdPct} %`
        }); ${r.verdict}, p=${p2(r.pValue)} (exact ${p2(r.pPermutation)}${
          r.pHolm === null ? ", not gating" : `, Holm ${p2(r.pHolm)}`
        }), same above ${r.highThreshold}, n=${r.values.a.length}/${r.values.b.length}`,
    );
  }
  if (f.firstStepP !== null && f.iterationsToFail !== null) {
    lines.push(
      `  With ${f.size} gating tests one must reach p <= ${p2(f.firstStepP)} to fail the gate: ` +
        `${f.iterationsToFail} iterations a side is the fewest that can (all of B worse than ` +
        `all of A gives p = ${p2(bestPValue(f.iterationsToFail, f.iterationsToFail))}); the ` +
        "fewest grows with the number of gating tests.",
    );
    if (!f.canFail) {
      const most = g.results.filter((r) => r.gating).reduce((x, y) =>
        bestPValue(y.values.a.length, y.values.b.length) <
            bestPValue(x.values.a.length, x.values.b.length)
          ? y
          : x
      );
      const [n1, n2] = [most.values.a.length, most.values.b.length];
      lines.push(
        `  This comparison CANNOT fail the gate: with ${n1}/${n2} iterations a gating test ` +
          `reaches at best exact p = ${p2(bestPValue(n1, n2))} (all of B worse than all of A), ` +
          `and failing needs p <= ${p2(f.firstStepP)} and Pinpoint's p <= ${LOW_THRESHOLD}; ` +
          `run ${f.iterationsToFail} or more iterations a side.`,
      );
    }
  } else lines.push("  No metric has an alert threshold: nothing can fail the gate.");
  lines.push(
    g.failed
      ? `Gate FAILED: ${g.results.filter((r) => r.regression).length} metrics are different ` +
        "in the bad direction beyond their alert threshold at the gate's family-wise level."
      : "Gate passed: no metric is different in the bad direction beyond its alert threshold " +
        "at the gate's family-wise level.",
  );
  return lines.join("\n");
}
