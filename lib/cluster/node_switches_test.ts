import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { spawnDaemon } from "../process.ts";
import { isAlive, stopGroup } from "../local/proc.ts";
import {
  cgroupThreads,
  findContainerCgroups,
  localCgroupRoot,
  readContainerSwitches,
  switchesBetween,
} from "./node_switches.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("a container's switches are summed over its cgroup's threads, found by pod UID and container ID as the kubelet names them", async () => {
  const root = localCgroupRoot();
  assert(root, "a cgroup hierarchy is mounted");
  // A pod's layout as the kubelet's cgroupfs driver makes it, in a subtree of our own.
  const top = join(root, `meshbench-test-${crypto.randomUUID().slice(0, 8)}`);
  const uid = crypto.randomUUID();
  const id = "a".repeat(64);
  const dir = join(top, "kubepods", "burstable", `pod${uid}`, id);
  const tmp = await Deno.makeTempDir();
  let pid: number | undefined;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const go = join(tmp, "go");
    const done = join(tmp, "done");
    // Three threads that sleep 1 ms 200 times each once `go` exists, then stay alive.
    await Deno.writeTextFile(
      join(tmp, "c.py"),
      `import os, threading, time
def work(ev):
    while not os.path.exists(${JSON.stringify(go)}): time.sleep(0.02)
    for _ in range(200): time.sleep(0.001)
    ev.set(); time.sleep(60)
evs = [threading.Event() for _ in range(3)]
for ev in evs: threading.Thread(target=work, args=(ev,), daemon=True).start()
for ev in evs: ev.wait()
open(${JSON.stringify(done)}, "w").close()
time.sleep(60)
`,
    );
    pid = await spawnDaemon(["python3", join(tmp, "c.py")], join(tmp, "c.log"));
    // Moving the process moves its threads (v1 cgroup.procs), as runc puts a container's.
    await Deno.writeTextFile(join(dir, "cgroup.procs"), `${pid}\n`);
    for (let i = 0; i < 100 && cgroupThreads(dir).length < 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(cgroupThreads(dir).length >= 4, `main + 3 threads: ${cgroupThreads(dir)}`);
    const containers = new Map([["bench/server-0/app", { podUid: uid, containerId: id }], [
      "bench/gone/app",
      { podUid: crypto.randomUUID(), containerId: id },
    ]]);
    const cgroups = findContainerCgroups(top, containers);
    assertEquals([...cgroups], [["bench/server-0/app", dir]], "the pod that is not there is not");
    const before = readContainerSwitches(cgroups);
    await Deno.writeTextFile(go, "");
    for (let i = 0; i < 600 && !(await exists(done)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(await exists(done), "the threads finished within 30 s");
    const after = readContainerSwitches(cgroups);
    const s = switchesBetween(before, after).get("bench/server-0/app")!;
    assert(s.voluntary >= 3 * 200, `voluntary ${s.voluntary}`);
    assert(s.tasks >= 4);
    assert(after.nodeTotal - before.nodeTotal >= s.voluntary, "the node counts at least these");
  } finally {
    if (pid !== undefined) await stopGroup(pid, 1000);
    for (let i = 0; i < 40 && pid !== undefined && isAlive(pid); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // cgroup directories go bottom-up, once empty.
    for (const d of [dir, join(dir, ".."), join(dir, "../.."), join(dir, "../../.."), top]) {
      await Deno.remove(d).catch(() => {});
    }
    await Deno.remove(tmp, { recursive: true });
    assert(!(await exists(top)), `${top} removed`);
  }
});

Deno.test("switches between two readings: new threads count from zero, exited ones are lost, a missing container is left out", () => {
  const before = {
    containers: new Map([
      [
        "a",
        new Map([[1, { voluntary: 10, involuntary: 1 }], [2, { voluntary: 5, involuntary: 0 }]]),
      ],
      ["b", new Map([[7, { voluntary: 1, involuntary: 1 }]])],
    ]),
    nodeTotal: 100,
  };
  const after = {
    containers: new Map([
      [
        "a",
        new Map([[1, { voluntary: 25, involuntary: 3 }], [3, { voluntary: 4, involuntary: 2 }]]),
      ],
      ["c", new Map([[9, { voluntary: 50, involuntary: 0 }]])],
    ]),
    nodeTotal: 180,
  };
  assertEquals([...switchesBetween(before, after)], [["a", {
    voluntary: 15 + 4,
    involuntary: 2 + 2,
    tasks: 3,
  }]]);
});
