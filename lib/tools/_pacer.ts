/**
 * The pacing primitives of meshbench's HTTP load client (`_http_sender.ts`), one set per thread
 * that imports them: sleep on a futex with 1 ns timer slack, spin on the clock to the due time,
 * and say why a request was taken up late. `bench/send_lag.ts` runs the same primitives with
 * nothing to send, the floor of this machine's pacing.
 *
 * @module
 */
import {
  openLibc,
  PR_SET_TIMERSLACK,
  RU_NIVCSW_OFFSET,
  RU_NVCSW_OFFSET,
  RUSAGE_THREAD,
} from "./_libc.ts";
import { clock, LATE_US, type LateCause } from "./_http_shared.ts";

const libc = openLibc();
/**
 * This thread's timer slack (ns), set on import, or null when it could not be set: the
 * kernel otherwise may defer a sleeping thread's wake-up by 50 us.
 */
export const timerSlackNs: number | null = libc.prctl(PR_SET_TIMERSLACK, 1n, 0n, 0n, 0n) === 0
  ? 1
  : null;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
// struct rusage, read as 32-bit words (the counters' low halves: no BigInt per reading).
const rusage = new Int32Array(36);
const rusageBytes = new Uint8Array(rusage.buffer);
const now = new Int32Array(2);

/**
 * Reads the thread's context switches so far (`getrusage(RUSAGE_THREAD)`) into `out`:
 * `[voluntary, involuntary]`. Between two readings, an involuntary one means another thread
 * took the CPU; a voluntary one that the thread slept itself (a page fault on disk, a lock).
 */
export function readSwitches(out: Int32Array): void {
  libc.getrusage(RUSAGE_THREAD, rusageBytes);
  out[0] = rusage[RU_NVCSW_OFFSET / 4];
  out[1] = rusage[RU_NIVCSW_OFFSET / 4];
}

/** Sleeps on the futex until `untilMs` (clock ms) when that is ahead; returns the clock then. */
export function sleepUntil(untilMs: number): number {
  const ms = untilMs - clock();
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
  return clock();
}

/** Spins until `due` (clock ms); returns the first clock reading at or past it. */
export function spinUntil(due: number): number {
  let t = clock();
  while (t < due) t = clock();
  return t;
}

/**
 * Why a request due at `due` and sent at `sent` was more than {@linkcode LATE_US} late, or
 * null when it was not: `top` is when the pacer turned to it, `woke` when its sleep ended,
 * `switches` the {@linkcode readSwitches} reading taken then (read again here).
 */
export function lateCause(
  due: number,
  top: number,
  woke: number,
  sent: number,
  switches: Int32Array,
): LateCause | null {
  if ((sent - due) * 1000 <= LATE_US) return null;
  if (top > due) return "behind";
  if (woke > due) return "wokeLate";
  readSwitches(now);
  if (now[0] !== switches[0]) return "blocked";
  return now[1] !== switches[1] ? "preempted" : "stalled";
}

/**
 * Runs the pacing path (sleep, context-switch count, spin) a few hundred times, so that V8 has
 * compiled it and collected the garbage its first, unoptimized runs leave (every clock reading
 * a heap number) before a schedule starts: cold, the first ~50 requests met two stalls of
 * ~0.6 ms each (an on-stack replacement and a scavenge in the spin).
 */
export function warmUp(): void {
  const switches = new Int32Array(2);
  for (let i = 0; i < 400; i++) {
    const due = clock() + 0.05;
    sleepUntil(due - 0.03);
    readSwitches(switches);
    lateCause(due, due, due, spinUntil(due), switches);
  }
}
