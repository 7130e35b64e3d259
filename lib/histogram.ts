/**
 * Mergeable latency histograms as plain data, with HdrHistogram's log-linear
 * bucketing at 3 significant digits (values in integer microseconds). Percentiles
 * are read from merged histograms, never averaged (METHODOLOGY rule 4).
 *
 * @example
 * ```ts
 * import { HistogramRecorder, percentile } from "./histogram.ts";
 * const r = new HistogramRecorder();
 * for (const us of [100, 200, 300, 400]) r.record(us);
 * const h = r.toHistogram();
 * if (percentile(h, 50) !== 200) throw new Error("p50");
 * ```
 *
 * @module
 */
import type { CompactBuckets, Histogram, LatencySummary, PackedHistogram } from "./types.ts";

export type { CompactBuckets, PackedHistogram };

/** Values below this are kept exactly; above, 11 bits of mantissa (3 significant digits). */
const SUB_BUCKET_BITS = 11;

/** Lowest value that falls into the same bucket as `value` (HdrHistogram's lowestEquivalentValue). */
export function bucketOf(value: number): number {
  const v = Math.max(0, Math.floor(value));
  if (v < 1 << SUB_BUCKET_BITS) return v;
  const shift = Math.floor(Math.log2(v)) + 1 - SUB_BUCKET_BITS;
  const size = 2 ** shift;
  return Math.floor(v / size) * size;
}

/** Highest value in the bucket that starts at `bucketValue`. */
export function bucketTop(bucketValue: number): number {
  if (bucketValue < 1 << SUB_BUCKET_BITS) return bucketValue;
  const shift = Math.floor(Math.log2(bucketValue)) + 1 - SUB_BUCKET_BITS;
  return bucketValue + 2 ** shift - 1;
}

/** Accumulates values (microseconds) into a {@linkcode Histogram}. */
export class HistogramRecorder {
  #counts = new Map<number, number>();
  #total = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Records `count` occurrences of `valueUs`. Negative or non-finite values are refused. */
  record(valueUs: number, count = 1): void {
    if (!Number.isFinite(valueUs) || valueUs < 0) {
      throw new RangeError(`Cannot record latency: expected a non-negative number, got ${valueUs}`);
    }
    const v = Math.round(valueUs);
    const b = bucketOf(v);
    this.#counts.set(b, (this.#counts.get(b) ?? 0) + count);
    this.#total += count;
    this.#sum += valueUs * count;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  get total(): number {
    return this.#total;
  }

  toHistogram(): Histogram {
    const buckets = [...this.#counts.entries()].sort((a, b) => a[0] - b[0]);
    const values = buckets.map(([v]) => v);
    const counts = buckets.map(([, c]) => c);
    return {
      unit: "us",
      significantDigits: 3,
      total: this.#total,
      min: this.#total === 0 ? 0 : this.#min,
      max: this.#total === 0 ? 0 : this.#max,
      values,
      counts,
      ...(this.#total === 0 ? {} : { sum: this.#sum }),
    };
  }
}

/** Sum of the histograms' exact sums, or undefined when any of them has none. */
function sumOfSums(histograms: ReadonlyArray<{ sum?: number }>): number | undefined {
  let sum = 0;
  for (const h of histograms) {
    if (h.sum === undefined) return undefined;
    sum += h.sum;
  }
  return sum;
}

/** An empty histogram. */
export function emptyHistogram(): Histogram {
  return { unit: "us", significantDigits: 3, total: 0, min: 0, max: 0, values: [], counts: [] };
}

function fromEntries(entries: Array<[number, number]>): { values: number[]; counts: number[] } {
  return { values: entries.map(([v]) => v), counts: entries.map(([, c]) => c) };
}

/** Merges histograms by adding bucket counts: the pooled distribution. */
export function mergeHistograms(histograms: readonly Histogram[]): Histogram {
  const nonEmpty = histograms.filter((h) => h.total > 0);
  if (nonEmpty.length === 0) return emptyHistogram();
  if (nonEmpty.length === 1) return nonEmpty[0];
  const counts = new Map<number, number>();
  let total = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const h of nonEmpty) {
    for (let i = 0; i < h.values.length; i++) {
      counts.set(h.values[i], (counts.get(h.values[i]) ?? 0) + h.counts[i]);
    }
    total += h.total;
    if (h.min < min) min = h.min;
    if (h.max > max) max = h.max;
  }
  return {
    unit: "us",
    significantDigits: 3,
    total,
    min,
    max,
    ...fromEntries([...counts.entries()].sort((a, b) => a[0] - b[0])),
    ...withSum(sumOfSums(nonEmpty)),
  };
}

const withSum = (sum: number | undefined) => sum === undefined ? {} : { sum };

/**
 * Value at percentile `p` (0-100), as HdrHistogram reads it: the top of the first
 * bucket whose cumulative count reaches `round(p/100 * total)`, capped at the exact max.
 */
export function percentile(h: HistogramData, p: number): number {
  if (h.total === 0) return NaN;
  if (p >= 100) return h.max;
  const target = Math.max(1, Math.floor((p / 100) * h.total + 0.5));
  let seen = 0;
  for (let i = 0; i < h.values.length; i++) {
    const v = h.values[i];
    seen += h.counts[i];
    if (seen >= target) return p <= 0 ? v : Math.min(bucketTop(v), h.max);
  }
  return h.max;
}

/**
 * {@linkcode percentile} at each of `ps`, which must be ascending, in one pass over the
 * buckets (a latency spectrum reads 80 percentiles of a histogram of thousands of buckets).
 */
export function percentiles(h: Histogram, ps: readonly number[]): number[] {
  if (h.total === 0) return ps.map(() => NaN);
  const { values, counts, total, max } = h;
  const out: number[] = [];
  let i = 0;
  let seen = values.length ? counts[0] : 0;
  for (const p of ps) {
    if (p >= 100) {
      out.push(max);
      continue;
    }
    const target = Math.max(1, Math.floor((p / 100) * total + 0.5));
    while (seen < target && i < values.length) {
      i++;
      if (i < values.length) seen += counts[i];
    }
    if (i >= values.length) out.push(max);
    else out.push(p <= 0 ? values[i] : Math.min(bucketTop(values[i]), max));
  }
  return out;
}

/**
 * Mean of the recorded values: exact from `sum` where the histogram has it, else from each
 * bucket's midpoint.
 */
export function mean(h: HistogramData): number {
  if (h.total === 0) return NaN;
  if (h.sum !== undefined) return h.sum / h.total;
  let sum = 0;
  for (let i = 0; i < h.values.length; i++) {
    sum += ((h.values[i] + bucketTop(h.values[i])) / 2) * h.counts[i];
  }
  return sum / h.total;
}

/** p50/p90/p95/p99/p99.9/max/mean in milliseconds. */
export function summarize(h: HistogramData): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    p50Ms: ms(percentile(h, 50)),
    p90Ms: ms(percentile(h, 90)),
    p95Ms: ms(percentile(h, 95)),
    p99Ms: ms(percentile(h, 99)),
    p999Ms: ms(percentile(h, 99.9)),
    maxMs: ms(h.max),
    meanMs: ms(mean(h)),
  };
}

/**
 * Builds a histogram from a percentile spectrum (value at each of many quantiles), as
 * tools like wrk print it. Each point stands for the share of requests between it and
 * the previous quantile. An approximation: use only where the tool gives nothing finer.
 */
export function fromPercentileSpectrum(
  points: ReadonlyArray<{ quantile: number; valueUs: number }>,
  total: number,
): Histogram {
  const r = new HistogramRecorder();
  const sorted = [...points].sort((a, b) => a.quantile - b.quantile);
  let prevCount = 0;
  for (const { quantile, valueUs } of sorted) {
    const upTo = Math.round(quantile * total);
    const n = upTo - prevCount;
    if (n > 0) r.record(valueUs, n);
    prevCount = Math.max(prevCount, upTo);
  }
  if (prevCount < total && sorted.length > 0) {
    r.record(sorted[sorted.length - 1].valueUs, total - prevCount);
  }
  // The recorder's sum is that of the points, not of the requests: no exact mean here.
  const { sum: _, ...h } = r.toHistogram();
  return h;
}

/**
 * A histogram's data as {@linkcode HistogramSet} reads it: the arrays may be typed arrays
 * (compact, for keeping many histograms in memory).
 */
export interface HistogramData {
  total: number;
  min: number;
  max: number;
  sum?: number;
  values: ArrayLike<number>;
  counts: ArrayLike<number>;
  /** Only {@linkcode CompactHistogram}s have bucket indices. */
  indices?: undefined;
}

/** A histogram whose buckets are kept compactly (see {@linkcode compactHistogram}). */
export type CompactHistogram =
  & Pick<HistogramData, "total" | "min" | "max" | "sum">
  & CompactBuckets;

/**
 * A compact copy of `h` for keeping (collect keeps 10,000 records' until the summary is done):
 * each bucket as its index among {@linkcode bucketOf}'s buckets in 16 bits when every value
 * starts one (as every recorder and tool adapter writes them), else the values in 32 bits (64
 * past 2^32), and the counts in 8, 16 or 32 bits, whichever holds the largest (64 past 2^32):
 * a sixth of the memory of parsed JSON arrays or less, and nothing else of the record kept
 * alive. Already compact (read on collect's worker, which compacted it): kept as it is.
 */
export function compactHistogram(h: HistogramData | CompactHistogram): CompactHistogram {
  const fields = {
    total: h.total,
    min: h.min,
    max: h.max,
    ...(h.sum === undefined ? {} : { sum: h.sum }),
  };
  if (h.indices instanceof Uint16Array && isCompactCounts(h.counts)) {
    return { ...fields, indices: h.indices, counts: h.counts };
  }
  const { values: given, counts: counted } = h as HistogramData;
  if (
    (given instanceof Uint32Array || given instanceof Float64Array) && isCompactCounts(counted)
  ) {
    return { ...fields, values: given, counts: counted };
  }
  const n = given.length;
  let wide = false;
  let maxCount = 0;
  let indices: Uint16Array | undefined = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const v = given[i];
    const c = counted[i];
    if (v > 0xffffffff || c > 0xffffffff) wide = true;
    if (c > maxCount) maxCount = c;
    if (indices) {
      const x = bucketIndex(v);
      if (x < 0) indices = undefined;
      else indices[i] = x;
    }
  }
  // The constructors copy a number array natively (`from` walks it as an iterable).
  const counts = wide
    ? new Float64Array(counted)
    : maxCount <= 0xff
    ? new Uint8Array(counted)
    : maxCount <= 0xffff
    ? new Uint16Array(counted)
    : new Uint32Array(counted);
  if (indices) return { ...fields, indices, counts };
  return { ...fields, values: wide ? new Float64Array(given) : new Uint32Array(given), counts };
}

/** The typed arrays {@linkcode compactHistogram} keeps counts in. */
const isCompactCounts = (a: ArrayLike<number>): a is CompactBuckets["counts"] =>
  a instanceof Uint8Array || a instanceof Uint16Array || a instanceof Uint32Array ||
  a instanceof Float64Array;

/** The buffers of compact buckets, for moving them to another thread. */
export function compactBuffers(h: CompactBuckets): ArrayBuffer[] {
  return [(h.indices ?? h.values).buffer as ArrayBuffer, h.counts.buffer as ArrayBuffer];
}

/** Value of bucket `i` of `h`, whether its buckets are values or indices. */
export function bucketValueAt(h: HistogramData | CompactHistogram, i: number): number {
  return h.indices ? BUCKET_VALUES[h.indices[i]] : h.values[i];
}

/** The values of `h`'s buckets (a copy where they are kept as indices). */
function valuesOf(h: HistogramData | CompactHistogram): ArrayLike<number> {
  return h.indices ? Float64Array.from(h.indices, (x) => BUCKET_VALUES[x]) : h.values;
}

/** Union of `a[0..n)` and ascending `b` into `out`, ascending, without duplicates; its length. */
function mergeAscending(
  a: Float64Array,
  n: number,
  b: ArrayLike<number>,
  out: Float64Array,
): number {
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < n && j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x < y) {
      out[k++] = x;
      i++;
    } else {
      out[k++] = y;
      j++;
      if (x === y) i++;
    }
  }
  while (i < n) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return k;
}

let mergeBuffers = [new Float64Array(0), new Float64Array(0)];

/** The buffers {@linkcode HistogramSet.pooledView} hands out, grown as needed. */
let pooledBuffers = { values: new Float64Array(0), counts: new Float64Array(0) };

/**
 * Buffers of released sets ({@linkcode HistogramSet.release}), by size (powers of two), for
 * the next sets: a summary builds 2,000 sets one load point at a time, and their arrays,
 * ~100 KB a set, freed only when the garbage collector got to them, were ~100 MB of each
 * thread's memory at its peak.
 */
const spareBuffers = new Map<number, ArrayBuffer[]>();

function takeBuffer(bytes: number): ArrayBuffer {
  const size = 2 ** Math.ceil(Math.log2(Math.max(bytes, 256)));
  return spareBuffers.get(size)?.pop() ?? new ArrayBuffer(size);
}

/** `n` zeros in a buffer of {@linkcode takeBuffer}. */
function takeFloat64(n: number): Float64Array {
  return new Float64Array(takeBuffer(n * 8), 0, n).fill(0);
}

/** `n` zeros in a buffer of {@linkcode takeBuffer}. */
function takeUint32(n: number): Uint32Array {
  return new Uint32Array(takeBuffer(n * 4), 0, n).fill(0);
}

function giveBack(a: Float64Array | Uint32Array): void {
  const b = a.buffer as ArrayBuffer;
  const list = spareBuffers.get(b.byteLength);
  if (list) list.push(b);
  else spareBuffers.set(b.byteLength, [b]);
}

/** A set's shared bucket axis, each axis bucket's pooled count, and the cumulative counts. */
interface Axis {
  axis: Float64Array;
  pooled: Float64Array;
  cum: Float64Array | Uint32Array;
}

/**
 * The axis of histograms whose bucket values are not all bucket starts of
 * {@linkcode bucketOf}: bucket values are ascending in every histogram, so they are merged
 * into one axis, then each histogram is walked along it (linear time, no sorting or hashing).
 */
function mergedAxis(
  histograms: readonly Pick<HistogramData, "values" | "counts">[],
  size: number,
  wide: boolean,
): Axis {
  // The merge works in two buffers kept between sets (a summary builds thousands).
  if (mergeBuffers[0].length < size) {
    const grown = Math.max(size, 2 * mergeBuffers[0].length);
    mergeBuffers = [new Float64Array(grown), new Float64Array(grown)];
  }
  let [a, b] = mergeBuffers;
  let n = 0;
  for (const h of histograms) {
    n = mergeAscending(a, n, h.values, b);
    [a, b] = [b, a];
  }
  const axis = takeFloat64(n);
  axis.set(a.subarray(0, n));
  const pooled = takeFloat64(n);
  const k = histograms.length;
  const cum = wide ? takeFloat64(n * k) : takeUint32(n * k);
  // Every bucket of a histogram is on the axis: one pass adds it where it matches.
  // Walked bucket by bucket, filling the axis positions between buckets with the running
  // count.
  for (let h = 0; h < k; h++) {
    const { values, counts } = histograms[h];
    let j = 0;
    let running = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      while (axis[j] !== v) cum[j++ * k + h] = running;
      running += counts[i];
      pooled[j] += counts[i];
      cum[j++ * k + h] = running;
    }
    while (j < n) cum[j++ * k + h] = running;
  }
  return { axis, pooled, cum };
}

/**
 * Index of the bucket that starts at `v` among all buckets of {@linkcode bucketOf} below
 * 2^32, ascending with `v` (2,048 exact values, then 1,024 per power of two); -1 when `v`
 * is not the start of such a bucket.
 */
function bucketIndex(v: number): number {
  if (v < 2048) return v >= 0 && Number.isInteger(v) ? v : -1;
  if (!(v < 4294967296) || !Number.isInteger(v)) return -1;
  const shift = 21 - Math.clz32(v);
  const top = v >>> shift;
  return ((top << shift) >>> 0) === v ? 1024 * shift + top : -1;
}

/** Number of bucket indices below 2^32 ({@linkcode bucketIndex}). */
const BUCKET_INDICES = 1024 * 21 + 2048;

/** The bucket start each bucket index stands for: {@linkcode bucketIndex}'s inverse. */
const BUCKET_VALUES = Float64Array.from({ length: BUCKET_INDICES }, (_, x) => {
  if (x < 2048) return x;
  const shift = (x >> 10) - 1;
  return (x - 1024 * shift) * 2 ** shift;
});

/** Scratch of {@linkcode denseAxis}, kept between sets (zero between calls: `seen`). */
const dense = {
  seen: new Uint8Array(BUCKET_INDICES),
  position: new Int32Array(BUCKET_INDICES),
  axis: new Float64Array(BUCKET_INDICES),
  indices: new Int32Array(0),
};

/**
 * {@linkcode mergedAxis} for histograms whose bucket values are all bucket starts (as every
 * recorder and tool adapter writes them), without its data-dependent branches: each value
 * marks its bucket index, the marked indices in order are the axis, and each histogram's
 * counts, placed at their axis positions, are summed along it. The same axis, pooled counts
 * and cumulative counts; undefined when a value is not a bucket start.
 */
function denseAxis(
  histograms: readonly (HistogramData | CompactHistogram)[],
  size: number,
  wide: boolean,
): Axis | undefined {
  const { seen, position, axis: scratch } = dense;
  if (dense.indices.length < size) {
    dense.indices = new Int32Array(Math.max(size, 2 * dense.indices.length));
  }
  const indices = dense.indices;
  let lo = BUCKET_INDICES;
  let hi = -1;
  let at = 0;
  for (const h of histograms) {
    const kept = h.indices;
    if (kept) {
      // Compact buckets: their indices already.
      for (let i = 0; i < kept.length; i++) {
        const x = kept[i];
        seen[x] = 1;
        indices[at++] = x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      continue;
    }
    const values = h.values;
    for (let i = 0; i < values.length; i++) {
      const x = bucketIndex(values[i]);
      if (x < 0) {
        seen.fill(0);
        return undefined;
      }
      seen[x] = 1;
      indices[at++] = x;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  let n = 0;
  for (let x = lo; x <= hi; x++) {
    scratch[n] = BUCKET_VALUES[x];
    position[x] = n;
    n += seen[x];
    seen[x] = 0;
  }
  const axis = takeFloat64(n);
  axis.set(scratch.subarray(0, n));
  const pooled = takeFloat64(n);
  const k = histograms.length;
  const cum = wide ? takeFloat64(n * k) : takeUint32(n * k);
  at = 0;
  for (let h = 0; h < k; h++) {
    const counts = histograms[h].counts;
    for (let i = 0; i < counts.length; i++) {
      const j = position[indices[at++]];
      cum[j * k + h] += counts[i];
      pooled[j] += counts[i];
    }
  }
  for (let j = k; j < n * k; j++) cum[j] += cum[j - k];
  return { axis, pooled, cum };
}

/**
 * Several histograms on one shared bucket axis, with cumulative counts, so the
 * percentile of any weighted combination (a bootstrap resample of iterations) is
 * read in O(k log buckets) without merging. Agrees exactly with
 * `percentile(mergeHistograms(...))` for integer weights.
 */
export class HistogramSet {
  readonly #axis: Float64Array;
  /** Count of each axis bucket over all histograms: the pooled histogram. */
  readonly #pooled: Float64Array;
  /**
   * Cumulative counts of every histogram along the axis in one array, bucket-major:
   * histogram i's count up to axis position j is at `j * k + i` (a search step reads the
   * k counts of one position side by side). 32-bit where they fit.
   */
  readonly #cum: Float64Array | Uint32Array;
  readonly #k: number;
  readonly #totals: Float64Array;
  readonly #maxes: Float64Array;
  readonly #mins: number[];
  readonly #sum: number | undefined;
  /** The histograms a weighting draws (weight > 0 and a non-empty histogram), and their weights. */
  readonly #drawn: Int32Array;
  readonly #weights: Float64Array;

  constructor(histograms: readonly (HistogramData | CompactHistogram)[]) {
    let size = 0;
    let wide = false;
    for (const h of histograms) {
      size += h.counts.length;
      if (h.total > 0xffffffff) wide = true;
    }
    const k = histograms.length;
    this.#k = k;
    const built = denseAxis(histograms, size, wide) ??
      mergedAxis(histograms.map((h) => ({ values: valuesOf(h), counts: h.counts })), size, wide);
    this.#axis = built.axis;
    this.#pooled = built.pooled;
    this.#cum = built.cum;
    this.#totals = Float64Array.from(histograms, (h) => h.total);
    this.#maxes = Float64Array.from(histograms, (h) => h.max);
    this.#mins = histograms.map((h) => h.min);
    this.#sum = sumOfSums(histograms.filter((h) => h.total > 0));
    this.#drawn = new Int32Array(k);
    this.#weights = new Float64Array(k);
  }

  /**
   * Hands the set's arrays to the sets made after it; the set cannot be read again (it
   * throws). For a caller that knows nothing reads it any more.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    giveBack(this.#axis);
    giveBack(this.#pooled);
    giveBack(this.#cum);
  }

  #released = false;

  #check(): void {
    if (this.#released) throw new Error("HistogramSet was released: it cannot be read");
  }

  get size(): number {
    return this.#k;
  }

  /** The pooled histogram (all weights 1): what `mergeHistograms` returns. */
  merged(): Histogram {
    const v = this.pooledView();
    // A set whose histograms are all empty pools to the empty histogram, as pooledView says.
    if (v.total === 0) return emptyHistogram();
    // Copies of the shared buffers, in the same key order as mergeHistograms writes.
    return {
      unit: "us",
      significantDigits: 3,
      ...v,
      values: Array.from(v.values),
      counts: Array.from(v.counts),
    };
  }

  /**
   * The pooled histogram's figures and buckets ({@linkcode merged}'s), the buckets as views
   * of buffers shared by every set: valid only until the next call on any set (for packing
   * and summarising it at once: 2,000 groups' buckets as arrays of their own were ~100 MB
   * of short-lived memory).
   */
  pooledView(): HistogramData {
    this.#check();
    const axis = this.#axis;
    const pooled = this.#pooled;
    let size = 0;
    for (let j = 0; j < axis.length; j++) if (pooled[j] > 0) size++;
    if (pooledBuffers.values.length < size) {
      const grown = Math.max(size, 2 * pooledBuffers.values.length);
      pooledBuffers = { values: new Float64Array(grown), counts: new Float64Array(grown) };
    }
    const values = pooledBuffers.values.subarray(0, size);
    const counts = pooledBuffers.counts.subarray(0, size);
    let total = 0;
    for (let j = 0, i = 0; j < axis.length; j++) {
      if (pooled[j] > 0) {
        values[i] = axis[j];
        counts[i++] = pooled[j];
        total += pooled[j];
      }
    }
    // As `merged` takes them: Math.min and Math.max over the non-empty histograms.
    let live = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < this.#k; i++) {
      if (this.#totals[i] > 0) {
        live++;
        min = Math.min(min, this.#mins[i]);
        max = Math.max(max, this.#maxes[i]);
      }
    }
    if (live === 0) return emptyHistogram();
    return { total, min, max, values, counts, ...withSum(this.#sum) };
  }

  /** Percentile `p` of the pool where histogram i counts `weights[i]` times. */
  percentile(weights: ArrayLike<number>, p: number): number {
    this.#check();
    const totals = this.#totals;
    const maxes = this.#maxes;
    const drawn = this.#drawn;
    const ws = this.#weights;
    let d = 0;
    let total = 0;
    let drawnWeight = 0;
    let max = -Infinity;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (w > 0 && totals[i] > 0) {
        total += w * totals[i];
        drawnWeight += w;
        if (maxes[i] > max) max = maxes[i];
        drawn[d] = i;
        ws[d++] = w;
      }
    }
    if (total === 0) return NaN;
    if (p >= 100) return max;
    const target = Math.max(1, Math.floor((p / 100) * total + 0.5));
    const cum = this.#cum;
    const k = this.#k;
    let lo = 0;
    let hi = this.#axis.length - 1;
    if (drawnWeight >= 1) {
      // The answer lies where every non-empty histogram's own count reaches about p % of it.
      const b = this.#bracket(p);
      lo = b[0];
      hi = b[1];
    }
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const row = mid * k;
      let seen = 0;
      for (let t = 0; t < d; t++) seen += ws[t] * cum[row + drawn[t]];
      if (seen >= target) hi = mid;
      else lo = mid + 1;
    }
    const v = this.#axis[lo];
    return p <= 0 ? v : Math.min(bucketTop(v), max);
  }

  /** Axis positions that bracket percentile `p` of every weighting, per `p` (a few are read). */
  readonly #brackets = new Map<number, [number, number]>();

  /**
   * [lo, hi]: the axis positions between which percentile `p` of any weighting of the
   * histograms lies, when the weights drawn sum to at least 1. Before lo, every non-empty
   * histogram's count is below p % of its total less one, so any weighted sum of them is
   * below the weighted target (which is at least p % of the weighted total less one half);
   * from hi on, every one is at least p % of its total plus one, so the sum reaches it. The
   * search for each of a bootstrap's 126 resamples then spans this bracket instead of the axis.
   */
  #bracket(p: number): [number, number] {
    const known = this.#brackets.get(p);
    if (known) return known;
    const cum = this.#cum;
    const k = this.#k;
    const n = this.#axis.length;
    let lo = n - 1;
    let hi = 0;
    for (let i = 0; i < k; i++) {
      const t = this.#totals[i];
      if (!(t > 0)) continue;
      const share = (p / 100) * t;
      const first = (threshold: number) => {
        let a = 0;
        let b = n - 1;
        while (a < b) {
          const mid = (a + b) >> 1;
          if (cum[mid * k + i] >= threshold) b = mid;
          else a = mid + 1;
        }
        return a;
      };
      lo = Math.min(lo, first(share - 1));
      hi = Math.max(hi, first(share + 1));
    }
    const out: [number, number] = lo <= hi ? [lo, hi] : [0, n - 1];
    this.#brackets.set(p, out);
    return out;
  }
}

const isWholeNumber = (x: number) => Number.isSafeInteger(x) && x >= 0;

/** Whether {@linkcode packHistogram} can store `h` exactly (whole-number buckets and counts). */
export function packable(h: HistogramData): boolean {
  for (let i = 0; i < h.values.length; i++) {
    if (!isWholeNumber(h.values[i]) || !isWholeNumber(h.counts[i])) return false;
  }
  return true;
}

/** `h` packed (see {@linkcode PackedHistogram}); its buckets must be {@linkcode packable}. */
export function packHistogram(h: HistogramData): PackedHistogram {
  return pack(h, true)!;
}

/**
 * `h` packed when it is {@linkcode packable}, else undefined: the check and the packing in one
 * pass over the buckets (collect packs 2,000 groups' pooled histograms).
 */
export function packIfPackable(h: HistogramData): PackedHistogram | undefined {
  return pack(h, false);
}

/** The bytes {@linkcode pack} writes into, grown as needed. */
let packBytes = new Uint8Array(1 << 12);

function pack(h: HistogramData, strict: boolean): PackedHistogram | undefined {
  const { values, counts } = h;
  // A varint of a safe integer takes at most 8 bytes: a bucket's two at most 16.
  let bytes = packBytes;
  let k = 0;
  let previous = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const c = counts[i];
    const whole = isWholeNumber(v) && isWholeNumber(c);
    if (!whole && !strict) return undefined;
    if (!whole || (i > 0 && !(v > previous))) {
      throw new RangeError(
        `Cannot pack histogram bucket ${i}: expected ascending whole-number values and counts, ` +
          `got value ${v}, count ${c}`,
      );
    }
    if (k + 16 > bytes.length) {
      const grown = new Uint8Array(bytes.length * 2);
      grown.set(bytes);
      bytes = packBytes = grown;
    }
    // Inlined varints (2,000 groups x thousands of buckets); below 2^31 in bit operations,
    // which give the same bytes as the division.
    for (let x = v - previous, n = 0; n < 2; x = c, n++) {
      if (x < 0x80000000) {
        while (x >= 128) {
          bytes[k++] = (x & 127) | 128;
          x >>>= 7;
        }
      } else {
        while (x >= 128) {
          bytes[k++] = (x % 128) | 128;
          x = Math.floor(x / 128);
        }
      }
      bytes[k++] = x;
    }
    previous = v;
  }
  return {
    unit: "us",
    significantDigits: 3,
    total: h.total,
    min: h.min,
    max: h.max,
    ...withSum(h.sum),
    buckets: values.length,
    packed: bytes.subarray(0, k).toBase64(),
  };
}

/** Walks the varints of `p`, handing each bucket's value and count to `use`; problems, if any. */
function walkPacked(
  p: PackedHistogram,
  where: string,
  use: (value: number, count: number) => void,
): string[] {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(p.packed);
  } catch (e) {
    return [`${where}/packed is not base64: ${(e as Error).message}`];
  }
  // The two varints of each bucket are read inline (the report checks 2,000 groups' packed
  // histograms, millions of varints): NaN where the bytes end inside one or it runs past 2^56.
  const n = bytes.length;
  let k = 0;
  let value = 0;
  let sum = 0;
  for (let i = 0; i < p.buckets; i++) {
    let step = NaN;
    for (let x = 0, scale = 1; k < n;) {
      const b = bytes[k++];
      x += (b & 127) * scale;
      if (b < 128) {
        step = x;
        break;
      }
      scale *= 128;
      if (scale > 2 ** 56) break;
    }
    let count = NaN;
    for (let x = 0, scale = 1; k < n;) {
      const b = bytes[k++];
      x += (b & 127) * scale;
      if (b < 128) {
        count = x;
        break;
      }
      scale *= 128;
      if (scale > 2 ** 56) break;
    }
    if (!Number.isFinite(step) || !Number.isFinite(count)) {
      return [`${where}/packed ends after ${i} of its ${p.buckets} buckets`];
    }
    if (i > 0 && step === 0) return [`${where}/packed is not ascending at bucket ${i}`];
    if (count === 0) return [`${where}/packed has a count of 0 at bucket ${i}`];
    value += step;
    sum += count;
    use(value, count);
  }
  if (k !== n) {
    return [`${where}/packed has ${n - k} byte(s) after its ${p.buckets} buckets`];
  }
  return sum === p.total ? [] : [`${where}/packed counts add up to ${sum}, not total ${p.total}`];
}

/** What is wrong with a packed histogram (empty when it unpacks to a valid histogram). */
export function packedProblems(p: PackedHistogram, where: string): string[] {
  return walkPacked(p, where, () => {});
}

/** The histogram `p` packs; throws when it is malformed (see {@linkcode packedProblems}). */
export function unpackHistogram(p: PackedHistogram): Histogram {
  const values: number[] = [];
  const counts: number[] = [];
  const problems = walkPacked(p, "(histogram)", (v, c) => {
    values.push(v);
    counts.push(c);
  });
  if (problems.length) throw new RangeError(`Cannot unpack histogram: ${problems.join("; ")}`);
  return {
    unit: "us",
    significantDigits: 3,
    total: p.total,
    min: p.min,
    max: p.max,
    values,
    counts,
    ...withSum(p.sum),
  };
}
