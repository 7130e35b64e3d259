/**
 * ghz, the gRPC load generator: builds its command for a load point and parses its JSON
 * report (`-O json`) into the tool-neutral {@linkcode LoadResult}.
 *
 * How ghz's report maps onto a LoadResult:
 * - `operations` is every call that finished with a status (OK or not); `errors` the calls
 *   whose status is not OK, by gRPC code name in `errorKinds` (e.g. `Unavailable`), with the
 *   full error texts in `extra.errorMessages`. The achieved rate counts OK calls only, over
 *   ghz's `total` (until the last call ended): 200 calls refused in 2 s are 0/s, not 100/s.
 * - The latency histogram holds OK calls only, as ghz's own percentiles do, read exactly from
 *   the per-call `details` (nanoseconds) when present; otherwise from `latencyDistribution`
 *   (p10-p99) and ghz's 10-bucket `histogram` with {@linkcode fromPercentileSpectrum}, each
 *   call at the upper edge of what is known of it, so a percentile reads as an upper bound
 *   (flagged in `extra.histogramSource`). The mean is then ghz's `average`, which ghz takes over
 *   every call it counted: the exact mean of the OK calls when all were OK, else one that
 *   includes the failed calls and those cut at its stop (`extra.meanOf`: "ok-calls" or
 *   "all-calls").
 * - ghz times each call from when it actually started, not from its scheduled slot, so a
 *   fixed-rate run is `actual-send` timing (its latency is the service time); a max-throughput
 *   run is `closed-loop`. With `details`, a fixed-rate run also keeps its send lag
 *   (`extra.sendLag`, {@linkcode ghzSendLag}) and the response time from the intended send
 *   (`extra.responseTime`, OK calls), so both timings are on record.
 * - When ghz stops at its `-z` deadline it closes connections under calls still in flight;
 *   those fail with "use of closed network connection" or "transport is closing" (Unavailable)
 *   or "the client connection is closing" (Canceled), within the run's last moments (the
 *   last 10 % or 200 ms, whichever is longer). They are an artefact of stopping, not
 *   of the service: counted in `extra.cancelledAtStop`, not in `operations` or `errors`.
 *   Fixed-rate runs use `-n` (rate x duration) instead, so they end without it.
 * - ghz reports no byte counts: `bytesIn`/`bytesOut` are 0.
 *
 * @module
 */
import { addCounts, combineConcurrent } from "./combine.ts";
import type { Runner } from "../command.ts";
import { findBinary } from "../binaries.ts";
import {
  emptyHistogram,
  fromPercentileSpectrum,
  HistogramRecorder,
  mergeHistograms,
} from "../histogram.ts";
import { sendTimingExtra, sendTimingOf } from "../send_timing.ts";
import type { Histogram, LoadPoint, LoadResult } from "../types.ts";

/** The ghz release `.ci/install_workloads.sh` installs. */
export const GHZ_VERSION = "v0.120.0";

/** Where the gRPC workload's proto and ghz's call live. */
export interface GhzOptions {
  /** `host:port` to load. */
  address: string;
  /** Path of the `.proto` file that declares the call. */
  proto: string;
  /** Fully qualified method, `package.Service/Method`. */
  call: string;
  /** Request message as JSON data (ghz templates like `{{.RequestNumber}}` allowed). */
  data: Record<string, unknown>;
  /**
   * Concurrent workers; at least `point.connections`. Default: 4 per connection, so a
   * fixed rate is not capped by workers waiting on slow calls.
   */
  concurrency?: number;
  /**
   * Fixed rate only: calls to make (default: rate x duration, rounded). Set it when several
   * ghz processes share a point, so their counts add up to the point's.
   */
  requests?: number;
  /** Per-call timeout in seconds (default 10). */
  callTimeoutS?: number;
  /** The ghz binary (default: {@linkcode ghzBinary}). */
  binary?: string;
}

/** The ghz binary: `$MESHBENCH_GHZ`, else `ghz` on PATH or in Go's bin directory. */
export function ghzBinary(): string {
  return Deno.env.get("MESHBENCH_GHZ") ?? findBinary("ghz") ?? "ghz";
}

/**
 * The ghz command line for one load point. Fixed rate: `--rps` with `-n` = rate x duration
 * (ends cleanly once every scheduled call has finished). Max throughput: `-z` duration.
 */
export function ghzCommand(point: LoadPoint, options: GhzOptions): string[] {
  if (!(point.connections >= 1) || !Number.isInteger(point.connections)) {
    throw new RangeError(
      `Cannot build ghz command: "connections" must be a positive integer, got ${
        JSON.stringify(point.connections)
      }`,
    );
  }
  if (!(point.durationS > 0)) {
    throw new RangeError(
      `Cannot build ghz command: "durationS" must be positive, got ${
        JSON.stringify(point.durationS)
      }`,
    );
  }
  const concurrency = options.concurrency ?? point.connections * 4;
  if (concurrency < point.connections) {
    throw new RangeError(
      `Cannot build ghz command: "concurrency" (${concurrency}) must be at least ` +
        `"connections" (${point.connections})`,
    );
  }
  const cmd = [
    options.binary ?? ghzBinary(),
    "--insecure",
    "--proto",
    options.proto,
    "--call",
    options.call,
    "-d",
    JSON.stringify(options.data),
    "-c",
    String(concurrency),
    "--connections",
    String(point.connections),
    "-t",
    `${options.callTimeoutS ?? 10}s`,
    "-O",
    "json",
  ];
  if (point.mode === "fixed-rate") {
    if (!(point.rate !== null && point.rate > 0)) {
      throw new RangeError(
        `Cannot build ghz command: a fixed-rate point needs a positive "rate", got ${
          JSON.stringify(point.rate)
        }`,
      );
    }
    const total = options.requests ?? Math.max(1, Math.round(point.rate * point.durationS));
    if (!Number.isInteger(total) || total < 1) {
      throw new RangeError(
        `Cannot build ghz command: "requests" must be a positive integer, got ${
          JSON.stringify(total)
        }`,
      );
    }
    cmd.push("--rps", String(point.rate), "-n", String(total));
  } else if (point.mode === "max-throughput") {
    cmd.push("-z", `${point.durationS}s`);
  } else {
    throw new RangeError(
      `Cannot build ghz command: "mode" must be fixed-rate or max-throughput, got "${point.mode}"`,
    );
  }
  cmd.push(options.address);
  return cmd;
}

interface GhzDetail {
  /** Start of the call, ms since the epoch (NaN when ghz gave no timestamp). */
  startMs: number;
  /** The same in nanoseconds, at ghz's full precision (null without a timestamp). */
  startNs: bigint | null;
  latency: number;
  status: string;
  error: string;
}

function fail(field: string, expected: string, got: unknown): never {
  const shown = JSON.stringify(got);
  throw new Error(
    `Cannot parse ghz JSON: "${field}" ${expected}, got ${
      shown === undefined ? "nothing" : shown.slice(0, 120)
    }`,
  );
}

function num(obj: Record<string, unknown>, field: string): number {
  const v = obj[field];
  if (typeof v !== "number" || !Number.isFinite(v)) fail(field, "should be a number", v);
  return v;
}

function counts(obj: Record<string, unknown>, field: string): Record<string, number> {
  const v = obj[field];
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(field, "should be an object", v);
  const out: Record<string, number> = {};
  for (const [k, c] of Object.entries(v as Record<string, unknown>)) {
    if (typeof c !== "number" || !Number.isInteger(c) || c < 0) {
      fail(`${field}.${k}`, "should be a count", c);
    }
    out[k] = c;
  }
  return out;
}

function details(obj: Record<string, unknown>): GhzDetail[] | null {
  const v = obj.details;
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) fail("details", "should be a list", v);
  return v.map((d, i) => {
    const r = d as Record<string, unknown>;
    if (typeof r !== "object" || r === null) fail(`details[${i}]`, "should be an object", d);
    if (typeof r.latency !== "number" || r.latency < 0) {
      fail(`details[${i}].latency`, "should be nanoseconds", r.latency);
    }
    if (typeof r.status !== "string") fail(`details[${i}].status`, "should be a string", r.status);
    return {
      startMs: typeof r.timestamp === "string" ? Date.parse(r.timestamp) : NaN,
      startNs: typeof r.timestamp === "string" ? timestampNs(r.timestamp) : null,
      latency: r.latency,
      status: r.status,
      error: typeof r.error === "string" ? r.error : "",
    };
  });
}

/**
 * An RFC 3339 time with up to nanosecond digits (as Go prints `time.Time`) in nanoseconds
 * since the epoch; null when it is not one. `Date.parse` keeps milliseconds only.
 */
export function timestampNs(text: string): bigint | null {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return null;
  const s = Date.parse(m[1] + m[3]);
  if (Number.isNaN(s)) return null;
  return BigInt(s) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/**
 * Send lag of a fixed-rate ghz run from its per-call start times: ghz's pacer releases call k
 * at start + k x interval, `floor(1e9 / rate)` ns (as vegeta's, whose pacer ghz's follows),
 * and a worker starts the call when it takes the tick. The k-th earliest start is matched
 * with the k-th tick and the schedule's start is the earliest (start_k - k x interval), so no
 * call is earlier than its tick. With it, the response time of each OK call, send lag + ghz's
 * latency. Null when a call has no timestamp.
 */
export function ghzSendLag(
  calls: readonly { startNs: bigint | null; latency: number; status: string }[],
  rate: number,
): { sendLag: Histogram; responseTime: Histogram } | null {
  if (calls.some((c) => c.startNs === null)) return null;
  const order = [...calls].sort((a, b) =>
    a.startNs! < b.startNs! ? -1 : a.startNs! > b.startNs! ? 1 : 0
  );
  const interval = 1_000_000_000n / BigInt(rate);
  let t0 = order.length ? order[0].startNs! : 0n;
  for (const [k, c] of order.entries()) {
    if (c.startNs! - BigInt(k) * interval < t0) t0 = c.startNs! - BigInt(k) * interval;
  }
  const lag = new HistogramRecorder();
  const response = new HistogramRecorder();
  for (const [k, c] of order.entries()) {
    const lagNs = Number(c.startNs! - t0 - BigInt(k) * interval);
    lag.record(lagNs / 1000);
    // OK calls only, as the latency histogram: from the intended send to the answer.
    if (c.status === "OK") response.record((lagNs + c.latency) / 1000);
  }
  return { sendLag: lag.toHistogram(), responseTime: response.toHistogram() };
}

/** Error texts of calls cut off by ghz's own stop at its `-z` deadline. */
const CLOSED_AT_STOP = [
  "use of closed network connection",
  "the client connection is closing",
  "transport is closing",
];
const cutAtStop = (msg: string) => CLOSED_AT_STOP.some((s) => msg.includes(s));

/** Options of {@linkcode parseGhzJson}. */
export interface ParseGhzOptions {
  /** Version of the ghz that wrote the report (default {@linkcode GHZ_VERSION}). */
  toolVersion?: string;
}

/**
 * Parses ghz's `-O json` report of one run at `point` into a {@linkcode LoadResult}.
 * Throws, naming the field and the value, when the report is not what ghz writes.
 */
export function parseGhzJson(
  text: string,
  point: LoadPoint,
  options: ParseGhzOptions = {},
): LoadResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Cannot parse ghz JSON: ${(e as Error).message}; output starts ${
        JSON.stringify(text.slice(0, 80))
      }`,
    );
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    fail("(report)", "should be an object", doc);
  }
  const r = doc as Record<string, unknown>;
  const count = num(r, "count");
  const totalNs = num(r, "total");
  const statuses = counts(r, "statusCodeDistribution");
  const errorTexts = counts(r, "errorDistribution");
  const endReason = typeof r.endReason === "string" ? r.endReason : "";
  const calls = details(r);

  // Calls cut off by ghz closing its connections at the -z deadline (see module doc).
  let cancelledAtStop = 0;
  const byStatus: Record<string, number> = {};
  let histogram: Histogram;
  let histogramSource: "details" | "latencyDistribution";
  // Without details: the calls ghz's `average` (the mean) is over (see below).
  let meanOf: "ok-calls" | "all-calls" | undefined;
  let timing: { sendLag: Histogram; responseTime: Histogram } | null = null;
  if (calls !== null) {
    if (calls.length !== count) {
      fail("details", `should list all ${count} calls of "count"`, `${calls.length} entries`);
    }
    // Only calls that ended in the last moments of the run can have been cut by the stop:
    // the same errors earlier are the service's (a proxy or server going away).
    const ends = calls.map((c) => c.startMs + c.latency / 1e6);
    const lastEnd = Math.max(...ends.filter((e) => Number.isFinite(e)));
    const window = Math.max(200, (totalNs / 1e6) * 0.1);
    const nearStop = (i: number) => !Number.isFinite(ends[i]) || ends[i] >= lastEnd - window;
    const rec = new HistogramRecorder();
    for (const [i, c] of calls.entries()) {
      if (c.status === "OK") {
        rec.record(c.latency / 1000);
      } else if (endReason === "timeout" && cutAtStop(c.error) && nearStop(i)) {
        cancelledAtStop++;
        continue;
      }
      byStatus[c.status] = (byStatus[c.status] ?? 0) + 1;
    }
    histogram = rec.toHistogram();
    histogramSource = "details";
    if (point.mode === "fixed-rate" && point.rate) timing = ghzSendLag(calls, point.rate);
  } else {
    Object.assign(byStatus, statuses);
    for (const [msg, n] of Object.entries(errorTexts)) {
      if (endReason === "timeout" && cutAtStop(msg)) {
        cancelledAtStop += n;
        const code = /code = (\w+)/.exec(msg)?.[1] ?? "Unknown";
        byStatus[code] = (byStatus[code] ?? 0) - n;
        if (byStatus[code] <= 0) delete byStatus[code];
      }
    }
    const dist = r.latencyDistribution;
    const ok = byStatus.OK ?? 0;
    if (ok > 0) {
      if (!Array.isArray(dist)) fail("latencyDistribution", "should be a list", dist);
      const points = dist.map((p, i) => {
        const q = p as Record<string, unknown>;
        if (typeof q.percentage !== "number" || typeof q.latency !== "number") {
          fail(`latencyDistribution[${i}]`, "should be {percentage, latency}", p);
        }
        return { quantile: q.percentage / 100, valueUs: q.latency / 1000 };
      });
      // ghz's percentiles stop at p99. Its `histogram` (10 equal buckets from fastest to
      // slowest, `mark` the upper edge in seconds, `count` the OK calls in the bucket) gives
      // exact cumulative counts above it: every call is put at the upper edge of what is known
      // of it, so p99.9 reads as the edge above it, an upper bound (never p99, a lower one).
      let cum = 0;
      for (const [i, b] of (Array.isArray(r.histogram) ? r.histogram : []).entries()) {
        const bucket = b as Record<string, unknown>;
        if (typeof bucket.mark !== "number" || typeof bucket.count !== "number") {
          fail(`histogram[${i}]`, "should be {mark, count}", b);
        }
        cum += bucket.count;
        points.push({ quantile: Math.min(1, cum / ok), valueUs: bucket.mark * 1e6 });
      }
      points.push({ quantile: 1, valueUs: num(r, "slowest") / 1000 });
      histogram = fromPercentileSpectrum(points, ok);
      // ghz's `average` (nanoseconds) is over every call it counted, failed ones and those cut
      // at its stop included: the exact mean of the OK calls only when all were OK. Otherwise
      // it is still far closer than the histogram's midpoints (18-21 % high on real reports
      // with a few calls cut at the stop), so it is kept, and `extra.meanOf` says which.
      histogram.sum = (num(r, "average") / 1000) * ok;
      meanOf = count === ok ? "ok-calls" : "all-calls";
    } else {
      histogram = new HistogramRecorder().toHistogram();
    }
    histogramSource = "latencyDistribution";
  }

  const operations = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const ok = byStatus.OK ?? 0;
  if (histogram.total !== ok) {
    fail("latencyDistribution", `should describe the ${ok} OK calls`, histogram.total);
  }
  const errorKinds: Record<string, number> = {};
  for (const [code, n] of Object.entries(byStatus)) if (code !== "OK") errorKinds[code] = n;
  const errors = operations - ok;
  const durationS = totalNs / 1e9;
  if (!(durationS > 0)) fail("total", "should be a positive duration in nanoseconds", totalNs);

  return {
    tool: "ghz",
    toolVersion: options.toolVersion ?? GHZ_VERSION,
    timing: point.mode === "fixed-rate" ? "actual-send" : "closed-loop",
    requestedRate: point.mode === "fixed-rate" ? point.rate : null,
    achievedRate: ok / durationS,
    durationS,
    connections: point.connections,
    operations,
    errors,
    errorKinds,
    bytesIn: 0,
    bytesOut: 0,
    latency: histogram,
    extra: {
      endReason,
      histogramSource,
      ...(meanOf ? { meanOf } : {}),
      cancelledAtStop,
      attemptRate: operations / durationS,
      errorMessages: errorTexts,
      ghzReportedRps: typeof r.rps === "number" ? r.rps : null,
      // ghz times calls from their actual start: its latency is the service time.
      // Its response time, from the intended send, is kept beside it (`extra.responseTime`).
      ...(timing
        ? { ...sendTimingExtra(timing.sendLag, histogram), responseTime: timing.responseTime }
        : {}),
    },
  };
}

/** What {@linkcode runGhz} returns: the parsed result and ghz's report as it came. */
export interface GhzRun {
  result: LoadResult;
  /** ghz's JSON report, to keep as the run's raw output. */
  raw: string;
  command: string[];
}

/**
 * Runs ghz for one load point through `runner` and parses its report. ghz exits 0 even when
 * calls fail (they are counted as errors); it exits non-zero when it cannot start (bad proto,
 * bad call), and that throws with ghz's stderr.
 */
export async function runGhz(
  runner: Runner,
  point: LoadPoint,
  options: GhzOptions & {
    /** Kill ghz after this long (default: twice the duration plus the call timeout plus 15 s). */
    processTimeoutS?: number;
    toolVersion?: string;
    signal?: AbortSignal;
    onSpawn?: (pid: number) => void;
  },
): Promise<GhzRun> {
  const command = ghzCommand(point, options);
  const timeoutMs = Math.round(
    (options.processTimeoutS ?? point.durationS * 2 + (options.callTimeoutS ?? 10) + 15) * 1000,
  );
  const out = await runner.run(command, {
    timeoutMs,
    signal: options.signal,
    onSpawn: options.onSpawn,
  });
  return {
    result: parseGhzJson(out.stdout, point, { toolVersion: options.toolVersion }),
    raw: out.stdout,
    command,
  };
}

/** Send lag and service time of processes that all recorded them, merged. */
function mergedSendTiming(results: readonly LoadResult[]) {
  const timings = results.map((r) => sendTimingOf(r));
  if (timings.some((t) => t === undefined)) return {};
  const responses = results.map((r) => r.extra?.responseTime as Histogram | undefined);
  return {
    ...sendTimingExtra(
      mergeHistograms(timings.map((t) => t!.sendLag)),
      mergeHistograms(timings.map((t) => t!.serviceTime ?? emptyHistogram())),
    ),
    ...(responses.every((h) => h !== undefined)
      ? { responseTime: mergeHistograms(responses) }
      : {}),
  };
}

/**
 * Combines the results of ghz processes that ran at the same time (one per replica address
 * on the baseline, all against the proxy under a mesh), by {@linkcode combineConcurrent}:
 * operations and errors add up, histograms merge, the achieved rate is the weakest
 * process's share of the requested total, the duration is the longest one's.
 */
export function combineGhzResults(results: readonly LoadResult[]): LoadResult {
  const { combined } = combineConcurrent(results, "ghz");
  if (results.length === 1) return results[0];
  const sum = (f: (r: LoadResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const errorMessages = addCounts(
    results.map((r) => r.extra?.errorMessages as Record<string, number> | undefined),
  );
  return {
    ...combined,
    extra: {
      processes: results.length,
      histogramSource: [...new Set(results.map((r) => r.extra?.histogramSource))].join(","),
      cancelledAtStop: sum((r) => Number(r.extra?.cancelledAtStop ?? 0)),
      errorMessages,
      ...mergedSendTiming(results),
      perProcess: results.map((r) => ({
        requestedRate: r.requestedRate,
        achievedRate: r.achievedRate,
        operations: r.operations,
        errors: r.errors,
        durationS: r.durationS,
      })),
    },
  };
}
