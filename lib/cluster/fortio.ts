/**
 * fortio, the load generator inside the cluster's client pods (multi-arch image, HTTP and
 * gRPC): its command for a load point and its JSON report (`-json -`) as a tool-neutral
 * {@linkcode LoadResult}.
 *
 * - Latency: fortio's histogram has fixed bucket boundaries scaled by its resolution `-r`
 *   (default 1 ms, which puts every sub-millisecond request into one bucket and loses the
 *   0.2-0.5 ms a mesh adds). meshbench asks for 10 µs ({@linkcode FORTIO_RESOLUTION_S}):
 *   10-100 µs wide buckets below 1 ms, 0.2-1 ms to 10 ms, 10-25 ms to 1 s. Each bucket's
 *   requests are spread over the bucket as fortio's own percentile interpolation does, so
 *   percentiles read from the HDR histogram match fortio's (tested within 5 %).
 * - Timing: fortio paces each connection (`-qps` split over `-c`) but a connection waits for
 *   each answer before its next send, so it is not open loop: meshbench records fixed-rate
 *   runs as `paced` and passes `-nocatchup` (a late connection does not burst to make up, so
 *   a stall shows as an achieved rate under target, which marks the run as saturated) and
 *   `-uniform` (connections start spread over the period). Coordinated omission is not
 *   corrected (fortio/fortio#3). `-c` is sized so that each connection's send interval is
 *   at least {@linkcode FORTIO_EXPECTED_P99_S}: with answers faster than that no send is late.
 * - Errors: every return code other than 200 (HTTP) or SERVING (gRPC health/ping), by code;
 *   fortio's latency histogram includes failed requests (`extra.latencyIncludesErrors`).
 * - fortio reports bytes received (`Sizes.Sum`) but not bytes sent: `bytesOut` is 0.
 *
 * @module
 */

import { HistogramRecorder } from "../histogram.ts";
import type { LoadPoint, LoadResult } from "../types.ts";

/** Where a fortio run sends. */
export interface FortioTarget {
  /** `http://host:port/path` for HTTP; `host:port` for gRPC. */
  address: string;
  protocol: "http" | "grpc";
  /**
   * Directory in the client pod holding `payload-<bytes>.json`: a point with `payloadBytes`
   * POSTs that file as JSON (`-payload-file`).
   */
  payloadDir?: string;
  /**
   * HTTP: the `http://host:port/path` of the server's h2c listener, where the h2c points go
   * (`point.httpProtocol: "h2c"`, sent with fortio's `-h2`); absent where there is none.
   */
  h2cAddress?: string;
}

/** fortio's histogram resolution (`-r`, seconds): its lowest bucket width. */
export const FORTIO_RESOLUTION_S = 0.00001;

/**
 * The p99 latency `-c` is sized for at fixed rate (seconds): well above a mesh's published
 * cross-node p99 on an idle cluster (single milliseconds), so each connection's pace leaves
 * room for the tail without sending late.
 */
export const FORTIO_EXPECTED_P99_S = 0.05;

/** Percentiles fortio reports itself (`-p`), kept in the raw output for comparison. */
export const FORTIO_PERCENTILES = "50,75,90,99,99.9";

/**
 * Connections for a fixed-rate point: the point's own, or more when rate x expected p99
 * needs them (Little's law: requests in flight at the tail); a connection-sweep point's own.
 */
export function fortioConnections(point: LoadPoint): number {
  if (point.mode !== "fixed-rate" || point.rate === null) return point.connections;
  // The connection sweep's count is the variable: exactly that many. A paced connection that
  // waits longer than its share of the interval sends late, which shows as saturation.
  if (point.sweep === "connections") return point.connections;
  return Math.max(point.connections, Math.ceil(point.rate * FORTIO_EXPECTED_P99_S));
}

/** The fortio command line for one load point (run inside a client pod). */
export function fortioCommand(point: LoadPoint, target: FortioTarget): string[] {
  if (!Number.isInteger(point.connections) || point.connections < 1) {
    throw new RangeError(
      `Cannot build fortio command: "connections" must be a positive integer, got ${point.connections}`,
    );
  }
  if (!(point.durationS > 0)) {
    throw new RangeError(
      `Cannot build fortio command: "durationS" must be positive, got ${point.durationS}`,
    );
  }
  let qps: string;
  if (point.mode === "fixed-rate") {
    if (!(point.rate !== null && point.rate > 0)) {
      throw new RangeError(
        `Cannot build fortio command: a fixed-rate point needs a positive "rate", got ${point.rate}`,
      );
    }
    qps = String(point.rate);
  } else if (point.mode === "max-throughput") {
    qps = "0";
  } else {
    throw new RangeError(`Cannot build fortio command: mode "${point.mode}" is not a load mode`);
  }
  const cmd = [
    "fortio",
    "load",
    "-json",
    "-",
    "-qps",
    qps,
    "-c",
    String(fortioConnections(point)),
    "-t",
    `${point.durationS}s`,
    "-r",
    String(FORTIO_RESOLUTION_S),
    "-p",
    FORTIO_PERCENTILES,
    ...(point.mode === "fixed-rate" ? ["-uniform", "-nocatchup"] : []),
    "-loglevel",
    "Warning",
  ];
  if (target.protocol === "grpc") cmd.push("-grpc", "-ping");
  // An h2c point: fortio's `-h2` on an http:// URL is HTTP/2 with prior knowledge (Go's HTTP/2
  // transport, which speaks nothing else: an HTTP/1.1-only server fails every request), to the
  // server's h2c listener. Without one the point cannot run: refused, never sent as HTTP/1.1.
  let address = target.address;
  if (point.httpProtocol === "h2c") {
    if (target.protocol !== "http" || !target.h2cAddress) {
      throw new RangeError(
        `Cannot build fortio command for an h2c point: the target ${target.address} has no ` +
          "h2c address",
      );
    }
    cmd.push("-h2");
    address = target.h2cAddress;
  }
  if (point.payloadBytes !== undefined && target.payloadDir !== undefined) {
    // A workload whose server reads the body (the inference workload's JSON rows): the
    // client pod holds each size's file, and fortio POSTs it as it is.
    if (target.protocol !== "http") {
      throw new RangeError(
        `Cannot build fortio command: a payload file needs an HTTP target, got ${
          JSON.stringify(target)
        }`,
      );
    }
    cmd.push(
      "-payload-file",
      `${target.payloadDir}/payload-${point.payloadBytes}.json`,
      "-content-type",
      "application/json",
    );
  } else if (target.protocol === "http" && (point.payloadBytes ?? 0) > 0) {
    // A payload point's body: fortio sends `-payload-size` random bytes as a POST (a size of 0
    // leaves it a GET without a body, as fortio has no empty POST).
    cmd.push("-payload-size", String(point.payloadBytes));
  }
  cmd.push(address);
  return cmd;
}

interface FortioJson {
  Version?: string;
  RequestedQPS?: string;
  ActualQPS?: number;
  ActualDuration?: number;
  NumThreads?: number;
  DurationHistogram?: {
    Count?: number;
    Min?: number;
    Max?: number;
    Data?: Array<{ Start: number; End: number; Count: number }>;
    Percentiles?: Array<{ Percentile: number; Value: number }>;
  };
  RetCodes?: Record<string, number>;
  /** Response sizes (headers and body) per request; `Sum` is the bytes received. */
  Sizes?: { Sum?: number };
  ErrorsDurationHistogram?: { Count?: number };
  /** Whether fortio ran with `-h2` (HTTP/2: h2c on an http:// URL). */
  H2?: boolean;
}

/** Parses fortio's JSON report; `protocol` decides which return code is success. */
export function parseFortioJson(
  text: string,
  point: LoadPoint,
  protocol: "http" | "grpc",
): LoadResult {
  let data: FortioJson;
  try {
    data = JSON.parse(text.slice(text.indexOf("{")));
  } catch (e) {
    throw new Error(
      `Cannot parse fortio output: not JSON (${e instanceof Error ? e.message : e}): ` +
        JSON.stringify(text.slice(0, 200)),
    );
  }
  const h = data.DurationHistogram;
  if (!h || typeof h.Count !== "number" || !Array.isArray(h.Data)) {
    throw new Error('Cannot parse fortio output: no "DurationHistogram" with "Count" and "Data"');
  }
  // An h2c point's report must say fortio ran HTTP/2 (its `-h2`), or it was not an h2c run.
  if (point.httpProtocol === "h2c" && data.H2 !== true) {
    throw new Error(
      `fortio's report of an h2c point says "H2": ${JSON.stringify(data.H2)}: not sent as HTTP/2`,
    );
  }
  const rec = new HistogramRecorder();
  spreadBuckets(h.Data, rec);
  const ok = protocol === "http" ? "200" : "SERVING";
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  for (const [code, n] of Object.entries(data.RetCodes ?? {})) {
    if (code === ok) continue;
    errorKinds[code] = n;
    errors += n;
  }
  const durationS = (data.ActualDuration ?? 0) / 1e9;
  return {
    tool: "fortio",
    toolVersion: data.Version ?? "unknown",
    timing: point.mode === "fixed-rate" ? "paced" : "closed-loop",
    requestedRate: point.mode === "fixed-rate" ? point.rate : null,
    // Successful requests per second: fortio's ActualQPS counts every request, failed or not.
    achievedRate: h.Count > 0
      ? (data.ActualQPS ?? (durationS > 0 ? h.Count / durationS : 0)) * (h.Count - errors) /
        h.Count
      : 0,
    durationS,
    connections: data.NumThreads ?? point.connections,
    operations: h.Count,
    errors,
    errorKinds,
    bytesIn: data.Sizes?.Sum ?? 0,
    bytesOut: 0,
    latency: rec.toHistogram(),
    extra: {
      histogramSource: "fortio buckets, spread within each bucket as fortio interpolates",
      // fortio's own percentiles (seconds), to compare with the histogram's.
      fortioPercentiles: Object.fromEntries(
        (h.Percentiles ?? []).map((p) => [String(p.Percentile), p.Value]),
      ),
      // fortio's DurationHistogram holds every request, failed ones included.
      latencyIncludesErrors: true,
      errorRequests: data.ErrorsDurationHistogram?.Count ?? 0,
      coCorrected: false,
      ...(protocol === "http" ? { httpProtocol: point.httpProtocol ?? "http/1.1" } : {}),
    },
  };
}

/** Sub-values recorded per fortio bucket at most (a bucket of more requests is weighted). */
const SPREAD = 1000;

/**
 * Records fortio's buckets (seconds) into `rec` (µs) spread as fortio's `CalcPercentile`
 * interpolates: the j-th of a bucket's c requests at Start + j/c of its width, except in the
 * first bucket, which starts at the run's minimum (the first request) and so at
 * Start + (j-1)/(c-1). Buckets of more than {@linkcode SPREAD} requests are recorded as
 * that many equal groups, each at its last request's value.
 */
export function spreadBuckets(
  data: ReadonlyArray<{ Start: number; End: number; Count: number }>,
  rec: HistogramRecorder,
): void {
  let first = true;
  for (const b of data) {
    if (!(b.Count > 0)) continue;
    const width = b.End - b.Start;
    const groups = Math.min(b.Count, SPREAD);
    let done = 0;
    for (let g = 1; g <= groups; g++) {
      const upto = Math.round((b.Count * g) / groups);
      const n = upto - done;
      done = upto;
      if (n <= 0) continue;
      const at = first ? (b.Count === 1 ? 0 : (upto - 1) / (b.Count - 1)) : upto / b.Count;
      rec.record((b.Start + at * width) * 1e6, n);
    }
    first = false;
  }
}
