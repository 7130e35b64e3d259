/**
 * What the machine and the code were when a run happened (METHODOLOGY rule 11).
 *
 * @module
 */
import type { Runner } from "./command.ts";
import type { Provenance } from "./types.ts";

export const MESHBENCH_VERSION = "0.1.0";

/** Git commit of the checkout (and whether it has uncommitted changes). */
export async function gitState(runner: Runner): Promise<{ commit: string; dirty: boolean }> {
  try {
    const head = await runner.run(["git", "rev-parse", "HEAD"], { timeoutMs: 10_000 });
    const status = await runner.run(["git", "status", "--porcelain", "--untracked-files=no"], {
      timeoutMs: 10_000,
    });
    return { commit: head.stdout.trim(), dirty: status.stdout.trim() !== "" };
  } catch {
    return { commit: "unknown (not a git checkout)", dirty: false };
  }
}

/** Collects provenance of this machine. */
export async function collectProvenance(
  runner: Runner,
  tools: Record<string, string>,
): Promise<Provenance> {
  const git = await gitState(runner);
  let cpuModel = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpuModel = info.match(/^model name\s*:\s*(.+)$/m)?.[1] ??
      info.match(/^CPU part\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  } catch { /* not Linux */ }
  const mem = Deno.systemMemoryInfo();
  return {
    gitCommit: git.commit,
    gitDirty: git.dirty,
    meshbenchVersion: MESHBENCH_VERSION,
    deno: Deno.version.deno,
    hostname: Deno.hostname(),
    kernel: Deno.osRelease(),
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpuModel,
    cpuCount: navigator.hardwareConcurrency,
    memoryMB: Math.round(mem.total / 1024 / 1024),
    loadAverage: Deno.loadavg(),
    tools,
    startedBy: `deno task (${Deno.args.join(" ") || "no args"})`,
  };
}
