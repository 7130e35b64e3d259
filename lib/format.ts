/**
 * Numbers and labels as text, the same in the terminal, the report and the notebooks.
 *
 * @example
 * ```ts
 * import { formatNumber, formatPct, rateLabel } from "./format.ts";
 * if (formatNumber(1234.5) !== "1,235" || formatNumber(0.012345) !== "0.0123") throw new Error();
 * if (formatPct(12.345) !== "+12.3 %" || rateLabel(500) !== "500/s") throw new Error();
 * ```
 *
 * @module
 */
import type { Overhead } from "./types.ts";

/** The label a mesh carries everywhere: local stand-ins say they are emulations. */
export function meshLabel(mesh: string, emulated: boolean): string {
  return emulated ? `${mesh} (emulated)` : mesh;
}

/** A load point in words: `500/s`, or the mode for max-throughput and batch runs. */
export function rateLabel(rate: number | null, mode?: string): string {
  if (rate === null) return mode ?? "max-throughput";
  return `${formatNumber(rate)}/s`;
}

/**
 * The key part of a load point's payload size and HTTP version: empty where the point has
 * neither, so keys of points without them are what they were before payloads and h2c existed
 * (an HTTP/1.1 point has no `httpProtocol`).
 */
export function payloadKey(point: { payloadBytes?: number; httpProtocol?: string }): string {
  return (point.payloadBytes === undefined ? "" : `|${point.payloadBytes}B`) +
    (point.httpProtocol === undefined || point.httpProtocol === "http/1.1"
      ? ""
      : `|${point.httpProtocol}`);
}

/** A load point's HTTP version in words, "" for the workload's own HTTP/1.1. */
export function protocolLabel(point: { httpProtocol?: string }): string {
  return point.httpProtocol === "h2c" ? "HTTP/2 (h2c)" : "";
}

/** A request body size in words: `1 KB` (1,024 bytes), `128 KB`, `512 B`. */
export function payloadLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${formatNumber(bytes / 1024)} KB` : `${bytes} B`;
}

// toLocaleString builds a new formatter per call; a report formats ~100,000 numbers.
const INTEGER_FORMAT = new Intl.NumberFormat("en-US");
const DECIMAL_FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 6 });

/** A number with about three significant digits, for labels and tables. */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 10 ** digits) return INTEGER_FORMAT.format(Math.round(value));
  return DECIMAL_FORMAT.format(Number(value.toPrecision(digits)));
}

/** A share, e.g. `264 %` (mesh resources as a percentage of the app's own). */
export function formatShare(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return `${Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1)} %`;
}

/** An overhead figure as text: a signed change, or a share for share-basis metrics. */
export function formatOverhead(o: Pick<Overhead, "overheadPct" | "basis">): string {
  return o.basis === "share-of-baseline-app"
    ? formatShare(o.overheadPct)
    : formatPct(o.overheadPct);
}

/** A percentage with sign, e.g. `+12.3 %`. */
export function formatPct(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const s = Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
  return `${value > 0 ? "+" : ""}${s} %`;
}

/** Milliseconds with sign and about three significant digits, e.g. `+0.219 ms`. */
export function formatMs(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "n/a";
  return `${value > 0 ? "+" : ""}${formatNumber(value)} ms`;
}

/**
 * An overhead's added latency (mesh - baseline) with its interval, e.g.
 * `+0.219 ms (95 % CI +0.201 to +0.24 ms)`; "" for metrics that are not latencies or
 * summaries written before it (schema version 1).
 */
export function formatAddedLatency(
  o: Pick<Overhead, "deltaMs" | "deltaMsCi95" | "ciMethod">,
): string {
  if (typeof o.deltaMs !== "number") return "";
  const ci = o.deltaMsCi95;
  if (o.ciMethod === "too-few-iterations" || !ci) return formatMs(o.deltaMs);
  return `${formatMs(o.deltaMs)} (95 % CI ${formatMs(ci[0])} to ${formatMs(ci[1])})`;
}
