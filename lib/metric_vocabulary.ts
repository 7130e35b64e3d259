/**
 * The one declaration of every metric meshbench reports: its name (as written in
 * `summary.json` and `comparison.json`), unit, label, which direction is better, which
 * runs it applies to and where its value comes from. `summary.ts` (overheads),
 * `compare.ts` (run-to-run changes), the charts, the report and the one-screen summary
 * all read this table, so a metric is added or changed here only (k6 declares its
 * built-in metrics once the same way). The JSON Schema of the summary lists the same
 * names; a test keeps the two equal.
 *
 * A leaf module: it imports nothing, so the result types can name its closed set.
 *
 * @example
 * ```ts
 * import { metricLabel, metricsFor } from "./metric_vocabulary.ts";
 * const names = metricsFor("max-throughput").map((m) => m.name);
 * if (names.length !== 1 || metricLabel(names[0]) !== "max throughput") throw new Error();
 * ```
 *
 * @module
 */

/** What a load run is for: fixed rate (latency), max throughput, or a batch job. */
export type LoadMode = "fixed-rate" | "max-throughput" | "batch";

/** Component classes for resource accounting (METHODOLOGY rule 12). */
export type Component = "control-plane" | "data-plane" | "app" | "node" | "loadgen";

/** Where a metric's value comes from, per run record (pooled over iterations). */
export type MetricSource =
  /** Percentile of the latency histograms merged over iterations (100: the maximum). */
  | { kind: "latency"; percentile: number }
  /** Mean over iterations of the achieved operations per second. */
  | { kind: "achieved-rate" }
  /** Mean over iterations of the measured duration (a batch job's completion time). */
  | { kind: "duration" }
  /** Mean over iterations of the sum of `field` over these component classes. */
  | {
    kind: "resource";
    field: "cpuCores" | "memoryPeakMB";
    components: readonly Component[];
  }
  /** Mean over iterations of the per-request context switches (see `SwitchesPerOp`). */
  | SwitchesPerOp;

/**
 * Context switches of these component classes over a run's window, summed, divided by the
 * operations that run completed (its `load.operations`: every attempt that ended, failed
 * ones included, since the proxies handled those too). Undefined (NaN) for a record
 * without the counters.
 */
export interface SwitchesPerOp {
  kind: "switches-per-op";
  field: "total" | "voluntary" | "involuntary";
  components: readonly Component[];
}

/**
 * Where one record's own value of a metric comes from, for per-record (tidy) rows: the
 * record's latency summary, its load counters or its resources. Absent from a record
 * that does not have it (no load result, no resources, not a batch job).
 */
export type RecordSource =
  | {
    kind: "latency-summary";
    field: "p50Ms" | "p90Ms" | "p95Ms" | "p99Ms" | "p999Ms" | "maxMs" | "meanMs";
  }
  | { kind: "achieved-rate" }
  /** Only for batch runs: elsewhere the duration is the configured window, not a result. */
  | { kind: "duration" }
  | { kind: "errors" }
  /** Errors as % of attempted operations (completed + errors). */
  | { kind: "error-rate" }
  | { kind: "resource"; field: "cpuCores" | "memoryPeakMB"; components: readonly Component[] }
  | SwitchesPerOp;

/** Which way a metric improves. */
export type Direction = "lower" | "higher";

/** Groups of metrics charted together, in the order they are shown. */
export const METRIC_FAMILIES = ["latency", "throughput", "resources"] as const;
/** A group of metrics charted together. */
export type MetricFamily = typeof METRIC_FAMILIES[number];

/** A metric as a per-record value (the tidy rows of `analysis.ts`). */
export interface RecordMetricSpec<N extends string = RecordMetricName> {
  name: N;
  unit: "ms" | "ops/s" | "s" | "cores" | "MB" | "count" | "%" | "switches/req";
  /** The quantity in words, for charts, tables and findings. */
  label: string;
  /** Where a single record's value comes from. */
  record: RecordSource;
}

/** One overhead metric's declaration: computed per load point, mesh vs baseline. */
export interface MetricSpec<N extends string = MetricName> extends RecordMetricSpec<N> {
  unit: "ms" | "ops/s" | "s" | "cores" | "MB" | "switches/req";
  /** What its overhead vs the baseline is, in words, when not "<label>" (share metrics). */
  overheadLabel?: string;
  /** Which value is better: an increase of a `lower` metric is a cost. */
  better: Direction;
  family: MetricFamily;
  /** The load modes whose runs this metric is computed for. */
  appliesTo: readonly LoadMode[];
  source: MetricSource;
  /**
   * For quantities the baseline does not have (proxy CPU and memory): what the baseline's
   * own side is read from. The overhead is then a share, value / baseline x 100, of what
   * the application itself used without a mesh, not a relative increase.
   */
  shareOf?: MetricSource;
  /** Column header in the one-screen summary, and its position; absent: not shown there. */
  oneScreen?: { header: string; order: number };
  /** Preference as the report's headline metric (1 first); absent: only as a last resort. */
  headline?: number;
  /** True when the metric is a latency in ms, so its added latency (deltaMs) is reported. */
  addedLatency?: boolean;
  /**
   * Alert threshold of `compare --gate` (Perfherder's `alertThreshold`, a percentage
   * change): a run-to-run change the rank tests call different fails the gate only when
   * it goes the bad way (`better`) by more than this. Absent: reported, never gates
   * (Perfherder's `shouldAlert: false`), for metrics too noisy to gate on.
   */
  alertThresholdPct?: number;
}

const LATENCY_RUNS = ["fixed-rate"] as const;
/** CPU and memory at max throughput follow how much each mesh could carry: not compared. */
const RESOURCE_RUNS = ["fixed-rate", "batch"] as const;
const APP_AND_MESH = ["app", "data-plane", "control-plane"] as const;
const MESH = ["data-plane", "control-plane"] as const;
const APP = ["app"] as const;
const LOADGEN = ["loadgen"] as const;
/** Node-wide: every process on the node, the load generator and other tenants included. */
const NODE = ["node"] as const;

/**
 * What every overhead latency metric declares: latency percentile `percentile` of fixed-rate
 * runs (100: the maximum), lower is better, its added latency reported, read per record
 * from the latency summary's `field`. Spread into the metric's own entry.
 */
function latencyPercentile<N extends string, F extends string>(
  name: N,
  label: string,
  percentile: number,
  field: F,
) {
  return {
    name,
    unit: "ms",
    label,
    better: "lower",
    family: "latency",
    appliesTo: LATENCY_RUNS,
    source: { kind: "latency", percentile },
    addedLatency: true,
    record: { kind: "latency-summary", field },
  } as const;
}

/**
 * What every context-switch metric declares: the switches (`field`: all, voluntary or
 * involuntary) of these component classes per completed operation, read per record.
 */
function switchesPerReq<N extends string>(
  name: N,
  label: string,
  components: readonly Component[],
  field: SwitchesPerOp["field"] = "total",
) {
  const record: SwitchesPerOp = { kind: "switches-per-op", field, components };
  return { name, unit: "switches/req", label, record } as const;
}

/** A CPU (cores) or memory (peak MB) value: `field` summed over these component classes. */
function resource(field: "cpuCores" | "memoryPeakMB", components: readonly Component[]) {
  return { kind: "resource", field, components } as const;
}

/** What every CPU or memory metric declares: its unit, and its per-record value. */
function resourceOf<N extends string>(
  name: N,
  label: string,
  field: "cpuCores" | "memoryPeakMB",
  components: readonly Component[],
) {
  const unit = field === "cpuCores" ? "cores" : "MB";
  return { name, unit, label, record: resource(field, components) } as const;
}

/** Every metric, per-record only ones (no `family`) among the overhead ones, in row order. */
const SPECS = [
  {
    ...latencyPercentile("latency_p50_ms", "p50 latency", 50, "p50Ms"),
    oneScreen: { header: "p50 latency", order: 1 },
    headline: 3,
    alertThresholdPct: 10,
  },
  {
    name: "latency_p90_ms",
    unit: "ms",
    label: "p90 latency",
    record: { kind: "latency-summary", field: "p90Ms" },
  },
  {
    ...latencyPercentile("latency_p95_ms", "p95 latency", 95, "p95Ms"),
    headline: 2,
    alertThresholdPct: 15,
  },
  {
    ...latencyPercentile("latency_p99_ms", "p99 latency", 99, "p99Ms"),
    oneScreen: { header: "p99 latency", order: 2 },
    headline: 1,
    alertThresholdPct: 20,
  },
  {
    name: "latency_p999_ms",
    unit: "ms",
    label: "p99.9 latency",
    record: { kind: "latency-summary", field: "p999Ms" },
  },
  latencyPercentile("latency_max_ms", "max latency", 100, "maxMs"),
  {
    name: "latency_mean_ms",
    unit: "ms",
    label: "mean latency",
    record: { kind: "latency-summary", field: "meanMs" },
  },
  {
    name: "throughput_rps",
    unit: "ops/s",
    label: "max throughput",
    better: "higher",
    family: "throughput",
    appliesTo: ["max-throughput"],
    source: { kind: "achieved-rate" },
    oneScreen: { header: "throughput", order: 3 },
    headline: 4,
    alertThresholdPct: 5,
    record: { kind: "achieved-rate" },
  },
  {
    name: "completion_time_s",
    unit: "s",
    label: "job completion time",
    better: "lower",
    family: "throughput",
    appliesTo: ["batch"],
    source: { kind: "duration" },
    oneScreen: { header: "job time", order: 6 },
    alertThresholdPct: 10,
    record: { kind: "duration" },
  },
  {
    ...resourceOf("cpu_cores_total", "CPU, app + mesh", "cpuCores", APP_AND_MESH),
    better: "lower",
    family: "resources",
    appliesTo: RESOURCE_RUNS,
    source: resource("cpuCores", APP_AND_MESH),
    alertThresholdPct: 20,
  },
  {
    ...resourceOf("memory_mb_total", "memory, app + mesh", "memoryPeakMB", APP_AND_MESH),
    better: "lower",
    family: "resources",
    appliesTo: RESOURCE_RUNS,
    source: resource("memoryPeakMB", APP_AND_MESH),
    alertThresholdPct: 10,
  },
  {
    ...resourceOf("proxy_cpu_cores", "mesh CPU", "cpuCores", MESH),
    overheadLabel: "mesh CPU as % of app CPU",
    better: "lower",
    family: "resources",
    appliesTo: RESOURCE_RUNS,
    source: resource("cpuCores", MESH),
    shareOf: resource("cpuCores", APP),
    oneScreen: { header: "proxy CPU*", order: 4 },
    alertThresholdPct: 20,
  },
  {
    ...resourceOf("proxy_memory_mb", "mesh memory", "memoryPeakMB", MESH),
    overheadLabel: "mesh memory as % of app memory",
    better: "lower",
    family: "resources",
    appliesTo: RESOURCE_RUNS,
    source: resource("memoryPeakMB", MESH),
    shareOf: resource("memoryPeakMB", APP),
    oneScreen: { header: "proxy mem*", order: 5 },
    alertThresholdPct: 10,
  },
  {
    ...switchesPerReq(
      "ctx_switches_per_req",
      "context switches per request, app + mesh",
      APP_AND_MESH,
    ),
    better: "lower",
    family: "resources",
    appliesTo: LATENCY_RUNS,
    source: { kind: "switches-per-op", field: "total", components: APP_AND_MESH },
    oneScreen: { header: "ctx sw/req", order: 7 },
    alertThresholdPct: 25,
  },
  {
    ...switchesPerReq("proxy_ctx_switches_per_req", "mesh context switches per request", MESH),
    overheadLabel: "mesh context switches as % of the app's",
    better: "lower",
    family: "resources",
    appliesTo: LATENCY_RUNS,
    source: { kind: "switches-per-op", field: "total", components: MESH },
    shareOf: { kind: "switches-per-op", field: "total", components: APP },
    alertThresholdPct: 25,
  },
  resourceOf("app_cpu_cores", "app CPU", "cpuCores", APP),
  resourceOf("app_memory_mb", "app memory", "memoryPeakMB", APP),
  switchesPerReq("app_ctx_switches_per_req", "app context switches per request", APP),
  switchesPerReq(
    "voluntary_ctx_switches_per_req",
    "voluntary context switches per request, app + mesh",
    APP_AND_MESH,
    "voluntary",
  ),
  switchesPerReq(
    "involuntary_ctx_switches_per_req",
    "involuntary context switches per request, app + mesh",
    APP_AND_MESH,
    "involuntary",
  ),
  switchesPerReq(
    "loadgen_ctx_switches_per_req",
    "load generator context switches per request",
    LOADGEN,
  ),
  switchesPerReq("node_ctx_switches_per_req", "node-wide context switches per request", NODE),
  {
    name: "errors",
    unit: "count",
    label: "errors",
    record: { kind: "errors" },
  },
  {
    name: "error_rate_pct",
    unit: "%",
    label: "error rate",
    record: { kind: "error-rate" },
  },
] as const satisfies readonly (MetricSpec<string> | RecordMetricSpec<string>)[];

/** The closed set of overhead metric names (`Overhead.metric`, `Difference.metric`). */
export type MetricName = Extract<typeof SPECS[number], { family: string }>["name"];

/** The closed set of per-record metric names: the overhead metrics and a few more. */
export type RecordMetricName = typeof SPECS[number]["name"];

const isOverheadMetric = (m: RecordMetricSpec<string>): m is MetricSpec =>
  (m as MetricSpec<string>).family !== undefined;

/** Every overhead metric, in display order (charts and tables list metrics in this order). */
export const METRICS: readonly MetricSpec[] = (SPECS as readonly RecordMetricSpec<string>[])
  .filter(isOverheadMetric);

/** Every per-record metric, in the order tidy rows list them. */
export const RECORD_METRICS: readonly RecordMetricSpec[] = SPECS;

/** Every metric name, in display order. */
export const METRIC_NAMES: readonly MetricName[] = METRICS.map((m) => m.name);

const BY_NAME = new Map<string, MetricSpec>(METRICS.map((m) => [m.name, m]));
const RECORD_BY_NAME = new Map<string, RecordMetricSpec>(RECORD_METRICS.map((m) => [m.name, m]));

/** Whether `name` is one of the declared metrics. */
export function isMetricName(name: string): name is MetricName {
  return BY_NAME.has(name);
}

/** The declaration of metric `name`. */
export function metricSpec(name: MetricName): MetricSpec {
  return BY_NAME.get(name)!;
}

/** The metrics computed for runs of load mode `mode`, in display order. */
export function metricsFor(mode: LoadMode): MetricSpec[] {
  return METRICS.filter((m) => m.appliesTo.includes(mode));
}

/** Names of the metrics of one family, in display order. */
export function metricsOf(family: MetricFamily): MetricName[] {
  return METRICS.filter((m) => m.family === family).map((m) => m.name);
}

/** A metric name in words (`latency_p99_ms` is "p99 latency"); unknown names pass through. */
export function metricLabel(name: string): string {
  return RECORD_BY_NAME.get(name)?.label ?? name;
}

/**
 * What an overhead of metric `name` is, in words: its label, or for share metrics what
 * the share is of ("mesh CPU as % of app CPU"). Unknown names pass through.
 */
export function overheadLabel(name: string): string {
  const spec = BY_NAME.get(name);
  return spec?.overheadLabel ?? spec?.label ?? name;
}

/**
 * How much a change of `changePct` % in metric `name` costs: the change itself where lower
 * is better, its negative where higher is better (a throughput loss is a cost). Ranks
 * meshes from least to most costly whatever the metric.
 */
export function costOf(name: MetricName, changePct: number): number {
  return metricSpec(name).better === "higher" ? -changePct : changePct;
}

/** The unit of a per-record metric. */
export function recordMetricUnit(name: RecordMetricName): RecordMetricSpec["unit"] {
  return RECORD_BY_NAME.get(name)!.unit;
}

/**
 * The overhead latency metric of percentile `percentile` (100: the maximum), for code that
 * needs one by its meaning (the connection sweep's p50 and p99) without naming it again.
 */
export function latencyMetric(percentile: number): MetricName {
  const m = METRICS.find((m) => m.source.kind === "latency" && m.source.percentile === percentile);
  if (!m) throw new Error(`No overhead latency metric at percentile ${percentile}`);
  return m.name;
}

/** The percentile an overhead latency metric is of (100: the maximum); undefined for others. */
export function metricPercentile(name: string): number | undefined {
  const source = BY_NAME.get(name)?.source;
  return source?.kind === "latency" ? source.percentile : undefined;
}

/** The max-throughput metric (achieved operations per second), for code that needs it by role. */
export function throughputMetric(): MetricName {
  return METRICS.find((m) => m.source.kind === "achieved-rate")!.name;
}

/** Position of a metric in display order; unknown names sort last. */
export function metricRank(name: string): number {
  const i = METRIC_NAMES.indexOf(name as MetricName);
  return i === -1 ? METRIC_NAMES.length : i;
}

/** The one-screen summary's columns, in their order. */
export function oneScreenMetrics(): Array<{ name: MetricName; header: string }> {
  return METRICS.filter((m) => m.oneScreen)
    .sort((a, b) => a.oneScreen!.order - b.oneScreen!.order)
    .map((m) => ({ name: m.name, header: m.oneScreen!.header }));
}

/**
 * The headline metric among `present`: the most preferred (highest latency percentile,
 * then throughput), else the first present.
 */
export function headlineMetric(present: readonly MetricName[]): MetricName | undefined {
  const ranked = METRICS.filter((m) => m.headline !== undefined && present.includes(m.name))
    .sort((a, b) => a.headline! - b.headline!);
  return ranked[0]?.name ?? present[0];
}

/**
 * How a metric is judged run to run, as stored with the results (Perfherder keeps
 * `lowerIsBetter` and `alertThreshold` with each series the same way).
 */
export interface MetricAlert {
  name: MetricName;
  unit: MetricSpec["unit"];
  better: Direction;
  /** Percentage change beyond which `compare --gate` fails on a regression; null: never. */
  alertThresholdPct: number | null;
}

/** The direction and alert threshold of each of `names`, in display order. */
export function metricAlerts(names: Iterable<string>): MetricAlert[] {
  const wanted = new Set(names);
  return METRICS.filter((m) => wanted.has(m.name)).map((m) => ({
    name: m.name,
    unit: m.unit,
    better: m.better,
    alertThresholdPct: m.alertThresholdPct ?? null,
  }));
}
