/**
 * Load on the machine that is not the measured run's: the node's CPU over a run's window
 * less the CPU of the run's own process groups (its servers, proxies and load generator).
 * A local run records both (`resources`: the groups and the `node` line, the busy ticks of
 * the node's `/proc/stat`), so the difference is what everything else used meanwhile: other
 * users of the machine, meshbench's own process, and any of meshbench's daemons that are
 * busy outside the run (a leftover of an earlier workload would show here).
 *
 * A fixed-rate run's send lag and tails are sensitive to it: on the idle 2-core machine,
 * iteration 1 of a quick run had ~0 cores of it and send-lag p99 0.03-0.05 ms, while
 * iterations 2-3 of the same run had 0.5-1.6 cores of it and 1-3 ms (docs/methodology.md,
 * "Other load on the machine").
 *
 * @module
 */
import type { OtherProcess, ReadRunRecord, ResourceUse } from "./types.ts";

/**
 * Cores of other load from which a fixed-rate run is said to have had company. Both sides of
 * the difference are the kernel's exact figures (the groups' run time; the node's CPUs x wall
 * time less its idle time, `parseNodeIdle`), so on a quiet machine it is meshbench's own
 * process and sampler, kernel threads and interrupt work: +0.03 to +0.25 cores in the 27 runs
 * of a quiet machine's quick run of two workloads (2 s windows; +0.03 to +0.09 in 21 of them).
 * A quarter of a core, an eighth of a 2-core machine, is at the top of that.
 */
export const OTHER_LOAD_CORES = 0.25;

/**
 * Cores the machine used during the window beyond the run's own groups, or undefined when
 * the record has no `node` line (a failed run, or a record from before nodes were sampled).
 * Never negative: the groups' ticks, read at other instants than the node's, can add up to
 * a little more than the node's.
 */
export function otherLoadCores(resources: readonly ResourceUse[]): number | undefined {
  const node = resources.find((r) => r.component === "node");
  if (!node) return undefined;
  const own = resources.reduce((s, r) => r.component === "node" ? s : s + r.cpuCores, 0);
  return Math.max(0, node.cpuCores - own);
}

/** A run that had company, as {@linkcode otherLoadNote} lists it. */
export interface BusyRun {
  seq: number;
  cores: number;
  /** The busiest processes outside the run (run schema 3; empty in older records). */
  busiest: OtherProcess[];
}

/**
 * The run, if it is a local fixed-rate run whose window had at least
 * {@linkcode OTHER_LOAD_CORES} of other load. Max-throughput and batch runs use the whole
 * machine themselves (short-lived children, e.g. the ML jobs' workers, also land in the
 * difference), and a cluster node always runs the cluster's own processes; neither is judged.
 */
export function busyRun(record: ReadRunRecord): BusyRun | undefined {
  if (record.target !== "local" || record.spec.point.mode !== "fixed-rate") return undefined;
  if (record.status === "failed" || record.status === "interrupted") return undefined;
  const cores = otherLoadCores(record.resources);
  if (cores === undefined || cores < OTHER_LOAD_CORES) return undefined;
  const node = record.resources.find((r) => r.component === "node");
  return { seq: record.spec.seq, cores, busiest: node?.otherProcesses ?? [] };
}

/** `kswapd0 (pid 45) 0.31, deno (pid 812) 0.12`: who the other load was, busiest first. */
function describeBusiest(busiest: readonly OtherProcess[]): string {
  return busiest.map((p) => `${p.name} (pid ${p.pid}) ${p.cpuCores.toFixed(2)}`).join(", ");
}

/** One run's warning, said on the console right after the run. */
export function busyRunWarning(run: BusyRun): string {
  return `Run ${run.seq}: other processes used ${
    run.cores.toFixed(2)
  } cores of the machine during its window (the node's CPU less this run's own processes'); ` +
    "its send lag and tails carry that load" +
    (run.busiest.length ? `; busiest outside it (cores): ${describeBusiest(run.busiest)}` : "");
}

/**
 * The summary's note for the runs that had company, or undefined when none had: which runs,
 * how much, and what to do about it.
 */
export function otherLoadNote(runs: readonly BusyRun[], fixedRateRuns: number): string | undefined {
  if (!runs.length) return undefined;
  const sorted = [...runs].sort((a, b) => a.seq - b.seq);
  const cores = sorted.map((r) => r.cores);
  const lo = Math.min(...cores).toFixed(2);
  const hi = Math.max(...cores).toFixed(2);
  return `Other load on the machine: in ${sorted.length} of ${fixedRateRuns} fixed-rate runs ` +
    `(${seqList(sorted.map((r) => r.seq))}) processes other than the run's own used ` +
    `${lo === hi ? lo : `${lo}-${hi}`} cores (at least ${OTHER_LOAD_CORES}) during the ` +
    "window; their send lag and tails carry that load." + busiestNames(sorted) +
    ' Re-run on a quiet machine (see docs/methodology.md, "Other load on the machine").';
}

/** ` The busiest processes outside them: kswapd0 in 4 runs, deno in 2.` (or nothing). */
function busiestNames(runs: readonly BusyRun[]): string {
  const counts = new Map<string, number>();
  for (const r of runs) {
    for (const name of new Set(r.busiest.map((p) => p.name))) {
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  if (!counts.size) return "";
  const named = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
  return " The busiest processes outside them: " +
    named.map(([name, n]) => `${name} in ${n} run${n === 1 ? "" : "s"}`).join(", ") + ".";
}

/** `1-3, 7, 9-10` from sorted sequence numbers. */
function seqList(seqs: readonly number[]): string {
  const parts: string[] = [];
  let start = seqs[0];
  let prev = seqs[0];
  for (const s of [...seqs.slice(1), Number.NaN]) {
    if (s === prev + 1) {
      prev = s;
      continue;
    }
    parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = prev = s;
  }
  return parts.join(", ");
}
