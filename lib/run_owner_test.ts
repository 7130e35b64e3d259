import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { readManifest, updateManifest } from "./run_dir.ts";
import {
  claimRun,
  currentOwner,
  isStale,
  markStaleInterrupted,
  processStartTicks,
  releaseRun,
  staleRunDirs,
} from "./run_owner.ts";

/** A synthetic run whose manifest says `running`, owned by `pid`. */
async function runOwnedBy(pid: number): Promise<{ tmp: string; dir: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_owner_" });
  const dir = await writeSyntheticRun(tmp, { samples: 100 });
  await updateManifest(dir, (m) => {
    m.status = "running";
    m.stages.push({ name: "load", status: "running", start: new Date().toISOString() });
    m.owner = { ...currentOwner("bench:all"), pid, startTicks: processStartTicks(pid) ?? 0 };
  });
  return { tmp, dir };
}

Deno.test("a run owned by a live process is refused by name; once that process is gone it is stale and taken over", async () => {
  const other = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const { tmp, dir } = await runOwnedBy(other.pid);
  try {
    assertEquals(isStale(await readManifest(dir)), false);
    await rejects(() => claimRun(dir, "load"), (e: Error) => {
      assertEquals(e.name, "RunBusyError");
      assert(e.message.includes(`pid ${other.pid}`), e.message);
      assert(e.message.includes("deno task bench:all"), e.message);
      return true;
    });
    assertEquals(await staleRunDirs(tmp), []);
    other.kill("SIGKILL");
    await other.status;
    assertEquals(await staleRunDirs(tmp), [dir]);
    const before = await claimRun(dir, "cleanup");
    assert(isStale(before));
    assertEquals((await readManifest(dir)).owner?.pid, Deno.pid);
    await markStaleInterrupted(dir, "deno task cleanup", before.owner);
    const after = await readManifest(dir);
    assertEquals(after.status, "interrupted");
    assertEquals(after.owner, undefined);
    assert(after.stages.every((s) => s.status !== "running"));
    assert(after.reason?.includes(`pid ${other.pid}`), String(after.reason));
    assertEquals(await staleRunDirs(tmp), []);
  } finally {
    try {
      other.kill("SIGKILL");
    } catch { /* already gone */ }
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a pid reused by another process is not mistaken for the run's owner", async () => {
  const { tmp, dir } = await runOwnedBy(Deno.pid);
  try {
    // Same pid, another start time: what a reused pid looks like.
    await updateManifest(dir, (m) => {
      m.owner!.startTicks += 1;
    });
    assert(isStale(await readManifest(dir)));
    await claimRun(dir, "load");
    await releaseRun(dir);
    assertEquals((await readManifest(dir)).owner, undefined, "released by its owner");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
