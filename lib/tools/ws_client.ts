/**
 * meshbench's WebSocket load client: N long-lived connections, open loop at a fixed total
 * message rate, message round-trip latency timed from each message's scheduled send time
 * (coordinated-omission free, METHODOLOGY rule 1).
 *
 * Schedule: message k (k = 0, 1, ...) is due at `start + k / rate` and goes on connection
 * `k mod N`, so each connection sends `rate / N` messages per second, evenly staggered. A
 * worker thread wakes the client at each due time (see `_ws_ticker.ts`); the client then sends
 * every message due so far. Each message carries its k; the echo's latency is
 * `received - scheduled(k)`. How late the client itself sent is kept apart
 * (`extra.sendLag`), and the round trip from the actual send (`extra.serviceTime`), so a saturated client shows instead of hiding in the latency.
 *
 * Every scheduled message ends as exactly one of: echoed (an operation with a latency), or an
 * error by kind: `lost` (sent, no echo by the end of the drain window), `bad-echo` (echo of
 * the wrong size), `not-sent:connect-failed` (its connection never opened),
 * `not-sent:closed` (its connection had closed). Connection outcomes are in
 * `extra.connections`; connection set-up times in `extra.connect` (histogram, microseconds).
 *
 * Run it in its own process (`wsClientCommand`, `runWsLoad`) so it does not share an event
 * loop with meshbench; `wsLoad` is the loop itself.
 *
 * @module
 */
import type { Runner } from "../command.ts";
import { HistogramRecorder, mergeHistograms, summarize } from "../histogram.ts";
import { addCounts, combineConcurrent } from "./combine.ts";
import { sendTimingExtra } from "../send_timing.ts";
import type { Histogram, LoadResult } from "../types.ts";
import type { TickerStart } from "./_ws_ticker.ts";

/** Version of this client, recorded as `toolVersion`. Bump when its measurement changes. */
export const WS_CLIENT_VERSION = "meshbench-ws-client 2";

/** Options of one WebSocket load run. */
export interface WsLoadOptions {
  /** Echo server URLs (`ws://host:port/`); connection i goes to `urls[i % urls.length]`. */
  urls: string[];
  /** Concurrent long-lived connections. */
  connections: number;
  /** Total messages per second over all connections. */
  rate: number;
  /** Seconds of sending (connection set-up not included). */
  durationS: number;
  /** Bytes per message (at least 8; default 64). */
  messageBytes?: number;
  /** Seconds to wait for connections to open (default 10). */
  connectTimeoutS?: number;
  /** Seconds to wait for outstanding echoes after the last send (default 2). */
  drainS?: number;
}

/** Connection outcomes of a run. */
export interface WsConnectionStats {
  requested: number;
  opened: number;
  /** Never opened: error or timeout, by reason. */
  failed: number;
  /** Opened, then closed or errored before the run ended (dropped). */
  closedEarly: number;
  reasons: Record<string, number>;
}

function check(options: WsLoadOptions): Required<WsLoadOptions> {
  const o = {
    messageBytes: 64,
    connectTimeoutS: 10,
    drainS: 2,
    ...options,
  };
  const bad = (field: string, expected: string, got: unknown) => {
    throw new RangeError(
      `Cannot run WebSocket load: "${field}" ${expected}, got ${JSON.stringify(got)}`,
    );
  };
  if (!Array.isArray(o.urls) || o.urls.length === 0) bad("urls", "must list URLs", o.urls);
  for (const u of o.urls) {
    if (!/^wss?:\/\//.test(u)) bad("urls", "must be ws:// or wss:// URLs", u);
  }
  if (!Number.isInteger(o.connections) || o.connections < 1) {
    bad("connections", "must be a positive integer", o.connections);
  }
  if (!(o.rate > 0) || !Number.isFinite(o.rate)) bad("rate", "must be positive", o.rate);
  if (!(o.durationS > 0)) bad("durationS", "must be positive", o.durationS);
  if (!Number.isInteger(o.messageBytes) || o.messageBytes < 8) {
    bad("messageBytes", "must be an integer of at least 8", o.messageBytes);
  }
  if (!(o.connectTimeoutS > 0)) bad("connectTimeoutS", "must be positive", o.connectTimeoutS);
  if (!(o.drainS >= 0)) bad("drainS", "must be 0 or more", o.drainS);
  return o;
}

const clock = () => performance.timeOrigin + performance.now();

/**
 * Runs the load in this process and returns its result. Never throws for what the network
 * does (failures are counted); throws only on invalid options.
 */
export async function wsLoad(options: WsLoadOptions): Promise<LoadResult> {
  const o = check(options);
  const total = Math.max(1, Math.round(o.rate * o.durationS));
  const interval = 1000 / o.rate;
  const latency = new HistogramRecorder();
  const sendLag = new HistogramRecorder();
  const connect = new HistogramRecorder();
  const received = new Uint8Array(total);
  /** Round trip of each echoed message from its scheduled send (ms); NaN until echoed. */
  const echoMs = new Float64Array(total).fill(NaN);
  /** When message k actually left (clock ms), for its service time. */
  const sentAtMs = new Float64Array(total).fill(NaN);
  const service = new HistogramRecorder();
  const errorKinds: Record<string, number> = {};
  const countError = (kind: string, n = 1) => {
    if (n > 0) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
  };
  const conn: WsConnectionStats = {
    requested: o.connections,
    opened: 0,
    failed: 0,
    closedEarly: 0,
    reasons: {},
  };
  const reason = (r: string) => (conn.reasons[r] = (conn.reasons[r] ?? 0) + 1);
  let sending = true;
  let startMs = 0;
  let echoed = 0;
  let sent = 0;
  let bytesIn = 0;
  let bytesOut = 0;

  // Open every connection, timing each set-up.
  const sockets: Array<WebSocket | null> = new Array(o.connections).fill(null);
  const opening = Array.from({ length: o.connections }, (_, i) => {
    const url = o.urls[i % o.urls.length];
    const t0 = clock();
    return new Promise<WebSocket | null>((resolve) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        reason(`connect: ${(e as Error).message}`);
        resolve(null);
        return;
      }
      ws.binaryType = "arraybuffer";
      let opened = false;
      const timer = setTimeout(() => {
        if (opened) return;
        reason("connect: timed out");
        ws.onclose = null;
        ws.onerror = null;
        try {
          ws.close();
        } catch { /* not open */ }
        resolve(null);
      }, o.connectTimeoutS * 1000);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        connect.record((clock() - t0) * 1000);
        sockets[i] = ws;
        resolve(ws);
      };
      ws.onmessage = (e: MessageEvent) => {
        const now = clock();
        const data = e.data as ArrayBuffer;
        if (!(data instanceof ArrayBuffer) || data.byteLength !== o.messageBytes) {
          countError("bad-echo");
          return;
        }
        const k = new DataView(data).getFloat64(0);
        if (!Number.isInteger(k) || k < 0 || k >= total || received[k] === 1) {
          countError("bad-echo");
          return;
        }
        received[k] = 1;
        echoed++;
        bytesIn += data.byteLength;
        const rtt = Math.max(0, now - (startMs + k * interval));
        echoMs[k] = rtt;
        latency.record(rtt * 1000);
        service.record(Math.max(0, now - sentAtMs[k]) * 1000);
      };
      const early = (why: string) => {
        if (!opened) {
          clearTimeout(timer);
          reason(`connect: ${why}`);
          resolve(null);
        } else if (sending) {
          conn.closedEarly++;
          reason(`dropped: ${why}`);
        }
        sockets[i] = null;
      };
      ws.onerror = (e) => {
        const msg = (e as ErrorEvent).message ?? "error";
        ws.onclose = null;
        early(msg);
      };
      ws.onclose = (e: CloseEvent) => early(`closed with code ${e.code}`);
    });
  });
  const opened = await Promise.all(opening);
  conn.opened = opened.filter((s) => s !== null).length;
  conn.failed = o.connections - conn.opened;

  // Send on schedule, woken by the ticker worker.
  const ticks = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL("./_ws_ticker.ts", import.meta.url), { type: "module" });
  const msg = new ArrayBuffer(o.messageBytes);
  const view = new DataView(msg);
  startMs = clock() + 20;
  const start: TickerStart = {
    ticks: ticks.buffer as SharedArrayBuffer,
    startMs,
    intervalMs: interval,
    count: total,
  };
  worker.postMessage(start);
  let next = 0;
  try {
    for (;;) {
      const w = Atomics.waitAsync(ticks, 0, next);
      if (w.async) await w.value;
      const due = Math.min(Atomics.load(ticks, 0), total);
      const now = clock();
      for (; next < due; next++) {
        const i = next % o.connections;
        const ws = sockets[i];
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          countError(opened[i] === null ? "not-sent:connect-failed" : "not-sent:closed");
          continue;
        }
        view.setFloat64(0, next);
        sentAtMs[next] = now;
        try {
          ws.send(msg);
        } catch {
          countError("not-sent:closed");
          continue;
        }
        sent++;
        bytesOut += o.messageBytes;
        sendLag.record(Math.max(0, now - (startMs + next * interval)) * 1000);
      }
      if (next >= total || Atomics.load(ticks, 1) !== 0) break;
    }
  } finally {
    Atomics.store(ticks, 1, 2);
    worker.terminate();
  }
  const sendEnd = clock();

  // Drain: wait for the echoes still due, bounded.
  const drainUntil = sendEnd + o.drainS * 1000;
  while (echoed + (errorKinds["bad-echo"] ?? 0) < sent && clock() < drainUntil) {
    await new Promise((r) => setTimeout(r, 5));
  }
  sending = false;
  const lost = sent - echoed;
  countError("lost", lost);
  await Promise.all(
    sockets.map((ws) =>
      ws === null || ws.readyState !== WebSocket.OPEN
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          ws.onclose = () => {
            clearTimeout(t);
            resolve();
          };
          ws.onerror = null;
          try {
            ws.close(1000, "done");
          } catch {
            clearTimeout(t);
            resolve();
          }
        })
    ),
  );

  // The scheduled window, or longer when the client could not keep up.
  const durationS = Math.max(o.durationS, (sendEnd - startMs) / 1000);
  // Achieved: echoes that arrived within a window as long as the schedule, starting at its
  // start plus the median round trip (as vegeta's adapter counts completions): the echoes a
  // slow server still returns during the drain, late, do not count as holding the rate.
  const rtts = echoMs.filter((x) => !Number.isNaN(x)).sort();
  const shiftMs = rtts.length ? rtts[(rtts.length - 1) >> 1] : 0;
  let inWindow = 0;
  for (let k = 0; k < total; k++) {
    const at = k * interval + echoMs[k];
    if (at >= shiftMs && at <= shiftMs + o.durationS * 1000) inWindow++;
  }
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  const connectHist = connect.toHistogram();
  const lagHist = sendLag.toHistogram();
  return {
    tool: "ws-client",
    toolVersion: WS_CLIENT_VERSION,
    timing: "intended-send",
    requestedRate: o.rate,
    achievedRate: inWindow / o.durationS,
    durationS,
    connections: o.connections,
    operations: echoed + errors,
    errors,
    errorKinds,
    bytesIn,
    bytesOut,
    latency: latency.toHistogram(),
    extra: {
      scheduled: total,
      sent,
      echoed,
      messagesPerSecond: echoed / durationS,
      echoedInWindow: inWindow,
      windowShiftMs: shiftMs,
      messageBytes: o.messageBytes,
      connections: conn,
      connect: connectHist,
      connectMs: connectHist.total > 0 ? summarize(connectHist) : null,
      ...sendTimingExtra(lagHist, service.toHistogram()),
    },
  };
}

/**
 * The command that runs {@linkcode wsLoad} in its own Deno process, printing JSON. By default
 * this machine's Deno and this file; in a client pod, the pod's `deno` and the path where the
 * client's files are mounted ({@linkcode WS_CLIENT_FILES}).
 */
export function wsClientCommand(
  options: WsLoadOptions,
  where: { deno?: string; script?: string } = {},
): string[] {
  check(options);
  return [
    where.deno ?? Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-net",
    "--allow-read",
    where.script ?? new URL(import.meta.url).pathname,
    JSON.stringify(options),
  ];
}

/**
 * The repository files the client needs at run time, relative to the repository root (its
 * type-only imports are erased by `deno run`). The cluster target ships exactly these to
 * its client pods, in the same layout.
 */
export const WS_CLIENT_FILES = [
  "lib/tools/ws_client.ts",
  "lib/tools/_ws_ticker.ts",
  "lib/tools/combine.ts",
  "lib/histogram.ts",
  "lib/send_timing.ts",
] as const;

/**
 * Combines the results of clients that ran at the same time (one per client pod) into one:
 * latencies, connection set-up and send lag merged as histograms (never averaged), counts
 * and error kinds summed, the longest window as the duration. The achieved rate is the
 * requested total times the lowest share any client achieved of its own request: the run
 * held its rate only if every client did (a sum would let one client's shortfall hide in
 * the average, and its saturated tail in the pooled latency, METHODOLOGY rule 2). The sum
 * of the clients' rates and each client's own figures stay in `extra`.
 */
export function combineWsResults(results: readonly LoadResult[]): LoadResult {
  const { combined, rateSum } = combineConcurrent(results, "WebSocket");
  if (results.length === 1) return results[0];
  const sum = (f: (r: LoadResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const extra = (r: LoadResult) => (r.extra ?? {}) as Record<string, unknown>;
  const num = (r: LoadResult, k: string) => Number(extra(r)[k] ?? 0);
  const hist = (k: string) =>
    mergeHistograms(
      results.map((r) => extra(r)[k] as Histogram | undefined).filter(
        (h): h is Histogram => h !== undefined,
      ),
    );
  const conns = results.map((r) => extra(r).connections as WsConnectionStats | undefined);
  const conn: WsConnectionStats = {
    requested: conns.reduce((s, c) => s + (c?.requested ?? 0), 0),
    opened: conns.reduce((s, c) => s + (c?.opened ?? 0), 0),
    failed: conns.reduce((s, c) => s + (c?.failed ?? 0), 0),
    closedEarly: conns.reduce((s, c) => s + (c?.closedEarly ?? 0), 0),
    reasons: addCounts(conns.map((c) => c?.reasons)),
  };
  const connectHist = hist("connect");
  const lagHist = hist("sendLag");
  const serviceHist = hist("serviceTime");
  return {
    ...combined,
    extra: {
      scheduled: sum((r) => num(r, "scheduled")),
      sent: sum((r) => num(r, "sent")),
      echoed: sum((r) => num(r, "echoed")),
      messagesPerSecond: rateSum,
      achievedRateSum: rateSum,
      messageBytes: extra(results[0]).messageBytes,
      connections: conn,
      connect: connectHist,
      connectMs: connectHist.total > 0 ? summarize(connectHist) : null,
      ...sendTimingExtra(lagHist, serviceHist),
      clients: results.length,
      perClient: results.map((r) => ({
        requestedRate: r.requestedRate,
        achievedRate: r.achievedRate,
        durationS: r.durationS,
        connections: r.connections,
        operations: r.operations,
        errors: r.errors,
      })),
    },
  };
}

/** What {@linkcode runWsLoad} returns. */
export interface WsRun {
  result: LoadResult;
  /** The client's JSON output as it came (the raw output of the run). */
  raw: string;
  command: string[];
}

/**
 * Runs the client in its own process through `runner` and parses what it prints.
 * Throws when the process fails or prints something that is not a result.
 */
export async function runWsLoad(
  runner: Runner,
  options: WsLoadOptions,
  run: { signal?: AbortSignal; onSpawn?: (pid: number) => void } = {},
): Promise<WsRun> {
  const command = wsClientCommand(options);
  const o = check(options);
  const timeoutMs = Math.round((o.connectTimeoutS + o.durationS + o.drainS + 30) * 1000);
  const out = await runner.run(command, { timeoutMs, signal: run.signal, onSpawn: run.onSpawn });
  return { result: parseWsClientOutput(out.stdout), raw: out.stdout, command };
}

/** Parses the JSON the client process prints, checking it is a ws-client result. */
export function parseWsClientOutput(text: string): LoadResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Cannot parse WebSocket client output: ${(e as Error).message}; output starts ${
        JSON.stringify(text.slice(0, 80))
      }`,
    );
  }
  const r = doc as Partial<LoadResult>;
  if (r?.tool !== "ws-client") {
    throw new Error(
      `Cannot parse WebSocket client output: "tool" should be "ws-client", got ${
        JSON.stringify(r?.tool)
      }`,
    );
  }
  const h = r.latency as Histogram | undefined;
  if (
    !h || !Array.isArray(h.values) || !Array.isArray(h.counts) || typeof r.operations !== "number"
  ) {
    throw new Error("Cannot parse WebSocket client output: no latency histogram or operations");
  }
  return r as LoadResult;
}

if (import.meta.main) {
  const arg = Deno.args[0];
  if (!arg) {
    console.error(
      'usage: ws_client.ts \'{"urls":["ws://127.0.0.1:8080/"],"connections":10,' +
        '"rate":1000,"durationS":5}\'',
    );
    Deno.exit(2);
  }
  try {
    const result = await wsLoad(JSON.parse(arg) as WsLoadOptions);
    console.log(JSON.stringify(result));
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
