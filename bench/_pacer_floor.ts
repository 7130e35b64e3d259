/**
 * The floor of the HTTP client's pacing on this machine (`deno task bench:send-lag`'s
 * `pacer floor` candidates): the client's own pacing primitives (`lib/tools/_pacer.ts`: futex
 * sleep with 1 ns slack, spin, warm-up, late causes) on the same schedule, in a process of its
 * own, with nothing to send, no connections, no reading thread and no server. What is late
 * here is the machine's (its interrupts, its scheduler, its other load), not the client's: a
 * client candidate's send lag above its floor's is the client's own.
 *
 * The schedule starts at the phase the client picks (`tickAlign`, default true: every due time
 * furthest from the kernel's tick grid, `lib/tools/_tick_phase.ts`).
 *
 * Usage: `deno run --allow-ffi --allow-read bench/_pacer_floor.ts '{"rate":500,"durationS":5,
 * "spinUs":200,"rtPriority":0}'`; prints `{"sendLag": <histogram>, "late": {...},
 * "tickDistanceUs": <the nearest a due time came to the tick grid, or null>}`.
 *
 * @module
 */
import { HistogramRecorder } from "../lib/histogram.ts";
import { clock, LATE_US, type LateCause } from "../lib/tools/_http_shared.ts";
import { errno, errnoName, openLibc, SCHED_FIFO } from "../lib/tools/_libc.ts";
import {
  lateCause,
  readSwitches,
  sleepUntil,
  spinUntil,
  timerSlackNs,
  warmUp,
} from "../lib/tools/_pacer.ts";
import { effectiveSpinUs } from "../lib/tools/http_client.ts";
import { monotonicOffsetMs, tickSafeStart } from "../lib/tools/_tick_phase.ts";

const { rate, durationS, spinUs, rtPriority, tickAlign = true } = JSON.parse(Deno.args[0]) as {
  rate: number;
  durationS: number;
  spinUs: number;
  rtPriority: number;
  tickAlign?: boolean;
};
const libc = openLibc();
if (rtPriority > 0) {
  const param = new Int32Array([rtPriority]);
  if (libc.sched_setscheduler(0, SCHED_FIFO, new Uint8Array(param.buffer)) !== 0) {
    console.error(`SCHED_FIFO ${rtPriority} refused: ${errnoName(errno(libc))}`);
    Deno.exit(1);
  }
}
warmUp();
const spinMs = effectiveSpinUs(spinUs, rate) / 1000;
const intervalMs = 1000 / rate;
const count = Math.round(rate * durationS);
const lag = new HistogramRecorder();
const late: Record<LateCause, number> = {
  behind: 0,
  wokeLate: 0,
  preempted: 0,
  blocked: 0,
  stalled: 0,
};
const switches = new Int32Array(2);
let start = clock() + 20;
let tickDistanceMs: number | null = null;
if (tickAlign) {
  const aligned = tickSafeStart(start, intervalMs, count, monotonicOffsetMs(libc, clock));
  start = aligned.startMs;
  tickDistanceMs = aligned.distanceMs;
}
for (let k = 0; k < count; k++) {
  const due = start + k * intervalMs;
  const top = clock();
  const woke = sleepUntil(due - spinMs);
  readSwitches(switches);
  const ready = spinUntil(due);
  const cause = lateCause(due, top, woke, ready, switches);
  if (cause !== null) late[cause]++;
  lag.record((ready - due) * 1000);
}
console.log(JSON.stringify({
  sendLag: lag.toHistogram(),
  late: { thresholdUs: LATE_US, ...late },
  timerSlackNs,
  tickDistanceUs: tickDistanceMs === null ? null : Math.round(tickDistanceMs * 1000),
}));
