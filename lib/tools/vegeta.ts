/**
 * vegeta: the open-loop fixed-rate HTTP load generator. Its per-request results
 * carry a sequence number, so latency is re-timed from each request's intended
 * send time (start + seq / rate): coordinated omission is not in our numbers even
 * when vegeta's own sender falls behind.
 *
 * @module
 */
import { HistogramRecorder } from "../histogram.ts";
import type { LoadResult } from "../types.ts";
import { sendTimingExtra } from "../send_timing.ts";

/** One request as `vegeta encode --to csv` prints it. */
export interface VegetaRow {
  timestampNs: bigint;
  code: number;
  latencyNs: number;
  bytesOut: number;
  bytesIn: number;
  error: string;
  seq: number;
}

/** Splits one CSV line (RFC 4180 quoting, as Go's encoding/csv writes it). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Parses `vegeta encode --to csv` output; a malformed line is an error naming its number. */
export function parseVegetaCsv(text: string): VegetaRow[] {
  const rows: VegetaRow[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    const f = splitCsvLine(line);
    // timestamp,code,latency,bytes_out,bytes_in,error,body,attack,seq,method,url,headers
    if (f.length < 9 || !/^\d+$/.test(f[0]) || !/^\d+$/.test(f[8])) {
      throw new Error(
        `Cannot parse vegeta CSV line ${
          i + 1
        }: expected 12 fields starting with a timestamp, got "${line.slice(0, 80)}"`,
      );
    }
    rows.push({
      timestampNs: BigInt(f[0]),
      code: Number(f[1]),
      latencyNs: Number(f[2]),
      bytesOut: Number(f[3]),
      bytesIn: Number(f[4]),
      error: f[5],
      seq: Number(f[8]),
    });
  }
  return rows;
}

/** Inputs of {@linkcode vegetaResult}. */
export interface VegetaRunInfo {
  rate: number;
  durationS: number;
  connections: number;
  toolVersion: string;
  /** How vegeta ran (recorded as `extra.generator`); vegeta's defaults when absent. */
  generator?: VegetaGenerator;
}

/**
 * vegeta's pacer interval in nanoseconds: `time.Second / rate` in Go's integer division, so
 * `floor(1e9 / rate)` (333,333 ns at 3,000/s, not 333,333.33: 30 us less over 30 s).
 */
export function vegetaIntervalNs(rate: number): bigint {
  if (!Number.isInteger(rate) || rate < 1) {
    throw new RangeError(`Cannot pace vegeta: "rate" must be a positive integer, got ${rate}`);
  }
  return 1_000_000_000n / BigInt(rate);
}

/** The middle value of a list (the lower of the two middle ones for an even count). */
function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const sorted = Float64Array.from(xs).sort();
  return sorted[(sorted.length - 1) >> 1];
}

/**
 * Turns vegeta rows into the tool-neutral result. Latency of each request is
 * `(sent - intended) + latency`, where intended = t0 + seq x interval, with vegeta's own integer
 * interval ({@linkcode vegetaIntervalNs}) and t0 the schedule start (the earliest send minus its
 * offset). Non-2xx codes and transport errors are counted by kind.
 *
 * The achieved rate is what the server completed, not what was sent: successful responses
 * that completed within a window as long as the run, starting at the schedule start plus the
 * median response time, per second. vegeta waits for every answer after its last send, so a
 * server that can serve 500/s offered 1,000/s for 2 s answers all 2,000 requests, late: counted
 * by what was sent, that read as 1,000/s; counted by completions in the window, it is the
 * server's ~500/s. The window is shifted by the median response time so that an unsaturated
 * run loses only the spread of its response times at the edges (negligible next to the
 * tolerance), whatever its latency. `extra.sendLag` (intended to actual send, a histogram)
 * and `extra.sentRate` say whether the generator itself kept the schedule; `extra.serviceTime`
 * is vegeta's own latency column, timed from the actual send (see `../send_timing.ts`).
 */
export function vegetaResult(rows: VegetaRow[], info: VegetaRunInfo): LoadResult {
  const hist = new HistogramRecorder();
  const lag = new HistogramRecorder();
  const service = new HistogramRecorder();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let lateMax = 0;
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const intervalNs = vegetaIntervalNs(info.rate);
  // vegeta's pacer schedules request i at start + (i + 1) * interval and never sends early, so
  // the schedule's start is the earliest (sent - i * interval) over all requests. Using
  // the first request's send time instead would shift the schedule when that one was late.
  let t0 = sorted.length ? sorted[0].timestampNs : 0n;
  for (const r of sorted) {
    const start = r.timestampNs - BigInt(r.seq) * intervalNs;
    if (start < t0) t0 = start;
  }
  const windowNs = BigInt(Math.round(info.durationS * 1e9));
  let lastDone = 0n;
  let sentInWindow = 0;
  const okDone: bigint[] = [];
  const okLatencyNs: number[] = [];
  for (const r of sorted) {
    const intended = t0 + BigInt(r.seq) * intervalNs;
    const lateNs = Number(r.timestampNs - intended);
    if (lateNs > lateMax) lateMax = lateNs;
    lag.record(Math.max(0, lateNs) / 1000);
    if (r.timestampNs - t0 < windowNs) sentInWindow++;
    const ok = r.error === "" && r.code >= 200 && r.code < 400;
    const done = r.timestampNs + BigInt(r.latencyNs);
    if (!ok) {
      errors++;
      const kind = r.error !== "" ? r.error.replace(/^.*: /, "") : `http_${r.code}`;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    } else {
      okDone.push(done);
      okLatencyNs.push(r.latencyNs);
    }
    hist.record(Math.max(0, lateNs + r.latencyNs) / 1000);
    service.record(r.latencyNs / 1000);
    bytesIn += r.bytesIn;
    bytesOut += r.bytesOut;
    if (done > lastDone) lastDone = done;
  }
  const shiftNs = BigInt(Math.round(median(okLatencyNs)));
  const from = t0 + shiftNs;
  const to = from + windowNs;
  const completedInWindow = okDone.filter((d) => d >= from && d <= to).length;
  return {
    tool: "vegeta",
    toolVersion: info.toolVersion,
    timing: "intended-send",
    requestedRate: info.rate,
    achievedRate: completedInWindow / info.durationS,
    durationS: info.durationS,
    connections: info.connections,
    operations: rows.length,
    errors,
    errorKinds,
    bytesIn,
    bytesOut,
    latency: hist.toHistogram(),
    extra: {
      intervalNs: Number(intervalNs),
      generator: info.generator ?? {},
      completedInWindow,
      windowShiftMs: Number(shiftNs) / 1e6,
      sentRate: sentInWindow / info.durationS,
      successfulRate: okDone.length / info.durationS,
      ...sendTimingExtra(lag.toHistogram(), service.toHistogram()),
      maxSendLagMs: lateMax / 1e6,
      lastCompletionAfterStartS: rows.length ? Number(lastDone - t0) / 1e9 : 0,
    },
  };
}

/**
 * How the vegeta process runs: what decides how late it sends (its send lag). Every field
 * absent is vegeta as it comes: Go's GOMAXPROCS (every CPU), 10 workers growing without
 * bound, no CPU pinning. Recorded with each result (`extra.generator`).
 */
export interface VegetaGenerator {
  /** GOMAXPROCS of the vegeta process. */
  gomaxprocs?: number;
  /** `-workers`: workers started up front. */
  workers?: number;
  /** `-max-workers`: the most workers vegeta may grow to. */
  maxWorkers?: number;
  /** CPUs the vegeta process is pinned to (a `taskset -c` list, e.g. "1"). */
  cpus?: string;
}

/** The `vegeta attack` command for a fixed-rate point. */
export function vegetaAttackCommand(opts: {
  vegeta: string;
  targetsFile: string;
  outFile: string;
  rate: number;
  durationS: number;
  connections: number;
  /**
   * `-max-connections`: the most connections vegeta opens per host (without it,
   * `connections` only bounds the idle ones, and vegeta opens more while answers are
   * outstanding). Set for the connection sweep, where the count is the variable.
   */
  maxConnections?: number;
  /** `-body`: a file whose bytes every request carries (with `POST` targets). */
  bodyFile?: string;
  /**
   * `-h2c`: HTTP/2 in cleartext with prior knowledge. vegeta then uses Go's HTTP/2 transport,
   * which speaks nothing else (an HTTP/1.1-only server fails every request, it never falls
   * back) and multiplexes over one connection per target address, opening another only when
   * the server's stream limit is reached: `connections` and `maxConnections` do not apply.
   */
  h2c?: boolean;
  timeoutS?: number;
  generator?: VegetaGenerator;
}): string[] {
  const g = opts.generator ?? {};
  // `env` and `taskset` exec vegeta, so the spawned pid is vegeta's own (resource sampling).
  return [
    ...(g.gomaxprocs !== undefined ? ["env", `GOMAXPROCS=${g.gomaxprocs}`] : []),
    ...(g.cpus !== undefined ? ["taskset", "-c", g.cpus] : []),
    opts.vegeta,
    "attack",
    `-targets=${opts.targetsFile}`,
    `-output=${opts.outFile}`,
    `-rate=${opts.rate}/s`,
    `-duration=${opts.durationS}s`,
    `-connections=${opts.connections}`,
    ...(opts.maxConnections !== undefined ? [`-max-connections=${opts.maxConnections}`] : []),
    ...(opts.bodyFile !== undefined ? [`-body=${opts.bodyFile}`] : []),
    ...(opts.h2c ? ["-h2c"] : []),
    `-timeout=${opts.timeoutS ?? 10}s`,
    "-max-body=0",
    "-keepalive=true",
    ...(g.workers !== undefined ? [`-workers=${g.workers}`] : []),
    ...(g.maxWorkers !== undefined ? [`-max-workers=${g.maxWorkers}`] : []),
  ];
}
