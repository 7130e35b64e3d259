/**
 * One result from load generators that ran at the same time against the same target (several
 * ghz processes, two redis-benchmark or WebSocket client pods): what every tool's combiner
 * shares, so the rules are the same everywhere. Each tool adds its own `extra`.
 *
 * @module
 */
import { mergeHistograms } from "../histogram.ts";
import type { LoadResult } from "../types.ts";

/** Adds count maps key by key (error kinds, messages, connection outcome reasons). */
export function addCounts(
  maps: Iterable<Record<string, number> | undefined>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

/**
 * The fields every combined result has: counts and bytes summed, error kinds added, latency
 * histograms merged (never averaged), the longest window as the duration. A fixed-rate run's
 * achieved rate is the requested total times the lowest share any generator achieved of its
 * own request: the run held its rate only if each did (a sum would let one generator's
 * shortfall hide in the average, and its saturated tail in the pooled latency, METHODOLOGY
 * rule 2). Closed-loop runs (no requested rate) add their rates. `extra` is the first
 * result's until the caller sets its own; `rateSum` is the plain sum of achieved rates.
 */
export function combineConcurrent(
  results: readonly LoadResult[],
  tool: string,
): { combined: LoadResult; rateSum: number } {
  if (results.length === 0) throw new RangeError(`Cannot combine ${tool} results: got none`);
  const sum = (f: (r: LoadResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const rateSum = sum((r) => r.achievedRate);
  const fixedRate = results.every((r) => r.requestedRate !== null && r.requestedRate > 0);
  const requestedRate = fixedRate ? sum((r) => r.requestedRate!) : null;
  const achievedRate = requestedRate === null
    ? rateSum
    : requestedRate * Math.min(...results.map((r) => r.achievedRate / r.requestedRate!));
  return {
    rateSum,
    combined: {
      ...results[0],
      requestedRate,
      achievedRate,
      durationS: Math.max(...results.map((r) => r.durationS)),
      connections: sum((r) => r.connections),
      operations: sum((r) => r.operations),
      errors: sum((r) => r.errors),
      errorKinds: addCounts(results.map((r) => r.errorKinds)),
      bytesIn: sum((r) => r.bytesIn),
      bytesOut: sum((r) => r.bytesOut),
      latency: mergeHistograms(results.map((r) => r.latency)),
    },
  };
}
