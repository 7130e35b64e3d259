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
  const n2 = b.length;
  const n = n1 + n2;
  const ranks = rankData([...a, ...b]);
  let rankSumA = 0;
  for (let i = 0; i < n1; i++) rankSumA += ranks[i];
  const u1 = rankSumA - n1 * (n1 + 1) / 2;
  const u = Math.max(u1, n1 * n2 - u1);
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
  const en = Math.sqrt(a.length * b.length / (a.length + b.length));
  return kolmogorovSf((en + 0.12 + 0.11 / en) * ksStatistic(a, b));
}
