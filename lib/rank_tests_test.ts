import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import {
  binomial,
  erfc,
  kolmogorovSf,
  kolmogorovSmirnov,
  ksStatistic,
  mannWhitneyU,
  permutationPValue,
  rankData,
} from "./rank_tests.ts";

// Reference values computed once with SciPy 1.17.1:
//   mwu = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue
//   ksD = stats.ks_2samp(a, b).statistic
//   ks  = special.kolmogorov((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * ksD), en = n1 n2 / (n1 + n2)
const CASES: Record<string, { a: number[]; b: number[]; mwu: number; ksD: number; ks: number }> = {
  "shift5": {
    "a": [1.1, 2.3, 0.7, 1.9, 1.4],
    "b": [2.8, 3.1, 2.2, 3.9, 2.6],
    "mwu": 0.02157174794772092,
    "ksD": 0.8,
    "ks": 0.03614619076928505,
  },
  "separated5": {
    "a": [1, 2, 3, 4, 5],
    "b": [6, 7, 8, 9, 10],
    "mwu": 0.012185780355344813,
    "ksD": 1.0,
    "ks": 0.003781354059370101,
  },
  "separated3": {
    "a": [1, 2, 3],
    "b": [4, 5, 6],
    "mwu": 0.08085559837005224,
    "ksD": 1.0,
    "ks": 0.03262165165202116,
  },
  "overlap": {
    "a": [10.2, 11.5, 9.8, 10.9, 10.1, 11.0],
    "b": [10.4, 10.0, 11.2, 10.7, 9.9, 10.6, 10.8],
    "mwu": 0.8303242576557953,
    "ksD": 0.35714285714285715,
    "ks": 0.7001308145277134,
  },
  "ties": {
    "a": [1, 2, 2, 3, 3, 3],
    "b": [2, 3, 3, 4, 4, 5],
    "mwu": 0.07840293453326791,
    "ksD": 0.5,
    "ks": 0.31802835406212954,
  },
  "pinpointMwu": {
    "a": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "b": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
    "mwu": 0.019450444016954928,
    "ksD": 0.25,
    "ks": 0.49734233531361083,
  },
  "pinpointKs": {
    "a": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
    "b": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
    "mwu": 1.0,
    "ksD": 0.5,
    "ks": 0.008161678659143069,
  },
  "unequal": {
    "a": [0.41, 0.52, 0.39, 0.47],
    "b": [0.55, 0.61, 0.49, 0.58, 0.63, 0.5, 0.66, 0.59],
    "mwu": 0.02185600909831368,
    "ksD": 0.75,
    "ks": 0.048085864568413156,
  },
};
// special.kolmogorov(y)
const KOLMOGOROV: Array<[number, number]> = [
  [0.05, 1.0],
  [0.3, 0.9999906941986655],
  [0.5, 0.9639452436648751],
  [0.8, 0.5441424115741981],
  [0.99, 0.2808738392255489],
  [1.0, 0.26999967167735456],
  [1.2, 0.11224966667072497],
  [1.5, 0.022217962616525127],
  [2.0, 0.0006709252557796953],
  [3.0, 3.045995948942526e-08],
];

const close = (got: number, want: number, what: string) =>
  assert(
    Math.abs(got - want) <= 1e-6 * Math.max(want, 1e-3),
    `${what}: got ${got}, SciPy gives ${want}`,
  );

Deno.test("Mann-Whitney U p-values match SciPy's asymptotic test, ties included", () => {
  for (const [name, c] of Object.entries(CASES)) close(mannWhitneyU(c.a, c.b), c.mwu, name);
});

Deno.test("Kolmogorov-Smirnov statistics and p-values match SciPy", () => {
  for (const [name, c] of Object.entries(CASES)) {
    close(ksStatistic(c.a, c.b), c.ksD, `${name} D`);
    close(kolmogorovSmirnov(c.a, c.b), c.ks, name);
  }
});

Deno.test("the Kolmogorov distribution matches SciPy on both of its series", () => {
  for (const [y, p] of KOLMOGOROV) close(kolmogorovSf(y), p, `K(${y})`);
});

Deno.test("each test catches what the other misses (Pinpoint's two examples)", () => {
  // A shift of a discrete value: U sees it, KS does not.
  assert(mannWhitneyU(CASES.pinpointMwu.a, CASES.pinpointMwu.b) < 0.05);
  assert(kolmogorovSmirnov(CASES.pinpointMwu.a, CASES.pinpointMwu.b) > 0.4);
  // A change of spread with the same median: KS sees it, U does not.
  assert(kolmogorovSmirnov(CASES.pinpointKs.a, CASES.pinpointKs.b) < 0.01);
  assertEquals(mannWhitneyU(CASES.pinpointKs.a, CASES.pinpointKs.b), 1);
});

Deno.test("three values a side can never reach p <= 0.01; five can", () => {
  const best3 = Math.min(
    mannWhitneyU([1, 2, 3], [4, 5, 6]),
    kolmogorovSmirnov([1, 2, 3], [4, 5, 6]),
  );
  assert(best3 > 0.03, String(best3));
  const five = kolmogorovSmirnov([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
  assert(five <= 0.01, String(five));
  const four = kolmogorovSmirnov([1, 2, 3, 4], [6, 7, 8, 9]);
  assert(four > 0.01, String(four));
});

Deno.test("ranks average ties; erfc is symmetric; empty or non-finite samples are refused", () => {
  assertEquals(rankData([3, 1, 3, 2]), [3.5, 1, 3.5, 2]);
  close(erfc(-1) + erfc(1), 2, "erfc symmetry");
  throws(() => mannWhitneyU([], [1]), /both samples need values \(got 0 and 1\)/);
  throws(() => kolmogorovSmirnov([1, NaN], [1]), /value NaN is not finite/);
});

/** Every way of choosing `k` of the indices 0..n-1. */
function* choose(n: number, k: number, from = 0): Generator<number[]> {
  if (k === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= n - k; i++) {
    for (const rest of choose(n, k - 1, i + 1)) yield [i, ...rest];
  }
}

/** Each split of the pooled values of a and b into samples of their sizes, listed. */
function* splits(a: readonly number[], b: readonly number[]): Generator<[number[], number[]]> {
  const pooled = [...a, ...b];
  for (const idx of choose(pooled.length, a.length)) {
    const inA = new Set(idx);
    yield [idx.map((i) => pooled[i]), pooled.filter((_, i) => !inA.has(i))];
  }
}

const pinpointP = (a: readonly number[], b: readonly number[]) =>
  Math.min(mannWhitneyU(a, b), kolmogorovSmirnov(a, b));

Deno.test("the permutation p-value counts the splits as listing every one of them would", () => {
  for (const [name, c] of Object.entries(CASES)) {
    if (binomial(c.a.length + c.b.length, c.a.length) > 20_000) continue;
    const observed = pinpointP(c.a, c.b);
    let atMost = 0;
    let all = 0;
    for (const [x, y] of splits(c.a, c.b)) {
      all++;
      if (pinpointP(x, y) <= observed * (1 + 1e-12)) atMost++;
    }
    const r = permutationPValue(c.a, c.b);
    assertEquals(r.method, "exact");
    close(r.statistic, observed, `${name} statistic`);
    close(r.p, atMost / all, `${name} p (${atMost} of ${all} splits)`);
  }
  // Complete separation of 5 a side: the asymptotic min p says 0.0038, but 2 of the 252
  // splits are that extreme, so P = 0.0079.
  close(permutationPValue([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p, 2 / 252, "separated5");
  close(permutationPValue([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).p, 2 / 252, "reversed");
  assertEquals(permutationPValue([2, 2, 2], [2, 2]).p, 1);
});

Deno.test("under exchangeable values the permutation p-value is at most its level, ties included", () => {
  // Over every split of one pooled set, the share with p <= x is at most x, for every x:
  // exactly the false-alarm guarantee of a test at level x.
  for (
    const pooled of [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 7]]
  ) {
    const a = pooled.slice(0, 5);
    const b = pooled.slice(5);
    const ps = [...splits(a, b)].map(([x, y]) => permutationPValue(x, y).p);
    for (const x of [...new Set(ps), 0.001, 0.01, 0.05, 0.2]) {
      const share = ps.filter((p) => p <= x).length / ps.length;
      assert(share <= x * (1 + 1e-9), `share ${share} of p <= ${x} (pooled ${pooled})`);
    }
  }
  // The asymptotic min p breaks it at 5 a side: 0.0038 at complete separation, which 2 of the
  // 252 splits (0.0079) reach.
  const asym = [...splits([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])].map(([x, y]) => pinpointP(x, y));
  const least = Math.min(...asym);
  const share = asym.filter((p) => p <= least).length / asym.length;
  assert(least < 0.004 && share === 2 / 252, `asymptotic p ${least}, share ${share}`);
});

Deno.test("above 50 values a side the permutation p-value is Bonferroni over the pair", () => {
  const a = Array.from({ length: 51 }, (_, i) => i);
  const b = Array.from({ length: 51 }, (_, i) => i + 10.5);
  const r = permutationPValue(a, b);
  assertEquals(r.method, "bonferroni");
  assertEquals(r.p, Math.min(1, 2 * pinpointP(a, b)));
  assertEquals(binomial(10, 5), 252);
  assertEquals(binomial(16, 8), 12870);
  assertEquals(binomial(3, 4), 0);
});
