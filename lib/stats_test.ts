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

Deno.test("bootstrap figures are pinned: exact enumeration and Monte Carlo give what they always gave", () => {
  // Expected values computed by the implementation before the speed-ups of the bootstrap
  // (binary-search draws, statistics evaluated per resample): any change here changes reports.
  const rand = seededRandom(5);
  const b5 = Array.from({ length: 5 }, () => 100 + rand() * 20);
  const m5 = Array.from({ length: 5 }, () => 130 + rand() * 20);
  const b9 = Array.from({ length: 9 }, () => 100 + rand() * 20);
  const m9 = Array.from({ length: 9 }, () => 130 + rand() * 20);
  assertEquals(
    bootstrapOverheads(5, 5, [
      { baseline: weightedMean(b5), mesh: weightedMean(m5) },
      { baseline: weightedMean(b5), mesh: weightedMean(m5), basis: "share" },
    ], { seed: 7 }),
    [
      {
        baseline: 109.56238887179643,
        value: 141.6216874839738,
        overheadPct: 29.261226359066804,
        ci95: [23.191877183801303, 36.229077452974764],
      },
      {
        baseline: 109.56238887179643,
        value: 141.6216874839738,
        overheadPct: 129.2612263590668,
        ci95: [123.19187718380131, 136.22907745297476],
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
    }],
  );
});
