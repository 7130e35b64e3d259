/**
 * Faults must never cost a run, with real processes: a port in use, two runs at once
 * on the same ports, Ctrl-C through `deno task` as a terminal sends it, SIGKILL of
 * meshbench, a truncated run record, failed runs and the exit codes of the stages.
 * Every wait is bounded and waits on a condition (a file, a line, an exit), never on
 * the clock.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord } from "../lib/schema.ts";
import { groupMembers, isAlive } from "../lib/local/proc.ts";
import type { LocalState } from "../lib/local/target.ts";
import type { Manifest } from "../lib/types.ts";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import {
  freeLocal,
  onlyRunDir,
  quickConfig,
  ROOT,
  runTask,
  startTask,
  streamText,
  tempSetup,
  waitUntil,
} from "./helpers.ts";

const dec = new TextDecoder();

/** A short local config on a free port range. */
async function setup(overrides: Record<string, unknown> = {}) {
  const base = quickConfig({ meshes: ["baseline", "sidecar-emu"], ...overrides });
  return await tempSetup({ ...base, local: await freeLocal(base) });
}

async function runDirs(out: string): Promise<string[]> {
  const dirs: string[] = [];
  try {
    for await (const e of Deno.readDir(out)) if (e.isDirectory) dirs.push(join(out, e.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return dirs.sort();
}

async function recordCount(out: string): Promise<number> {
  const [dir] = await runDirs(out);
  return dir ? (await listRunFiles(dir)).length : 0;
}

async function manifestOf(runDir: string): Promise<Manifest> {
  return validateManifest(await readJson(join(runDir, "manifest.json")), "manifest");
}

async function stateOf(runDir: string): Promise<LocalState> {
  return await readJson(join(runDir, "local", "state.json")) as LocalState;
}

Deno.test({
  name:
    "a port in use is refused before anything exists: exit 2, stderr names local.basePort and the port",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup();
    const { basePort } = (await import("yaml")).parse(await Deno.readTextFile(configFile)).local;
    const busy = basePort + 20; // the http client sidecar's port
    const l = Deno.listen({ hostname: "127.0.0.1", port: busy });
    try {
      const r = await runTask("bench_all.ts", ["--config", configFile, "--out", out]);
      assertEquals(r.code, 2, r.stderr);
      assert(r.stderr.includes("local.basePort"), r.stderr);
      assert(r.stderr.includes(`port ${busy}`), r.stderr);
      assert(!r.stderr.includes("    at "), "no stack trace");
      assertEquals(r.stdout.trim(), "", "nothing on stdout");
      assertEquals(await runDirs(out), [], "no run directory");
    } finally {
      l.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "two bench:all started at once on the same ports: one measures, the other exits 2 naming it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 1 });
    const args = ["--config", configFile, "--out", out];
    const [a, b] = await Promise.all([
      startTask("bench_all.ts", args).output(),
      startTask("bench_all.ts", args).output(),
    ]);
    const text = (o: Deno.CommandOutput) => dec.decode(o.stderr) + dec.decode(o.stdout);
    const both = `${text(a).slice(-2000)}\n---\n${text(b).slice(-2000)}`;
    // Exactly one is refused; the other measures (exit 0, or 1 when a loaded machine made a
    // run miss its success threshold: a result, not a clash).
    assertEquals([a.code, b.code].filter((c) => c === 2).length, 1, both);
    const [refused, measured] = a.code === 2 ? [a, b] : [b, a];
    assert(measured.code === 0 || measured.code === 1, both);
    const runs = await runDirs(out);
    assertEquals(runs.length, 1, "only the first run exists");
    const runId = runs[0].split("/").pop()!;
    const stderr = dec.decode(refused.stderr);
    assert(stderr.includes("local.basePort"), stderr);
    assert(stderr.includes(runId), `names the first run ${runId}: ${stderr}`);
    const manifest = await manifestOf(runs[0]);
    assertEquals(manifest.status, measured.code === 0 ? "complete" : "failed", both);
    assert(
      manifest.stages.every((s) => s.status === "ok"),
      `every stage of the measuring run worked: ${JSON.stringify(manifest.stages)}`,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "Ctrl-C through deno task to the process group: cleanup finishes, nothing left, run interrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 5 });
    // Its own session and process group, as a terminal's foreground job: `deno task` and
    // meshbench under it both get the SIGINT, and `deno task` forwards it once more.
    const child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "task", "bench:all", "--config", configFile, "--out", out],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = streamText(child.stderr);
    const stdout = streamText(child.stdout);
    await waitUntil(async () => (await recordCount(out)) >= 2, 180_000, "two measured runs");
    Deno.kill(-child.pid, "SIGINT");
    const status = await child.status;
    assertEquals(status.code, 130, stderr.text().slice(-3000));
    const [runDir] = await runDirs(out);
    const manifest = await manifestOf(runDir);
    assertEquals(manifest.status, "interrupted");
    assertEquals(manifest.owner, undefined, "no owner left recorded");
    assertEquals(manifest.stages.find((s) => s.name === "cleanup")?.status, "ok");
    const records = await Promise.all(
      (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
    );
    // Kept: the runs measured before the signal (whatever they measured: on a loaded machine a
    // run may fail its success threshold, and that is a result too).
    assert(records.filter((r) => r.status !== "interrupted").length >= 2);
    const state = await stateOf(runDir);
    assert(state.processes.length > 0);
    assert(state.processes.every((p) => !isAlive(p.pid)), "no process left running");
    await Deno.stat(join(runDir, "summary.json"));
    await Deno.stat(join(runDir, "report.html"));
    assert(stdout.text().includes("Status:        interrupted"), stdout.text().slice(-1000));
    await Deno.remove(dir, { recursive: true });
  },
});

/** Starts bench:all, SIGKILLs it after its first measured run; returns the stale run. */
async function killedRun(
  out: string,
  configFile: string,
): Promise<{ runDir: string; pid: number }> {
  const child = startTask("bench_all.ts", ["--config", configFile, "--out", out]);
  await waitUntil(async () => (await recordCount(out)) >= 1, 180_000, "a measured run");
  child.kill("SIGKILL");
  await child.output();
  const [runDir] = await runDirs(out);
  const manifest = await manifestOf(runDir);
  assertEquals(manifest.status, "running");
  assertEquals(manifest.owner?.pid, child.pid);
  const state = await stateOf(runDir);
  assert(state.processes.some((p) => isAlive(p.pid)), "servers outlive a SIGKILL of meshbench");
  return { runDir, pid: child.pid };
}

Deno.test({
  name:
    "after SIGKILL of bench:all, the next bench:all stops what it started and marks it interrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 4 });
    const { runDir } = await killedRun(out, configFile);
    const state = await stateOf(runDir);
    // Same ports: the new run can only start once the stale run's servers are stopped.
    const r = await runTask("bench_all.ts", [
      "--config",
      configFile,
      "--out",
      out,
      "--iterations",
      "1",
    ]);
    // 0, or 1 when a loaded machine made a run miss its success threshold (a result).
    assert(r.code === 0 || r.code === 1, r.stderr.slice(-3000));
    assert(r.stderr.includes("is stale"), r.stderr.slice(-3000));
    const stale = await manifestOf(runDir);
    assertEquals(stale.status, "interrupted");
    assert(stale.reason?.includes("deno task bench:all"), String(stale.reason));
    assert(stale.stages.every((s) => s.status !== "running"), JSON.stringify(stale.stages));
    assert(state.processes.every((p) => !isAlive(p.pid)), "the stale run's processes are stopped");
    assert((await listRunFiles(runDir)).length >= 1, "its measured runs are kept");
    const runs = await runDirs(out);
    assertEquals(runs.length, 2);
    const next = await manifestOf(runs[1]);
    assertEquals(next.status, r.code === 0 ? "complete" : "failed");
    assert(next.stages.every((s) => s.status === "ok"), JSON.stringify(next.stages));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "after SIGKILL of bench:all, a new deploy stops what it started and marks it interrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 4 });
    const { runDir } = await killedRun(out, configFile);
    const state = await stateOf(runDir);
    const d = await runTask("deploy.ts", ["--config", configFile, "--out", out]);
    assertEquals(d.code, 0, d.stderr.slice(-3000));
    const stale = await manifestOf(runDir);
    assertEquals(stale.status, "interrupted");
    assert(stale.reason?.includes("deno task deploy"), String(stale.reason));
    assert(state.processes.every((p) => !isAlive(p.pid)), "the stale run's processes are stopped");
    const fresh = (await runDirs(out)).find((r) => r !== runDir)!;
    assertEquals((await manifestOf(fresh)).owner, undefined, "deploy released its new run");
    const c = await runTask("cleanup.ts", ["--run", fresh]);
    assertEquals(c.code, 0, c.stderr.slice(-3000));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "after SIGKILL of bench:all, cleanup stops what it started and marks it interrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 4 });
    const { runDir, pid } = await killedRun(out, configFile);
    const state = await stateOf(runDir);
    const r = await runTask("cleanup.ts", ["--out", out]);
    assertEquals(r.code, 0, r.stderr.slice(-3000));
    const m = await manifestOf(runDir);
    assertEquals(m.status, "interrupted");
    assert(m.reason?.includes("deno task cleanup"), String(m.reason));
    assert(m.reason?.includes(`pid ${pid}`), `names the killed meshbench: ${m.reason}`);
    assertEquals(m.owner, undefined);
    assert(state.processes.every((p) => !isAlive(p.pid)), "every process is stopped");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "collect says on stderr which truncated run record it skipped, and still writes the summary",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "meshbench-collect-" });
    const runDir = await writeSyntheticRun(tmp, { samples: 300 });
    // Its manifest says SYNTHETIC in a field the stored-config check refuses: keep it to
    // the fields a real run has (the run id and startedBy still say synthetic).
    const manifestFile = join(runDir, "manifest.json");
    const m = JSON.parse(await Deno.readTextFile(manifestFile));
    delete m.config.note;
    await Deno.writeTextFile(manifestFile, JSON.stringify(m));
    const [victim] = await listRunFiles(runDir);
    const text = await Deno.readTextFile(victim);
    await Deno.writeTextFile(victim, text.slice(0, Math.floor(text.length / 2)));
    const r = await runTask("collect.ts", ["--run", runDir]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes("collect skipped a run record"), r.stderr);
    assert(r.stderr.includes(victim.split("/").pop()!), r.stderr);
    const summary = await readJson(join(runDir, "summary.json")) as { notes: string[] };
    assert(summary.notes.some((n) => n.includes(victim.split("/").pop()!)));
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "stage tasks follow the exit codes: load exits 1 when measured runs failed, cleanup 0",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out, dir } = await setup({ iterations: 1 });
    const d = await runTask("deploy.ts", ["--config", configFile, "--out", out]);
    assertEquals(d.code, 0, d.stderr.slice(-3000));
    const runDir = await onlyRunDir(out);
    try {
      // Every server's main process gone (their workers stay, as nginx's do when its master
      // dies): each measured run fails, with its reason.
      for (const p of (await stateOf(runDir)).processes) Deno.kill(p.pid, "SIGKILL");
      await waitUntil(
        async () => (await stateOf(runDir)).processes.every((p) => !isAlive(p.pid)),
        30_000,
        "the servers to die",
      );
      const l = await runTask("load.ts", ["--run", runDir]);
      assertEquals(l.code, 1, l.stderr.slice(-3000));
      const records = await Promise.all(
        (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
      );
      assert(records.length > 0 && records.every((r) => r.status === "failed"));
      // Resumed: nothing left to run, the earlier failures still fail the task.
      const again = await runTask("load.ts", ["--run", runDir]);
      assertEquals(again.code, 1, again.stderr.slice(-3000));
    } finally {
      const c = await runTask("cleanup.ts", ["--run", runDir]);
      assertEquals(c.code, 0, c.stderr.slice(-3000));
      // Cleanup stops what is left of each group, the orphaned workers too.
      for (const p of (await stateOf(runDir)).processes) {
        assertEquals(groupMembers(p.pid), [], `${p.name}'s group is stopped`);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
