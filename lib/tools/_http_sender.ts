/**
 * The pacing thread of meshbench's HTTP load client: for each due time it claims a free
 * connection, then at the due time writes request k with a blocking `send` itself, so the
 * request leaves within microseconds of it (no hop to an event loop, whose timers fire a
 * millisecond late).
 *
 * It sleeps on a futex (`Atomics.wait`) until `spinUs` before the due time, claims the
 * connection, then spins on the clock to the due time; its timer slack is set to 1 ns
 * (`PR_SET_TIMERSLACK`), so the kernel does not round its wake-ups up by the default 50 us.
 * CPU: one spin of at most `spinUs` per request (at most a tenth of the interval), sleep
 * otherwise. When every connection is busy, the request waits for the reader to free one (it
 * keeps its intended send time: the wait is in its latency, and in `poolWait`). A request sent
 * more than `LATE_US` late is counted by why (`SenderDone.late`: behind, woke late, preempted,
 * blocked, stalled).
 *
 * @module
 */
import {
  EINTR,
  errno,
  errnoName,
  MSG_NOSIGNAL,
  openLibc,
  SCHED_FIFO,
  tcpConnect,
} from "./_libc.ts";
import { lateCause, readSwitches, sleepUntil, spinUntil, timerSlackNs, warmUp } from "./_pacer.ts";
import { clock, CONN, CTL, OUTCOME, type SenderDone, type SenderStart } from "./_http_shared.ts";

const ERRNO_BY_NAME: Record<string, number> = { ETIMEDOUT: 110 };

const libc = openLibc();

function run(s: SenderStart): SenderDone {
  // Real-time scheduling of this thread only (pid 0 is the calling thread), when asked for.
  let rtError: string | undefined;
  if (s.rtPriority > 0) {
    const param = new Int32Array([s.rtPriority]);
    if (libc.sched_setscheduler(0, SCHED_FIFO, new Uint8Array(param.buffer)) !== 0) {
      rtError = errnoName(errno(libc));
    }
  }
  const ctl = new Int32Array(s.ctl);
  const state = new Int32Array(s.connState);
  const fds = new Int32Array(s.connFd);
  const req = new Int32Array(s.connReq);
  const sentAt = new Float64Array(s.sentAt);
  const outcome = new Int32Array(s.outcome);
  const poolWait = new Float64Array(s.poolWait);
  const n = state.length;
  const wake = new BigUint64Array([1n]);
  const done: SenderDone = {
    bytesOut: 0,
    sent: 0,
    reconnects: 0,
    connectUs: [],
    connectFailures: {},
    waitedForConnection: 0,
    late: { behind: 0, wokeLate: 0, preempted: 0, blocked: 0, stalled: 0 },
    timerSlackNs,
    ...(rtError !== undefined ? { rtError } : {}),
  };
  if (rtError !== undefined) {
    // The run was asked for real-time pacing: do not pace without it.
    Atomics.store(ctl, CTL.senderDone, 1);
    libc.write(s.wakeFd, new Uint8Array(wake.buffer), 8n);
    return done;
  }
  const fail = (k: number, code: number) => Atomics.compareExchange(outcome, k, 0, code);
  let rr = 0;
  // Set when a request had to wait for a connection, until the sender is on time again: the
  // lateness of those requests is the pool's, not the pacer's.
  let backlog = false;
  // The thread's context switches when its spin began ([voluntary, involuntary]).
  const switches = new Int32Array(2);
  for (let k = 0; k < s.count; k++) {
    if (Atomics.load(ctl, CTL.stop) !== 0) {
      for (let j = k; j < s.count; j++) fail(j, OUTCOME.notSent);
      break;
    }
    const due = s.startMs + k * s.intervalMs;
    const top = clock();
    const wakeAt = due - s.spinUs / 1000;
    if (wakeAt > top) backlog = false;
    const woke = sleepUntil(wakeAt);
    readSwitches(switches);
    // Claim a connection first, in the spin's time before the due time, so that after the spin
    // only the send is left (claimed after it, its ~2-6 us were in every request's lag).
    let conn = -1;
    let failed = false;
    let waited = false;
    while (conn < 0 && !failed) {
      // Read the counter before looking, so a connection freed meanwhile wakes the wait below.
      const seen = Atomics.load(ctl, CTL.freed);
      for (let j = 0; j < n && conn < 0; j++) {
        const c = (rr + j) % n;
        if (Atomics.compareExchange(state, c, CONN.free, CONN.busy) === CONN.free) conn = c;
      }
      for (let j = 0; j < n && conn < 0; j++) {
        const c = (rr + j) % n;
        if (Atomics.compareExchange(state, c, CONN.dead, CONN.connecting) !== CONN.dead) continue;
        const t0 = clock();
        const fd = tcpConnect(
          libc,
          s.addrs[c % s.addrs.length],
          s.connectTimeoutMs,
          s.sendTimeoutMs,
        );
        if (typeof fd === "string") {
          Atomics.store(state, c, CONN.dead);
          done.connectFailures[fd] = (done.connectFailures[fd] ?? 0) + 1;
          fail(k, OUTCOME.connectBase + (ERRNO_BY_NAME[fd] ?? errnoCode(fd)));
          failed = true;
          break;
        }
        done.reconnects++;
        done.connectUs.push((clock() - t0) * 1000);
        Atomics.store(fds, c, fd);
        Atomics.store(req, c, -1);
        Atomics.store(state, c, CONN.busy);
        libc.write(s.wakeFd, new Uint8Array(wake.buffer), 8n);
        conn = c;
      }
      if (conn >= 0 || failed) break;
      const left = s.sendUntilMs - clock();
      if (left <= 0 || Atomics.load(ctl, CTL.stop) !== 0) {
        fail(k, OUTCOME.notSent);
        failed = true;
        break;
      }
      waited = true;
      Atomics.wait(ctl, CTL.freed, seen, Math.min(left, 100));
    }
    if (waited) {
      done.waitedForConnection++;
      backlog = true;
    }
    if (failed) continue;
    rr = (conn + 1) % n;
    const bytes = s.requests[conn % s.requests.length];
    const fd = Atomics.load(fds, conn);
    spinUntil(due); // the last few microseconds
    // The actual send: the stamp right before the syscall. Its lag from the due time is the
    // pacer's (sleep, claim, spin), unless the pool held it up (then all of the delay is pool
    // wait). A late one is counted by why (the context switches are those since it woke); its
    // stamp is taken again after that look, which it then includes.
    let t = clock();
    if (!backlog) {
      const cause = lateCause(due, top, woke, t, switches);
      if (cause !== null) {
        done.late[cause]++;
        t = clock();
      }
    }
    sentAt[k] = t;
    Atomics.store(req, conn, k);
    let off = 0;
    while (off < bytes.length) {
      const w = Number(
        libc.send(
          fd,
          off === 0 ? bytes : bytes.subarray(off),
          BigInt(bytes.length - off),
          MSG_NOSIGNAL,
        ),
      );
      if (w >= 0) {
        off += w;
        continue;
      }
      const e = errno(libc);
      if (e === EINTR) continue;
      // The reader sees the failed outcome and closes the connection.
      fail(k, OUTCOME.sendBase + e);
      break;
    }
    done.bytesOut += off;
    done.sent++;
    poolWait[k] = backlog ? Math.max(0, t - due) : 0;
  }
  Atomics.store(ctl, CTL.senderDone, 1);
  libc.write(s.wakeFd, new Uint8Array(wake.buffer), 8n);
  return done;
}

/** errno number of a name {@linkcode tcpConnect} returned. */
function errnoCode(name: string): number {
  for (let e = 1; e < 200; e++) if (errnoName(e) === name) return e;
  const m = /^E(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
}

// deno-lint-ignore no-explicit-any
const worker = self as any;
worker.onmessage = (e: MessageEvent<SenderStart>) => {
  worker.postMessage(run(e.data));
};
warmUp();
worker.postMessage("ready");
