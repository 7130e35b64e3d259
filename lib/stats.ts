/**
 * Pure statistics for overheads (METHODOLOGY rules 4-7): seeded randomness,
 * interleaved order, percentile bootstrap over iterations, coefficient of variation.
 *
 * @example
 * ```ts
 * import { bootstrapOverhead } from "./stats.ts";
 * const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
 * const r = bootstrapOverhead([10, 11, 9], [15, 16, 14], mean, { resamples: 500, seed: 1 });
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

/** Empirical quantile with linear interpolation (type 7), of sorted values. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

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
  /** Statistic for the baseline group when it differs from the mesh's (share basis). */
  baselineStatistic?: (sample: never[]) => number;
}

/** A point estimate with its bootstrap confidence interval. */
export interface OverheadEstimate {
  baseline: number;
  value: number;
  overheadPct: number;
  ci95: [number, number];
}

/**
 * Overhead of `mesh` vs `baseline` with a percentile bootstrap CI that resamples
 * whole iterations (independently per group). `statistic` pools a set of
 * iterations into one number (e.g. p99 of merged histograms, or a mean); it is
 * memoized per multiset, so few iterations cost few evaluations.
 */
export function bootstrapOverhead<T>(
  baseline: readonly T[],
  mesh: readonly T[],
  statistic: (sample: T[]) => number,
  options: BootstrapOptions = {},
): OverheadEstimate {
  if (baseline.length === 0 || mesh.length === 0) {
    throw new RangeError(
      `Cannot bootstrap overhead: need iterations in both groups, got baseline=${baseline.length}, mesh=${mesh.length}`,
    );
  }
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const rand = seededRandom(options.seed ?? 1);
  const ratio = options.basis === "share"
    ? (m: number, b: number) => (b === 0 ? NaN : (m / b) * 100)
    : overheadPct;
  const baseStat = (options.baselineStatistic ?? statistic) as (sample: T[]) => number;
  const memo = (items: readonly T[], stat: (sample: T[]) => number) => {
    const cache = new Map<string, number>();
    const idx = new Array<number>(items.length);
    return () => {
      for (let i = 0; i < items.length; i++) idx[i] = Math.floor(rand() * items.length);
      const key = [...idx].sort((a, b) => a - b).join(",");
      let v = cache.get(key);
      if (v === undefined) {
        v = stat(idx.map((i) => items[i]));
        cache.set(key, v);
      }
      return v;
    };
  };
  const drawBase = memo(baseline, baseStat);
  const drawMesh = memo(mesh, statistic);
  const b = baseStat([...baseline]);
  const m = statistic([...mesh]);
  const samples: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const r = ratio(drawMesh(), drawBase());
    if (Number.isFinite(r)) samples.push(r);
  }
  samples.sort((x, y) => x - y);
  const alpha = (1 - confidence) / 2;
  return {
    baseline: b,
    value: m,
    overheadPct: ratio(m, b),
    ci95: [quantileSorted(samples, alpha), quantileSorted(samples, 1 - alpha)],
  };
}
