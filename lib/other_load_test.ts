import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { realRunner } from "./command.ts";
import { ResourceSampler } from "./local/proc.ts";
import { memoryLogger } from "./log.ts";
import { busyRun, OTHER_LOAD_CORES, otherLoadCores, otherLoadNote } from "./other_load.ts";
import { stageCollect } from "./pipeline.ts";
import { listRunFiles } from "./run_dir.ts";
import type { ResourceUse, RunRecord } from "./types.ts";

/** CPU-seconds of one process so far (utime + stime of /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

const use = (component: ResourceUse["component"], name: string, cpuCores: number) => ({
  component,
  name,
  cpuCores,
  cpuSeconds: cpuCores * 2,
  memoryPeakMB: 10,
  samples: 11,
});

// Run 24 (http baseline 500/s, iteration 2) of the quick run 20261201T005956Z-c86e0f, whose
// send-lag p99 was 1.1 ms where iteration 1's was 0.026 ms.
const RUN_24: ResourceUse[] = [
  use("app", "http-server-0", 0.0047),
  use("app", "http-server-1", 0.0047),
  use("app", "http-server-2", 0.0047),
  use("loadgen", "loadgen-http-client", 0.1691),
  use("node", "node", 1.0945),
];

function record(
  seq: number,
  resources: ResourceUse[],
  over: { mode?: "fixed-rate" | "max-throughput"; target?: string; status?: string } = {},
): RunRecord {
  return {
    target: over.target ?? "local",
    status: over.status ?? "ok",
    spec: { seq, point: { mode: over.mode ?? "fixed-rate" } },
    resources,
  } as unknown as RunRecord;
}

Deno.test("other load is the node's CPU less the run's own groups', never below zero", () => {
  assertEquals(otherLoadCores(RUN_24)!.toFixed(2), "0.91");
  assertEquals(otherLoadCores([use("app", "a", 0.4), use("node", "node", 0.1)]), 0);
  assertEquals(otherLoadCores([use("app", "a", 0.4)]), undefined);
});

Deno.test("only a local fixed-rate run that was measured is judged for company", () => {
  assertEquals(busyRun(record(24, RUN_24))?.seq, 24);
  assertEquals(busyRun(record(24, RUN_24, { mode: "max-throughput" })), undefined);
  assertEquals(busyRun(record(24, RUN_24, { target: "cluster" })), undefined);
  assertEquals(busyRun(record(24, RUN_24, { status: "failed" })), undefined);
  const quiet = [use("loadgen", "l", 0.17), use("node", "node", 0.17 + OTHER_LOAD_CORES - 0.01)];
  assertEquals(busyRun(record(2, quiet)), undefined);
});

Deno.test("the note names the runs with company as ranges, with how many cores", () => {
  const note = otherLoadNote(
    [{ seq: 24, cores: 0.91 }, { seq: 23, cores: 0.48 }, { seq: 43, cores: 1.24 }],
    27,
  )!;
  assert(note.includes("in 3 of 27 fixed-rate runs (23-24, 43)"), note);
  assert(note.includes("used 0.48-1.24 cores"), note);
  assertEquals(otherLoadNote([], 27), undefined);
});

Deno.test("a process outside the run that burns CPU during the window shows as other load", async () => {
  // The run's group: a real process that sleeps. Company: a real shell loop outside it.
  const own = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const spinner = new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn();
  try {
    const sampler = new ResourceSampler([{ name: "own", component: "app", pid: own.pid }], 100);
    sampler.start();
    const before = cpuSeconds(spinner.pid);
    await new Promise((r) => setTimeout(r, 1500));
    const spun = cpuSeconds(spinner.pid) - before;
    const resources = sampler.stop();
    const node = resources.find((r) => r.component === "node")!;
    const seconds = node.cpuSeconds / node.cpuCores;
    assert(spun > 0, "the spinner got some CPU in 1.5 s");
    // The spinner's ticks are inside the node's window; 2 ticks of slack for the accounting.
    const other = otherLoadCores(resources)! * seconds;
    assert(other >= spun - 0.02, `other load ${other.toFixed(2)} s < the spinner's ${spun} s`);
  } finally {
    spinner.kill("SIGKILL");
    own.kill("SIGKILL");
    await spinner.status;
    await own.status;
  }
});

Deno.test("collect names the fixed-rate runs that had company, and only those", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_other_load_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    // Make every record quiet (the node's CPU the groups' sum) but run 2, which gets 0.9
    // cores beside its own.
    let fixedRate = 0;
    for (const file of await listRunFiles(dir)) {
      const r = JSON.parse(await Deno.readTextFile(file)) as RunRecord;
      if (r.spec.point.mode === "fixed-rate") fixedRate++;
      const own = r.resources.filter((u) => u.component !== "node");
      const sum = own.reduce((s, u) => s + u.cpuCores, 0);
      const extra = r.spec.seq === 2 ? 0.9 : 0;
      r.resources = [...own, use("node", "node", sum + extra)];
      await Deno.writeTextFile(file, JSON.stringify(r));
    }
    assert(fixedRate > 1);
    const log = memoryLogger();
    await stageCollect(dir, { runner: realRunner, log, signal: new AbortController().signal });
    const warned = log.lines.filter((l) => l.includes("Other load on the machine"));
    assertEquals(warned.length, 1, log.lines.join("\n"));
    assert(warned[0].includes(`in 1 of ${fixedRate} fixed-rate runs (2)`), warned[0]);
    assert(warned[0].includes("used 0.90 cores"), warned[0]);
    // Not in summary.json: the collected figures are what they were.
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    assert(!summary.notes.some((n: string) => n.includes("Other load")));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
