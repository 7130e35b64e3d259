import { deepStrictEqual as assertEquals, match, ok as assert, throws } from "node:assert/strict";
import * as hdr from "hdr-histogram-js";
import type { Histogram } from "./types.ts";
import {
  bucketOf,
  bucketValueAt,
  compactHistogram,
  emptyHistogram,
  fromPercentileSpectrum,
  HistogramRecorder,
  HistogramSet,
  mean,
  mergeHistograms,
  packable,
  packedProblems,
  packHistogram,
  packIfPackable,
  percentile,
  percentiles,
  summarize,
  unpackHistogram,
} from "./histogram.ts";

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

Deno.test("percentiles match hdr-histogram-js on a skewed distribution", () => {
  const rand = lcg(7);
  const ours = new HistogramRecorder();
  const ref = hdr.build({ numberOfSignificantValueDigits: 3 as const, bitBucketSize: 64 });
  for (let i = 0; i < 50_000; i++) {
    // Log-normal-ish: most around 300 us, a long tail to ~2 s.
    const v = Math.round(200 * Math.exp(3 * rand() ** 4) + (rand() < 0.001 ? 2e6 * rand() : 0));
    ours.record(v);
    ref.recordValue(v);
  }
  const h = ours.toHistogram();
  for (const p of [1, 10, 50, 90, 95, 99, 99.9, 99.99]) {
    const expected = Math.min(ref.getValueAtPercentile(p), h.max);
    assertEquals(percentile(h, p), expected, `p${p}`);
  }
  assertEquals(h.max, ref.maxValue);
  assertEquals(h.total, 50_000);
});

Deno.test("bucketOf keeps 3 significant digits", () => {
  assertEquals(bucketOf(1999), 1999);
  assertEquals(bucketOf(2049), 2048);
  assertEquals(bucketOf(1_000_000), 999_936);
  for (const v of [5_000, 123_456, 9_999_999]) {
    assert((v - bucketOf(v)) / v < 0.001, `${v}`);
  }
});

Deno.test("merging pools counts instead of averaging percentiles", () => {
  const fast = new HistogramRecorder();
  const slow = new HistogramRecorder();
  for (let i = 0; i < 990; i++) fast.record(100);
  for (let i = 0; i < 10; i++) fast.record(10_000);
  for (let i = 0; i < 1000; i++) slow.record(200);
  const merged = mergeHistograms([fast.toHistogram(), slow.toHistogram()]);
  assertEquals(merged.total, 2000);
  // Pooled p99 sits in the slow tail of `fast`: 20 of 2000 samples are 10 ms.
  assertEquals(percentile(merged, 99), 200);
  assertEquals(percentile(merged, 99.6), 10_000);
  assertEquals(merged.max, 10_000);
});

Deno.test("recording refuses negative and non-finite values", () => {
  const r = new HistogramRecorder();
  let threw = 0;
  for (const bad of [-1, NaN, Infinity]) {
    try {
      r.record(bad);
    } catch (e) {
      assert(e instanceof RangeError);
      threw++;
    }
  }
  assertEquals(threw, 3);
});

Deno.test("a percentile spectrum rebuilds the distribution", () => {
  const points = [];
  for (let q = 0.01; q <= 1.0001; q += 0.01) {
    points.push({ quantile: Math.min(q, 1), valueUs: Math.round(1000 * q) });
  }
  const h = fromPercentileSpectrum(points, 10_000);
  assertEquals(h.total, 10_000);
  const s = summarize(h);
  assertEquals(s.p50Ms, 0.5);
  assertEquals(s.maxMs, 1);
});

Deno.test("HistogramSet percentiles equal those of merged histograms for any weights", () => {
  const rand = lcg(11);
  const hs = [0, 1, 2, 3].map((k) => {
    const r = new HistogramRecorder();
    for (let i = 0; i < 3000; i++) {
      r.record(Math.round(150 * (1 + k * 0.2) * Math.exp(4 * rand() ** 3)));
    }
    return r.toHistogram();
  });
  const set = new HistogramSet(hs);
  assertEquals(set.merged(), mergeHistograms(hs));
  const { unit: _, significantDigits: __, ...figures } = mergeHistograms(hs);
  const pooled = set.pooledView();
  assertEquals(
    { ...pooled, values: Array.from(pooled.values), counts: Array.from(pooled.counts) },
    figures,
  );
  assertEquals(new HistogramSet([emptyHistogram()]).pooledView(), emptyHistogram());
  // Every resample of four iterations (35 count vectors), as the exact bootstrap reads them.
  const all: number[][] = [];
  for (let a = 0; a <= 4; a++) {
    for (let b = 0; a + b <= 4; b++) {
      for (let c = 0; a + b + c <= 4; c++) all.push([a, b, c, 4 - a - b - c]);
    }
  }
  for (const w of all) {
    const pool = mergeHistograms(w.flatMap((n, i) => Array(n).fill(hs[i])));
    for (const p of [0, 50, 90, 99, 99.9, 100]) {
      assertEquals(set.percentile(w, p), percentile(pool, p), `weights ${w} p${p}`);
    }
  }
});

Deno.test("HistogramSet reads the same percentiles when some bucket values are not bucket starts", () => {
  // A hand-made histogram (3001 and 4097 start no bucket of bucketOf, nor do 2^33 or 0.5)
  // beside recorded ones: the set merges its axis instead of indexing buckets.
  const rand = lcg(5);
  const recorded = [0, 1, 2].map((k) => {
    const r = new HistogramRecorder();
    for (let i = 0; i < 2000; i++) {
      r.record(Math.round(900 * (1 + k * 0.3) * Math.exp(3 * rand() ** 2)));
    }
    return r.toHistogram();
  });
  for (const odd of [[3001, 4097], [2 ** 33], [0.5, 2048]]) {
    const hand: Histogram = {
      unit: "us",
      significantDigits: 3,
      total: 7 * odd.length,
      min: odd[0],
      max: odd[odd.length - 1],
      values: odd,
      counts: odd.map(() => 7),
    };
    const hs = [...recorded, hand];
    const set = new HistogramSet(hs);
    assertEquals(set.merged(), mergeHistograms(hs));
    for (const w of [[1, 1, 1, 1], [0, 2, 0, 2], [1, 0, 3, 0], [0, 0, 0, 4]]) {
      const pool = mergeHistograms(w.flatMap((n, i) => Array(n).fill(hs[i])));
      for (const p of [0, 50, 90, 99, 99.9, 100]) {
        assertEquals(set.percentile(w, p), percentile(pool, p), `${odd}: weights ${w} p${p}`);
      }
    }
  }
});

Deno.test("the mean is exact where the values were recorded, and stays exact through merges", () => {
  const a = new HistogramRecorder();
  for (const us of [10.4, 2500.2, 100_003.7]) a.record(us);
  const b = new HistogramRecorder();
  b.record(7, 3);
  const ha = a.toHistogram();
  assertEquals(mean(ha), (10.4 + 2500.2 + 100_003.7) / 3);
  const merged = mergeHistograms([ha, b.toHistogram()]);
  assertEquals(merged.sum, 10.4 + 2500.2 + 100_003.7 + 21);
  assertEquals(new HistogramSet([ha, b.toHistogram()]).merged().sum, merged.sum);
  // Rebuilt from printed percentiles: no exact sum, and a merge with it has none either.
  const rebuilt = fromPercentileSpectrum([{ quantile: 1, valueUs: 50 }], 2);
  assertEquals(rebuilt.sum, undefined);
  assertEquals(mergeHistograms([ha, rebuilt]).sum, undefined);
});

Deno.test("a compact histogram reads the same percentiles as the histogram it copies", () => {
  const r = new HistogramRecorder();
  for (let i = 1; i <= 5000; i++) r.record(i * 7);
  r.record(0, 3);
  r.record(2 ** 31 + 12_345, 2);
  const h = r.toHistogram();
  const c = compactHistogram(h);
  // Bucket starts kept as their indices (16 bits), counts below 256 in 8 bits.
  assert(c.indices instanceof Uint16Array && c.values === undefined, "indices");
  assert(c.counts instanceof Uint8Array, "8-bit counts");
  assertEquals(Array.from(c.indices, (_, i) => bucketValueAt(c, i)), h.values);
  assertEquals(compactHistogram(c), c);
  const full = new HistogramSet([h]);
  const compact = new HistogramSet([c]);
  for (const p of [0, 50, 99, 99.9, 100]) {
    assertEquals(compact.percentile([1], p), full.percentile([1], p));
  }
  assertEquals(compact.merged(), full.merged());
  // Counts past 8 bits take 16, past 16 bits 32.
  const some = compactHistogram({ ...h, counts: [300, ...h.counts.slice(1)] });
  assert(some.counts instanceof Uint16Array && some.counts[0] === 300);
  const many = compactHistogram({ ...h, counts: [70_000, ...h.counts.slice(1)] });
  assert(many.counts instanceof Uint32Array && many.counts[0] === 70_000);
  // A value that starts no bucket keeps the values (32 bits); one past 2^32 µs (71 minutes)
  // keeps full precision.
  const odd = compactHistogram({ ...h, values: [3, 2049], counts: [1, 1], total: 2 });
  assert(odd.values instanceof Uint32Array && odd.indices === undefined);
  assertEquals([...odd.values], [3, 2049]);
  const long = compactHistogram({ ...h, values: [2 ** 33], counts: [1], total: 1 });
  assert(long.values instanceof Float64Array);
  // Sets of compact histograms with and without indices, and of full ones, read alike.
  const other = new HistogramRecorder();
  for (let i = 1; i <= 3000; i++) other.record(i * 11 + 0.4);
  const mixed = [
    c,
    compactHistogram({ ...other.toHistogram(), values: [3, 2049], counts: [1, 1], total: 2 }),
    other.toHistogram(),
  ];
  const asFull = [
    h,
    { ...other.toHistogram(), values: [3, 2049], counts: [1, 1], total: 2 },
    other.toHistogram(),
  ];
  const a = new HistogramSet(mixed);
  const b = new HistogramSet(asFull);
  for (const w of [[1, 1, 1], [2, 0, 1], [0, 3, 0]]) {
    for (const p of [0, 50, 99, 99.9, 100]) assertEquals(a.percentile(w, p), b.percentile(w, p));
  }
  assertEquals(a.merged(), b.merged());
});

Deno.test("percentiles read in one pass equal percentile read one at a time", () => {
  const rand = lcg(7);
  const r = new HistogramRecorder();
  for (let i = 0; i < 20_000; i++) r.record(200 * Math.exp(rand() * rand() * 6));
  const h = r.toHistogram();
  const ps = [0, 1, 25, 50, 90, 99, 99.9, 99.99, 99.999, 100, 100];
  assertEquals(percentiles(h, ps), ps.map((p) => percentile(h, p)));
  const one = { ...h, total: 3, values: [5], counts: [3], min: 5, max: 5 };
  assertEquals(percentiles(one, [0, 50, 100]), [5, 5, 5]);
  assertEquals(percentiles({ ...h, total: 0, values: [], counts: [] }, [50]), [NaN]);
});

Deno.test("a packed histogram unpacks to the same buckets, figures and percentiles", () => {
  const rand = lcg(3);
  const r = new HistogramRecorder();
  for (let i = 0; i < 50_000; i++) r.record(150 * Math.exp(rand() * rand() * 9));
  r.record(0, 4);
  const h = r.toHistogram();
  const p = packHistogram(h);
  assertEquals(p.buckets, h.values.length);
  assertEquals(packedProblems(p, "/h"), []);
  assertEquals(unpackHistogram(p), h);
  // Buckets and counts past 2^32 survive (varints, not 32-bit words), on either side of
  // 2^31, where the packer leaves bit operations for division.
  const wide = {
    ...h,
    values: [1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 40, 2 ** 52],
    counts: [2 ** 35, 2 ** 31 - 1, 2 ** 31, 1, 1, 1],
    total: 2 ** 35 + 2 ** 32 + 2,
  };
  assertEquals(unpackHistogram(packHistogram(wide)), wide);
  assertEquals(
    unpackHistogram(packHistogram({ ...h, total: 0, values: [], counts: [] })).values,
    [],
  );
  // Fractional buckets cannot be packed: the writer keeps such a histogram as arrays.
  assertEquals(packable({ ...h, values: [1.5], counts: [1], total: 1 }), false);
  throws(() => packHistogram({ ...h, values: [1.5], counts: [1], total: 1 }), /bucket 0/);
  assertEquals(packIfPackable({ ...h, values: [1, 2], counts: [1, 0.5], total: 1.5 }), undefined);
  assertEquals(packIfPackable(wide), packHistogram(wide));
  throws(() => packIfPackable({ ...h, values: [2, 1], counts: [1, 1], total: 2 }), /bucket 1/);
});

Deno.test("a malformed packed histogram is refused naming where and what", () => {
  const h = { unit: "us" as const, significantDigits: 3 as const, total: 5, min: 1, max: 9 };
  const p = packHistogram({ ...h, values: [1, 9], counts: [2, 3] });
  match(
    packedProblems({ ...p, total: 6 }, "/g")[0],
    /^\/g\/packed counts add up to 5, not total 6/,
  );
  match(packedProblems({ ...p, buckets: 3 }, "/g")[0], /ends after 2 of its 3 buckets/);
  match(packedProblems({ ...p, buckets: 1 }, "/g")[0], /byte\(s\) after its 1 buckets/);
  match(packedProblems({ ...p, packed: "not base64!" }, "/g")[0], /^\/g\/packed is not base64/);
  // A step of 0 after the first bucket repeats a bucket: not ascending.
  const repeated = new Uint8Array([1, 2, 0, 3]).toBase64();
  match(packedProblems({ ...p, packed: repeated }, "/g")[0], /not ascending at bucket 1/);
  throws(() => unpackHistogram({ ...p, total: 6 }), /Cannot unpack histogram/);
});

Deno.test("a released HistogramSet refuses to be read, and the next set reads the same as a fresh one", () => {
  const rand = lcg(3);
  const make = (scale: number) => {
    const r = new HistogramRecorder();
    for (let i = 0; i < 1000; i++) r.record(Math.round(scale * Math.exp(3 * rand())));
    return r.toHistogram();
  };
  const first = new HistogramSet([make(200), make(300)]);
  const hs = [make(500), make(700)];
  const fresh = new HistogramSet(hs);
  const expected = [50, 99].map((p) => fresh.percentile([1, 2], p));
  first.release();
  throws(() => first.percentile([1, 1], 50), /released/);
  throws(() => first.merged(), /released/);
  // Made after the release, in its arrays (zeroed first).
  const reused = new HistogramSet(hs);
  assertEquals([50, 99].map((p) => reused.percentile([1, 2], p)), expected);
  assertEquals(reused.merged(), mergeHistograms(hs));
});
