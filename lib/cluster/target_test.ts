// The ClusterTarget end to end against a real API server with kwok: deploy, health, load by
// exec in a client pod (kwok runs the exec'd fortio on this machine, against a loopback
// server), the ML Job, cleanup, and cleanup on Ctrl-C.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { assertRejects, assertStringIncludes } from "./_assert.ts";
import { MANAGED_LABELS } from "./manifests.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import { ClusterTarget } from "./target.ts";
import { connect, disconnect } from "./kube.ts";
import { layOutConfigMap, makeContext } from "./testdata/context.ts";
import type { RunSpec } from "../types.ts";
import { echoHandler, type EchoStats } from "../../servers/ws_echo.ts";
import { skipReason } from "../../tests/skip.ts";

let skip = testenvSkipReason();
try {
  Deno.statSync(`${resolveBinDir()}/fortio`);
} catch {
  skip ??= `fortio missing in "${resolveBinDir()}" (run: bash .ci/install_testenv.sh)`;
}
for (const tool of ["redis-server", "redis-benchmark"]) {
  const onPath = (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(`${d}/${tool}`).isFile;
    } catch {
      return false;
    }
  });
  if (!onPath) skip ??= `${tool} not on PATH (run: bash .ci/install_workloads.sh)`;
}
skipReason("cluster target tests", skip);

Deno.test({
  name: "ClusterTarget: deploy, health, load by exec, ML Job, cleanup, Ctrl-C",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const env = await startForTest("target");
    const runDir = await Deno.makeTempDir({ prefix: "meshbench-run-" });
    let served = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      served++;
      return new Response("ok");
    });
    const lines: string[] = [];
    const ctx = makeContext({
      kubeconfig: env.kubeconfigPath,
      context: env.context,
      runDir,
      workloads: ["http", "websocket", "db", "ml"],
      lines,
    });
    // A loopback Redis stands in for the StatefulSet's instances (exec runs on this machine).
    const redisPort = (() => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const p = (l.addr as Deno.NetAddr).port;
      l.close();
      return p;
    })();
    const redis = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(redisPort),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // A loopback echo server stands in for the ws-server pods.
    const echoStats: EchoStats = { connections: 0, open: 0, messages: 0, errors: 0 };
    const echo = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      echoHandler(echoStats, "test"),
    );
    const target = new ClusterTarget({
      wsTarget: () => [`ws://127.0.0.1:${echo.addr.port}/`],
      healthTimeoutMs: 60_000,
      loadTarget: () => ({ address: `http://127.0.0.1:${server.addr.port}/`, protocol: "http" }),
      redisTarget: () => ({ host: "127.0.0.1", port: redisPort }),
    });
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    try {
      await t.step("deploy and health", async () => {
        await target.deploy(ctx);
        await target.health(ctx);
        const state = JSON.parse(await Deno.readTextFile(`${runDir}/cluster.json`));
        assertEquals(state.namespaces, [
          "http-benchmark",
          "websocket-benchmark",
          "db-benchmark",
          "ml-benchmark",
          "baseline-http",
        ]);
        assertEquals(state.metrics, false);
        assert(lines.some((l) => l.includes("metrics.k8s.io API is not served")));
        // The capacity check runs in every QoS mode (here Burstable), before anything is applied.
        assert(
          lines.some((l) => /capacity: the benchmark fits 3 schedulable node\(s\)/.test(l)),
          lines.join("\n"),
        );
        // kwok's nodes carry the role labels cluster:setup sets: placement is required, and
        // the Deployments as applied require their role's nodes.
        assertEquals(state.placement, "required");
        const client = await kube.apps.readNamespacedDeployment({
          name: "http-client",
          namespace: "http-benchmark",
        });
        const [term] = client.spec?.template.spec?.affinity?.nodeAffinity
          ?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
        assertEquals(
          term?.matchExpressions?.map((e) => [e.key, e.operator, e.values]),
          [["meshbench.io/role", "In", ["client"]]],
        );
        // The cluster as recorded: kwok's three nodes as the test environment made them.
        assertEquals(state.environment.nodes.length, 3);
        assertEquals(state.environment.nodes[0].roles, ["server"]);
        assertEquals([state.environment.nodes[0].cpu, state.environment.nodes[0].memoryMiB], [
          8,
          32768,
        ]);
        assertEquals(state.environment.cni, "unknown");
        const tools = await target.toolVersions(ctx);
        assertEquals(tools.kubernetes, "v1.34.4");
        assertStringIncludes(tools.nodes, "3 x ? ");
        assertEquals(state.qos.mode, "burstable");
        assertEquals(state.qos.pods.baseline["http-benchmark/http-server"], "Burstable");
        assert(lines.some((l) => l.startsWith("WARN qos: benchmark pods are Burstable")));
      });

      await t.step("load runs by exec in a client pod and is parsed", async () => {
        const spec: RunSpec = {
          seq: 1,
          workload: "http",
          mesh: "baseline",
          iteration: 1,
          point: { mode: "fixed-rate", tool: "fortio", rate: 100, connections: 2, durationS: 2 },
        };
        const out = await target.runLoad(ctx, spec);
        assertEquals(out.load.tool, "fortio");
        assertEquals(out.load.toolVersion, "1.66.5");
        assertEquals(out.load.errors, 0);
        // -nocatchup: on a loaded machine fortio falls behind rather than bursting, so the
        // count may be under rate x duration, never over it.
        assert(out.load.operations > 0 && out.load.operations <= 220, `${out.load.operations}`);
        // fortio sends one unrecorded warm-up request per connection before the run; -c is
        // at least rate x 50 ms (5 here), more than the point's 2.
        assertEquals(out.load.connections, 5);
        // Without kwok's resource metrics (this control plane runs no metrics-server) the
        // kubelets' CPU counters cannot be read: said once, in the state and the log.
        const noted = JSON.parse(await Deno.readTextFile(`${runDir}/cluster.json`));
        assertStringIncludes(noted.cpuCountersNote, "the kubelets' counters cannot be read");
        // Where the run's pods were, recorded with the run.
        const placement = out.load.extra?.placement as {
          clients: Record<string, string>;
          serverNodes: string[];
        };
        assertEquals(placement.serverNodes.length > 0, true, JSON.stringify(placement));
        assertEquals(Object.keys(placement.clients).length, 2);
        assertEquals(
          served,
          out.load.operations + out.load.connections,
          "every parsed request reached the server",
        );
        assert(
          out.load.achievedRate > 0 && out.load.achievedRate <= 105,
          `${out.load.achievedRate}`,
        );
        assertEquals(out.load.latency.total, out.load.operations);
        assertEquals(out.raw.length, 1);
        assert((await Deno.stat(`${runDir}/${out.raw[0]}`)).size > 0);
        const mesh = await target.describeMesh(ctx, "baseline");
        assertEquals([mesh.kind, mesh.emulated], ["none", false]);
        // CPU throttling is read from cAdvisor through the API server's node proxy; the API
        // server refuses to proxy to kwok's loopback node addresses: said once, by reason.
        const notes = lines.filter((l) => l.includes("CPU throttling is not recorded"));
        assertEquals(notes.length, 1);
        assertStringIncludes(notes[0], 'cannot read cAdvisor metrics of node "kwok-node-');
        const st = JSON.parse(await Deno.readTextFile(`${runDir}/cluster.json`));
        assertStringIncludes(st.throttlingNote, "address not allowed");
      });

      await t.step("the WebSocket client runs in both client pods from its ConfigMap", async () => {
        // kwok runs exec'd commands on this machine in the test environment's directory:
        // lay out the files as the ws-client pods mount them (the ConfigMap the API server
        // holds, at the paths of the Deployment's volume items), so what runs is what the
        // pods would run.
        const cm = await kube.core.readNamespacedConfigMap({
          name: "meshbench-ws-code",
          namespace: "websocket-benchmark",
        });
        const dep = await kube.apps.readNamespacedDeployment({
          name: "ws-client",
          namespace: "websocket-benchmark",
        });
        const items = dep.spec!.template.spec!.volumes!.find((v) => v.name === "code")!
          .configMap!.items!;
        await layOutConfigMap(env.dir, items, cm.data!);
        const out = await target.runLoad(ctx, {
          seq: 4,
          workload: "websocket",
          mesh: "baseline",
          iteration: 1,
          point: { mode: "fixed-rate", tool: "ws-client", rate: 200, connections: 5, durationS: 2 },
        });
        assertEquals(out.load.tool, "ws-client");
        assertEquals(out.load.errors, 0, JSON.stringify(out.load.errorKinds));
        assertEquals(out.load.operations, 400);
        assertEquals(echoStats.messages, 400, "every message reached the echo server");
        assertEquals(echoStats.connections, 5);
        assertEquals(out.load.latency.total, 400);
        assertEquals(out.load.requestedRate, 200);
        assert(Math.abs(out.load.achievedRate - 200) < 10, `${out.load.achievedRate}`);
        const extra = out.load.extra as { clients: number; perClient: { connections: number }[] };
        assertEquals(extra.clients, 2);
        assertEquals(extra.perClient.map((c) => c.connections), [3, 2]);
        assertEquals(out.raw.length, 2);
        for (const r of out.raw) assert((await Deno.stat(`${runDir}/${r}`)).size > 0);
        // The warm-up drives the same client (100 msg/s over 10 connections), and fortio.
        const before = echoStats.messages;
        const servedBefore = served;
        await target.warmup(ctx, 1);
        assertEquals(echoStats.messages - before, 100);
        assert(served > servedBefore, "fortio warm-up reached the http server");
      });

      await t.step("redis-benchmark runs in both client pods and is combined", async () => {
        const out = await target.runLoad(ctx, {
          seq: 3,
          workload: "db",
          mesh: "baseline",
          iteration: 1,
          point: {
            mode: "max-throughput",
            tool: "redis-benchmark",
            rate: null,
            connections: 2,
            durationS: 1,
          },
        });
        assertEquals(out.load.tool, "redis-benchmark");
        assertEquals(
          lines.filter((l) => l.includes("CPU throttling is not recorded")).length,
          1,
          "not tried again once it failed",
        );
        assertEquals(out.load.errors, 0);
        // 2 clients x 5 tests x 2,000 requests.
        assertEquals(out.load.operations, 20_000);
        assertEquals(out.raw.length, 2);
      });

      await t.step("the ML Job runs as a measured load", async () => {
        const out = await target.runLoad(ctx, {
          seq: 2,
          workload: "ml",
          mesh: "baseline",
          iteration: 1,
          point: {
            mode: "batch",
            tool: "kubernetes-job",
            rate: null,
            connections: 1,
            durationS: 60,
          },
        });
        assertEquals(out.load.operations, 5);
      });

      await t.step("cleanup removes the run's namespaces", async () => {
        await target.cleanup(ctx);
        const names = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
        for (
          const ns of [
            "http-benchmark",
            "websocket-benchmark",
            "db-benchmark",
            "ml-benchmark",
            "baseline-http",
          ]
        ) {
          assert(!names.includes(ns), `${ns} left behind`);
        }
      });

      await t.step("qos guaranteed: every pod Guaranteed, a pod that is not is named", async () => {
        const qRun = await Deno.makeTempDir({ prefix: "meshbench-run-" });
        const qLines: string[] = [];
        const qctx = makeContext({
          kubeconfig: env.kubeconfigPath,
          context: env.context,
          runDir: qRun,
          workloads: ["http"],
          meshes: ["baseline", "istio"],
          lines: qLines,
          qos: "guaranteed",
        });
        const qt = new ClusterTarget({ healthTimeoutMs: 60_000 });
        try {
          // All five workloads Guaranteed need more than the 3 x 8 CPU kwok nodes: refused
          // before anything is applied, with both figures (the capacity check runs in every
          // QoS mode; here Guaranteed makes it not fit).
          const tooBig = await assertRejects(() =>
            qt.deploy({
              ...qctx,
              config: { ...qctx.config, workloads: ["http", "grpc", "websocket", "db", "ml"] },
            })
          );
          assertStringIncludes(tooBig.message, "does not fit the cluster (qos guaranteed)");
          assertStringIncludes(tooBig.message, "which have 24.00 CPU");
          assertStringIncludes(tooBig.message, "under istio the benchmark requests");
          const before = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
          assert(!before.includes("grpc-benchmark"), "nothing applied");
          // Planned in deploy blocks instead, each of which fits under every mesh: the
          // workloads in their order, split where the next one would not fit.
          const five = { ...qctx.config, workloads: ["http", "grpc", "websocket", "db", "ml"] };
          const blocks = await qt.planBlocks(five, qctx.log);
          assert(blocks.length > 1, JSON.stringify(blocks));
          assertEquals(blocks.flat(), five.workloads);
          await qt.deploy(qctx);
          assert(
            qLines.some((l) =>
              /capacity: the benchmark fits 3 schedulable node\(s\) with 24\.00/.test(l)
            ),
            qLines.join("\n"),
          );
          await qt.health(qctx);
          const state = JSON.parse(await Deno.readTextFile(`${qRun}/cluster.json`));
          assertEquals(state.qos.mode, "guaranteed");
          // The API server's own verdict on every benchmark pod.
          assertEquals(state.qos.pods.baseline, {
            "baseline-http/http-client": "Guaranteed",
            "baseline-http/http-server": "Guaranteed",
            "http-benchmark/http-client": "Guaranteed",
            "http-benchmark/http-server": "Guaranteed",
          });
          const dep = await kube.apps.readNamespacedDeployment({
            name: "http-server",
            namespace: "http-benchmark",
          });
          assertEquals(
            dep.spec!.template.metadata!.annotations!["sidecar.istio.io/proxyCPULimit"],
            "500m",
          );
          // Envoy's workers follow its CPU (500m: one worker), recorded with the mesh.
          assertEquals(
            dep.spec!.template.metadata!.annotations!["proxy.istio.io/config"],
            '{"concurrency":1}',
          );
          const mesh = await qt.describeMesh(qctx, "istio");
          assertEquals(
            [mesh.settings.podQos, mesh.settings.proxyCpu, mesh.settings.proxyConcurrency],
            ["guaranteed", "500m", 1],
          );
          // A pod as a sidecar injector with its own sizing would leave it: Burstable.
          const same = { cpu: "1", memory: "256Mi" };
          await kube.core.createNamespacedPod({
            namespace: "http-benchmark",
            body: {
              metadata: { name: "injected", labels: { ...MANAGED_LABELS, app: "injected" } },
              spec: {
                initContainers: [{
                  name: "istio-proxy",
                  image: "busybox:1.36",
                  restartPolicy: "Always",
                  resources: { requests: { cpu: "10m", memory: "40Mi" }, limits: same },
                }],
                containers: [{
                  name: "app",
                  image: "busybox:1.36",
                  resources: { requests: same, limits: same },
                }],
              },
            },
          });
          const err = await assertRejects(() => qt.health(qctx));
          assertStringIncludes(
            err.message,
            'pod "http-benchmark/injected" is Burstable: init container "istio-proxy": ' +
              "cpu request 10m, limit 1; memory request 40Mi, limit 256Mi",
          );
          assertStringIncludes(err.message, 'Stage "health" failed');
        } finally {
          await qt.cleanup(qctx);
          await qt.close();
          await Deno.remove(qRun, { recursive: true });
        }
      });

      await t.step("Ctrl-C cleans up what was deployed", async () => {
        const childRunDir = await Deno.makeTempDir({ prefix: "meshbench-run-" });
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("./testdata/interrupt_child.ts", import.meta.url).pathname,
            env.kubeconfigPath,
            env.context,
            childRunDir,
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        const deadline = Date.now() + 60_000;
        while (!seen.includes("deployed") && Date.now() < deadline) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        assertStringIncludes(seen, "deployed");
        const before = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
        assert(before.includes("http-benchmark"));
        child.kill("SIGINT");
        const status = await child.status;
        reader.releaseLock();
        await child.stdout.cancel().catch(() => {});
        const err = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
        assertEquals(status.code, 130, err);
        assertStringIncludes(err, "interrupted, cleaning up");
        const after = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
        assert(!after.includes("http-benchmark") && !after.includes("baseline-http"));
        await Deno.remove(childRunDir, { recursive: true });
      });
    } finally {
      redis.kill("SIGTERM");
      await redis.status;
      await server.shutdown();
      await echo.shutdown();
      await target.close();
      await disconnect(kube);
      await stopForTest(env);
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
  },
});
