/**
 * Pure statistics for overheads (METHODOLOGY rules 4-7): seeded randomness,
 * interleaved order, percentile bootstrap over iterations, coefficient of variation.
 *
 * @example
 * ```ts
 * import { bootstrapOverhead, weightedMean } from "./stats.ts";
 * const base = weightedMean([10, 11, 9]);
 * const mesh = weightedMean([15, 16, 14]);
 * const r = bootstrapOverhead(3, 3, base, mesh, { resamples: 500, seed: 1 });
 * if (!(r.overheadPct > 40 && r.ci95[0] > 20)) throw new Error("overhead");
 * ```
 *
 * @module
 */
import { mean as ssMean, sampleStandardDeviation } from "simple-statistics";

/** A small, fast, seeded PRNG (mulberry32): same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle driven by `rand`; returns a new array. */
export function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Overhead % per the design: (mesh - baseline) / baseline * 100. */
export function overheadPct(mesh: number, baseline: number): number {
  if (baseline === 0) return mesh === 0 ? 0 : NaN;
  return ((mesh - baseline) / baseline) * 100;
}

/** Coefficient of variation in % (sample SD / mean); 0 for fewer than 2 values. */
export function cvPct(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = ssMean(values as number[]);
  if (m === 0) return 0;
  return (sampleStandardDeviation(values as number[]) / Math.abs(m)) * 100;
}

/** k-th smallest value (0-based) of `a`, reordering `a` in place (quickselect). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/**
 * Type-7 quantile (as {@linkcode quantileSorted}) without sorting: two selections,
 * linear time. Reorders `a` in place.
 */
export function quantileSelect(a: Float64Array, q: number): number {
  if (a.length === 0) return NaN;
  const pos = (a.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const vlo = select(a, lo);
  if (hi === lo) return vlo;
  // select leaves everything after `lo` no smaller: the next order statistic is their minimum.
  let vhi = a[hi];
  for (let i = hi + 1; i < a.length; i++) if (a[i] < vhi) vhi = a[i];
  return vlo + (vhi - vlo) * (pos - lo);
}

/** Empirical quantile with linear interpolation (type 7), of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * A statistic of a bootstrap resample given as counts: `weights[i]` is how many
 * times iteration `i` was drawn (the counts sum to the number of iterations).
 */
export type WeightedStatistic = (weights: Float64Array) => number;

/** Options of {@linkcode bootstrapOverhead}. */
export interface BootstrapOptions {
  resamples?: number;
  confidence?: number;
  seed?: number;
  /**
   * How overhead is expressed: `relative` is the design's formula; `share` is
   * mesh / baseline * 100, for quantities the baseline does not have (proxy CPU
   * as a share of the application's own CPU).
   */
  basis?: "relative" | "share";
}

/** A point estimate with its bootstrap confidence interval. */
export interface OverheadEstimate {
  baseline: number;
  value: number;
  overheadPct: number;
  ci95: [number, number];
}

/** Above this many distinct resamples, draw resamples at random instead of enumerating. */
const MAX_ENUMERATED = 5000;

interface ResampleSpace {
  /** Count vectors, flattened: multiset m is counts[m*k .. m*k+k). */
  counts: Float64Array;
  /** multisets[m]: a view of multiset m's counts, made once. */
  multisets: Float64Array[];
  /** Cumulative probability of each multiset under bootstrap resampling. */
  cumulative: Float64Array;
  /** guide[g]: the first multiset whose cumulative probability reaches g / GUIDE_SIZE. */
  guide: Int32Array;
  size: number;
}

const GUIDE_SIZE = 1024;

const spaces = new Map<number, ResampleSpace | null>();

function binomial(n: number, r: number): number {
  let x = 1;
  for (let i = 1; i <= r; i++) x = (x * (n - r + i)) / i;
  return x;
}

/**
 * Every multiset of size k drawn from k iterations, with its probability
 * k! / (prod c_i!) / k^k: the exact bootstrap resampling distribution.
 */
function resampleSpace(k: number): ResampleSpace | null {
  if (spaces.has(k)) return spaces.get(k)!;
  const size = Math.round(binomial(2 * k - 1, k));
  if (size > MAX_ENUMERATED) {
    spaces.set(k, null);
    return null;
  }
  const counts = new Float64Array(size * k);
  const cumulative = new Float64Array(size);
  const fact = [1];
  for (let i = 1; i <= k; i++) fact[i] = fact[i - 1] * i;
  const c = new Array<number>(k).fill(0);
  let m = 0;
  let acc = 0;
  const logKk = k * Math.log(k);
  const walk = (i: number, left: number) => {
    if (i === k - 1) {
      c[i] = left;
      let logP = Math.log(fact[k]) - logKk;
      for (let j = 0; j < k; j++) {
        counts[m * k + j] = c[j];
        logP -= Math.log(fact[c[j]]);
      }
      acc += Math.exp(logP);
      cumulative[m++] = acc;
      return;
    }
    for (let x = 0; x <= left; x++) {
      c[i] = x;
      walk(i + 1, left - x);
    }
  };
  walk(0, k);
  for (let j = 0; j < size; j++) cumulative[j] /= acc;
  const guide = new Int32Array(GUIDE_SIZE);
  for (let g = 0, j = 0; g < GUIDE_SIZE; g++) {
    while (j < size - 1 && cumulative[j] < g / GUIDE_SIZE) j++;
    guide[g] = j;
  }
  const multisets = Array.from({ length: size }, (_, m) => counts.subarray(m * k, m * k + k));
  const space = { counts, multisets, cumulative, guide, size };
  spaces.set(k, space);
  return space;
}

/** Values of a statistic over every multiset of its resample space, kept per statistic. */
const enumerated = new WeakMap<WeightedStatistic, { n: number; values: Float64Array }>();

function enumerate(stat: WeightedStatistic, n: number, space: ResampleSpace): Float64Array {
  const known = enumerated.get(stat);
  if (known?.n === n) return known.values;
  const values = new Float64Array(space.size);
  for (let m = 0; m < space.size; m++) values[m] = stat(space.multisets[m]);
  enumerated.set(stat, { n, values });
  return values;
}

/**
 * Resampling of `n` iterations for several statistics at once: exact multiset
 * enumeration (each statistic evaluated once per multiset, and once for all when
 * the same statistic is resampled again) when small, Monte Carlo otherwise.
 * `draw(i)` picks resample i; `column(s)` gives statistic s of every resample drawn.
 */
function resampler(
  n: number,
  stats: WeightedStatistic[],
  rand: () => number,
  resamples: number,
) {
  const space = resampleSpace(n);
  if (space) {
    const values = stats.map((stat) => enumerate(stat, n, space));
    const { cumulative: cum, guide } = space;
    const last = cum.length - 1;
    const drawn = new Int32Array(resamples);
    const column = new Float64Array(resamples);
    return {
      draw(i: number) {
        // The first multiset whose cumulative probability reaches u, searched from the guide.
        const u = rand();
        let m = guide[Math.floor(u * GUIDE_SIZE)];
        while (m < last && cum[m] < u) m++;
        drawn[i] = m;
      },
      column(s: number): Float64Array {
        const v = values[s];
        for (let i = 0; i < resamples; i++) column[i] = v[drawn[i]];
        return column;
      },
    };
  }
  const w = new Float64Array(n);
  const columns = stats.map(() => new Float64Array(resamples));
  return {
    draw(i: number) {
      w.fill(0);
      for (let j = 0; j < n; j++) w[Math.floor(rand() * n)]++;
      for (let s = 0; s < stats.length; s++) columns[s][i] = stats[s](w);
    },
    column: (s: number): Float64Array => columns[s],
  };
}

/** One overhead to estimate: the statistic on each side and how to express it. */
export interface OverheadPair {
  baseline: WeightedStatistic;
  mesh: WeightedStatistic;
  basis?: "relative" | "share";
}

/**
 * Overheads of the mesh vs the baseline with percentile bootstrap CIs that
 * resample whole iterations, independently per group (METHODOLOGY rule 5).
 * Statistics see a resample as counts per iteration, so pooled quantities (p99 of
 * merged histograms, means) are computed without materialising resamples. All
 * pairs share the same resamples (common random numbers), which keeps the
 * figures of one comparison consistent with each other and the cost low.
 */
export function bootstrapOverheads(
  nBaseline: number,
  nMesh: number,
  pairs: OverheadPair[],
  options: Omit<BootstrapOptions, "basis"> = {},
): OverheadEstimate[] {
  if (nBaseline === 0 || nMesh === 0) {
    throw new RangeError(
      `Cannot bootstrap overhead: need iterations in both groups, got baseline=${nBaseline}, mesh=${nMesh}`,
    );
  }
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const rand = seededRandom(options.seed ?? 1);
  const ratios = pairs.map((p) =>
    p.basis === "share" ? (m: number, b: number) => (b === 0 ? NaN : (m / b) * 100) : overheadPct
  );
  const base = resampler(nBaseline, pairs.map((p) => p.baseline), rand, resamples);
  const mesh = resampler(nMesh, pairs.map((p) => p.mesh), rand, resamples);
  // Both sides draw from one random sequence, alternating, as they always have.
  for (let i = 0; i < resamples; i++) {
    base.draw(i);
    mesh.draw(i);
  }
  const samples = new Float64Array(resamples);
  const alpha = (1 - confidence) / 2;
  return pairs.map((p, s) => {
    const b = p.baseline(new Float64Array(nBaseline).fill(1));
    const m = p.mesh(new Float64Array(nMesh).fill(1));
    const ratio = ratios[s];
    const bs = base.column(s);
    const ms = mesh.column(s);
    let count = 0;
    for (let i = 0; i < resamples; i++) {
      const r = ratio(ms[i], bs[i]);
      if (Number.isFinite(r)) samples[count++] = r;
    }
    const drawn = samples.subarray(0, count);
    return {
      baseline: b,
      value: m,
      overheadPct: ratios[s](m, b),
      ci95: [quantileSelect(drawn, alpha), quantileSelect(drawn, 1 - alpha)],
    };
  });
}

/** {@linkcode bootstrapOverheads} for a single statistic. */
export function bootstrapOverhead(
  nBaseline: number,
  nMesh: number,
  baselineStat: WeightedStatistic,
  meshStat: WeightedStatistic,
  options: BootstrapOptions = {},
): OverheadEstimate {
  return bootstrapOverheads(nBaseline, nMesh, [{
    baseline: baselineStat,
    mesh: meshStat,
    basis: options.basis,
  }], options)[0];
}

/** Weighted mean of per-iteration values: the pooled mean of a resample. */
export function weightedMean(values: ArrayLike<number>): WeightedStatistic {
  return (w) => {
    let s = 0;
    let n = 0;
    for (let i = 0; i < w.length; i++) {
      s += w[i] * values[i];
      n += w[i];
    }
    return n > 0 ? s / n : NaN;
  };
}

/** Adapts a statistic of a list of items (the resample, materialised) to weights. */
export function fromSamples<T>(
  items: readonly T[],
  stat: (sample: T[]) => number,
): WeightedStatistic {
  return (w) => {
    const sample: T[] = [];
    for (let i = 0; i < w.length; i++) for (let j = 0; j < w[i]; j++) sample.push(items[i]);
    return stat(sample);
  };
}
