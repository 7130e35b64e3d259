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
import type { IntervalMethod } from "./types.ts";

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
  /** value - baseline, when asked for ({@linkcode OverheadPair.delta}). */
  delta?: number;
  /** Interval of `delta`, from the same resamples. */
  deltaCi95?: [number, number];
  method: IntervalMethod;
}

/** Above this many distinct resamples, draw resamples at random instead of enumerating. */
const MAX_ENUMERATED = 5000;

interface ResampleSpace {
  /** Count vectors, flattened: multiset m is counts[m*k .. m*k+k). */
  counts: Float64Array;
  /** multisets[m]: a view of multiset m's counts, made once. */
  multisets: Float64Array[];
  /** Probability of each multiset under bootstrap resampling. */
  probs: Float64Array;
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
  const probs = new Float64Array(size);
  for (let j = 0; j < size; j++) probs[j] = cumulative[j] - (j ? cumulative[j - 1] : 0);
  const guide = new Int32Array(GUIDE_SIZE);
  for (let g = 0, j = 0; g < GUIDE_SIZE; g++) {
    while (j < size - 1 && cumulative[j] < g / GUIDE_SIZE) j++;
    guide[g] = j;
  }
  const multisets = Array.from({ length: size }, (_, m) => counts.subarray(m * k, m * k + k));
  const space = { counts, multisets, probs, cumulative, guide, size };
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

/**
 * A discrete distribution: its distinct values ascending, and `cum[j]`, the probability
 * of the values before index j (so value j has probability cum[j + 1] - cum[j]).
 */
interface Discrete {
  values: Float64Array;
  cum: Float64Array;
}

/** The exact bootstrap distribution of each statistic, kept per statistic. */
const distributions = new WeakMap<WeightedStatistic, { n: number; dist: Discrete }>();

/**
 * Storage of the distributions' arrays: views of one large buffer (a summary keeps tens of
 * thousands of small distributions; a typed array of its own each was a native allocation
 * each). A full buffer is left to its views and freed with the last of them.
 */
let arena = new Float64Array(0);
let arenaUsed = 0;

/** `n` zeros from {@linkcode arena}. */
function take(n: number): Float64Array {
  if (arenaUsed + n > arena.length) {
    arena = new Float64Array(Math.max(1 << 16, n));
    arenaUsed = 0;
  }
  const out = arena.subarray(arenaUsed, arenaUsed + n);
  arenaUsed += n;
  return out;
}

/** Working arrays of {@linkcode distributionOf}, kept between calls. */
let distWork = distScratchOf(0);

function distScratchOf(size: number) {
  return {
    raw: new Float64Array(size),
    sorted: new Float64Array(size),
    at: new Int32Array(size),
    start: new Int32Array(size + 1),
    fill: new Int32Array(size),
    order: new Int32Array(size),
  };
}

/**
 * The exact bootstrap distribution of `stat` over `n` iterations: its value on every
 * multiset, with the multiset's probability, equal values merged. Values that are not
 * finite (a statistic undefined on some resample) are left out.
 */
function distributionOf(stat: WeightedStatistic, n: number, space: ResampleSpace): Discrete {
  const known = distributions.get(stat);
  if (known?.n === n) return known.dist;
  const size = space.size;
  if (distWork.raw.length < size) distWork = distScratchOf(size);
  const { raw, sorted, at, start, fill, order } = distWork;
  const multisets = space.multisets;
  for (let m = 0; m < size; m++) raw[m] = stat(multisets[m]);
  // The distinct finite values, ascending (a native numeric sort: no comparator calls).
  let finite = 0;
  for (let m = 0; m < size; m++) if (Number.isFinite(raw[m])) sorted[finite++] = raw[m];
  sorted.subarray(0, finite).sort();
  let k = 0;
  for (let j = 0; j < finite; j++) {
    if (k === 0 || sorted[k - 1] !== sorted[j]) sorted[k++] = sorted[j];
  }
  const values = take(k);
  values.set(sorted.subarray(0, k));
  // Each multiset's value index, then the multisets grouped by value in index order (a
  // counting sort, stable): the probabilities are summed in value order, ties in multiset
  // order, as a stable sort of the multisets by value would sum them.
  start.fill(0, 0, k + 1);
  for (let m = 0; m < size; m++) {
    if (!Number.isFinite(raw[m])) {
      at[m] = -1;
      continue;
    }
    let lo = 0;
    let hi = k - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[mid] < raw[m]) lo = mid + 1;
      else hi = mid;
    }
    at[m] = lo;
    start[lo + 1]++;
  }
  for (let j = 0; j < k; j++) start[j + 1] += start[j];
  fill.set(start.subarray(0, k));
  for (let m = 0; m < size; m++) if (at[m] >= 0) order[fill[at[m]]++] = m;
  const cum = take(k + 1);
  const probs = space.probs;
  for (let j = 0; j < k; j++) {
    let c = cum[j];
    for (let x = start[j]; x < start[j + 1]; x++) c += probs[order[x]];
    cum[j + 1] = c;
  }
  const dist = { values, cum };
  distributions.set(stat, { n, dist });
  return dist;
}

/** How an overhead compares the two sides: (m - b) / b x 100, m / b x 100 or m - b. */
type PairKind = "relative" | "share" | "delta";

const PAIR_FNS: Record<PairKind, (m: number, b: number) => number> = {
  relative: (m, b) => pairValue(1, m, b),
  share: (m, b) => pairValue(2, m, b),
  delta: (m, b) => pairValue(0, m, b),
};

/** First index in sorted `a[lo, hi)` whose value is at least `x` (strictly above, when `above`). */
function searchSorted(a: Float64Array, x: number, lo: number, hi: number, above: boolean) {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (above ? a[mid] <= x : a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The `level` quantile (the smallest value whose cumulative probability reaches it) of
 * f(mesh, baseline) under the exact bootstrap distributions of both sides, which are
 * independent. Pairs where f is undefined (a zero baseline) are left out, as the sampled
 * bootstrap leaves out such resamples. The pairs are never listed: each baseline value is
 * a row of mesh values in which f is monotone, and a selection narrows every row to the
 * values that can still be the quantile (pivots drawn from a fixed seed: the result is
 * the quantile whatever the pivots).
 */
/** Working arrays of {@linkcode pairQuantile}, kept between calls (it runs 10,000s of times). */
let work = scratchOf(0);

function scratchOf(n: number) {
  return {
    rowB: new Float64Array(n),
    rowP: new Float64Array(n),
    start: new Int32Array(n),
    end: new Int32Array(n),
    rev: new Uint8Array(n),
    lo: new Int32Array(n),
    hi: new Int32Array(n),
    atLeast: new Int32Array(n),
    above: new Int32Array(n),
    live: new Int32Array(n),
  };
}

function scratch(n: number) {
  if (work.rowB.length < n) work = scratchOf(Math.max(n, 2 * work.rowB.length));
  return work;
}

/** {@linkcode PAIR_FNS} as one function of a kind code: one call target, inlined in the loops. */
function pairValue(code: number, m: number, b: number): number {
  if (code === 0) return m - b;
  if (code === 1) return overheadPct(m, b);
  return b === 0 ? NaN : (m / b) * 100;
}

function pairQuantile(b: Discrete, m: Discrete, kind: PairKind, level: number): number {
  const code = kind === "delta" ? 0 : kind === "relative" ? 1 : 2;
  const f = (x: number, y: number) => pairValue(code, x, y);
  const mv = m.values;
  const mc = m.cum;
  const size = mv.length;
  const { rowB, rowP, start, end, rev, lo, hi, atLeast, above, live } = scratch(
    b.values.length,
  );
  let n = 0;
  const addRow = (bv: number, p: number, s0: number, s1: number, reversed: boolean) => {
    rowB[n] = bv;
    rowP[n] = p;
    start[n] = s0;
    end[n] = s1;
    rev[n] = reversed ? 1 : 0;
    n++;
  };
  for (let i = 0; i < b.values.length; i++) {
    const bv = b.values[i];
    const p = b.cum[i + 1] - b.cum[i];
    if (kind === "delta" || bv > 0) addRow(bv, p, 0, size, false);
    else if (bv < 0) addRow(bv, p, 0, size, true);
    else if (kind === "relative") {
      // (m - 0) / 0 is defined only for m = 0 (no change): the row is the zeros of m.
      const z0 = searchSorted(mv, 0, 0, size, false);
      const z1 = searchSorted(mv, 0, z0, size, true);
      if (z1 > z0) addRow(bv, p, z0, z1, false);
    }
  }
  // Rows are in ascending baseline order. Where f falls as the baseline grows (always for
  // m - b; for m / b with b > 0 when no m is negative), the first position of a value >= v
  // moves right from row to row: one pass over the mesh values counts every such row.
  let stair = n;
  if (kind === "delta") stair = 0;
  else if (size > 0 && mv[0] >= 0) {
    stair = 0;
    while (stair < n && !(rowB[stair] > 0 && !rev[stair] && end[stair] === size)) stair++;
  }
  const val = (i: number, k: number) => f(mv[rev[i] ? end[i] - 1 - k : start[i] + k], rowB[i]);
  const mass = (i: number, k0: number, k1: number) =>
    rev[i]
      ? rowP[i] * (mc[end[i] - k0] - mc[end[i] - k1])
      : rowP[i] * (mc[start[i] + k1] - mc[start[i] + k0]);
  /** First position in row i's [lo, hi) whose value is >= v (> v when `above`). */
  const first = (i: number, v: number, lo: number, hi: number, above: boolean) => {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const x = val(i, mid);
      if (above ? x <= v : x < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let total = 0;
  for (let i = 0; i < n; i++) {
    hi[i] = end[i] - start[i];
    total += mass(i, 0, hi[i]);
  }
  if (!(total > 0)) return NaN;
  const target = level * total;
  const rand = seededRandom(1);
  lo.fill(0, 0, n);
  // The rows whose window is not empty, in row order (`count` of them, `liveStair` below
  // `stair`): every loop of a round visits only these, in the order it visited all rows,
  // skipping the same empty ones.
  let count = 0;
  let liveStair = 0;
  for (let i = 0; i < n; i++) {
    if (hi[i] > lo[i]) {
      live[count++] = i;
      if (i < stair) liveStair++;
    }
  }
  let below = 0;
  for (;;) {
    let candidates = 0;
    for (let x = 0; x < count; x++) candidates += hi[live[x]] - lo[live[x]];
    if (candidates === 0) return NaN;
    let pick = Math.floor(rand() * candidates);
    let x = 0;
    while (pick >= hi[live[x]] - lo[live[x]]) {
      pick -= hi[live[x]] - lo[live[x]];
      x++;
    }
    const row = live[x];
    const pivot = val(row, lo[row] + pick);
    let lt = below;
    let le = below;
    for (let x = 0; x < liveStair; x++) {
      const i = live[x];
      atLeast[i] = first(i, pivot, lo[i], hi[i], false);
      above[i] = first(i, pivot, atLeast[i], hi[i], true);
      lt += mass(i, lo[i], atLeast[i]);
      le += mass(i, lo[i], above[i]);
    }
    // Rows from `stair` on: each row's window [lo, hi) and its first positions at or above
    // the pivot never fall from row to row (f falls as the baseline grows, and every window
    // is cut at those positions), so one scan carried across the rows finds them all, each
    // row's scan starting at its window and stopping at its end: the same positions as a scan
    // of every row over all mesh values, clamped to the window, and empty windows skipped.
    for (let x = liveStair, ja = 0, jb = 0; x < count; x++) {
      const i = live[x];
      const l = lo[i];
      const h = hi[i];
      const bv = rowB[i];
      if (ja < l) ja = l;
      // pairValue written out per kind (the loop evaluates f tens of millions of times for
      // 10,000 records). Rows from `stair` on have bv > 0 unless the kind is delta, so these
      // are pairValue's own expressions, with the same results.
      if (code === 0) {
        while (ja < h && mv[ja] - bv < pivot) ja++;
        if (jb < ja) jb = ja;
        while (jb < h && mv[jb] - bv <= pivot) jb++;
      } else if (code === 1) {
        while (ja < h && ((mv[ja] - bv) / bv) * 100 < pivot) ja++;
        if (jb < ja) jb = ja;
        while (jb < h && ((mv[jb] - bv) / bv) * 100 <= pivot) jb++;
      } else {
        while (ja < h && (mv[ja] / bv) * 100 < pivot) ja++;
        if (jb < ja) jb = ja;
        while (jb < h && (mv[jb] / bv) * 100 <= pivot) jb++;
      }
      atLeast[i] = ja;
      above[i] = jb;
      const p = rowP[i];
      lt += p * (mc[ja] - mc[l]);
      le += p * (mc[jb] - mc[l]);
    }
    if (lt >= target) {
      for (let x = 0; x < count; x++) hi[live[x]] = atLeast[live[x]];
    } else if (le >= target) {
      return pivot;
    } else {
      below = le;
      for (let x = 0; x < count; x++) lo[live[x]] = above[live[x]];
    }
    let kept = 0;
    let keptStair = 0;
    for (let x = 0; x < count; x++) {
      const i = live[x];
      if (hi[i] > lo[i]) {
        live[kept++] = i;
        if (x < liveStair) keptStair++;
      }
    }
    count = kept;
    liveStair = keptStair;
  }
}

/** Iterations a side needs before an interval says anything about run-to-run noise. */
export const MIN_ITERATIONS_FOR_INTERVAL = 2;

/** One overhead to estimate: the statistic on each side and how to express it. */
export interface OverheadPair {
  baseline: WeightedStatistic;
  mesh: WeightedStatistic;
  basis?: "relative" | "share";
  /** Also estimate the absolute difference, mesh - baseline, with its own interval. */
  delta?: boolean;
}

/**
 * Overheads of the mesh vs the baseline with percentile bootstrap CIs that
 * resample whole iterations, independently per group (METHODOLOGY rule 5).
 * Statistics see a resample as counts per iteration, so pooled quantities (p99 of
 * merged histograms, means) are computed without materialising resamples.
 *
 * With up to 7 iterations a side every resample is enumerated, and the interval's
 * bounds are the quantiles of that exact distribution: a function of the data alone,
 * the same for every seed (`method: "exact"`). With more, resamples are drawn from the
 * seed, all pairs sharing them (common random numbers; `"sampled"`). With a single
 * iteration on a side there is no interval (`"too-few-iterations"`, bounds NaN).
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
  const confidence = options.confidence ?? 0.95;
  const alpha = (1 - confidence) / 2;
  const points = pairs.map((p) => {
    const b = p.baseline(new Float64Array(nBaseline).fill(1));
    const m = p.mesh(new Float64Array(nMesh).fill(1));
    const kind = p.basis === "share" ? "share" : "relative";
    return {
      baseline: b,
      value: m,
      overheadPct: PAIR_FNS[kind](m, b),
      ...(p.delta ? { delta: m - b } : {}),
    };
  });
  const none: [number, number] = [NaN, NaN];
  if (Math.min(nBaseline, nMesh) < MIN_ITERATIONS_FOR_INTERVAL) {
    return points.map((pt, s) => ({
      ...pt,
      ci95: none,
      ...(pairs[s].delta ? { deltaCi95: none } : {}),
      method: "too-few-iterations" as const,
    }));
  }
  const spaceB = resampleSpace(nBaseline);
  const spaceM = resampleSpace(nMesh);
  if (spaceB && spaceM) {
    return points.map((pt, s) => {
      const p = pairs[s];
      const b = distributionOf(p.baseline, nBaseline, spaceB);
      const m = distributionOf(p.mesh, nMesh, spaceM);
      const kind = p.basis === "share" ? "share" : "relative";
      const interval = (k: PairKind): [number, number] => [
        pairQuantile(b, m, k, alpha),
        pairQuantile(b, m, k, 1 - alpha),
      ];
      return {
        ...pt,
        ci95: interval(kind),
        ...(p.delta ? { deltaCi95: interval("delta") } : {}),
        method: "exact" as const,
      };
    });
  }
  const resamples = options.resamples ?? 2000;
  const rand = seededRandom(options.seed ?? 1);
  const base = resampler(nBaseline, pairs.map((p) => p.baseline), rand, resamples);
  const mesh = resampler(nMesh, pairs.map((p) => p.mesh), rand, resamples);
  // Both sides draw from one random sequence, alternating, as they always have.
  for (let i = 0; i < resamples; i++) {
    base.draw(i);
    mesh.draw(i);
  }
  const samples = new Float64Array(resamples);
  const sampledInterval = (
    bs: Float64Array,
    ms: Float64Array,
    f: (m: number, b: number) => number,
  ) => {
    let count = 0;
    for (let i = 0; i < resamples; i++) {
      const r = f(ms[i], bs[i]);
      if (Number.isFinite(r)) samples[count++] = r;
    }
    const drawn = samples.subarray(0, count);
    return [quantileSelect(drawn, alpha), quantileSelect(drawn, 1 - alpha)] as [number, number];
  };
  return points.map((pt, s) => {
    const p = pairs[s];
    const bs = base.column(s);
    const ms = mesh.column(s);
    return {
      ...pt,
      ci95: sampledInterval(bs, ms, PAIR_FNS[p.basis === "share" ? "share" : "relative"]),
      ...(p.delta ? { deltaCi95: sampledInterval(bs, ms, PAIR_FNS.delta) } : {}),
      method: "sampled" as const,
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
