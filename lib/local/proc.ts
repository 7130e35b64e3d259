/**
 * Local processes that outlive one stage (started by `spawnDaemon` in `../process.ts`, in
 * their own session so one signal stops a whole process group, logged to files): recorded
 * by pid, and measured from /proc.
 *
 * @module
 */
import type { Component, ContextSwitches, OtherProcess } from "../types.ts";
import type { ProxyStatsEndpoint } from "../proxy_counters.ts";

/** A daemon meshbench started, as recorded in the run directory. */
export interface ProcessInfo {
  name: string;
  component: Component;
  /** Mesh this process belongs to ("" for application servers shared by all meshes). */
  mesh: string;
  /** Workloads whose traffic it carries. */
  workloads: string[];
  pid: number;
  cmd: string[];
  log: string;
  /** Where a proxy serves its own counters (read around each run); absent: not a proxy. */
  stats?: ProxyStatsEndpoint;
}

/** Process state letter from /proc, or undefined when the pid is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** True when the pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const s = processState(pid);
  return s !== undefined && s !== "Z" && s !== "X";
}

/**
 * True when `p.pid` still runs the program meshbench started there (its command line
 * names the binary; nginx and redis rewrite their titles but keep the name).
 */
export function runsCommand(p: Pick<ProcessInfo, "pid" | "cmd">): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${p.pid}/cmdline`).replaceAll("\0", " ");
    const bin = p.cmd[0].split("/").pop()!;
    return cmdline.includes(bin);
  } catch {
    return false;
  }
}

/**
 * Pids of the live processes in process group `pgid`. A daemon's workers can outlive
 * their leader (nginx workers of a killed master keep the listening socket), and Linux
 * never hands out a pid that is still some live group's id, so the group is still ours.
 */
export function groupMembers(pgid: number): number[] {
  return allStats().filter((s) => s.pgrp === pgid && isAlive(s.pid)).map((s) => s.pid);
}

/** True while the leader or any process of its group lives. */
export function groupAlive(pgid: number): boolean {
  return isAlive(pgid) || groupMembers(pgid).length > 0;
}

/** Stops a process group, its leader gone or not: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(pid: number, graceMs = 3000): Promise<void> {
  const signal = (sig: Deno.Signal) => {
    try {
      Deno.kill(-pid, sig);
    } catch {
      try {
        Deno.kill(pid, sig);
      } catch { /* gone */ }
    }
  };
  if (!groupAlive(pid)) return;
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(pid)) signal("SIGKILL");
}

const PAGE = 4096;
/** Clock ticks per second of /proc CPU times (USER_HZ). */
export const CLK_TCK = 100;

interface ProcStat {
  pid: number;
  pgrp: number;
  ppid: number;
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // Fields after the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13)
    // cstime(14). Reaped children's CPU moves into cutime/cstime: counting it
    // keeps a group's CPU continuous when its short-lived children exit.
    return {
      pid,
      ppid: Number(f[1]),
      pgrp: Number(f[2]),
      cpuTicks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined;
  }
}

/**
 * Resident set of `pid` in bytes from /proc/<pid>/statm (its second field, pages), 0 when the
 * process is gone. Not the rss of /proc/<pid>/stat: since the kernel keeps RSS in per-CPU
 * counters, stat reads them without the CPUs' pending deltas (an nginx master and worker read
 * 360 KB low on 6.18, every sample), where statm and status (VmRSS) add them in.
 */
function residentBytes(pid: number): number {
  try {
    return Number(Deno.readTextFileSync(`/proc/${pid}/statm`).split(" ")[1]) * PAGE;
  } catch {
    return 0;
  }
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const s = readStat(Number(e.name));
    if (s) out.push(s);
  }
  return out;
}

/** Name and own CPU ticks (utime + stime, its reaped children's left out) of one process. */
interface ProcessTicks {
  name: string;
  ticks: number;
  /** When it started (ticks since boot): a pid with another start time is another process. */
  started: number;
}

/**
 * Every process's name and own CPU ticks now, kernel threads included: one pass over /proc
 * (~3-8 ms of CPU on a machine with ~160 processes), made at the start and the end of a
 * window so that {@linkcode busiestOthers} can say who the other load was.
 */
export function processTicks(): Map<number, ProcessTicks> {
  const out = new Map<number, ProcessTicks>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const close = s.lastIndexOf(")");
      const f = s.slice(close + 2).split(" ");
      out.set(Number(e.name), {
        name: s.slice(s.indexOf("(") + 1, close),
        ticks: Number(f[11]) + Number(f[12]),
        started: Number(f[19]),
      });
    } catch { /* gone since the listing */ }
  }
  return out;
}

/** How many processes {@linkcode busiestOthers} names at most. */
export const OTHER_PROCESSES_LISTED = 5;
/** CPU below which a process is not named (a tick in a 5 s window is 0.002 cores). */
export const OTHER_PROCESS_MIN_CORES = 0.02;

/**
 * The processes outside `own` that used the most CPU between two {@linkcode processTicks}
 * snapshots `seconds` apart, busiest first: at most {@linkcode OTHER_PROCESSES_LISTED}, each
 * with at least {@linkcode OTHER_PROCESS_MIN_CORES}. One that is only in the second snapshot
 * (or with another start time in the first: its pid was reused) started within the window, so
 * all its CPU is counted; one that ended within the window is in neither list, though its CPU
 * is in the node's. The name is the second snapshot's (a kernel worker's changes with its
 * work: `kworker/1:2-events`).
 */
export function busiestOthers(
  before: ReadonlyMap<number, ProcessTicks>,
  after: ReadonlyMap<number, ProcessTicks>,
  own: ReadonlySet<number>,
  seconds: number,
): OtherProcess[] {
  if (!(seconds > 0)) return [];
  const out: OtherProcess[] = [];
  for (const [pid, a] of after) {
    if (own.has(pid)) continue;
    const b = before.get(pid);
    const ticks = b && b.started === a.started ? a.ticks - b.ticks : a.ticks;
    const cpuCores = ticks / CLK_TCK / seconds;
    if (cpuCores >= OTHER_PROCESS_MIN_CORES) out.push({ name: a.name, pid, cpuCores });
  }
  return out.sort((x, y) => y.cpuCores - x.cpuCores || x.pid - y.pid)
    .slice(0, OTHER_PROCESSES_LISTED);
}

/** Where a process hangs in the tree: what group membership is decided by. */
type ProcLinks = Pick<ProcStat, "pid" | "ppid" | "pgrp">;

/**
 * Parent and process group of every process, reading the stat file only of those not in
 * `known` (which it fills): a pass over /proc that reads every process's stat costs ~3-8 ms
 * of CPU on a machine with ~160 processes, beside the load being measured, where listing /proc
 * costs a fraction of that. A known process keeps its links (a process that changes its group
 * does so right after it starts, before it is seen twice; one re-parented away from a group
 * keeps being counted with it, as its CPU was).
 */
function allLinks(known: Map<number, ProcLinks>): ProcLinks[] {
  const out: ProcLinks[] = [];
  const seen = new Set<number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    let l = known.get(pid);
    if (!l) {
      const s = readStat(pid);
      if (!s) continue;
      l = { pid, ppid: s.ppid, pgrp: s.pgrp };
      known.set(pid, l);
    }
    seen.add(pid);
    out.push(l);
  }
  for (const pid of known.keys()) if (!seen.has(pid)) known.delete(pid);
  return out;
}

/** CPU ticks and RSS summed over a process group (a daemon and its workers). */
export interface GroupReading {
  cpuTicks: number;
  rssBytes: number;
  /** The pids summed. */
  members: number[];
}

/**
 * Reads every watched group in one pass over /proc. A group is a leader pid, its
 * descendants (even in process groups of their own, as `timeout` makes) and any
 * process left in its process group (daemons whose workers were re-parented). With `known`
 * (kept from call to call), only processes not seen before have their links read
 * ({@linkcode allLinks}), then only the members' stat files.
 */
export function readGroups(
  leaders: readonly number[],
  known?: Map<number, ProcLinks>,
): Map<number, GroupReading> {
  const links: ProcLinks[] = known ? allLinks(known) : allStats();
  const children = new Map<number, ProcLinks[]>();
  const byPgrp = new Map<number, ProcLinks[]>();
  // Push, not spread: a spread copies the list per entry (quadratic in a parent's children,
  // and pid 1 has most of a busy machine's), and this runs every 200 ms beside the load.
  for (const s of links) {
    const c = children.get(s.ppid);
    if (c) c.push(s);
    else children.set(s.ppid, [s]);
    const g = byPgrp.get(s.pgrp);
    if (g) g.push(s);
    else byPgrp.set(s.pgrp, [s]);
  }
  const byPid = new Map(links.map((s) => [s.pid, s]));
  const groups = new Map<number, number[]>();
  for (const leader of leaders) {
    const members = new Set<number>();
    const queue = [byPid.get(leader), ...(byPgrp.get(leader) ?? [])];
    while (queue.length) {
      const s = queue.pop();
      if (!s || members.has(s.pid)) continue;
      members.add(s.pid);
      for (const c of children.get(s.pid) ?? []) queue.push(c);
    }
    groups.set(leader, [...members]);
  }
  if (!known) {
    // Every stat was just read: sum them.
    const stats = byPid as Map<number, ProcStat>;
    const out = new Map<number, GroupReading>();
    for (const [leader, members] of groups) {
      let cpuTicks = 0;
      let rssBytes = 0;
      for (const pid of members) {
        cpuTicks += stats.get(pid)!.cpuTicks;
        rssBytes += residentBytes(pid);
      }
      out.set(leader, { cpuTicks, rssBytes, members });
    }
    return out;
  }
  return readKnownGroups(groups);
}

/** {@linkcode readGroups} for groups whose members are known: reads only their pids. */
export function readKnownGroups(groups: ReadonlyMap<number, readonly number[]>) {
  const out = new Map<number, GroupReading>();
  for (const [leader, pids] of groups) {
    let cpuTicks = 0;
    let rssBytes = 0;
    const members: number[] = [];
    for (const pid of pids) {
      const s = readStat(pid);
      if (!s) continue;
      cpuTicks += s.cpuTicks;
      rssBytes += residentBytes(pid);
      members.push(pid);
    }
    out.set(leader, { cpuTicks, rssBytes, members });
  }
  return out;
}

/**
 * The node's idle time so far (`idle` + `iowait` of /proc/stat's `cpu` line, USER_HZ ticks) and
 * how many CPUs it has (its `cpuN` lines). A tickless kernel fills these two columns from its own
 * idle-time accounting (microseconds, then converted), while the busy columns (`user`,
 * `system`, ...) are samples, one per tick, of whatever ran at the tick. So the node's busy time
 * over a window is its CPUs x the wall time less the idle time, not the busy columns: work that is
 * periodic and in step with the tick (a 500/s schedule kept away from the tick grid, its proxies'
 * work following each send) lands in the busy columns in full or not at all. Measured in 9
 * fixed-rate windows of 2 s: the busy columns said 0.12-0.95 cores where the run's own processes
 * used 0.22-0.61 (exact run time); CPUs x wall - idle said 0.23-0.69, 0.01-0.08 above them.
 */
export function parseNodeIdle(procStat: string): { idleTicks: number; cpus: number } {
  const m = /^cpu\s+(.*)$/m.exec(procStat);
  if (!m) throw new Error('Cannot read the node\'s idle time: no "cpu" line in /proc/stat');
  const v = m[1].trim().split(/\s+/).map(Number);
  if (v.length < 5 || v.slice(0, 5).some((x) => !Number.isFinite(x))) {
    throw new Error(`Cannot read the node's idle time from /proc/stat's "cpu" line: ${m[0]}`);
  }
  const cpus = procStat.match(/^cpu\d+\s/gm)?.length ?? 0;
  if (cpus === 0) throw new Error('Cannot count CPUs: no "cpuN" line in /proc/stat');
  return { idleTicks: v[3] + v[4], cpus };
}

/** Voluntary and involuntary context switches of one task (thread). */
export interface TaskSwitches {
  voluntary: number;
  involuntary: number;
}

/**
 * Parses the context-switch counters of a `/proc/<pid>/task/<tid>/status` file. Each
 * task's own counts: a process's `/proc/<pid>/status` shows its main thread's only, so a
 * multi-threaded proxy is read thread by thread. Undefined when the lines are missing.
 */
export function parseTaskSwitches(status: string): TaskSwitches | undefined {
  const v = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  const n = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  if (!v || !n) return undefined;
  return { voluntary: Number(v[1]), involuntary: Number(n[1]) };
}

/**
 * Context switches of every live thread of process `pid`, by thread id (empty when the
 * process is gone). Threads of one process are listed under `/proc/<pid>/task`.
 */
export function readTaskSwitches(pid: number): Map<number, TaskSwitches> {
  const out = new Map<number, TaskSwitches>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const s = parseTaskSwitches(Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/status`));
      if (s) out.set(Number(e.name), s);
    } catch { /* the thread exited between the listing and the read */ }
  }
  return out;
}

/** Context switches of the whole machine since boot: the `ctxt` line of /proc/stat. */
export function parseNodeSwitches(procStat: string): number {
  const m = /^ctxt\s+(\d+)$/m.exec(procStat);
  if (!m) throw new Error('Cannot read context switches: no "ctxt" line in /proc/stat');
  return Number(m[1]);
}

/**
 * Counts context switches of process trees over a window, thread by thread: each thread's
 * counters at its first reading (0 for a thread born in the window) and its last. A thread
 * that exits between two readings keeps what its last reading showed: what it did after it
 * is lost (the kernel moves an exited thread's counts to its process's totals, and a reaped
 * child's to its parent's `getrusage` children totals, neither of which /proc shows).
 */
export class SwitchCounter {
  /** leader -> "pid/tid" -> first and last reading. */
  readonly #tasks = new Map<number, Map<string, { first: TaskSwitches; last: TaskSwitches }>>();

  /**
   * Reads every thread of `members` (the group of `leader` now). `initial` marks the window's
   * first reading, whose threads count from there; threads first seen later were born in the
   * window and count from 0.
   */
  read(leader: number, members: readonly number[], initial: boolean): void {
    let tasks = this.#tasks.get(leader);
    if (!tasks) this.#tasks.set(leader, tasks = new Map());
    for (const pid of members) {
      for (const [tid, s] of readTaskSwitches(pid)) {
        const key = `${pid}/${tid}`;
        const t = tasks.get(key);
        if (t) t.last = s;
        else tasks.set(key, { first: initial ? s : { voluntary: 0, involuntary: 0 }, last: s });
      }
    }
  }

  /** Switches of `leader`'s tree between the first and the last reading. */
  total(leader: number): ContextSwitches | undefined {
    const tasks = this.#tasks.get(leader);
    if (!tasks) return undefined;
    let voluntary = 0;
    let involuntary = 0;
    for (const { first, last } of tasks.values()) {
      voluntary += Math.max(0, last.voluntary - first.voluntary);
      involuntary += Math.max(0, last.involuntary - first.involuntary);
    }
    return {
      total: voluntary + involuntary,
      voluntary,
      involuntary,
      tasks: tasks.size,
      source: "task-status",
    };
  }
}

/** A watched group: a named daemon (or the load generator) with its component class. */
export interface Watched {
  name: string;
  component: Component;
  pid: number;
}

/** Per-group result of a sampling window. */
export interface WindowUse {
  name: string;
  component: Component;
  cpuSeconds: number;
  cpuCores: number;
  memoryPeakMB: number;
  samples: number;
  /** Context switches over the window: the group's threads, or the node's (node-wide). */
  contextSwitches?: ContextSwitches;
  /** The node line only: the busiest processes outside the groups ({@linkcode busiestOthers}). */
  otherProcesses?: OtherProcess[];
}

/** How often (in samples) {@linkcode ResourceSampler} looks for new group members. */
const FULL_SCAN_EVERY = 5;

/**
 * Samples CPU and memory of watched groups every `intervalMs` until stopped.
 * CPU is the tick delta over the window; memory the peak of summed RSS; context switches
 * are counted thread by thread ({@linkcode SwitchCounter}) at the start, at every full scan
 * and at the end, and the node's from /proc/stat.
 */
export class ResourceSampler {
  #timer: ReturnType<typeof setInterval> | undefined;
  #start = new Map<number, number>();
  #peak = new Map<number, number>();
  #samples = 0;
  #t0 = 0;
  #idle0 = { idleTicks: 0, cpus: 0 };
  #nodeSwitches0 = 0;
  #switches = new SwitchCounter();
  #watched: Watched[];
  /** Parent and group of every process seen: each scan reads only new processes' links. */
  #known = new Map<number, ProcLinks>();

  constructor(watched: Watched[], readonly intervalMs = 200) {
    this.#watched = [...watched];
  }

  /** Adds a group that starts later (e.g. the load generator). */
  add(w: Watched): void {
    this.#watched.push(w);
    const r = readGroups([w.pid], this.#known).get(w.pid)!;
    this.#switches.read(w.pid, r.members, true);
    this.#start.set(w.pid, r.cpuTicks);
    this.#peak.set(w.pid, r.rssBytes);
  }

  #procs0 = new Map<number, ProcessTicks>();

  start(): void {
    this.#procs0 = processTicks();
    const stat = Deno.readTextFileSync("/proc/stat");
    this.#t0 = performance.now();
    this.#idle0 = parseNodeIdle(stat);
    this.#nodeSwitches0 = parseNodeSwitches(stat);
    const r = readGroups(this.#watched.map((w) => w.pid), this.#known);
    for (const w of this.#watched) {
      this.#switches.read(w.pid, r.get(w.pid)!.members, true);
      this.#start.set(w.pid, r.get(w.pid)!.cpuTicks);
      this.#peak.set(w.pid, r.get(w.pid)!.rssBytes);
    }
    this.#timer = setInterval(() => this.#sample(), this.intervalMs);
  }

  #last = new Map<number, number>();
  #nodePeakBytes = 0;

  #members = new Map<number, number[]>();

  /**
   * One sample. Finding a group's members takes a pass over /proc (a listing, plus the stat
   * of each process not seen before), so it is done every {@linkcode FULL_SCAN_EVERY}th sample
   * and at the end; in between only the known members are read. CPU comes from cumulative
   * ticks, so a member found late loses nothing of it.
   */
  #sample(full = this.#samples % FULL_SCAN_EVERY === 0): Map<number, GroupReading> {
    const mem = Deno.systemMemoryInfo();
    this.#nodePeakBytes = Math.max(this.#nodePeakBytes, mem.total - mem.available);
    const leaders = this.#watched.map((w) => w.pid);
    const r = full || leaders.some((pid) => !this.#members.has(pid))
      ? readGroups(leaders, this.#known)
      : readKnownGroups(this.#members);
    for (const [pid, g] of r) {
      this.#members.set(pid, g.members);
      // Every thread's status file is a read of its own: only on full scans and at the end.
      if (full) this.#switches.read(pid, g.members, false);
    }
    for (const [pid, g] of r) {
      if (g.rssBytes > (this.#peak.get(pid) ?? 0)) this.#peak.set(pid, g.rssBytes);
      // A group's tick count only grows while its processes live; keep the highest seen.
      if (g.cpuTicks > (this.#last.get(pid) ?? 0)) this.#last.set(pid, g.cpuTicks);
    }
    this.#samples++;
    return r;
  }

  /** Stops sampling and returns per-group use plus the whole node. */
  stop(): WindowUse[] {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const last = this.#sample(true);
    const stat = Deno.readTextFileSync("/proc/stat");
    const seconds = (performance.now() - this.#t0) / 1000;
    const idle1 = parseNodeIdle(stat);
    const own = new Set<number>();
    for (const [leader, g] of last) {
      own.add(leader);
      for (const pid of g.members) own.add(pid);
    }
    const others = busiestOthers(this.#procs0, processTicks(), own, seconds);
    const nodeSwitches = parseNodeSwitches(stat) - this.#nodeSwitches0;
    const out: WindowUse[] = this.#watched.map((w) => {
      const switches = this.#switches.total(w.pid);
      const cpuSeconds = Math.max(0, (this.#last.get(w.pid) ?? 0) - (this.#start.get(w.pid) ?? 0)) /
        CLK_TCK;
      return {
        name: w.name,
        component: w.component,
        cpuSeconds,
        cpuCores: seconds > 0 ? cpuSeconds / seconds : 0,
        memoryPeakMB: (this.#peak.get(w.pid) ?? 0) / 1024 / 1024,
        samples: this.#samples,
        ...(switches ? { contextSwitches: switches } : {}),
      };
    });
    // Busy: CPUs x wall time less idle time (parseNodeIdle), within what is possible.
    const idle = (idle1.idleTicks - this.#idle0.idleTicks) / CLK_TCK;
    const busy = Math.min(idle1.cpus * seconds, Math.max(0, idle1.cpus * seconds - idle));
    out.push({
      name: "node",
      component: "node",
      cpuSeconds: busy,
      cpuCores: seconds > 0 ? busy / seconds : 0,
      memoryPeakMB: this.#nodePeakBytes / 1024 / 1024,
      samples: this.#samples,
      contextSwitches: { total: nodeSwitches, source: "node-stat" },
      otherProcesses: others,
    });
    return out;
  }
}

/** Waits until a TCP port accepts connections, bounded. */
export async function waitForPort(
  port: number,
  what: string,
  timeoutMs = 10_000,
  pid?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (pid !== undefined && !isAlive(pid)) {
      throw new Error(`${what} (pid ${pid}) exited before listening on port ${port}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch (e) {
      last = (e as Error).message;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} on port ${port}: ${last}`);
}
