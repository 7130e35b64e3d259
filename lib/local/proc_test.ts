import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { portFree } from "./ports.ts";
import { isAlive, ResourceSampler, stopGroup, waitForPort } from "./proc.ts";
import { spawnDaemon } from "../process.ts";

Deno.test("a busy daemon's CPU and memory are measured from /proc, and its group is stopped", async () => {
  const dir = await Deno.makeTempDir();
  const log = join(dir, "busy.log");
  // A bounded busy loop (10 s at most) with a child of its own, in one process group.
  const pid = await spawnDaemon(
    ["sh", "-c", "timeout 10 sh -c 'while :; do :; done' & wait"],
    log,
  );
  await new Promise((r) => setTimeout(r, 200));
  assert(isAlive(pid));
  const sampler = new ResourceSampler([{ name: "busy", component: "app", pid }], 100);
  sampler.start();
  await new Promise((r) => setTimeout(r, 1500));
  const [busy, node] = sampler.stop();
  assertEquals(busy.name, "busy");
  // How much CPU the loop gets depends on the machine's load; that it is seen, and that one
  // thread is never measured above one core, does not.
  assert(busy.cpuCores > 0 && busy.cpuCores < 1.2, `cpu ${busy.cpuCores}`);
  assert(busy.memoryPeakMB > 0.1, `memory ${busy.memoryPeakMB}`);
  assert(busy.samples >= 5);
  assertEquals(node.component, "node");
  assert(node.cpuCores >= busy.cpuCores * 0.8);
  await stopGroup(pid, 1000);
  assert(!isAlive(pid), "the whole group is stopped");
});

Deno.test("a taken port is seen as taken; waiting on a dead process fails fast", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  assertEquals(portFree(port), false);
  l.close();
  const dir = await Deno.makeTempDir();
  const pid = await spawnDaemon(["sh", "-c", "exit 3"], join(dir, "x.log"));
  const t0 = Date.now();
  let msg = "";
  try {
    await waitForPort(port, "quitter", 10_000, pid);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("exited before listening"), msg);
  assert(Date.now() - t0 < 5000);
});
