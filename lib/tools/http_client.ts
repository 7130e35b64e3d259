/**
 * meshbench's HTTP/1.1 load client: open loop at a fixed rate over a fixed pool of N
 * keep-alive connections, every request timed from its intended send time (coordinated-omission
 * free, METHODOLOGY rule 1), with the generator's own lateness measured apart.
 *
 * Schedule: request k (k = 0, 1, ...) is due at `start + k / rate`. A pacing thread
 * (`_http_sender.ts`) wakes at each due time, claims a free connection (round robin; when all
 * N are busy, it waits for one: the wait stays in the request's latency) and writes the request
 * with a blocking `send` itself; this thread blocks in `poll` on the connections, reads each
 * answer as it arrives and frees its connection. Sockets are libc's, through Deno's FFI
 * (`_libc.ts`), because a request written from an event loop leaves when the loop gets to it
 * (timers there fire up to a millisecond late) and a hop from a timing thread to the loop costs
 * tens of microseconds on a busy machine: the send lag is what this client exists to keep small.
 *
 * Per request it records (microseconds, as every meshbench load tool):
 * - response time, from the intended send to the last byte of the answer (`latency`);
 * - send lag, the pacer's own lateness: from the intended send to the actual send, the stamp
 *   taken right before `send()` (it claims a connection before its spin to the due time;
 *   `extra.sendLag`);
 * - pool wait: a request that had to wait for a free connection, or was queued behind one that
 *   did (the pacer held up by the pool, not late by itself), has all of its delay to the actual
 *   send here instead (`extra.poolWait`; 0 for the others). vegeta counts such a wait in its
 *   latency, not its lag;
 * - service time, from the actual send to the last byte (`extra.serviceTime`).
 * Per request, response time = send lag + pool wait + service time.
 * Status codes are counted (`extra.statusCodes`); a non-2xx/3xx answer is an error `http_<code>`
 * (as vegeta's adapter counts it); transport failures are errors by kind (`connect: ECONNREFUSED`,
 * `closed`, `timeout`, `not-sent`, ...). Only answered requests have a latency.
 *
 * Linux with glibc, IPv4 addresses (`http://127.0.0.1:8080/path`), no TLS: the local target's
 * loopback and network namespaces. Run it in its own process (`httpClientCommand`,
 * `runHttpLoad`); `httpLoad` is the load itself and blocks its thread while it runs.
 *
 * @module
 */
import type { Runner } from "../command.ts";
import { HistogramRecorder, summarize } from "../histogram.ts";
import { sendTimingExtra } from "../send_timing.ts";
import type { LoadResult } from "../types.ts";
import {
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  errno,
  errnoName,
  MSG_DONTWAIT,
  openLibc,
  POLLIN,
  sockaddrIn,
  tcpConnect,
} from "./_libc.ts";
import {
  clock,
  CONN,
  CTL,
  LATE_US,
  OUTCOME,
  type SenderDone,
  type SenderStart,
} from "./_http_shared.ts";
import { monotonicOffsetMs, tickSafeStart } from "./_tick_phase.ts";

/** Version of this client, recorded as `toolVersion`. Bump when its measurement changes. */
export const HTTP_CLIENT_VERSION = "meshbench-http-client 2";

/**
 * How long before each due time the pacing thread stops sleeping and spins, by default
 * (microseconds): long enough to cover a futex wake-up that comes late on a busy 2-core machine
 * (`deno task bench:send-lag`, see docs/methodology.md). The spin is capped at
 * {@linkcode MAX_SPIN_SHARE} of the interval, so the pacer never spins more than a tenth of a core.
 */
export const DEFAULT_SPIN_US = 200;

/** The largest share of the interval between requests the pacer may spin. */
export const MAX_SPIN_SHARE = 0.1;

/** The spin the pacer uses: the requested one, capped at a share of the interval. */
export function effectiveSpinUs(spinUs: number, rate: number): number {
  return Math.min(spinUs, Math.floor(1e6 / rate * MAX_SPIN_SHARE));
}

/**
 * The spin before each due time the pacing thread is given: the whole interval (rounded up)
 * when it never sleeps, so each wake-up time is the previous due time, already past.
 */
function pacerSpinUs(o: Pick<HttpLoadOptions, "spinUs" | "rate" | "neverSleep">): number {
  return o.neverSleep
    ? Math.ceil(1e6 / o.rate)
    : effectiveSpinUs(o.spinUs ?? DEFAULT_SPIN_US, o.rate);
}

/** Options of one HTTP load run. */
export interface HttpLoadOptions {
  /** Target URLs (`http://IPv4:port/path`); connection i goes to `urls[i % urls.length]`. */
  urls: string[];
  /** Keep-alive connections in the pool (at most one request in flight on each). */
  connections: number;
  /** Requests per second over all connections. */
  rate: number;
  /** Seconds of sending: `round(rate x durationS)` requests are scheduled. */
  durationS: number;
  /** Request method (default GET). */
  method?: string;
  /** Extra request headers (Host, Content-Length and User-Agent are set by the client). */
  headers?: Record<string, string>;
  /** A request body of this many bytes (`x` repeated); excludes `body`. */
  bodyBytes?: number;
  /** A request body as text (UTF-8); excludes `bodyBytes` and `bodyFile`. */
  body?: string;
  /**
   * A request body read from this file, byte for byte (a body too large to pass on the
   * client's command line, as the inference workload's 128 KB payloads); excludes the others.
   */
  bodyFile?: string;
  /** Seconds a request may take from its actual send to the last byte (default 10). */
  timeoutS?: number;
  /** Seconds to wait for a connection to open (default 5). */
  connectTimeoutS?: number;
  /**
   * Spin before each due time, microseconds (default {@linkcode DEFAULT_SPIN_US}; capped at
   * {@linkcode MAX_SPIN_SHARE} of the interval).
   */
  spinUs?: number;
  /**
   * Run the pacing thread under SCHED_FIFO at this priority (1-99; needs CAP_SYS_NICE): the
   * kernel then wakes it ahead of every normal thread. Off (0) by default: on a machine shared
   * with the servers it preempts them at each send. Refused at run time when not permitted.
   */
  rtPriority?: number;
  /**
   * Start the schedule at the phase that keeps every due time furthest from the kernel's tick
   * grid (whole milliseconds of `CLOCK_MONOTONIC`, `_tick_phase.ts`); default true. False
   * starts it 20 ms after the sender is ready, at whatever phase that is.
   */
  tickAlign?: boolean;
  /**
   * Never sleep between sends: the pacing thread spins from due time to due time (a whole
   * core for the run, `spinUs` ignored), so no send waits for a wake-up. Default false.
   */
  neverSleep?: boolean;
}

type Checked = Required<Omit<HttpLoadOptions, "body" | "bodyBytes" | "bodyFile">> & {
  body: Uint8Array;
  targets: Array<{ ip: string; port: number; path: string; host: string }>;
};

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function check(options: HttpLoadOptions): Checked {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new RangeError(
      `Cannot run HTTP load: "${field}" ${expected}, got ${JSON.stringify(got)}`,
    );
  };
  const o = options;
  if (!Array.isArray(o.urls) || o.urls.length === 0) bad("urls", "must list URLs", o.urls);
  const targets = o.urls.map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return bad("urls", "must be http:// URLs", u);
    }
    if (url.protocol !== "http:") bad("urls", "must be http:// URLs", u);
    const ip = url.hostname === "localhost" ? "127.0.0.1" : url.hostname;
    const parts = ip.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      bad("urls", "must name an IPv4 address (or localhost)", u);
    }
    return { ip, port: Number(url.port || 80), path: url.pathname + url.search, host: url.host };
  });
  if (!Number.isInteger(o.connections) || o.connections < 1) {
    bad("connections", "must be a positive integer", o.connections);
  }
  if (!(o.rate > 0) || !Number.isFinite(o.rate)) bad("rate", "must be positive", o.rate);
  if (!(o.durationS > 0) || !Number.isFinite(o.durationS)) {
    bad("durationS", "must be positive", o.durationS);
  }
  const method = o.method ?? "GET";
  if (!TOKEN.test(method)) bad("method", "must be an HTTP method token", method);
  const headers = o.headers ?? {};
  for (const [k, v] of Object.entries(headers)) {
    if (!TOKEN.test(k)) bad("headers", "must have token names", k);
    if (typeof v !== "string" || /[\r\n]/.test(v)) bad("headers", "must be one-line strings", v);
    if (/^(host|content-length|transfer-encoding|connection)$/i.test(k)) {
      bad("headers", "must not set Host, Content-Length, Transfer-Encoding or Connection", k);
    }
  }
  const given = (["body", "bodyBytes", "bodyFile"] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) bad(given[0], `and ${given.slice(1).join(", ")} exclude each other`, given);
  if (o.bodyBytes !== undefined && (!Number.isInteger(o.bodyBytes) || o.bodyBytes < 0)) {
    bad("bodyBytes", "must be an integer of 0 or more", o.bodyBytes);
  }
  if (o.body !== undefined && typeof o.body !== "string") bad("body", "must be text", o.body);
  if (o.bodyFile !== undefined && (typeof o.bodyFile !== "string" || o.bodyFile === "")) {
    bad("bodyFile", "must be a file name", o.bodyFile);
  }
  const body = o.body !== undefined
    ? new TextEncoder().encode(o.body)
    : o.bodyFile !== undefined
    ? readBody(o.bodyFile, bad)
    : new Uint8Array(o.bodyBytes ?? 0).fill(0x78);
  const timeoutS = o.timeoutS ?? 10;
  const connectTimeoutS = o.connectTimeoutS ?? 5;
  const spinUs = o.spinUs ?? DEFAULT_SPIN_US;
  if (!(timeoutS > 0)) bad("timeoutS", "must be positive", timeoutS);
  if (!(connectTimeoutS > 0)) bad("connectTimeoutS", "must be positive", connectTimeoutS);
  if (!(spinUs >= 0 && spinUs <= 10_000)) bad("spinUs", "must be 0 to 10000", spinUs);
  const tickAlign = o.tickAlign ?? true;
  if (typeof tickAlign !== "boolean") bad("tickAlign", "must be true or false", tickAlign);
  const neverSleep = o.neverSleep ?? false;
  if (typeof neverSleep !== "boolean") bad("neverSleep", "must be true or false", neverSleep);
  const rtPriority = o.rtPriority ?? 0;
  if (!Number.isInteger(rtPriority) || rtPriority < 0 || rtPriority > 99) {
    bad("rtPriority", "must be an integer from 0 to 99", rtPriority);
  }
  return {
    urls: o.urls,
    connections: o.connections,
    rate: o.rate,
    durationS: o.durationS,
    method,
    headers,
    body,
    timeoutS,
    connectTimeoutS,
    spinUs,
    rtPriority,
    tickAlign,
    neverSleep,
    targets,
  };
}

function readBody(file: string, bad: (f: string, e: string, got: unknown) => never): Uint8Array {
  try {
    return Deno.readFileSync(file);
  } catch (e) {
    return bad("bodyFile", `must be a readable file (${(e as Error).message})`, file);
  }
}

/** The bytes of one request to `target`. */
function requestBytes(o: Checked, t: Checked["targets"][number]): Uint8Array {
  const lines = [`${o.method} ${t.path} HTTP/1.1`, `Host: ${t.host}`, "User-Agent: meshbench"];
  for (const [k, v] of Object.entries(o.headers)) lines.push(`${k}: ${v}`);
  if (o.body.length > 0 || !/^(GET|HEAD|DELETE|OPTIONS)$/.test(o.method)) {
    lines.push(`Content-Length: ${o.body.length}`);
  }
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + o.body.length);
  out.set(head);
  out.set(o.body, head.length);
  return out;
}

/** Incremental parser of one HTTP/1.x response on a connection. */
class ResponseParser {
  #head: number[] = [];
  #phase: "head" | "length" | "size" | "data" | "crlf" | "trailer" | "close" = "head";
  #remaining = 0;
  #line = "";
  status = 0;
  keepAlive = true;
  bytes = 0;
  error = "";

  constructor(readonly head: boolean) {}

  /** Feeds `buf`; true when the response is complete (`error` set when it is not HTTP). */
  feed(buf: Uint8Array): boolean {
    this.bytes += buf.length;
    let i = 0;
    while (i < buf.length) {
      switch (this.#phase) {
        case "head": {
          for (; i < buf.length; i++) {
            this.#head.push(buf[i]);
            const h = this.#head;
            const n = h.length;
            if (
              n >= 4 && h[n - 1] === 10 && h[n - 2] === 13 && h[n - 3] === 10 && h[n - 4] === 13
            ) {
              i++;
              if (this.#startBody()) return this.#finish(buf.length - i);
              break;
            }
            if (n > 65536) return this.#bad("response head over 64 KiB");
          }
          if (this.error) return true;
          break;
        }
        case "length": {
          const take = Math.min(this.#remaining, buf.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) return this.#finish(buf.length - i);
          break;
        }
        case "close":
          i = buf.length;
          break;
        case "data": {
          const take = Math.min(this.#remaining, buf.length - i);
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) {
            this.#phase = "crlf";
            this.#remaining = 2;
          }
          break;
        }
        case "crlf":
          this.#remaining--;
          i++;
          if (this.#remaining === 0) this.#phase = "size";
          break;
        case "size":
        case "trailer": {
          const c = buf[i++];
          if (c !== 10) {
            if (c !== 13) this.#line += String.fromCharCode(c);
            if (this.#line.length > 4096) return this.#bad("chunk line over 4 KiB");
            break;
          }
          const line = this.#line;
          this.#line = "";
          if (this.#phase === "trailer") {
            if (line === "") return this.#finish(buf.length - i);
            break;
          }
          const size = parseInt(line.split(";")[0].trim(), 16);
          if (!Number.isFinite(size) || size < 0) return this.#bad(`chunk size "${line}"`);
          if (size === 0) this.#phase = "trailer";
          else {
            this.#phase = "data";
            this.#remaining = size;
          }
          break;
        }
      }
    }
    return false;
  }

  /** The connection closed: true when that ends the response (a body read until close). */
  eof(): boolean {
    return this.#phase === "close";
  }

  #bad(why: string): boolean {
    this.error = why;
    return true;
  }

  #finish(extra: number): boolean {
    if (extra > 0) this.keepAlive = false; // bytes beyond the response: not ours to read
    return true;
  }

  /** Parses the head; true when the response has no body. */
  #startBody(): boolean {
    const text = String.fromCharCode(...this.#head);
    this.#head = [];
    const lines = text.split("\r\n");
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (!m) return this.#bad(`status line "${lines[0].slice(0, 40)}"`);
    const status = Number(m[2]);
    const h: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(":");
      if (c > 0) h[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim().toLowerCase();
    }
    if (status >= 100 && status < 200) return false; // interim: the real response follows
    this.status = status;
    const conn = h["connection"] ?? "";
    this.keepAlive = m[1] === "1" ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
    if (this.head || status === 204 || status === 304) return true;
    if (/\bchunked\b/.test(h["transfer-encoding"] ?? "")) {
      this.#phase = "size";
      return false;
    }
    if (h["content-length"] !== undefined) {
      const n = Number(h["content-length"]);
      if (!Number.isInteger(n) || n < 0) {
        return this.#bad(`content-length "${h["content-length"]}"`);
      }
      if (n === 0) return true;
      this.#phase = "length";
      this.#remaining = n;
      return false;
    }
    this.#phase = "close";
    this.keepAlive = false;
    return false;
  }
}

/** The name of an error outcome code. */
function outcomeKind(code: number): string {
  if (code === OUTCOME.closed) return "closed";
  if (code === OUTCOME.timeout) return "timeout";
  if (code === OUTCOME.badResponse) return "bad-response";
  if (code === OUTCOME.notSent) return "not-sent";
  if (code >= OUTCOME.recvBase) return `recv: ${errnoName(code - OUTCOME.recvBase)}`;
  if (code >= OUTCOME.sendBase) return `send: ${errnoName(code - OUTCOME.sendBase)}`;
  if (code >= OUTCOME.connectBase) return `connect: ${errnoName(code - OUTCOME.connectBase)}`;
  return `unknown outcome ${code}`;
}

/** Connection outcomes of a run. */
export interface HttpConnectionStats {
  requested: number;
  /** Opened before the first request. */
  opened: number;
  /** Not opened before the first request, by reason in `reasons`. */
  failed: number;
  /** Opened again after a close (server close, error, `Connection: close`). */
  reconnects: number;
  /** Closed by the client or the server during the run. */
  closed: number;
  reasons: Record<string, number>;
}

/**
 * Runs the load in this process (blocking this thread while it runs; use
 * {@linkcode runHttpLoad} from meshbench) and returns its result. Never throws for what the
 * network does (failures are counted); throws on invalid options.
 */
export async function httpLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const o = check(options);
  const libc = openLibc();
  const total = Math.max(1, Math.round(o.rate * o.durationS));
  const interval = 1000 / o.rate;
  const n = o.connections;
  const addrs = o.targets.map((t) => sockaddrIn(t.ip, t.port));
  const requests = o.targets.map((t) => requestBytes(o, t));
  const headOnly = o.method === "HEAD";
  const sab = (bytes: number) => new SharedArrayBuffer(bytes);
  const ctl = new Int32Array(sab(4 * CTL.size));
  const state = new Int32Array(sab(4 * n));
  const fds = new Int32Array(sab(4 * n)).fill(-1);
  const req = new Int32Array(sab(4 * n)).fill(-1);
  const sentAt = new Float64Array(sab(8 * total)).fill(NaN);
  const outcome = new Int32Array(sab(4 * total));
  const poolWait = new Float64Array(sab(8 * total)).fill(NaN);
  const doneAt = new Float64Array(total).fill(NaN);
  const status = new Int32Array(total);
  const connect = new HistogramRecorder();
  const conn: HttpConnectionStats = {
    requested: n,
    opened: 0,
    failed: 0,
    reconnects: 0,
    closed: 0,
    reasons: {},
  };
  const reason = (r: string) => (conn.reasons[r] = (conn.reasons[r] ?? 0) + 1);
  let bytesIn = 0;

  // Open the pool before the schedule starts, timing each set-up.
  for (let i = 0; i < n; i++) {
    const t0 = clock();
    const fd = tcpConnect(
      libc,
      addrs[i % addrs.length],
      o.connectTimeoutS * 1000,
      o.timeoutS * 1000,
    );
    if (typeof fd === "string") {
      reason(`connect: ${fd}`);
      state[i] = CONN.dead;
      continue;
    }
    connect.record((clock() - t0) * 1000);
    fds[i] = fd;
    state[i] = CONN.free;
    conn.opened++;
  }
  conn.failed = n - conn.opened;
  const wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd < 0) {
    throw new Error(`Cannot run HTTP load: eventfd failed (${errnoName(errno(libc))})`);
  }

  const worker = new Worker(new URL("./_http_sender.ts", import.meta.url), { type: "module" });
  // The sender's messages ("ready", then its SenderDone) and a failure of the worker, in order.
  const inbox: Array<{ data?: unknown; error?: Error }> = [];
  let wakeInbox: (() => void) | null = null;
  worker.onmessage = (e) => {
    inbox.push({ data: e.data });
    wakeInbox?.();
  };
  worker.onerror = (e) => {
    e.preventDefault();
    inbox.push({ error: new Error(`HTTP load sender failed: ${e.message}`) });
    wakeInbox?.();
  };
  const next = async (): Promise<unknown> => {
    while (inbox.length === 0) await new Promise<void>((r) => (wakeInbox = r));
    wakeInbox = null;
    const m = inbox.shift()!;
    if (m.error) throw m.error;
    return m.data;
  };
  let sender: SenderDone;
  const parsers: Array<ResponseParser | null> = new Array(n).fill(null);
  const openFd: number[] = Array.from(fds);
  let startMs = 0;
  // How far the due times keep from the kernel's tick grid (ms), when aligned to it.
  let tickDistanceMs: number | null = null;
  try {
    if ((await next()) !== "ready") throw new Error("HTTP load sender did not start");
    // The schedule starts once the sender runs (loading its module may take a while), at the
    // phase furthest from the tick grid unless asked not to.
    startMs = clock() + 20;
    if (o.tickAlign) {
      const aligned = tickSafeStart(startMs, interval, total, monotonicOffsetMs(libc, clock));
      startMs = aligned.startMs;
      tickDistanceMs = aligned.distanceMs;
    }
    const start: SenderStart = {
      ctl: ctl.buffer as SharedArrayBuffer,
      connState: state.buffer as SharedArrayBuffer,
      connFd: fds.buffer as SharedArrayBuffer,
      connReq: req.buffer as SharedArrayBuffer,
      sentAt: sentAt.buffer as SharedArrayBuffer,
      outcome: outcome.buffer as SharedArrayBuffer,
      poolWait: poolWait.buffer as SharedArrayBuffer,
      addrs,
      requests,
      startMs,
      intervalMs: interval,
      count: total,
      sendUntilMs: startMs + (o.durationS + o.timeoutS) * 1000,
      connectTimeoutMs: o.connectTimeoutS * 1000,
      sendTimeoutMs: o.timeoutS * 1000,
      spinUs: pacerSpinUs(o),
      rtPriority: o.rtPriority,
      wakeFd,
    };
    worker.postMessage(start);

    // Read answers until the sender is done and nothing is in flight (bounded).
    const timeoutMs = o.timeoutS * 1000;
    const hardEnd = startMs + (o.durationS + 2 * o.timeoutS + o.connectTimeoutS) * 1000 + 5000;
    const buf = new Uint8Array(65536);
    const pollBuf = new ArrayBuffer(8 * (n + 1));
    const pollI32 = new Int32Array(pollBuf);
    const pollI16 = new Int16Array(pollBuf);
    const pollBytes = new Uint8Array(pollBuf);
    const polled: number[] = new Array(n + 1);
    const eventBuf = new Uint8Array(8);
    const drop = (i: number, why: string | null) => {
      const fd = Atomics.load(fds, i);
      if (fd >= 0) libc.close(fd);
      Atomics.store(fds, i, -1);
      Atomics.store(req, i, -1);
      parsers[i] = null;
      if (why) reason(why);
      conn.closed++;
      Atomics.store(state, i, CONN.dead);
      Atomics.add(ctl, CTL.freed, 1);
      Atomics.notify(ctl, CTL.freed);
    };
    /** Ends request k on connection i with `code`; false when it had ended already. */
    const end = (k: number, code: number) =>
      Atomics.compareExchange(outcome, k, OUTCOME.pending, code) === OUTCOME.pending;
    for (;;) {
      const now = clock();
      let inFlight = 0;
      let nextDeadline = now + 20;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const st = Atomics.load(state, i);
        const fd = Atomics.load(fds, i);
        if (fd !== openFd[i]) {
          openFd[i] = fd;
          parsers[i] = null;
        }
        if (st === CONN.busy) {
          const k = Atomics.load(req, i);
          if (k >= 0) {
            if (Atomics.load(outcome, k) !== OUTCOME.pending) {
              drop(i, null); // the sender could not send on it
              continue;
            }
            inFlight++;
            const deadline = sentAt[k] + timeoutMs;
            if (now >= deadline) {
              if (end(k, OUTCOME.timeout)) doneAt[k] = now;
              drop(i, "timeout");
              continue;
            }
            nextDeadline = Math.min(nextDeadline, deadline);
          } else inFlight++;
        }
        if ((st === CONN.busy || st === CONN.free) && fd >= 0) {
          pollI32[2 * m] = fd;
          pollI16[4 * m + 2] = POLLIN;
          pollI16[4 * m + 3] = 0;
          polled[m++] = i;
        }
      }
      if (Atomics.load(ctl, CTL.senderDone) === 1 && inFlight === 0) break;
      if (now > hardEnd) {
        Atomics.store(ctl, CTL.stop, 1);
        break;
      }
      pollI32[2 * m] = wakeFd;
      pollI16[4 * m + 2] = POLLIN;
      pollI16[4 * m + 3] = 0;
      const wait = Math.max(0, Math.ceil(nextDeadline - now));
      const ready = libc.poll(pollBytes, BigInt(m + 1), wait);
      const t = clock();
      if (ready < 0) {
        const e = errno(libc);
        if (e === EINTR) continue;
        throw new Error(`Cannot run HTTP load: poll failed (${errnoName(e)})`);
      }
      if (ready === 0) continue;
      if (pollI16[4 * m + 3] !== 0) libc.read(wakeFd, eventBuf, 8n);
      for (let j = 0; j < m; j++) {
        if (pollI16[4 * j + 3] === 0) continue;
        const i = polled[j];
        const fd = pollI32[2 * j];
        let st = Atomics.load(state, i);
        if (st === CONN.free) {
          // Readable while idle: the server closed it (or sent what nobody asked for).
          if (Atomics.compareExchange(state, i, CONN.free, CONN.closing) !== CONN.free) {
            st = Atomics.load(state, i);
          } else {
            const r = Number(libc.recv(fd, buf, BigInt(buf.length), MSG_DONTWAIT));
            if (r < 0 && errno(libc) === EAGAIN) Atomics.store(state, i, CONN.free);
            else drop(i, r > 0 ? "unexpected data on an idle connection" : null);
            continue;
          }
        }
        if (st !== CONN.busy) continue;
        const k = Atomics.load(req, i);
        if (k < 0) continue; // claimed, not yet sent: its bytes come after the send
        let p = parsers[i];
        if (p === null) p = parsers[i] = new ResponseParser(headOnly);
        const r = Number(libc.recv(fd, buf, BigInt(buf.length), MSG_DONTWAIT));
        if (r < 0) {
          const e = errno(libc);
          if (e === EAGAIN || e === EINTR) continue;
          if (end(k, OUTCOME.recvBase + e)) doneAt[k] = t;
          drop(i, `recv: ${errnoName(e)}`);
          continue;
        }
        if (r === 0) {
          if (p.eof() && end(k, OUTCOME.response)) {
            status[k] = p.status;
            bytesIn += p.bytes;
            doneAt[k] = t;
          } else if (end(k, OUTCOME.closed)) doneAt[k] = t;
          drop(i, null);
          continue;
        }
        if (!p.feed(buf.subarray(0, r))) continue;
        if (p.error) {
          if (end(k, OUTCOME.badResponse)) doneAt[k] = t;
          drop(i, `bad response: ${p.error}`);
          continue;
        }
        if (end(k, OUTCOME.response)) {
          status[k] = p.status;
          bytesIn += p.bytes;
          doneAt[k] = t;
        }
        if (!p.keepAlive) {
          drop(i, null);
          continue;
        }
        parsers[i] = null;
        Atomics.store(req, i, -1);
        Atomics.store(state, i, CONN.free);
        Atomics.add(ctl, CTL.freed, 1);
        Atomics.notify(ctl, CTL.freed);
      }
    }
    sender = (await next()) as SenderDone;
    if (sender.rtError !== undefined) {
      throw new Error(
        `Cannot run HTTP load: SCHED_FIFO priority ${o.rtPriority} for the pacing thread was ` +
          `refused (${sender.rtError}; it needs CAP_SYS_NICE)`,
      );
    }
  } finally {
    Atomics.store(ctl, CTL.stop, 1);
    Atomics.notify(ctl, CTL.freed);
    worker.terminate();
    for (let i = 0; i < n; i++) {
      const fd = Atomics.load(fds, i);
      if (fd >= 0) libc.close(fd);
    }
    libc.close(wakeFd);
  }

  // Per request: response time, send lag, service time; errors by kind; statuses.
  const latency = new HistogramRecorder();
  const service = new HistogramRecorder();
  const sendLag = new HistogramRecorder();
  const pool = new HistogramRecorder();
  const errorKinds: Record<string, number> = {};
  const statusCodes: Record<string, number> = {};
  const count = (map: Record<string, number>, key: string) => (map[key] = (map[key] ?? 0) + 1);
  const okDone: number[] = [];
  const okResponseMs: number[] = [];
  let sentInWindow = 0;
  let responses = 0;
  let lagMax = 0;
  for (let k = 0; k < total; k++) {
    const intended = startMs + k * interval;
    const sent = sentAt[k];
    if (!Number.isNaN(sent)) {
      const wait = Number.isNaN(poolWait[k]) ? 0 : poolWait[k];
      pool.record(wait * 1000);
      const lag = Math.max(0, sent - wait - intended);
      lagMax = Math.max(lagMax, lag);
      sendLag.record(lag * 1000);
      if (sent - startMs < o.durationS * 1000) sentInWindow++;
    }
    const oc = outcome[k];
    if (oc === OUTCOME.response) {
      responses++;
      const code = status[k];
      count(statusCodes, String(code));
      const rt = Math.max(0, doneAt[k] - intended);
      latency.record(rt * 1000);
      service.record(Math.max(0, doneAt[k] - sent) * 1000);
      if (code >= 200 && code < 400) {
        okDone.push(doneAt[k]);
        okResponseMs.push(rt);
      } else count(errorKinds, `http_${code}`);
    } else count(errorKinds, oc === OUTCOME.pending ? "not-sent" : outcomeKind(oc));
  }
  const sorted = Float64Array.from(okResponseMs).sort();
  const shiftMs = sorted.length ? sorted[(sorted.length - 1) >> 1] : 0;
  const from = startMs + shiftMs;
  const to = from + o.durationS * 1000;
  const completedInWindow = okDone.filter((d) => d >= from && d <= to).length;
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  for (const [r, c] of Object.entries(sender.connectFailures)) conn.reasons[`reconnect: ${r}`] = c;
  conn.reconnects = sender.reconnects;
  for (const us of sender.connectUs) connect.record(us);
  const connectHist = connect.toHistogram();
  const poolHist = pool.toHistogram();
  return {
    tool: "http-client",
    toolVersion: HTTP_CLIENT_VERSION,
    timing: "intended-send",
    requestedRate: o.rate,
    achievedRate: completedInWindow / o.durationS,
    durationS: o.durationS,
    connections: n,
    operations: total,
    errors,
    errorKinds,
    bytesIn,
    bytesOut: sender.bytesOut,
    latency: latency.toHistogram(),
    extra: {
      scheduled: total,
      sent: sender.sent,
      responses,
      statusCodes,
      method: o.method,
      bodyBytes: o.body.length,
      completedInWindow,
      windowShiftMs: shiftMs,
      sentRate: sentInWindow / o.durationS,
      successfulRate: okDone.length / o.durationS,
      generator: {
        spinUs: pacerSpinUs(o),
        pacing: o.neverSleep ? "spin" : "sleep",
        timerSlackNs: sender.timerSlackNs,
        // Requests taken up more than LATE_US late, by cause (see LateCause).
        late: { thresholdUs: LATE_US, ...sender.late },
        // The nearest any due time came to the kernel's tick grid (null: not aligned).
        tickDistanceUs: tickDistanceMs === null ? null : Math.round(tickDistanceMs * 1000),
        ...(o.rtPriority > 0 ? { rtPriority: o.rtPriority } : {}),
      },
      connections: conn,
      connect: connectHist,
      connectMs: connectHist.total > 0 ? summarize(connectHist) : null,
      poolWait: poolHist,
      poolWaitMs: poolHist.total > 0 ? summarize(poolHist) : null,
      waitedForConnection: sender.waitedForConnection,
      ...sendTimingExtra(sendLag.toHistogram(), service.toHistogram()),
      maxSendLagMs: lagMax,
    },
  };
}

/** How the client process runs: CPU pinning of the whole process (a `taskset -c` list). */
export interface HttpClientProcess {
  cpus?: string;
}

/**
 * The command that runs {@linkcode httpLoad} in its own Deno process, printing JSON (FFI for
 * the sockets, read for its own files). `taskset` execs Deno, so the spawned pid is the
 * client's (resource sampling).
 */
export function httpClientCommand(
  options: HttpLoadOptions,
  process: HttpClientProcess = {},
): string[] {
  check(options);
  return [
    ...(process.cpus !== undefined ? ["taskset", "-c", process.cpus] : []),
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--allow-ffi",
    "--allow-read",
    new URL(import.meta.url).pathname,
    JSON.stringify(options),
  ];
}

/** What {@linkcode runHttpLoad} returns. */
export interface HttpRun {
  result: LoadResult;
  /** The client's JSON output as it came (the raw output of the run). */
  raw: string;
  command: string[];
}

/**
 * Runs the client in its own process through `runner` and parses what it prints.
 * Throws when the process fails or prints something that is not a result.
 */
export async function runHttpLoad(
  runner: Runner,
  options: HttpLoadOptions,
  run: { signal?: AbortSignal; onSpawn?: (pid: number) => void; process?: HttpClientProcess } = {},
): Promise<HttpRun> {
  const command = httpClientCommand(options, run.process);
  const o = check(options);
  const timeoutMs = Math.round((o.connectTimeoutS * 2 + o.durationS + o.timeoutS * 2 + 30) * 1000);
  const out = await runner.run(command, { timeoutMs, signal: run.signal, onSpawn: run.onSpawn });
  return { result: parseHttpClientOutput(out.stdout), raw: out.stdout, command };
}

/** Parses the JSON the client process prints, checking it is an http-client result. */
export function parseHttpClientOutput(text: string): LoadResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Cannot parse HTTP client output: ${(e as Error).message}; output starts ${
        JSON.stringify(text.slice(0, 80))
      }`,
    );
  }
  const r = doc as Partial<LoadResult>;
  if (r?.tool !== "http-client") {
    throw new Error(
      `Cannot parse HTTP client output: "tool" should be "http-client", got ${
        JSON.stringify(r?.tool)
      }`,
    );
  }
  const h = r.latency;
  if (
    !h || !Array.isArray(h.values) || !Array.isArray(h.counts) || typeof r.operations !== "number"
  ) {
    throw new Error("Cannot parse HTTP client output: no latency histogram or operations");
  }
  return r as LoadResult;
}

if (import.meta.main) {
  const arg = Deno.args[0];
  if (!arg) {
    console.error(
      'usage: http_client.ts \'{"urls":["http://127.0.0.1:8080/"],"connections":8,' +
        '"rate":500,"durationS":5}\'',
    );
    Deno.exit(2);
  }
  try {
    const result = await httpLoad(JSON.parse(arg) as HttpLoadOptions);
    console.log(JSON.stringify(result));
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
