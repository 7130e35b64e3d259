// The test control plane itself: the tasks' output contract, state, refusal to start twice,
// and a clean stop (only the recorded processes).
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { parse } from "yaml";
import { testenvSkipReason } from "./fixture.ts";
import {
  freePort,
  processRuns,
  readTestenvState,
  renderKubeconfig,
  startTestenv,
  stopTestenv,
} from "./testenv.ts";
import { skipReason } from "../../tests/skip.ts";

// testenv:up starts metrics-server by default.
const skip = testenvSkipReason({ metricsServer: true });
skipReason("testenv tests", skip);

Deno.test("the kubeconfig names its context and has no current-context", () => {
  const kc = parse(
    renderKubeconfig("ctx", "https://127.0.0.1:1", { ca: "C", cert: "X", key: "K" }),
  );
  assertEquals(kc["current-context"], "");
  assertEquals(kc.contexts, [{ name: "ctx", context: { cluster: "ctx", user: "ctx" } }]);
  assertEquals(kc.clusters[0].cluster["certificate-authority-data"], btoa("C"));
});

Deno.test({
  name: "testenv:up prints KUBECONFIG and CONTEXT; testenv:down stops exactly what it started",
  ignore: skip !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-testenv-task-" });
    const task = (name: string, ...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(`../../tasks/${name}.ts`, import.meta.url).pathname, ...args],
      }).output();
    try {
      const up = await task("testenv_up", "--dir", dir, "--nodes", "2");
      const out = new TextDecoder().decode(up.stdout);
      assertEquals(up.code, 0, new TextDecoder().decode(up.stderr));
      assertEquals(out.trim().split("\n"), [
        `KUBECONFIG=${dir}/kubeconfig`,
        "CONTEXT=meshbench-testenv",
      ]);
      const state = await readTestenvState(dir);
      assert(state);
      assertEquals(state.processes.map((p) => p.name), [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "metrics-server",
      ]);
      assertEquals(state.metricsServer, true);
      assert(state.processes.every((p) => processRuns(p.pid, p.binary)));
      assertEquals(state.nodes, ["kwok-node-0", "kwok-node-1"]);
      await rejects(() => startTestenv({ dir }), /already running/);
      const down = await task("testenv_down", "--dir", dir);
      assertEquals(down.code, 0);
      assert(state.processes.every((p) => !processRuns(p.pid, p.binary)));
      assertEquals(await readTestenvState(dir), null);
      const again = await task("testenv_down", "--dir", dir);
      assertEquals(new TextDecoder().decode(again.stdout).trim(), "nothing was running");
    } finally {
      await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../tasks/testenv_down.ts", import.meta.url).pathname,
          "--dir",
          dir,
        ],
      }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "a port taken between picking and binding: the dead component is seen at once, retried",
  ignore: testenvSkipReason() !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-testenv-collision-" });
    // Something else holds the port handed to kube-apiserver (the third pick) first.
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const taken = (squatter.addr as Deno.NetAddr).port;
    let picks = 0;
    const lines: string[] = [];
    const started = Date.now();
    try {
      const env = await startTestenv({
        dir,
        nodes: 1,
        timeoutMs: 90_000,
        log: (m) => lines.push(m),
        portPicker: () => ++picks === 3 ? taken : freePort(),
      });
      assert(!env.server.endsWith(`:${taken}`), env.server);
      assert(lines.some((l) => l.includes("a port was taken while starting (attempt 1)")));
      // Noticed when kube-apiserver exited, not after its 90 s readiness bound.
      assert(Date.now() - started < 60_000, `${Date.now() - started} ms`);
    } finally {
      squatter.close();
      await stopTestenv(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
