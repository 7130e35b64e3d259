/**
 * fortio, the load generator inside the cluster's client pods (multi-arch image, HTTP and
 * gRPC): its command for a load point and its JSON report (`-json -`) as a tool-neutral
 * {@linkcode LoadResult}.
 *
 * - Latency: fortio's histogram buckets (seconds) are recorded at each bucket's upper end,
 *   so percentiles are never under-stated; `extra.histogramSource` says so.
 * - fortio paces each connection and does not correct for coordinated omission
 *   (fortio/fortio#3): fixed-rate runs are `actual-send`, max-throughput runs `closed-loop`.
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
    String(point.connections),
    "-t",
    `${point.durationS}s`,
    "-loglevel",
    "Warning",
  ];
  if (target.protocol === "grpc") cmd.push("-grpc", "-ping");
  cmd.push(target.address);
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
  };
  RetCodes?: Record<string, number>;
  /** Response sizes (headers and body) per request; `Sum` is the bytes received. */
  Sizes?: { Sum?: number };
  ErrorsDurationHistogram?: { Count?: number };
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
  const rec = new HistogramRecorder();
  for (const b of h.Data) {
    if (b.Count > 0) rec.record(b.End * 1e6, b.Count);
  }
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
    timing: point.mode === "fixed-rate" ? "actual-send" : "closed-loop",
    requestedRate: point.mode === "fixed-rate" ? point.rate : null,
    achievedRate: data.ActualQPS ?? (durationS > 0 ? h.Count / durationS : 0),
    durationS,
    connections: data.NumThreads ?? point.connections,
    operations: h.Count,
    errors,
    errorKinds,
    bytesIn: data.Sizes?.Sum ?? 0,
    bytesOut: 0,
    latency: rec.toHistogram(),
    extra: {
      histogramSource: "fortio buckets at upper bound",
      // fortio's DurationHistogram holds every request, failed ones included.
      latencyIncludesErrors: true,
      errorRequests: data.ErrorsDurationHistogram?.Count ?? 0,
      coCorrected: false,
    },
  };
}
