/**
 * Nothing lost: Ctrl-C mid-run, and a proxy dying mid-run, with real processes.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord } from "../lib/schema.ts";
import { isAlive } from "../lib/local/proc.ts";
import type { LocalState } from "../lib/local/target.ts";
import { freeLocal, onlyRunDir, quickConfig, startTask, tempSetup, waitUntil } from "./helpers.ts";

async function runFiles(out: string): Promise<string[]> {
  try {
    return await listRunFiles(await onlyRunDir(out));
  } catch {
    return [];
  }
}

Deno.test({
  name: "Ctrl-C mid-run stops every process, keeps measured runs, marks the run interrupted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out } = await tempSetup(
      quickConfig({ iterations: 5, local: await freeLocal({ workloads: ["http"] }) }),
    );
    const child = startTask("bench_all.ts", ["--config", configFile, "--out", out]);
    await waitUntil(async () => (await runFiles(out)).length >= 2, 90_000, "two measured runs");
    child.kill("SIGINT");
    const status = await child.output();
    const stderr = new TextDecoder().decode(status.stderr);
    assertEquals(status.code, 130, stderr.slice(-2000));
    const runDir = await onlyRunDir(out);
    const manifest = validateManifest(await readJson(join(runDir, "manifest.json")));
    assertEquals(manifest.status, "interrupted");
    assert(manifest.reason?.includes("interrupted"));
    const records = await Promise.all(
      (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
    );
    // Kept: the runs measured before the signal (whatever they measured: on a loaded machine a
    // run may fail its success threshold, and that is a result too).
    assert(records.filter((r) => r.status !== "interrupted").length >= 2);
    assert(records.length < manifest.plan.length, "the run stopped early");
    assert(records.filter((r) => r.status === "interrupted").length <= 1);
    const cleanup = manifest.stages.find((s) => s.name === "cleanup");
    assertEquals(cleanup?.status, "ok");
    const state = await readJson(join(runDir, "local", "state.json")) as LocalState;
    assert(state.processes.every((p) => !isAlive(p.pid)), "no process left running");
    await Deno.stat(join(runDir, "summary.json"));
  },
});

Deno.test({
  name: "a proxy dying mid-run fails that mesh's runs with the reason; the rest goes on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out } = await tempSetup(
      quickConfig({
        iterations: 3,
        meshes: ["baseline", "sidecar-emu"],
        local: await freeLocal({ workloads: ["http"] }),
      }),
    );
    const child = startTask("bench_all.ts", ["--config", configFile, "--out", out]);
    await waitUntil(async () => (await runFiles(out)).length >= 1, 90_000, "a measured run");
    const runDir = await onlyRunDir(out);
    const state = await readJson(join(runDir, "local", "state.json")) as LocalState;
    const victim = state.processes.find((p) => p.name === "sidecar-emu-client-sidecar")!;
    Deno.kill(victim.pid, "SIGKILL");
    const status = await child.output();
    assertEquals(status.code, 1, new TextDecoder().decode(status.stderr).slice(-2000));
    const manifest = validateManifest(await readJson(join(runDir, "manifest.json")));
    assertEquals(manifest.status, "failed");
    assert(manifest.reason?.includes("failed"), manifest.reason ?? "no reason");
    const records = await Promise.all(
      (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
    );
    assertEquals(records.length, manifest.plan.length, "every planned run has a record");
    const failed = records.filter((r) => r.status === "failed");
    assert(failed.length >= 1);
    assert(failed.every((r) => r.spec.mesh === "sidecar-emu"));
    assert(
      failed.every((r) => r.reason?.includes("sidecar-emu-client-sidecar")),
      failed[0].reason ?? "no reason",
    );
    assert(
      records.filter((r) => r.spec.mesh === "baseline").every((r) => r.status !== "failed"),
      "baseline runs go on",
    );
    const summary = await readJson(join(runDir, "summary.json")) as { notes: string[] };
    assert(summary.notes.some((n) => n.includes("failed")));
    const after = await readJson(join(runDir, "local", "state.json")) as LocalState;
    assert(after.processes.every((p) => !isAlive(p.pid)));
  },
});
