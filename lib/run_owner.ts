/**
 * Which meshbench process is working on a run right now: recorded in the manifest
 * (`owner`) while a task works on it, removed when the task ends, however it ends
 * short of SIGKILL. A run whose status is `running` and whose recorded owner is gone
 * was killed mid-work: it is stale, and the next `bench:all`, `deploy` or `cleanup`
 * cleans what it started and marks it `interrupted`.
 *
 * An owner is identified by pid, the process's start time (clock ticks after boot,
 * from /proc) and the boot id, so a pid reused by another process after a crash or a
 * reboot is not mistaken for the owner.
 *
 * @module
 */
import { hostname } from "node:os";
import { readManifest, updateManifest } from "./run_dir.ts";
import type { Manifest, RunOwner } from "./types.ts";
import { resolve } from "node:path";

function bootId(): string {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return "";
  }
}

/** Start time of `pid` in clock ticks after boot, or undefined when it is gone. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (f[0] === "Z" || f[0] === "X") return undefined;
    return Number(f[19]);
  } catch {
    return undefined;
  }
}

/** True when `pid` exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  return processStartTicks(pid) !== undefined;
}

/** This process as a run owner, for `task`. */
export function currentOwner(task: string): RunOwner {
  return {
    pid: Deno.pid,
    startTicks: processStartTicks(Deno.pid) ?? 0,
    bootId: bootId(),
    host: hostname(),
    task,
    since: new Date().toISOString(),
  };
}

/** True while the recorded owner process still runs (same boot, same pid, same start). */
export function ownerAlive(o: RunOwner): boolean {
  if (o.host !== hostname() || o.bootId !== bootId()) return false;
  const ticks = processStartTicks(o.pid);
  return ticks !== undefined && ticks === o.startTicks;
}

/** True when the owner is this very process. */
export function isMe(o: RunOwner | undefined): boolean {
  return o !== undefined && o.pid === Deno.pid && o.startTicks === currentOwner("").startTicks;
}

/** Who owns a run, in words. */
export function describeOwner(o: RunOwner): string {
  return `deno task ${o.task} (pid ${o.pid} on ${o.host}, since ${o.since})`;
}

/** A run is stale when it is still `running` and its recorded owner process is gone. */
export function isStale(m: Manifest): boolean {
  return m.status === "running" && m.owner !== undefined && !isMe(m.owner) &&
    !ownerAlive(m.owner);
}

/** Raised when another live process owns the run: exit 2, naming it. */
export class RunBusyError extends Error {
  constructor(readonly runDir: string, readonly owner: RunOwner) {
    super(
      `Run "${runDir}" is in use by ${
        describeOwner(owner)
      }: wait for it to finish or interrupt it first`,
    );
    this.name = "RunBusyError";
  }
}

/**
 * Records this process as the owner of `runDir` for `task`. Refuses (RunBusyError)
 * when another live process owns it. Returns the manifest as it was before, so a
 * caller can see whether it took over a stale run.
 */
export async function claimRun(runDir: string, task: string): Promise<Manifest> {
  const before = await readManifest(runDir);
  if (before.owner && !isMe(before.owner) && ownerAlive(before.owner)) {
    throw new RunBusyError(runDir, before.owner);
  }
  await updateManifest(runDir, (m) => {
    m.owner = currentOwner(task);
  });
  return before;
}

/** Removes this process as owner (no-op when it is not the owner). */
export async function releaseRun(runDir: string): Promise<void> {
  if (!isMe((await readManifest(runDir)).owner)) return;
  await updateManifest(runDir, (m) => {
    if (isMe(m.owner)) delete m.owner;
  });
}

/** Run directories under `out` whose status is `running` and whose owner is gone. */
export async function staleRunDirs(out: string): Promise<string[]> {
  const stale: string[] = [];
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(out)) entries.push(e);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return stale;
    throw e;
  }
  for (const e of entries) {
    if (!e.isDirectory || !/^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(e.name)) continue;
    const dir = resolve(out, e.name);
    let m: Manifest;
    try {
      m = await readManifest(dir);
    } catch {
      continue; // not a readable run: nothing recorded to clean
    }
    if (isStale(m)) stale.push(dir);
  }
  return stale.sort();
}

/**
 * Marks a stale run `interrupted` and closes its open stage entries, saying why.
 * `gone` is the owner that vanished (default: the one recorded; a task that claimed
 * the run first passes the owner it found).
 */
export function markStaleInterrupted(
  runDir: string,
  by: string,
  gone?: RunOwner,
): Promise<Manifest> {
  return updateManifest(runDir, (m) => {
    const was = gone ?? m.owner;
    const owner = was ? describeOwner(was) : "its meshbench process";
    const why = `${owner} stopped without cleaning up (killed?); ${by} cleaned what it started`;
    const now = new Date().toISOString();
    for (const s of m.stages) {
      if (s.status !== "running") continue;
      s.status = "interrupted";
      s.end = now;
      s.error = why;
    }
    m.status = "interrupted";
    m.reason = `${why}; results measured before are kept`;
    delete m.owner;
  });
}
