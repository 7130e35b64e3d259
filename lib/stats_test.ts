import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  bootstrapOverhead,
  bootstrapOverheads,
  cvPct,
  fromSamples,
  overheadPct,
  quantileSelect,
  quantileSorted,
  seededRandom,
  shuffle,
  weightedMean,
} from "./stats.ts";
import { HistogramRecorder, HistogramSet, mergeHistograms, percentile } from "./histogram.ts";
import type { Histogram } from "./types.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

Deno.test("the same seed gives the same order; another seed another", () => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  const a = shuffle(items, seededRandom(42));
  assertEquals(shuffle(items, seededRandom(42)), a);
  assert(JSON.stringify(shuffle(items, seededRandom(43))) !== JSON.stringify(a));
  assertEquals([...a].sort((x, y) => x - y), items);
});

Deno.test("overhead follows the design's formula", () => {
  assertEquals(overheadPct(150, 100), 50);
  assertEquals(overheadPct(80, 100), -20);
  assert(Number.isNaN(overheadPct(1, 0)));
});

Deno.test("CV of identical values is 0 and grows with spread", () => {
  assertEquals(cvPct([5, 5, 5]), 0);
  assert(cvPct([90, 100, 110]) > 9 && cvPct([90, 100, 110]) < 11);
});

Deno.test("bootstrap CI covers the true overhead and excludes zero for a clear effect", () => {
  const rand = seededRandom(3);
  const noisy = (center: number) => center * (1 + (rand() - 0.5) * 0.1);
  const base = Array.from({ length: 5 }, () => noisy(100));
  const mesh = Array.from({ length: 5 }, () => noisy(130));
  const r = bootstrapOverhead(5, 5, weightedMean(base), weightedMean(mesh), { seed: 9 });
  assert(r.ci95[0] <= r.overheadPct && r.overheadPct <= r.ci95[1]);
  assert(r.ci95[0] > 15 && r.ci95[1] < 45, JSON.stringify(r));
  assertEquals(r.overheadPct, overheadPct(mean(mesh), mean(base)));
  // Same seed, same interval.
  assertEquals(bootstrapOverhead(5, 5, weightedMean(base), weightedMean(mesh), { seed: 9 }), r);
  // The weighted form agrees with materialised resamples.
  const viaSamples = bootstrapOverhead(5, 5, fromSamples(base, mean), fromSamples(mesh, mean), {
    seed: 9,
  });
  assert(Math.abs(viaSamples.ci95[0] - r.ci95[0]) < 1e-9);
});

Deno.test("bootstrap CI straddles zero when there is no effect", () => {
  const rand = seededRandom(5);
  const base = Array.from({ length: 5 }, () => 100 + rand() * 20);
  const mesh = Array.from({ length: 5 }, () => 100 + rand() * 20);
  const r = bootstrapOverhead(5, 5, weightedMean(base), weightedMean(mesh), { seed: 1 });
  assert(r.ci95[0] < 0 && r.ci95[1] > 0, JSON.stringify(r));
});

Deno.test("bootstrap over histograms pools iterations for tail percentiles", () => {
  const hist = (values: number[]): Histogram => {
    const r = new HistogramRecorder();
    values.forEach((v) => r.record(v));
    return r.toHistogram();
  };
  const raw = (c: number, m: number) =>
    [1, 2, 3].map((k) => Array.from({ length: 1000 }, (_, i) => c + (i % m) + k));
  // Values below 2048 us are kept exactly, so the pooled p99 is the raw rank statistic.
  const rawP99 = (groups: number[][]) => {
    const all = groups.flat().sort((a, b) => a - b);
    return all[Math.round(0.99 * all.length) - 1];
  };
  const baseRaw = raw(100, 50);
  const meshRaw = raw(200, 60);
  const bs = new HistogramSet(baseRaw.map(hist));
  const ms = new HistogramSet(meshRaw.map(hist));
  const r = bootstrapOverhead(3, 3, (w) => bs.percentile(w, 99), (w) => ms.percentile(w, 99), {
    seed: 2,
  });
  const pooled = (hs: Histogram[]) => percentile(mergeHistograms(hs), 99);
  assertEquals(r.baseline, pooled(baseRaw.map(hist)));
  assertEquals(r.baseline, rawP99(baseRaw));
  assertEquals(r.value, rawP99(meshRaw));
  assert(r.ci95[0] > 60 && r.ci95[1] < 80);
});

Deno.test("bootstrap refuses an empty group", () => {
  let threw = false;
  try {
    bootstrapOverhead(0, 1, weightedMean([]), weightedMean([1]));
  } catch (e) {
    threw = e instanceof RangeError && /baseline=0/.test(e.message);
  }
  assert(threw);
});

Deno.test("many iterations fall back to seeded Monte Carlo resampling", () => {
  const rand = seededRandom(8);
  const base = Array.from({ length: 12 }, () => 100 + rand() * 10);
  const mesh = Array.from({ length: 12 }, () => 150 + rand() * 10);
  const r = bootstrapOverhead(12, 12, weightedMean(base), weightedMean(mesh), { seed: 4 });
  assert(r.ci95[0] > 40 && r.ci95[1] < 60, JSON.stringify(r));
  assertEquals(bootstrapOverhead(12, 12, weightedMean(base), weightedMean(mesh), { seed: 4 }), r);
});

Deno.test("quantiles by selection equal quantiles of the sorted values", () => {
  const rand = seededRandom(21);
  for (const n of [1, 2, 7, 100, 2001]) {
    const values = Float64Array.from({ length: n }, () => Math.round(rand() * 50));
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0, 0.025, 0.5, 0.975, 1]) {
      assertEquals(quantileSelect(values.slice(), q), quantileSorted(sorted, q), `n=${n} q=${q}`);
    }
  }
});

Deno.test("bootstrap figures are pinned: exact quantiles for 5 iterations, Monte Carlo for 9", () => {
  // Monte Carlo (more than 7 iterations) gives what it always gave. Up to 7, the bounds
  // are the quantiles of the exact distribution (they were Monte Carlo draws from it).
  const rand = seededRandom(5);
  const b5 = Array.from({ length: 5 }, () => 100 + rand() * 20);
  const m5 = Array.from({ length: 5 }, () => 130 + rand() * 20);
  const b9 = Array.from({ length: 9 }, () => 100 + rand() * 20);
  const m9 = Array.from({ length: 9 }, () => 130 + rand() * 20);
  assertEquals(
    bootstrapOverheads(5, 5, [
      { baseline: weightedMean(b5), mesh: weightedMean(m5), delta: true },
      { baseline: weightedMean(b5), mesh: weightedMean(m5), basis: "share" },
    ], { seed: 7 }),
    [
      {
        baseline: 109.56238887179643,
        value: 141.6216874839738,
        overheadPct: 29.261226359066804,
        ci95: [22.934844320389878, 36.374176460879035],
        delta: 32.05929861217737,
        deltaCi95: [25.929635614156723, 38.38607924152166],
        method: "exact",
      },
      {
        baseline: 109.56238887179643,
        value: 141.6216874839738,
        overheadPct: 129.2612263590668,
        ci95: [122.93484432038989, 136.37417646087903],
        method: "exact",
      },
    ],
  );
  assertEquals(
    bootstrapOverheads(9, 9, [{ baseline: weightedMean(b9), mesh: weightedMean(m9) }], {
      seed: 7,
      resamples: 500,
    }),
    [{
      baseline: 110.89039336165621,
      value: 138.5677282957153,
      overheadPct: 24.959181850670035,
      ci95: [19.82864917663416, 30.772238160070376],
      method: "sampled",
    }],
  );
});

/** Every ordered resample of n iterations (n^n, equally likely), as weights. */
function allResamples(n: number): Float64Array[] {
  const out: Float64Array[] = [];
  const idx = new Array<number>(n).fill(0);
  for (;;) {
    const w = new Float64Array(n);
    for (const i of idx) w[i]++;
    out.push(w);
    let k = 0;
    while (k < n && ++idx[k] === n) idx[k++] = 0;
    if (k === n) return out;
  }
}

/** The level quantile of every (baseline, mesh) resample pair, listed and sorted. */
function bruteQuantile(
  nb: number,
  nm: number,
  f: (m: number, b: number) => number,
  b: (w: Float64Array) => number,
  m: (w: Float64Array) => number,
  level: number,
): number {
  const bs = allResamples(nb).map(b);
  const ms = allResamples(nm).map(m);
  const values = bs.flatMap((x) => ms.map((y) => f(y, x))).filter(Number.isFinite);
  values.sort((x, y) => x - y);
  return values[Math.ceil(level * values.length) - 1];
}

Deno.test("up to 7 iterations the interval is the exact bootstrap quantile, listed pair by pair", () => {
  const rand = seededRandom(11);
  for (const [nb, nm] of [[3, 3], [2, 4], [4, 3]]) {
    const bh = Array.from({ length: nb }, () => {
      const r = new HistogramRecorder();
      for (let i = 0; i < 200; i++) r.record(300 + rand() * rand() * 3000);
      return r.toHistogram();
    });
    const mh = Array.from({ length: nm }, () => {
      const r = new HistogramRecorder();
      for (let i = 0; i < 200; i++) r.record(400 + rand() * rand() * 3000);
      return r.toHistogram();
    });
    const bset = new HistogramSet(bh);
    const mset = new HistogramSet(mh);
    for (const p of [50, 99, 100]) {
      const b = (w: Float64Array) => bset.percentile(w, p) / 1000;
      const m = (w: Float64Array) => mset.percentile(w, p) / 1000;
      const [est] = bootstrapOverheads(nb, nm, [{ baseline: b, mesh: m, delta: true }]);
      assertEquals(est.method, "exact");
      const rel = (y: number, x: number) => overheadPct(y, x);
      const delta = (y: number, x: number) => y - x;
      const near = (a: number, e: number) => Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e));
      const expected = [
        bruteQuantile(nb, nm, rel, b, m, 0.025),
        bruteQuantile(nb, nm, rel, b, m, 0.975),
        bruteQuantile(nb, nm, delta, b, m, 0.025),
        bruteQuantile(nb, nm, delta, b, m, 0.975),
      ];
      const got = [...est.ci95, ...est.deltaCi95!];
      assert(got.every((g, i) => near(g, expected[i])), `p${p} ${nb}/${nm}: ${got} vs ${expected}`);
    }
  }
});

Deno.test("with up to 7 iterations the interval is the same for seeds 1 to 20", () => {
  const rand = seededRandom(3);
  for (const n of [2, 3, 5, 7]) {
    const base = Array.from({ length: n }, () => 100 + rand() * 30);
    const mesh = Array.from({ length: n }, () => 120 + rand() * 30);
    const pair = { baseline: weightedMean(base), mesh: weightedMean(mesh), delta: true };
    const first = bootstrapOverheads(n, n, [pair], { seed: 1 })[0];
    assert(first.ci95[0] < first.ci95[1], JSON.stringify(first));
    for (let seed = 2; seed <= 20; seed++) {
      assertEquals(bootstrapOverheads(n, n, [pair], { seed })[0], first, `n=${n} seed=${seed}`);
    }
  }
});

Deno.test("one iteration on a side gives no interval, and says so", () => {
  const [est] = bootstrapOverheads(1, 3, [{
    baseline: weightedMean([100]),
    mesh: weightedMean([110, 120, 130]),
    delta: true,
  }]);
  assertEquals(est.method, "too-few-iterations");
  assert(Number.isNaN(est.ci95[0]) && Number.isNaN(est.ci95[1]));
  assert(Number.isNaN(est.deltaCi95![0]));
  assertEquals(est.overheadPct, 20);
  assertEquals(est.delta, 20);
});

Deno.test("a zero baseline leaves undefined ratios out of the exact distribution", () => {
  // Baseline CPU of 0 in some resamples: the ratio is undefined there (0 when both are 0).
  const [est] = bootstrapOverheads(3, 3, [{
    baseline: weightedMean([0, 0, 3]),
    mesh: weightedMean([0, 1, 2]),
  }]);
  const expected = [0.025, 0.975].map((q) =>
    bruteQuantile(3, 3, overheadPct, weightedMean([0, 0, 3]), weightedMean([0, 1, 2]), q)
  );
  assertEquals(est.ci95, expected);
});

Deno.test("exact intervals of a share, and of statistics with many tied resamples, equal the pair-by-pair listing", () => {
  // Whole-number iterations: many resamples share a value, which the exact distribution
  // merges; a share (m / b x 100) takes its own path through the pair quantile.
  const rand = seededRandom(5);
  for (const [nb, nm] of [[4, 4], [3, 5], [4, 3]]) {
    const base = Array.from({ length: nb }, () => 10 + Math.floor(rand() * 4));
    const mesh = Array.from({ length: nm }, () => 12 + Math.floor(rand() * 4));
    const b = weightedMean(base);
    const m = weightedMean(mesh);
    const [share] = bootstrapOverheads(nb, nm, [{ baseline: b, mesh: m, basis: "share" }]);
    const [rel] = bootstrapOverheads(nb, nm, [{ baseline: b, mesh: m, delta: true }]);
    const quantiles = (f: (y: number, x: number) => number) =>
      [0.025, 0.975].map((q) => bruteQuantile(nb, nm, f, b, m, q));
    assertEquals(share.method, "exact");
    assertEquals(share.ci95, quantiles((y, x) => (y / x) * 100), `share ${nb}/${nm}`);
    assertEquals(rel.ci95, quantiles(overheadPct), `relative ${nb}/${nm}`);
    assertEquals(rel.deltaCi95, quantiles((y, x) => y - x), `delta ${nb}/${nm}`);
  }
});
