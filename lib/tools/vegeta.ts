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
}

/**
 * Turns vegeta rows into the tool-neutral result. Latency of each request is
 * `(sent - intended) + latency`, where intended = t0 + seq / rate and t0 the schedule start
 * (the earliest send minus its offset). Non-2xx codes and transport errors are counted by kind.
 */
export function vegetaResult(rows: VegetaRow[], info: VegetaRunInfo): LoadResult {
  const hist = new HistogramRecorder();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let lateMax = 0;
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const intervalNs = 1e9 / info.rate;
  // vegeta's pacer schedules request i at start + i * interval and never sends early, so
  // the schedule's start is the earliest (sent - i * interval) over all requests. Using
  // the first request's send time instead would shift the schedule when that one was late.
  let t0 = sorted.length ? sorted[0].timestampNs : 0n;
  for (const r of sorted) {
    const start = r.timestampNs - BigInt(Math.round(r.seq * intervalNs));
    if (start < t0) t0 = start;
  }
  let lastDone = 0n;
  for (const r of sorted) {
    const intended = t0 + BigInt(Math.round(r.seq * intervalNs));
    const lateNs = Number(r.timestampNs - intended);
    if (lateNs > lateMax) lateMax = lateNs;
    const ok = r.error === "" && r.code >= 200 && r.code < 400;
    if (!ok) {
      errors++;
      const kind = r.error !== "" ? r.error.replace(/^.*: /, "") : `http_${r.code}`;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
    hist.record(Math.max(0, lateNs + r.latencyNs) / 1000);
    bytesIn += r.bytesIn;
    bytesOut += r.bytesOut;
    const done = r.timestampNs + BigInt(r.latencyNs);
    if (done > lastDone) lastDone = done;
  }
  const ok = rows.length - errors;
  // Achieved rate: successful requests over the scheduled duration (what was asked for).
  return {
    tool: "vegeta",
    toolVersion: info.toolVersion,
    timing: "intended-send",
    requestedRate: info.rate,
    achievedRate: ok / info.durationS,
    durationS: info.durationS,
    connections: info.connections,
    operations: rows.length,
    errors,
    errorKinds,
    bytesIn,
    bytesOut,
    latency: hist.toHistogram(),
    extra: {
      maxSendLagMs: lateMax / 1e6,
      lastCompletionAfterStartS: rows.length ? Number(lastDone - t0) / 1e9 : 0,
    },
  };
}

/** The `vegeta attack` command for a fixed-rate point. */
export function vegetaAttackCommand(opts: {
  vegeta: string;
  targetsFile: string;
  outFile: string;
  rate: number;
  durationS: number;
  connections: number;
  timeoutS?: number;
}): string[] {
  return [
    opts.vegeta,
    "attack",
    `-targets=${opts.targetsFile}`,
    `-output=${opts.outFile}`,
    `-rate=${opts.rate}/s`,
    `-duration=${opts.durationS}s`,
    `-connections=${opts.connections}`,
    `-timeout=${opts.timeoutS ?? 10}s`,
    "-max-body=0",
    "-keepalive=true",
  ];
}
