/**
 * Two-sample rank tests for comparing per-iteration values of two runs: Mann-Whitney U
 * (sensitive to a shift) and Kolmogorov-Smirnov (sensitive to a change of shape or
 * spread), as Chromium Pinpoint computes them (`dashboard/pinpoint/models/compare/`,
 * catapult): U with the normal approximation, tie and continuity corrections; KS with
 * the asymptotic Kolmogorov distribution and Stephens' small-sample correction. Both are
 * checked against values from SciPy 1.17.1 in `rank_tests_test.ts`.
 *
 * Small samples: with 3 values a side no test here can go below p = 0.033 (KS, complete
 * separation), so nothing is called different at p <= 0.01 before 5 values a side.
 *
 * @example
 * ```ts
 * import { kolmogorovSmirnov, mannWhitneyU } from "./rank_tests.ts";
 * const a = [1, 2, 3, 4, 5];
 * const b = [6, 7, 8, 9, 10];
 * if (!(kolmogorovSmirnov(a, b) < 0.01)) throw new Error("separated samples");
 * if (mannWhitneyU(a, a) !== 1) throw new Error("identical samples");
 * ```
 *
 * @module
 */

/** Complementary error function, fractional error below 1.2e-7 everywhere (Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                  t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                                  t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/** Survival function of the standard normal distribution, P(Z > z). */
export function normalSf(z: number): number {
  return erfc(z / Math.SQRT2) / 2;
}

/** Fractional ranks (ties get the mean of their ranks), 1-based. */
export function rankData(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = rank;
    i = j + 1;
  }
  return ranks;
}

function checkSamples(test: string, a: readonly number[], b: readonly number[]): void {
  if (a.length === 0 || b.length === 0) {
    throw new RangeError(
      `Cannot run ${test}: both samples need values (got ${a.length} and ${b.length})`,
    );
  }
  for (const v of [...a, ...b]) {
    if (!Number.isFinite(v)) throw new RangeError(`Cannot run ${test}: value ${v} is not finite`);
  }
}

/**
 * Two-sided p-value of the Mann-Whitney U test of samples `a` and `b` (normal
 * approximation with tie correction and continuity correction; SciPy's
 * `mannwhitneyu(a, b, method="asymptotic")`). All values tied: 1.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): number {
  checkSamples("the Mann-Whitney U test", a, b);
  const n1 = a.length;
  const n = n1 + b.length;
  const ranks = rankData([...a, ...b]);
  let rankSumA = 0;
  for (let i = 0; i < n1; i++) rankSumA += ranks[i];
  // Tie correction: sum over groups of tied ranks of t^3 - t.
  const sorted = [...ranks].sort((x, y) => x - y);
  let ties = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && sorted[j + 1] === sorted[i]) j++;
    const t = j - i + 1;
    ties += t * t * t - t;
    i = j + 1;
  }
  return mannWhitneyP(rankSumA - n1 * (n1 + 1) / 2, n1, b.length, ties);
}

/**
 * The Mann-Whitney p-value of {@linkcode mannWhitneyU} from U of the first sample (its
 * pairs with a larger value than the other sample's, ties counting one half) and the tie
 * term (sum of t^3 - t over groups of tied values).
 */
function mannWhitneyP(u1: number, n1: number, n2: number, ties: number): number {
  const n = n1 + n2;
  const u = Math.max(u1, n1 * n2 - u1);
  const variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)));
  if (!(variance > 0)) return 1;
  const z = (u - n1 * n2 / 2 - 0.5) / Math.sqrt(variance);
  return Math.min(1, 2 * normalSf(z));
}

/**
 * Survival function of the Kolmogorov distribution, P(K > y) (SciPy's
 * `scipy.special.kolmogorov`): the theta-function series below y = 1, the alternating
 * series above.
 */
export function kolmogorovSf(y: number): number {
  if (!(y > 0)) return 1;
  if (y < 1) {
    // CDF = sqrt(2 pi) / y * sum_k exp(-(2k-1)^2 pi^2 / (8 y^2)).
    const w = -Math.PI * Math.PI / (8 * y * y);
    let cdf = 0;
    for (let k = 1; k < 100; k++) {
      const term = Math.exp(w * (2 * k - 1) * (2 * k - 1));
      cdf += term;
      if (term < 1e-17 * cdf) break;
    }
    return Math.min(1, Math.max(0, 1 - Math.sqrt(2 * Math.PI) / y * cdf));
  }
  let p = 0;
  for (let k = 1; k < 100; k++) {
    const term = Math.exp(-2 * k * k * y * y);
    p += k % 2 === 1 ? term : -term;
    if (term < 1e-17 * p) break;
  }
  return Math.min(1, Math.max(0, 2 * p));
}

/** The two-sample Kolmogorov-Smirnov statistic D: the largest gap between the two ECDFs. */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/**
 * Two-sided p-value of the two-sample Kolmogorov-Smirnov test of `a` and `b`, as Pinpoint
 * computes it: the Kolmogorov distribution at (sqrt(en) + 0.12 + 0.11 / sqrt(en)) x D,
 * en = n1 n2 / (n1 + n2) (Stephens' correction for small samples).
 */
export function kolmogorovSmirnov(a: readonly number[], b: readonly number[]): number {
  checkSamples("the Kolmogorov-Smirnov test", a, b);
  return ksP(ksStatistic(a, b), a.length, b.length);
}

/** The p-value of {@linkcode kolmogorovSmirnov} for statistic `d` and sample sizes n1, n2. */
function ksP(d: number, n1: number, n2: number): number {
  const en = Math.sqrt(n1 * n2 / (n1 + n2));
  return kolmogorovSf((en + 0.12 + 0.11 / en) * d);
}

/** Binomial coefficient C(n, k) as a float (exact while it stays below 2^53). */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  const m = Math.min(k, n - k);
  let c = 1;
  // Each partial product is itself a binomial coefficient, so rounding keeps it exact.
  for (let i = 1; i <= m; i++) c = Math.round(c * (n - m + i) / i);
  return c;
}

/**
 * Largest n1 x n2 for which {@linkcode permutationPValue} enumerates the splits exactly
 * (50 a side; its work grows as n1^2 n2 (n1 + n2)).
 */
export const EXACT_PERMUTATION_MAX_PAIRS = 2500;

/** What {@linkcode permutationPValue} found, and how. */
export interface PermutationP {
  /** P(statistic <= observed) over the splits of the pooled values. */
  p: number;
  /** Pinpoint's statistic, min(Mann-Whitney p, Kolmogorov-Smirnov p), as observed. */
  statistic: number;
  /**
   * `exact`: counted over every split. `bonferroni`: above
   * {@linkcode EXACT_PERMUTATION_MAX_PAIRS}, twice the statistic (both asymptotic
   * p-values are then close to exact, and Bonferroni over the pair is conservative).
   */
  method: "exact" | "bonferroni";
}

/**
 * The exact permutation p-value of Pinpoint's statistic min(p of {@linkcode mannWhitneyU},
 * p of {@linkcode kolmogorovSmirnov}) for samples `a` and `b`: the share of the
 * C(n1 + n2, n1) ways of splitting the pooled values into samples of these sizes whose
 * statistic is at most the observed one. When the iterations of A and B are exchangeable
 * (no difference), P(p <= x) <= x for every x: the level holds exactly, whatever the sample
 * sizes, the ties (the split is conditional on the pooled values) and however the two
 * tests depend on each other. Taking the smaller of two asymptotic p-values does not: at
 * 5 values a side complete separation gives min p = 0.0038, but happens with probability
 * 2 / C(10, 5) = 0.0079, which is this p-value.
 *
 * Counted without listing the splits: a walk over the pooled values in order (tied values
 * as one step, split in every way with its multiplicity) that keeps the samples' U so far
 * and drops, with every completion, each path whose ECDF gap already makes the KS p-value
 * small enough.
 *
 * @example
 * ```ts
 * import { permutationPValue } from "./rank_tests.ts";
 * const r = permutationPValue([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
 * // The two complete separations of 252 splits.
 * if (Math.abs(r.p - 2 / 252) > 1e-12 || r.method !== "exact") throw new Error(String(r.p));
 * ```
 */
export function permutationPValue(a: readonly number[], b: readonly number[]): PermutationP {
  checkSamples("the permutation test", a, b);
  const n1 = a.length;
  const n2 = b.length;
  const statistic = Math.min(mannWhitneyU(a, b), kolmogorovSmirnov(a, b));
  if (n1 * n2 > EXACT_PERMUTATION_MAX_PAIRS) {
    return { p: Math.min(1, 2 * statistic), statistic, method: "bonferroni" };
  }
  // Tie blocks of the pooled values in order: their sizes, and how many of each are A's.
  const pooled = [...a.map((v) => [v, 1] as const), ...b.map((v) => [v, 0] as const)]
    .sort((p, q) => p[0] - q[0]);
  const sizes: number[] = [];
  const fromA: number[] = [];
  let ties = 0;
  for (let i = 0; i < pooled.length;) {
    let j = i;
    let inA = 0;
    while (j < pooled.length && pooled[j][0] === pooled[i][0]) inA += pooled[j++][1];
    const t = j - i;
    sizes.push(t);
    fromA.push(inA);
    ties += t * t * t - t;
    i = j;
  }
  const pMw = (u2: number) => mannWhitneyP(u2 / 2, n1, n2, ties);
  const ksGrid = new Float64Array((n1 + 1) * (n2 + 1));
  for (let i = 0; i <= n1; i++) {
    for (let j = 0; j <= n2; j++) ksGrid[i * (n2 + 1) + j] = ksP(Math.abs(i / n1 - j / n2), n1, n2);
  }
  const pKs = (i: number, j: number) => ksGrid[i * (n2 + 1) + j];
  // The observed statistic as the walk computes it (KS: the smallest p over the steps).
  let observed = Infinity;
  {
    let i = 0;
    let j = 0;
    let u2 = 0;
    for (const [k, t] of sizes.entries()) {
      const x = fromA[k];
      u2 += 2 * x * j + x * (t - x);
      i += x;
      j += t - x;
      observed = Math.min(observed, pKs(i, j));
    }
    observed = Math.min(observed, pMw(u2));
  }
  // Paths by (A's so far, 2U so far); j follows from the step.
  const width = 2 * n1 * n2 + 1;
  let paths = new Float64Array((n1 + 1) * width);
  paths[0] = 1;
  let atMost = 0;
  let done = 0;
  for (const t of sizes) {
    const next = new Float64Array(paths.length);
    for (let i = 0; i <= n1; i++) {
      const j = done - i;
      if (j < 0 || j > n2) continue;
      // U so far counts at most every (A, B) pair so far: 2U <= 2ij.
      for (let u2 = 0; u2 <= 2 * i * j; u2++) {
        const c = paths[i * width + u2];
        if (c === 0) continue;
        for (let x = Math.max(0, t - (n2 - j)); x <= Math.min(t, n1 - i); x++) {
          const ways = c * binomial(t, x);
          const i2 = i + x;
          const j2 = j + t - x;
          if (pKs(i2, j2) <= observed) {
            // Every completion of this path has a statistic at most the observed one.
            atMost += ways * binomial(n1 + n2 - i2 - j2, n1 - i2);
          } else next[i2 * width + u2 + 2 * x * j + x * (t - x)] += ways;
        }
      }
    }
    paths = next;
    done += t;
  }
  for (let u2 = 0; u2 < width; u2++) {
    const c = paths[n1 * width + u2];
    if (c !== 0 && pMw(u2) <= observed) atMost += c;
  }
  return { p: Math.min(1, atMost / binomial(n1 + n2, n1)), statistic: observed, method: "exact" };
}
