/**
 * Context switches of pods' containers on a cluster, read kubelet-side: where the node's
 * cgroups and `/proc` are this machine's, as for the real test node (`lib/testenv/
 * realnode.ts` runs its kubelet on this machine, under the cgroup root `/meshbench-node`).
 *
 * No cgroup counts context switches, in v1 or v2: v1's `cpu.stat` has `nr_periods`,
 * `nr_throttled`, `throttled_time` (and `nr_bursts`, `burst_time`), `cpuacct` has CPU time
 * only (`cpuacct.usage`, `.stat`, per CPU); v2's `cpu.stat` has `usage_usec`, `user_usec`,
 * `system_usec`, the same throttling counters and `nr_bursts`/`burst_usec`; neither the
 * kubelet's resource metrics nor cAdvisor export switches. What a cgroup does list is its
 * threads (v1 `tasks`, v2 `cgroup.threads`), so a container's switches are its threads'
 * own counters (`/proc/<tid>/status`), read per thread as for a local process tree. The
 * node-wide figure is `/proc/stat`'s `ctxt`, the machine's (every process on it).
 *
 * On a remote cluster nothing here applies (its cgroups are not this machine's): runs go
 * on without switches, and the run says why.
 *
 * @module
 */
import { join } from "node:path";
import { parseTaskSwitches, type TaskSwitches } from "../local/proc.ts";

/**
 * Thread ids of a cgroup directory: v1 lists them in `tasks`, v2 in `cgroup.threads`
 * (its `cgroup.procs` lists processes only). Empty when the directory is gone.
 */
export function cgroupThreads(dir: string): number[] {
  for (const file of ["tasks", "cgroup.threads"]) {
    try {
      return Deno.readTextFileSync(join(dir, file)).split("\n").filter((l) => l.trim())
        .map(Number);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return [];
}

/** Each thread's switches, by thread id (a thread that exited meanwhile is left out). */
export function threadSwitches(tids: readonly number[]): Map<number, TaskSwitches> {
  const out = new Map<number, TaskSwitches>();
  for (const tid of tids) {
    try {
      const s = parseTaskSwitches(Deno.readTextFileSync(`/proc/${tid}/status`));
      if (s) out.set(tid, s);
    } catch { /* exited between the listing and the read */ }
  }
  return out;
}

/**
 * The cgroup directory of each container, found under `root` (a hierarchy's mount point,
 * e.g. `/sys/fs/cgroup/pids`): the kubelet names a pod's directory after its UID
 * (cgroupfs driver: `pod<uid>`; systemd driver: `kubepods-...-pod<uid with _>.slice`), and
 * the runtime names the container's after its ID (`<id>`, or `cri-containerd-<id>.scope`).
 * `containers` maps `namespace/pod/container` to pod UID and container ID.
 */
export function findContainerCgroups(
  root: string,
  containers: ReadonlyMap<string, { podUid: string; containerId: string }>,
): Map<string, string> {
  const pods = new Map<string, string>();
  const wanted = new Set([...containers.values()].map((c) => c.podUid));
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory) continue;
      const m = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/
        .exec(e.name);
      const uid = m?.[1].replaceAll("_", "-");
      if (uid && wanted.has(uid)) pods.set(uid, join(dir, e.name));
      else if (!m) walk(join(dir, e.name), depth + 1);
    }
  };
  walk(root, 0);
  const out = new Map<string, string>();
  for (const [key, c] of containers) {
    const pod = pods.get(c.podUid);
    if (!pod) continue;
    for (const name of [c.containerId, `cri-containerd-${c.containerId}.scope`]) {
      try {
        if (Deno.statSync(join(pod, name)).isDirectory) out.set(key, join(pod, name));
      } catch { /* not this naming */ }
    }
  }
  return out;
}

/** The cgroup hierarchy to find containers in on this machine: v1 `pids` (or `cpu`), or v2. */
export function localCgroupRoot(): string | undefined {
  for (const dir of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"]) {
    try {
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      if (names.includes("tasks") || names.includes("cgroup.threads")) return dir;
    } catch { /* not mounted here */ }
  }
  return undefined;
}

/** One reading of containers' threads and of the node's `/proc/stat`. */
export interface SwitchReading {
  /** `namespace/pod/container` -> thread id -> counters. */
  containers: Map<string, Map<number, TaskSwitches>>;
  /** `ctxt` of `/proc/stat`: the machine's, node-wide. */
  nodeTotal: number;
}

/** Reads every container of `cgroups` (`namespace/pod/container` -> cgroup directory). */
export function readContainerSwitches(
  cgroups: ReadonlyMap<string, string>,
  procStat = () => Deno.readTextFileSync("/proc/stat"),
): SwitchReading {
  const containers = new Map<string, Map<number, TaskSwitches>>();
  for (const [key, dir] of cgroups) containers.set(key, threadSwitches(cgroupThreads(dir)));
  const m = /^ctxt\s+(\d+)$/m.exec(procStat());
  if (!m) throw new Error('Cannot read context switches: no "ctxt" line in /proc/stat');
  return { containers, nodeTotal: Number(m[1]) };
}

/** One container's switches between two readings. */
export interface ContainerSwitches {
  voluntary: number;
  involuntary: number;
  tasks: number;
}

/**
 * Each container's switches between `before` and `after`, thread by thread: a thread in both
 * counts its difference, one only in `after` (born in the window) counts from 0, one only in
 * `before` (exited) is lost. Containers missing from either reading are left out.
 */
export function switchesBetween(
  before: SwitchReading,
  after: SwitchReading,
): Map<string, ContainerSwitches> {
  const out = new Map<string, ContainerSwitches>();
  for (const [key, a] of after.containers) {
    const b = before.containers.get(key);
    if (!b) continue;
    let voluntary = 0;
    let involuntary = 0;
    for (const [tid, s] of a) {
      const first = b.get(tid) ?? { voluntary: 0, involuntary: 0 };
      voluntary += Math.max(0, s.voluntary - first.voluntary);
      involuntary += Math.max(0, s.involuntary - first.involuntary);
    }
    out.set(key, { voluntary, involuntary, tasks: new Set([...a.keys(), ...b.keys()]).size });
  }
  return out;
}
