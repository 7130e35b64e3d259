/**
 * What the HTTP load client's two threads share: the layout of their shared memory and the
 * codes written into it. The pacing thread (`_http_sender.ts`) claims a connection and sends
 * request k at its due time; the reading thread (`http_client.ts`) reads the answers, times
 * them and frees the connection.
 *
 * @module
 */

/** Indices into the control array (`Int32Array` over a `SharedArrayBuffer`). */
export const CTL = {
  /** Set to 1 to ask the sender to stop. */
  stop: 0,
  /** The sender sets 1 when it has handled every request. */
  senderDone: 1,
  /** Incremented (and notified) each time the reader frees or drops a connection. */
  freed: 2,
  size: 4,
} as const;

/** A connection's state (`Int32Array`, one per connection). */
export const CONN = {
  /** Open, no request on it. */
  free: 0,
  /** Claimed by the sender; its request is in `connReq` once sent (-1 before). */
  busy: 1,
  /** No socket: never opened, or closed; the sender reconnects it when it needs it. */
  dead: 2,
  /** The reader is checking or closing it. */
  closing: 3,
  /** The sender is opening a new socket for it. */
  connecting: 4,
} as const;

/**
 * What became of request k (`Int32Array`, one per request): 0 pending, 1 an HTTP response (its
 * status is in the reader's own array), otherwise an error: a fixed code, or a base plus the
 * errno of the failed call.
 */
export const OUTCOME = {
  pending: 0,
  response: 1,
  /** The connection closed before the whole response came. */
  closed: 4,
  /** No complete response within the timeout (from the actual send). */
  timeout: 5,
  /** Bytes that are not an HTTP/1.x response. */
  badResponse: 6,
  /** Never sent: no connection became free before the sending window ended. */
  notSent: 7,
  connectBase: 1000,
  sendBase: 2000,
  recvBase: 3000,
} as const;

/**
 * A send lag above this (microseconds) is counted by its cause (`SenderDone.late`): a tenth of
 * the ~0.1 ms service time of an idle nginx on loopback, the share the `generator-limited` flag
 * reads by default.
 */
export const LATE_US = 10;

/**
 * Why the pacer took a request up late:
 * - `behind`: it was still busy with earlier requests at the due time (no sleep, no spin);
 * - `wokeLate`: its sleep ended after the due time (the wake-up came later than the spin);
 * - `preempted`: it woke in time but lost its CPU to another thread while spinning or claiming
 *   a connection (the thread's involuntary context switches went up);
 * - `blocked`: it woke in time but then slept itself (a voluntary context switch: a page
 *   fault that had to read from disk, a lock, a reconnect of a closed connection);
 * - `stalled`: it woke in time and was not switched out, yet it sent past the due time (an
 *   interrupt, the hypervisor, or its own isolate's garbage collection).
 */
export type LateCause = "behind" | "wokeLate" | "preempted" | "blocked" | "stalled";

/** What the client posts to start the sender. */
export interface SenderStart {
  ctl: SharedArrayBuffer;
  connState: SharedArrayBuffer;
  connFd: SharedArrayBuffer;
  connReq: SharedArrayBuffer;
  /** Float64 per request: when it was actually sent (clock ms), NaN until then. */
  sentAt: SharedArrayBuffer;
  outcome: SharedArrayBuffer;
  /**
   * Float64 per request: how long it waited for a free connection (ms), NaN until sent. While
   * the sender is behind because of such waits (a backlog), from the request's due time to its
   * send (the whole delay); else 0 (its delay is the pacer's send lag).
   */
  poolWait: SharedArrayBuffer;
  /** `sockaddr_in` of each URL; connection i goes to URL `i % urls`. */
  addrs: Uint8Array[];
  /** The request bytes for each URL. */
  requests: Uint8Array[];
  /** Due time of request 0 (clock ms) and the interval between requests. */
  startMs: number;
  intervalMs: number;
  count: number;
  /** No request is sent after this (clock ms); those left are `notSent`. */
  sendUntilMs: number;
  connectTimeoutMs: number;
  sendTimeoutMs: number;
  /** How long before each due time the sender stops sleeping and spins (microseconds). */
  spinUs: number;
  /** SCHED_FIFO priority of the sender's thread (1-99), or 0 to leave it as it is. */
  rtPriority: number;
  /** eventfd the sender writes after opening a socket, so the reader polls it. */
  wakeFd: number;
}

/** What the sender posts when it has finished. */
export interface SenderDone {
  bytesOut: number;
  sent: number;
  reconnects: number;
  /** Connection set-up times of reconnects (microseconds). */
  connectUs: number[];
  /** Failed reconnects by errno name. */
  connectFailures: Record<string, number>;
  /**
   * Requests that found every connection busy when the pacer woke for them (up to the spin
   * before their due time) and waited for one.
   */
  waitedForConnection: number;
  /** Requests the pacer took up more than {@linkcode LATE_US} after their due time, by why. */
  late: Record<LateCause, number>;
  /** The timer slack the sender's thread got (ns), or null when it could not be set. */
  timerSlackNs: number | null;
  /** Why the requested SCHED_FIFO priority could not be set (errno name); absent when it was. */
  rtError?: string;
}

/** This thread's time origin (each worker has its own), read once: its getter is not free. */
const ORIGIN = performance.timeOrigin;

/** The client's clock (ms); the same in every thread of the process. */
export const clock = (): number => ORIGIN + performance.now();
