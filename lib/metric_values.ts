/**
 * Reads the metrics declared in {@linkcode ./metric_vocabulary.ts} from run records:
 * per record, pooled over a group's iterations, or as a statistic of a bootstrap
 * resample (iterations weighted by how often they were drawn). `summary.ts` and
 * `compare.ts` both read values here, so a metric means the same in both.
 *
 * @module
 */
import {
  type CompactHistogram,
  type HistogramData,
  HistogramSet,
  mergeHistograms,
  percentile,
} from "./histogram.ts";
import {
  type MetricSource,
  RECORD_METRICS,
  type RecordMetricName,
  type RecordSource,
  type SwitchesPerOp,
} from "./metric_vocabulary.ts";
import { weightedMean, type WeightedStatistic } from "./stats.ts";
import type { LoadResult, RunRecord } from "./types.ts";

/** A run record that produced a load result (status ok or saturated). */
export type Measured = RunRecord & { load: LoadResult };

/** What metrics are read from: a measured record, or what the summary keeps of one. */
export interface MeasuredLike {
  resources: RunRecord["resources"];
  load: Pick<LoadResult, "achievedRate" | "durationS" | "operations"> & {
    latency: HistogramData | CompactHistogram;
  };
}

/**
 * Context switches of `source.components` per operation of one run: their counters summed
 * over the run's window, divided by the operations that same run completed. NaN when the
 * run completed none, counted no switches at all (records written before they were), or a
 * component of those classes lacks the counter asked for (a partial sum would mislead).
 */
export function switchesPerOp(
  source: SwitchesPerOp,
  resources: RunRecord["resources"],
  operations: number,
): number {
  if (!(operations > 0) || !resources.some((x) => x.contextSwitches)) return NaN;
  let s = 0;
  for (const x of resources) {
    if (!source.components.includes(x.component)) continue;
    const v = x.contextSwitches?.[source.field];
    if (v === undefined) return NaN;
    s += v;
  }
  return s / operations;
}

/** The value of a non-latency source in one record. */
export function recordValue(
  source: Exclude<MetricSource, { kind: "latency" }>,
  r: MeasuredLike,
): number {
  switch (source.kind) {
    case "achieved-rate":
      return r.load.achievedRate;
    case "duration":
      return r.load.durationS;
    case "resource": {
      let s = 0;
      for (const x of r.resources) {
        if (source.components.includes(x.component)) s += x[source.field];
      }
      return s;
    }
    case "switches-per-op":
      return switchesPerOp(source, r.resources, r.load.operations);
  }
}

const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

/**
 * A source pooled over records: a latency percentile (ms) of their merged histograms,
 * or the mean of the per-record values.
 */
export function pooledValue(source: MetricSource, rs: readonly Measured[]): number {
  if (source.kind === "latency") {
    const h = mergeHistograms(rs.map((r) => r.load.latency));
    return (source.percentile >= 100 ? h.max : percentile(h, source.percentile)) / 1000;
  }
  return mean(rs.map((r) => recordValue(source, r)));
}

/**
 * A source as a statistic of a resample of `rs` (weights = times each record was drawn).
 * Latency percentiles read `histograms`, the group's histograms on one axis, built once
 * per group by the caller and shared by its latency metrics.
 */
export function weightedValue(
  source: MetricSource,
  rs: readonly MeasuredLike[],
  histograms: () => HistogramSet,
): WeightedStatistic {
  if (source.kind === "latency") {
    const set = histograms();
    return (w) => set.percentile(w, source.percentile) / 1000;
  }
  return weightedMean(rs.map((r) => recordValue(source, r)));
}

function resourceSum(
  r: RunRecord,
  source: Extract<RecordSource, { kind: "resource" }>,
): number {
  let s = 0;
  for (const x of r.resources) if (source.components.includes(x.component)) s += x[source.field];
  return s;
}

/** One record's own value of `source`, or undefined when the record does not have it. */
function ownValue(source: RecordSource, r: RunRecord): number | undefined {
  const load = r.load;
  switch (source.kind) {
    case "latency-summary":
      return r.latency && load && load.latency.total > 0 ? r.latency[source.field] : undefined;
    case "achieved-rate":
      return load?.achievedRate;
    case "duration":
      return load && r.spec.point.mode === "batch" ? load.durationS : undefined;
    case "errors":
      return load?.errors;
    case "error-rate": {
      const attempted = load ? load.operations + load.errors : 0;
      return attempted > 0 ? (100 * load!.errors) / attempted : undefined;
    }
    case "resource":
      return r.resources.length ? resourceSum(r, source) : undefined;
    case "switches-per-op": {
      const v = load ? switchesPerOp(source, r.resources, load.operations) : NaN;
      return Number.isFinite(v) ? v : undefined;
    }
  }
}

/** Every per-record metric a record has, with its value, in the vocabulary's row order. */
export function recordMetrics(r: RunRecord): Array<[RecordMetricName, number]> {
  const out: Array<[RecordMetricName, number]> = [];
  for (const m of RECORD_METRICS) {
    const v = ownValue(m.record, r);
    if (v !== undefined) out.push([m.name, v]);
  }
  return out;
}
