import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { realRunner } from "./command.ts";
import { OTHER_PROCESS_MIN_CORES, OTHER_PROCESSES_LISTED, ResourceSampler } from "./local/proc.ts";
import { memoryLogger } from "./log.ts";
import {
  busyRun,
  busyRunWarning,
  OTHER_LOAD_CORES,
  otherLoadCores,
  otherLoadNote,
} from "./other_load.ts";
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

// (seq, node cores, the run's own groups' cores) of the 27 fixed-rate runs of that quick run,
// started at load average 0.1: iteration 1 is runs 1-15, iterations 2-3 are 22-57.
const IDLE_START_RUN: Array<[number, number, number]> = [
  [1, 0.323, 0.252],
  [2, 0.146, 0.188],
  [3, 0.1, 0.419],
  [7, 0.771, 0.863],
  [8, 0.479, 0.493],
  [9, 0.625, 0.649],
  [13, 0.143, 0.181],
  [14, 0.134, 0.319],
  [15, 0.089, 0.263],
  [22, 0.379, 0.44],
  [23, 0.762, 0.284],
  [24, 1.095, 0.183],
  [28, 1.74, 0.386],
  [29, 1.676, 0.607],
  [30, 0.961, 0.868],
  [34, 1.552, 0.291],
  [35, 1.638, 0.269],
  [36, 1.483, 0.171],
  [43, 1.423, 0.184],
  [44, 1.211, 0.249],
  [45, 1.421, 0.422],
  [49, 1.593, 0.77],
  [50, 0.451, 0.485],
  [51, 1.315, 0.74],
  [55, 1.833, 0.248],
  [56, 1.964, 0.293],
  [57, 1.143, 0.156],
];

Deno.test("the quick run whose send lag rose from iteration 2 on is named from run 23 on", () => {
  const busy = IDLE_START_RUN.map(([seq, node, own]) =>
    busyRun(record(seq, [use("loadgen", "own", own), use("node", "node", node)]))
  ).filter((b) => b !== undefined);
  assertEquals(busy.map((b) => b.seq), [
    23,
    24,
    28,
    29,
    34,
    35,
    36,
    43,
    44,
    45,
    49,
    51,
    55,
    56,
    57,
  ]);
  const note = otherLoadNote(busy, IDLE_START_RUN.length)!;
  assert(note.includes("in 15 of 27 fixed-rate runs (23-24, 28-29, 34-36, 43-45, 49, 51, 55-57)"));
  assert(note.includes("used 0.48-1.67 cores"), note);
});

Deno.test("the note names the runs with company as ranges, with how many cores", () => {
  const note = otherLoadNote(
    [
      { seq: 24, cores: 0.91, busiest: [] },
      { seq: 23, cores: 0.48, busiest: [] },
      { seq: 43, cores: 1.24, busiest: [] },
    ],
    27,
  )!;
  assert(note.includes("in 3 of 27 fixed-rate runs (23-24, 43)"), note);
  assert(note.includes("used 0.48-1.24 cores"), note);
  assert(!note.includes("busiest"), note);
  assertEquals(otherLoadNote([], 27), undefined);
});

Deno.test("the warning and the note name the busiest processes outside the run", () => {
  const node = {
    ...use("node", "node", 0.9),
    otherProcesses: [
      { name: "kswapd0", pid: 45, cpuCores: 0.31 },
      { name: "deno", pid: 812, cpuCores: 0.12 },
    ],
  };
  const a = busyRun(record(24, [use("loadgen", "own", 0.2), node]))!;
  assertEquals(a.busiest.map((p) => p.name), ["kswapd0", "deno"]);
  const warning = busyRunWarning(a);
  assert(
    warning.includes("busiest outside it (cores): kswapd0 (pid 45) 0.31, deno (pid 812) 0.12"),
  );
  const b = busyRun(
    record(25, [use("loadgen", "own", 0.2), { ...node, otherProcesses: [node.otherProcesses[0]] }]),
  )!;
  const note = otherLoadNote([a, b], 27)!;
  assert(
    note.includes("The busiest processes outside them: kswapd0 in 2 runs, deno in 1 run."),
    note,
  );
  // A record from before run schema 3 has no list: the warning says only how much.
  const old = busyRun(record(26, [use("loadgen", "own", 0.2), use("node", "node", 0.9)]))!;
  assertEquals(old.busiest, []);
  assert(!busyRunWarning(old).includes("busiest"));
});

Deno.test("a process outside the run that burns CPU during the window shows as other load", async () => {
  // The run's group: a real shell loop of its own. Company: another real shell loop outside it.
  const own = new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn();
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
    // It is named, with its CPU; the run's own loop is not. Where the machine is so busy that
    // the list is full of processes busier than the spinner, it may be left out: then each
    // named one used at least as much as it did.
    const named = node.otherProcesses!;
    assert(!named.some((p) => p.pid === own.pid), JSON.stringify(named));
    const listed = named.find((p) => p.pid === spinner.pid);
    if (listed) {
      assertEquals(listed.name, "sh");
      const cores = spun / seconds;
      // Both figures are 10 ms ticks of the same counter over nearly the same window.
      assert(Math.abs(listed.cpuCores - cores) <= 0.05, `${listed.cpuCores} vs ${cores}`);
    } else {
      assert(spun / seconds >= OTHER_PROCESS_MIN_CORES, "the spinner used next to nothing");
      assertEquals(named.length, OTHER_PROCESSES_LISTED, JSON.stringify(named));
      assert(named.every((p) => p.cpuCores >= spun / seconds - 0.05), JSON.stringify(named));
    }
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
