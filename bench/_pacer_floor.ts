/**
 * The floor of the HTTP client's pacing on this machine (`deno task bench:send-lag`'s
 * `pacer floor` candidates): the client's own pacing primitives (`lib/tools/_pacer.ts`: futex
 * sleep with 1 ns slack, spin, warm-up, late causes) on the same schedule, in a process of its
 * own, with nothing to send, no connections, no reading thread and no server. What is late
 * here is the machine's (its interrupts, its scheduler, its other load), not the client's: a
 * client candidate's send lag above its floor's is the client's own.
 *
 * Usage: `deno run --allow-ffi --allow-read bench/_pacer_floor.ts '{"rate":500,"durationS":5,
 * "spinUs":200,"rtPriority":0}'`; prints `{"sendLag": <histogram>, "late": {...}}`.
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

const { rate, durationS, spinUs, rtPriority } = JSON.parse(Deno.args[0]) as {
  rate: number;
  durationS: number;
  spinUs: number;
  rtPriority: number;
};
if (rtPriority > 0) {
  const libc = openLibc();
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
const start = clock() + 20;
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
}));
