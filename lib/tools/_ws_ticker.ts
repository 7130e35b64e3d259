/**
 * Worker of the WebSocket load client: wakes the client's thread at each scheduled send
 * time. Deno's timers fire 1-2 ms late; `Atomics.wait` in a worker sleeps to within about
 * 0.1 ms, so the sends (and the latency measured from their scheduled times) are not smeared
 * by the timer. The worker counts ticks in `ticks[0]` and notifies; `ticks[1]` = 1 at the end.
 *
 * @module
 */

/** What the client posts to start the ticker. */
export interface TickerStart {
  ticks: SharedArrayBuffer;
  /** Time of tick 0, on this worker's clock: `performance.timeOrigin + performance.now()`. */
  startMs: number;
  intervalMs: number;
  count: number;
}

// deno-lint-ignore no-explicit-any
const worker = self as any;
worker.onmessage = (e: MessageEvent<TickerStart>) => {
  const { ticks, startMs, intervalMs, count } = e.data;
  const t = new Int32Array(ticks);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let k = 0; k < count; k++) {
    // The client may stop early (a failed run): ticks[1] = 2 asks the worker to end.
    if (Atomics.load(t, 1) === 2) break;
    const due = startMs + k * intervalMs;
    const wait = due - (performance.timeOrigin + performance.now());
    if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
    Atomics.store(t, 0, k + 1);
    Atomics.notify(t, 0);
  }
  Atomics.store(t, 1, 1);
  Atomics.notify(t, 0);
};
