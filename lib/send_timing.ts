/**
 * Send lag, response time and service time of open-loop fixed-rate generators.
 *
 * An open-loop generator schedules request k at `start + k x interval` (its intended send) and
 * then sends it, a little later (its actual send). meshbench's latency is the **response
 * time**, timed from the intended send, so a stall of the generator or of the system cannot
 * hide requests (coordinated omission). The gap between the two sends, the **send lag**, is
 * the generator's own lateness, and it is in every response time; the **service time**,
 * timed from the actual send, is what the system alone took. A run keeps both beside the
 * response time, as histograms in `load.extra` (microseconds):
 * - `extra.sendLag`: intended to actual send, per request (`extra.sendLagMs`, its summary);
 * - `extra.serviceTime`: actual send to answer, per request (`extra.serviceTimeMs`).
 *
 * When the lag's p99 is not small against the baseline's own p50 service time, the response
 * times are the generator's as much as the system's: the run is `generator-limited`
 * ({@linkcode isGeneratorLimited}; the share is the config's `generatorLimitedPct`).
 *
 * This file is shipped with the WebSocket client to its pods (`WS_CLIENT_FILES`): it imports
 * only the histogram module.
 *
 * @module
 */
import { summarize } from "./histogram.ts";
import type { Histogram, LatencySummary, LoadResult } from "./types.ts";

/** The send-timing fields of a result's `extra`. */
export interface SendTimingExtra {
  sendLag: Histogram;
  sendLagMs: LatencySummary | null;
  serviceTime: Histogram;
  serviceTimeMs: LatencySummary | null;
}

/** The `extra` fields of a generator that knows its intended and actual send times. */
export function sendTimingExtra(sendLag: Histogram, serviceTime: Histogram): SendTimingExtra {
  return {
    sendLag,
    sendLagMs: sendLag.total > 0 ? summarize(sendLag) : null,
    serviceTime,
    serviceTimeMs: serviceTime.total > 0 ? summarize(serviceTime) : null,
  };
}

function isHistogram(x: unknown): x is Histogram {
  const h = x as Histogram | null;
  return typeof h === "object" && h !== null && Array.isArray(h.values) &&
    Array.isArray(h.counts) && typeof h.total === "number";
}

/**
 * The send lag and service time a result recorded, or undefined when its tool does not know
 * its intended send times (closed-loop and paced tools). A histogram with nothing in it
 * counts as absent.
 */
export function sendTimingOf(
  load: Pick<LoadResult, "extra"> | undefined,
): { sendLag: Histogram; serviceTime?: Histogram } | undefined {
  const lag = load?.extra?.sendLag;
  if (!isHistogram(lag) || lag.total === 0) return undefined;
  const service = load?.extra?.serviceTime;
  return {
    sendLag: lag,
    ...(isHistogram(service) && service.total > 0 ? { serviceTime: service } : {}),
  };
}

/**
 * Whether a run's (or a group's) response times are the load generator's as much as the
 * system's: its send-lag p99 exceeds `sharePct` % of the baseline's p50 service time (the
 * system's own p50, without any generator lag in it). With no baseline figure, not flagged.
 */
export function isGeneratorLimited(
  sendLagP99Ms: number,
  baselineP50Ms: number | undefined,
  sharePct: number,
): boolean {
  if (baselineP50Ms === undefined || !(baselineP50Ms > 0)) return false;
  return sendLagP99Ms > baselineP50Ms * sharePct / 100;
}
