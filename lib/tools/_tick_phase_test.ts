import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { openLibc } from "./_libc.ts";
import { clock } from "./_http_shared.ts";
import { monotonicOffsetMs, tickDistanceMs, tickSafeStart } from "./_tick_phase.ts";

const close = (a: number, b: number, eps = 1e-6) => Math.abs(a - b) < eps;

Deno.test("tickDistanceMs is the distance to the nearest whole millisecond of the monotonic clock", () => {
  assert(close(tickDistanceMs(10.5, 0), 0.5));
  assert(close(tickDistanceMs(10.02, 0), 0.02));
  assert(close(tickDistanceMs(10.98, 0), 0.02));
  // The clock runs 3.25 ms ahead of CLOCK_MONOTONIC: 10.27 is 7.02 there.
  assert(close(tickDistanceMs(10.27, 3.25), 0.02));
});

Deno.test("tickSafeStart puts every due time as far from the tick grid as the interval allows", () => {
  // 2 ms apart: every due time half a millisecond from a whole one (to the 1/64 ms tried).
  const a = tickSafeStart(1000.3, 2, 2500, 0);
  assert(a.startMs >= 1000.3 && a.startMs < 1001.3, `${a.startMs}`);
  assert(a.distanceMs >= 0.5 - 1 / 64, `${a.distanceMs}`);
  for (let k = 0; k < 2500; k += 7) {
    assert(tickDistanceMs(a.startMs + 2 * k, 0) >= a.distanceMs - 1e-6, `k ${k}`);
  }
  // 1.25 ms apart (800/s): the due times take four phases a quarter millisecond apart, so
  // the best keeps them an eighth of a millisecond from the grid.
  const b = tickSafeStart(5000.01, 1.25, 4000, 0.4);
  assert(b.distanceMs >= 0.125 - 1 / 64 && b.distanceMs <= 0.125 + 1e-6, `${b.distanceMs}`);
  // A single request: half a millisecond.
  assert(tickSafeStart(7.9, 1000, 1, 0).distanceMs >= 0.5 - 1 / 64);
});

Deno.test("monotonicOffsetMs reads the same offset of the client's clock from CLOCK_MONOTONIC twice", () => {
  const libc = openLibc();
  const a = monotonicOffsetMs(libc, clock);
  const b = monotonicOffsetMs(libc, clock);
  assert(Number.isFinite(a));
  // Both clocks run at the same rate: the two readings agree to well under a millisecond.
  assert(Math.abs(a - b) < 0.5, `${a} ${b}`);
  assertEquals(typeof a, "number");
});
