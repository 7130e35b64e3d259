/**
 * Where the HTTP client's schedule sits against the kernel's periodic tick. Linux runs its
 * scheduler tick on a busy CPU every 1/HZ s, at whole multiples of the tick period on
 * `CLOCK_MONOTONIC` (the first tick is aligned to it, `tick_init_jiffy_update`); for HZ 100,
 * 250 and 1000 every tick falls on a whole millisecond. A tick costs the thread that runs on
 * that CPU 20-60 us on the 2-core VM meshbench was measured on (an emulated timer interrupt,
 * and the point where the scheduler preempts it), so a tick in the last tens of microseconds
 * before a due time makes that send late. At 500/s (2 ms) against HZ 250 (4 ms), the phase of
 * the schedule against the ticks is fixed for the whole run: with every other due time 20 us
 * after a tick, 382-761 of 2,500 sends of the C floor stalled more than 10 us (no context
 * switch), against 8-24 with due times half a millisecond from the grid, same machine, same
 * load (docs/methodology.md). The client therefore starts its schedule at the phase that keeps
 * its due times furthest from whole milliseconds.
 *
 * @module
 */
import type { Libc } from "./_libc.ts";

/** `CLOCK_MONOTONIC` for `clock_gettime`. */
export const CLOCK_MONOTONIC = 1;

/** The grid the ticks fall on (ms): a whole millisecond covers HZ 100, 250 and 1000. */
export const TICK_GRID_MS = 1;

/** How many start phases within one grid step are tried. */
const PHASES = 64;

/** How many due times are checked per phase (the pattern repeats well within this). */
const CHECKED = 4000;

/**
 * The offset of a clock (ms, e.g. the client's `clock()`) from `CLOCK_MONOTONIC` (ms): the
 * clock's reading minus the monotonic one, from the tightest of 20 back-to-back readings.
 */
export function monotonicOffsetMs(libc: Libc, clock: () => number): number {
  const ts = new BigInt64Array(2);
  const bytes = new Uint8Array(ts.buffer);
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 20; i++) {
    const a = clock();
    if (libc.clock_gettime(CLOCK_MONOTONIC, bytes) !== 0) {
      throw new Error("clock_gettime(CLOCK_MONOTONIC) failed");
    }
    const b = clock();
    if (b - a < best) {
      best = b - a;
      offset = (a + b) / 2 - (Number(ts[0]) * 1000 + Number(ts[1]) / 1e6);
    }
  }
  return offset;
}

/**
 * How far due time `dueMs` (clock ms) is from the nearest whole millisecond of
 * `CLOCK_MONOTONIC` (ms, 0 to half a grid step), given the clock's `offsetMs` from it.
 */
export function tickDistanceMs(dueMs: number, offsetMs: number): number {
  const mono = dueMs - offsetMs;
  const f = mono - Math.floor(mono / TICK_GRID_MS) * TICK_GRID_MS;
  return Math.min(f, TICK_GRID_MS - f);
}

/**
 * The start (clock ms, at or after `earliestMs` and less than a grid step later) of a
 * schedule of `count` requests `intervalMs` apart whose due times keep furthest from the tick
 * grid: the phase whose nearest due time to a whole millisecond is the furthest. Returns it
 * with that distance (ms).
 */
export function tickSafeStart(
  earliestMs: number,
  intervalMs: number,
  count: number,
  offsetMs: number,
): { startMs: number; distanceMs: number } {
  const n = Math.min(count, CHECKED);
  let bestStart = earliestMs;
  let bestDistance = -1;
  for (let p = 0; p < PHASES; p++) {
    const start = earliestMs + p * TICK_GRID_MS / PHASES;
    let nearest = Infinity;
    for (let k = 0; k < n && nearest > bestDistance; k++) {
      nearest = Math.min(nearest, tickDistanceMs(start + k * intervalMs, offsetMs));
    }
    if (nearest > bestDistance) {
      bestDistance = nearest;
      bestStart = start;
    }
  }
  return { startMs: bestStart, distanceMs: bestDistance };
}
