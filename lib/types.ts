/**
 * The vocabulary shared by every target, workload, mesh and load tool.
 *
 * Result files on disk are described by the JSON Schemas in `schema/`; these
 * types mirror them. Readers take `unknown` and validate (see `schema.ts`).
 *
 * @module
 */
import type { Component, LoadMode, MetricAlert, MetricName } from "./metric_vocabulary.ts";
import type { BenchConfig } from "./config_schema.ts";

/** Load modes, resource components and metric names are declared with the metrics. */
export type { Component, LoadMode, MetricName };

/** Version tag written into the manifest. Bump on incompatible change. */
export const SCHEMA_VERSION = "1";

/**
 * Version of run records (`runs/*.json`): 2 added each resource's `contextSwitches` and the
 * run's `proxies` (the proxies' own counters over the window); 3 the node line's
 * `otherProcesses`, and the node's busy CPU is its CPUs x wall time less idle time (before:
 * `/proc/stat`'s tick-sampled busy columns). Readers accept 1, 2 and 3.
 */
export const RUN_SCHEMA_VERSION = "3";

/**
 * Version of `summary.json`: 3 packs each group's pooled histogram into one string
 * (`PackedHistogram`); 2 added each overhead's `deltaMs` with its interval and `ciMethod`,
 * and a null `baselineCvPct` for one iteration. Readers accept 1, 2 and 3.
 */
export const SUMMARY_SCHEMA_VERSION = "3";

/**
 * How an interval was obtained: `exact`, the quantiles of the exact bootstrap
 * distribution (every resample enumerated, up to 7 iterations a side), a function of the
 * data alone; `sampled`, from seeded random resamples (more iterations);
 * `too-few-iterations`: none, a side has a single iteration.
 */
export type IntervalMethod = "exact" | "sampled" | "too-few-iterations";

/** Where a benchmark runs. */
export type TargetName = BenchConfig["target"];

/** Where a target runs workloads: as processes beside the load, or as pods on a cluster. */
export type Site = "process" | "pod";

/** How a mesh puts itself in the data path. */
export type MeshKind = "none" | "sidecar" | "node-proxy" | "ebpf";

/**
 * How latency was timed, so readers know whether coordinated omission is in it.
 * - `intended-send`: open loop, latency from the scheduled send time (CO-free).
 * - `actual-send`: open loop, latency from when the request actually left.
 * - `paced`: each connection sends on a fixed schedule but waits for its answer first
 *   (fortio `-qps`): not open loop; a slow answer delays that connection's next send, and
 *   latency is timed from the actual send (coordinated omission not corrected).
 * - `closed-loop`: each connection waits for its answer (wrk): throughput only.
 */
export type TimingMode = "intended-send" | "actual-send" | "paced" | "closed-loop";

/**
 * A mergeable log-linear latency histogram in plain data (HdrHistogram bucketing,
 * 3 significant digits). `values[i]` is a bucket (its lowest equivalent value), sorted
 * ascending, and `counts[i]` how many values fell in it (two flat arrays: compact to store
 * and fast to read back, even for 10,000 runs),
 * where bucketValue is the lowest value equivalent to that bucket. Values in `unit`.
 */
export interface Histogram {
  unit: "us";
  significantDigits: 3;
  total: number;
  min: number;
  max: number;
  values: number[];
  counts: number[];
  /**
   * Exact sum of the recorded values (in `unit`), where it is known: recorded value by
   * value, or from the tool's exact mean. The mean is `sum / total` then; without it (a
   * histogram rebuilt from printed percentiles), bucket midpoints, an approximation.
   */
  sum?: number;
}

/**
 * A histogram as `summary.json` (schema version 3) stores it: the figures, and the buckets
 * packed into one string ({@linkcode packHistogram}). A pooled histogram has thousands of
 * buckets; as two JSON number arrays, 2,000 groups were 55 MB to write, parse and check.
 */
export interface PackedHistogram {
  unit: "us";
  significantDigits: 3;
  total: number;
  min: number;
  max: number;
  sum?: number;
  /** How many buckets `packed` holds. */
  buckets: number;
  /**
   * The buckets as unsigned LEB128 varints, two per bucket: its value minus the previous
   * bucket's (the first bucket: its value), then its count; base64 (RFC 4648, padded).
   */
  packed: string;
}

/** Percentiles read from a histogram, in milliseconds. */
export interface LatencySummary {
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** What every load-tool adapter produces: tool-neutral, so results compare across tools. */
export interface LoadResult {
  tool: string;
  toolVersion: string;
  timing: TimingMode;
  /** Requests (or messages, or job completions) per second asked for; null for max-throughput. */
  requestedRate: number | null;
  /**
   * Successful operations per second that the system under test completed over the measured
   * window (never what was merely sent, never failed ones): for fixed-rate runs, what the
   * saturation check compares with `requestedRate`.
   */
  achievedRate: number;
  durationS: number;
  connections: number;
  /** Attempts that ended, successfully or not (so `operations - errors` succeeded). */
  operations: number;
  /** Attempts that failed (error status, socket error, timeout, drop), by kind in `errorKinds`. */
  errors: number;
  /** Error counts by kind (HTTP status, gRPC code, socket error), never dropped. */
  errorKinds: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  latency: Histogram;
  /** Tool-specific extras (per-command stats, connect times); plain data only. */
  extra?: Record<string, unknown>;
}

/**
 * Context switches counted over a run's window (differenced between its start and end).
 * Per request is derived (divided by that run's operations), never stored.
 */
export interface ContextSwitches {
  /** Voluntary plus involuntary. */
  total: number;
  /** Switches where the task gave up the CPU (waiting for I/O, a lock, a timer). */
  voluntary?: number;
  /** Switches where the scheduler took the CPU away (preemption, time slice over). */
  involuntary?: number;
  /** Threads whose counters were summed (every one seen in the window). */
  tasks?: number;
  /**
   * Where they were counted: `task-status`, each thread's `/proc/<pid>/task/<tid>/status`
   * (of a local process tree, or of a pod's cgroup tasks on a node meshbench runs on);
   * `node-stat`, the `ctxt` line of the node's `/proc/stat`, node-wide, every process on
   * the machine included, with no voluntary/involuntary split.
   */
  source: "task-status" | "node-stat";
}

/** Resource use of one process group or container over the load window. */
export interface ResourceUse {
  component: Component;
  name: string;
  /** Mean CPU over the window, in cores (CPU-seconds per second). */
  cpuCores: number;
  cpuSeconds: number;
  /** Peak resident memory (working set on Kubernetes) during the window, MB. */
  memoryPeakMB: number;
  samples: number;
  /**
   * Share (%) of CFS periods in which the component was throttled by its CPU limit during
   * the window (cluster target, from cAdvisor); absent where not measured.
   */
  cpuThrottledPct?: number;
  /** CFS periods `cpuThrottledPct` counts over. */
  cfsPeriods?: number;
  /**
   * Where the CPU figure comes from on a cluster: `counters` (the kubelet's cumulative
   * counters differenced over the window) or `metrics-server` (its window-averaged rate,
   * sampled: understates short runs).
   */
  cpuSource?: "counters" | "metrics-server";
  /** Context switches over the window; absent where they were not counted. */
  contextSwitches?: ContextSwitches;
  /**
   * The node line of a local run (run schema 3): the processes outside the run's own groups
   * that used the most CPU over the window, busiest first.
   */
  otherProcesses?: OtherProcess[];
}

/** A process outside a run's own groups, and the CPU it used over the run's window. */
export interface OtherProcess {
  /** Its command name (`comm`: kernel threads included, e.g. `kswapd0`). */
  name: string;
  pid: number;
  cpuCores: number;
}

/** Proxy software whose own counters meshbench reads. */
export type ProxySoftware = "haproxy" | "envoy" | "nginx";

/**
 * One proxy's own counters over a run's window (after minus before), as the proxy counts
 * them, and the same in a vocabulary shared by proxies (absent: the proxy does not count
 * it, e.g. HTTP requests of an L4 proxy). See `proxy_counters.ts` for which counters.
 */
export interface ProxyCounters {
  /** The proxy, named as its resource use is (process or `namespace/pod/container`). */
  name: string;
  software: ProxySoftware;
  /** Connections clients opened to the proxy. */
  downstreamConnections?: number;
  /** HTTP requests (or gRPC calls) the proxy received. */
  downstreamRequests?: number;
  /**
   * Connections the proxy opened (HAProxy: attempted) to its upstreams: fewer than the
   * requests when it pooled them, more when it retried.
   */
  upstreamConnections?: number;
  /** Requests sent over an upstream connection it reused (HAProxy). */
  upstreamConnectionReuses?: number;
  /** Requests the proxy sent upstream (more than it received: retried). */
  upstreamRequests?: number;
  retries?: number;
  upstreamConnectFailures?: number;
  /** Requests or streams reset or aborted by either side. */
  resets?: number;
  /** Every counter that moved in the window, by the proxy's own name. */
  counters: Record<string, number>;
}

/** The mesh a run was measured under, as recorded in results. */
export interface MeshRef {
  name: string;
  kind: MeshKind;
  /** True when this is a stand-in (Envoy or HAProxy configured by meshbench) and not the real mesh. */
  emulated: boolean;
  version: string;
  /** Free-form settings that change the answer (mTLS, proxy threads, ...). */
  settings: Record<string, string | number | boolean>;
}

/**
 * Which series beyond the standard load points a point belongs to: `connections`, the
 * connection sweep at one fixed rate (its overheads are reported against connections);
 * `knee`, a step of the knee ramp (run only while the mesh's earlier steps of the iteration
 * held, see `knee.ts`).
 */
export type Sweep = "connections" | "knee";

/** One point of the load plan: what to send, at what rate, for how long. */
export interface LoadPoint {
  mode: LoadMode;
  tool: string;
  /** Target rate per second; null for max-throughput and batch. */
  rate: number | null;
  connections: number;
  durationS: number;
  /**
   * Request body bytes, for workloads that load one point per payload size (the inference
   * workload); absent where the workload sends one fixed request. A load-point dimension
   * like the rate: runs group and overheads compare per payload.
   */
  payloadBytes?: number;
  /**
   * The HTTP version the point's requests are sent with, where it is not the workload's own
   * (`h2c`: HTTP/2 in cleartext with prior knowledge, end to end through the proxies); absent
   * for HTTP/1.1. A load-point dimension like the payload: overheads compare per protocol.
   */
  httpProtocol?: HttpProtocol;
  /** The series this point belongs to; absent for the standard points. */
  sweep?: Sweep;
}

/** The HTTP versions the HTTP workload is loaded with (`load.sweep.httpProtocols`). */
export type HttpProtocol = "http/1.1" | "h2c";

/** One planned measurement: mesh x workload x load point x iteration. */
export interface RunSpec {
  /** Position in the (seeded, interleaved) execution order, from 1. */
  seq: number;
  workload: string;
  mesh: string;
  point: LoadPoint;
  iteration: number;
}

export type RunStatus = "ok" | "saturated" | "failed" | "interrupted";

/** One measured run, written as `runs/<family>_test_<seq>_....json`. */
export interface RunRecord {
  kind: "meshbench.run";
  schemaVersion: string;
  runId: string;
  target: TargetName;
  spec: RunSpec;
  mesh: MeshRef;
  status: RunStatus;
  /** Why the run failed or was marked saturated. */
  reason?: string;
  window: { start: string; end: string };
  load?: LoadResult;
  latency?: LatencySummary;
  resources: ResourceUse[];
  /**
   * The proxies' own counters over the window (run schema 2); absent where no proxy of the
   * run serves its counters, or in records written before.
   */
  proxies?: ProxyCounters[];
  /** Raw tool output files, relative to the run directory. */
  raw: string[];
  gitCommit: string;
}

/**
 * A histogram's buckets as collect keeps them (`compactHistogram` in `histogram.ts`): counts
 * in the narrowest typed array that holds them, and each bucket as its index among the
 * buckets of `bucketOf` (16 bits) when every value starts one, as every recorder and tool
 * adapter writes them; else the values themselves.
 */
export type CompactBuckets =
  & { counts: Uint8Array | Uint16Array | Uint32Array | Float64Array }
  & (
    | { indices: Uint16Array; values?: undefined }
    | { values: Uint32Array | Float64Array; indices?: undefined }
  );

/**
 * A run record as collect reads it: a record read on collect's worker thread carries its
 * latency histogram's buckets compactly ({@linkcode CompactBuckets}, moved from the worker,
 * not copied back into number arrays); every other field is the record's own.
 */
export type ReadRunRecord = Omit<RunRecord, "load"> & {
  load?: Omit<LoadResult, "latency"> & {
    latency:
      & Omit<Histogram, "values" | "counts">
      & (
        | { values: ArrayLike<number>; counts: ArrayLike<number>; indices?: undefined }
        | CompactBuckets
      );
  };
};

/**
 * What the report lists of one run record: its inputs, status and per-run figures.
 * A {@linkcode RunRecord} is one; `summary.json` keeps one per record in its run index.
 */
export interface RunRow {
  spec: RunSpec;
  mesh: MeshRef;
  status: RunStatus;
  reason?: string;
  load?: Pick<LoadResult, "tool" | "timing" | "achievedRate" | "errors">;
  latency?: LatencySummary;
  /**
   * Its send-lag p99 was above `generatorLimitedPct` % of the baseline's p50 service time at
   * its load point (set by collect in the run index); absent where not known.
   */
  generatorLimited?: boolean;
}

/** One entry of the run index in `summary.json`: a valid record's row and its file. */
export interface RunIndexEntry extends RunRow {
  /** File name of the record under `runs/`. */
  file: string;
  /** Why the record's figures are suspect, when they are (e.g. implausible latencies). */
  warning?: string;
}

export type StageName =
  | "infra"
  | "cluster"
  | "mesh"
  | "deploy"
  | "health"
  | "warmup"
  | "load"
  | "cooldown"
  | "collect"
  | "report"
  | "cleanup";

export type StageStatus = "running" | "ok" | "failed" | "interrupted" | "skipped";

export interface StageEntry {
  name: StageName;
  status: StageStatus;
  start: string;
  end?: string;
  error?: string;
}

/** Environment and inputs recorded with every run (METHODOLOGY rule 11). */
export interface Provenance {
  gitCommit: string;
  gitDirty: boolean;
  meshbenchVersion: string;
  deno: string;
  hostname: string;
  kernel: string;
  os: string;
  cpuModel: string;
  cpuCount: number;
  memoryMB: number;
  /** 1, 5 and 15 minute load averages when the run started: other work skews latency. */
  loadAverage: number[];
  tools: Record<string, string>;
  startedBy: string;
}

/** One overhead figure: mesh vs baseline for one workload, metric and load point. */
export interface Overhead {
  workload: string;
  mesh: string;
  emulated: boolean;
  metric: MetricName;
  unit: string;
  /** Load point the figure belongs to (rate per second); null for max-throughput/batch. */
  rate: number | null;
  /** Request body bytes of its load point, where the point has one. */
  payloadBytes?: number;
  /** HTTP version of its load point, where it is not HTTP/1.1 (`h2c`). */
  httpProtocol?: HttpProtocol;
  /** The sweep the figure belongs to (`summary.connectionSweep`); absent: a standard point. */
  sweep?: Sweep;
  /** Connections of the figure's load point: set for a sweep's figures. */
  connections?: number;
  baseline: number;
  value: number;
  /**
   * `relative`: (value - baseline) / baseline * 100, the design's formula.
   * `share-of-baseline-app`: for proxy resources, which the baseline does not have:
   * value / baseline * 100, where baseline is what the application itself used
   * without a mesh (so "+40 %" means the proxies cost 40 % of the app's own CPU).
   */
  basis: "relative" | "share-of-baseline-app";
  overheadPct: number;
  /**
   * 95 % bootstrap confidence interval of overheadPct, over iterations; NaN (null in
   * JSON) when `ciMethod` is `too-few-iterations`.
   */
  ci95: [number, number];
  /**
   * Added latency in ms, mesh minus baseline, for latency metrics; null for the others.
   * Absent in summaries of schema version 1.
   */
  deltaMs?: number | null;
  /** 95 % bootstrap interval of deltaMs, from the same resamples as ci95; null with it. */
  deltaMsCi95?: [number, number] | null;
  /** How the intervals were obtained. Absent in summaries of schema version 1. */
  ciMethod?: IntervalMethod;
  iterations: { baseline: number; mesh: number };
  /**
   * Baseline coefficient of variation over iterations (%), and whether it is high. Null
   * when the baseline has a single iteration (it shows no variation to measure).
   */
  baselineCvPct: number | null;
  noisyBaseline: boolean;
  /** True when any contributing run could not hold its requested rate. */
  saturated: boolean;
  /**
   * True when the baseline's or the mesh's load generator sent so late (send-lag p99 above
   * `generatorLimitedPct` % of the baseline's p50 service time) that the latencies carry its
   * lateness; absent where the tool does not know its intended send times.
   */
  generatorLimited?: boolean;
}

/**
 * One proxy's counters pooled over a group's iterations: each shared counter summed over the
 * runs that read it, and those runs' operations, so per-request figures divide like by like.
 */
export type GroupProxy =
  & Omit<ProxyCounters, "counters">
  & {
    /** Usable runs of the group whose counters were read. */
    runs: number;
    /** Operations the load generator completed in those runs. */
    operations: number;
  };

/** Pooled statistics of one (workload, mesh, load point) over its iterations. */
export interface GroupStats {
  workload: string;
  mesh: string;
  meshKind: MeshKind;
  emulated: boolean;
  mode: LoadMode;
  tool: string;
  timing: TimingMode;
  rate: number | null;
  connections: number;
  /** Request body bytes of its load point, where the point has one. */
  payloadBytes?: number;
  /** HTTP version of its load point, where it is not HTTP/1.1 (`h2c`). */
  httpProtocol?: HttpProtocol;
  /** The sweep the group belongs to; absent: a standard point. */
  sweep?: Sweep;
  /** Iterations that produced a result (ok or saturated), and those that failed. */
  iterations: number;
  failed: number;
  saturated: number;
  /**
   * Latency percentiles from the histogram merged over iterations (never averaged): the
   * response time, from the intended send for open-loop tools (see `timing`).
   */
  latency: LatencySummary;
  /**
   * Open-loop generators that know their intended send times: the send lag (intended to
   * actual send) and the service time (from the actual send), merged over iterations.
   */
  sendLag?: LatencySummary;
  serviceTime?: LatencySummary;
  /** True when `sendLag.p99Ms` is above `generatorLimitedPct` % of the baseline's p50. */
  generatorLimited?: boolean;
  histogram: Histogram;
  /** Achieved operations per second: mean over iterations, and the range. */
  achievedRate: { mean: number; min: number; max: number; cvPct: number };
  errors: number;
  operations: number;
  /** The proxies' own counters, summed over iterations; absent where none was read. */
  proxies?: GroupProxy[];
  /** Mean over iterations, per component class and per named component. */
  resources: Array<{
    component: Component;
    name: string;
    cpuCores: number;
    memoryPeakMB: number;
    /** CPU-seconds per 1,000 operations. */
    cpuSecondsPer1k: number;
    /**
     * Context switches per operation: switches summed over the iterations divided by their
     * operations summed; absent unless every iteration counted them (node: node-wide).
     */
    ctxSwitchesPerOp?: number;
  }>;
}

/** One iteration of one mesh's ramp. */
export interface KneeIteration {
  iteration: number;
  /** Highest step of the unbroken run of held steps from the bottom; 0: the first broke. */
  kneeRate: number;
  /** The step that broke the ramp, and why; null when every step held (the knee is above). */
  brokeAt: number | null;
  reasons: string[];
  /** Steps measured in this iteration. */
  steps: number;
}

/** The knee of one (workload, mesh), as `summary.json` holds it. */
export interface Knee {
  workload: string;
  mesh: string;
  emulated: boolean;
  tool: string;
  connections: number;
  durationS: number;
  /** The ramp's steps, increasing. */
  rates: number[];
  p99TargetMs: number;
  maxSendLagPct: number;
  /** Median over iterations of the per-iteration knees (0: below the first step). */
  kneeRate: number;
  /** Min and max of the per-iteration knees. */
  interval: [number, number];
  intervalMethod: "range-of-iterations";
  /** True when the median iteration held every step: the knee is at or above the top. */
  aboveRamp: boolean;
  iterations: KneeIteration[];
  /**
   * The same mesh's closed-loop max throughput (mean over iterations, ops/s, with its range),
   * for the capacity planner to read beside the knee; null when the run had none.
   */
  maxThroughput: { mean: number; min: number; max: number } | null;
}

/** `summary.json`: everything the report and notebooks need, derived from `runs/`. */
export interface Summary {
  kind: "meshbench.summary";
  schemaVersion: string;
  runId: string;
  target: TargetName;
  generatedAt: string;
  /** True when any mesh in this run is an emulation (local target). */
  emulated: boolean;
  baselineMesh: string;
  groups: GroupStats[];
  overheads: Overhead[];
  /** Problems found while reading runs (malformed files, failed runs), never silent. */
  notes: string[];
  /**
   * Every valid run record as collect read it, in execution order: what the report
   * lists per run, so it need not re-read `runs/`. Absent in summaries written before it.
   */
  runs?: RunIndexEntry[];
  /**
   * Direction and alert threshold of every metric in `overheads` (what `compare --gate`
   * judges them by). Absent in summaries written before it.
   */
  metrics?: MetricAlert[];
  /**
   * The connection sweep (`load.sweep`): groups and overheads at one fixed rate per count of
   * connections. Absent when the run had none.
   */
  connectionSweep?: { groups: GroupStats[]; overheads: Overhead[] };
  /**
   * The knee of every mesh (`knee.*`): the highest ramp rate that held the p99 target with
   * the generator keeping up and the success rate intact. Absent when the run had no ramp.
   */
  knees?: Knee[];
}

/** `manifest.json`: effective config, provenance and stage log of one run directory. */
export interface Manifest {
  kind: "meshbench.manifest";
  schemaVersion: string;
  runId: string;
  target: TargetName;
  profile: string;
  status: "running" | "complete" | "interrupted" | "failed";
  reason?: string;
  createdAt: string;
  updatedAt: string;
  /** The validated, merged configuration (defaults < file < env < flags). */
  config: Record<string, unknown>;
  /** Where each config value came from. */
  configSources: string[];
  provenance: Provenance;
  /** The seeded plan, in execution order. */
  plan: RunSpec[];
  planSeed: number;
  /**
   * Workloads deployed together, in the plan's order (targets that deploy block by block:
   * the cluster target when the workloads do not all fit at once). Absent: one block.
   */
  blocks?: string[][];
  stages: StageEntry[];
  /** The meshbench process working on the run right now (absent between tasks). */
  owner?: RunOwner;
}

/** A meshbench process working on a run, identified beyond its pid (see `run_owner.ts`). */
export interface RunOwner {
  pid: number;
  /** Start time of the process, clock ticks after boot (/proc/PID/stat field 22). */
  startTicks: number;
  /** /proc/sys/kernel/random/boot_id when it started. */
  bootId: string;
  host: string;
  /** The task, e.g. "bench:all". */
  task: string;
  since: string;
}

/** A group as `summary.json` stores it: its pooled histogram packed, or (schema 1, 2) not. */
export type StoredGroupStats = Omit<GroupStats, "histogram"> & {
  histogram: Histogram | PackedHistogram;
};

/** `summary.json` as stored: {@linkcode Summary} with its groups' histograms packed. */
export type StoredSummary =
  & Omit<Summary, "groups" | "connectionSweep">
  & {
    groups: StoredGroupStats[];
    connectionSweep?: { groups: StoredGroupStats[]; overheads: Overhead[] };
  };
