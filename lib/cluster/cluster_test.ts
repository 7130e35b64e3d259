// The cluster target against a real API server (etcd, kube-apiserver, controller manager,
// scheduler and kwok from .ci/install_testenv.sh): manifests applied server-side, deploy ->
// health -> cleanup, mesh CRDs and resources validated by the API, safety rules, failures.
import { fileURLToPath } from "node:url";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { assertRejects, assertStringIncludes } from "./_assert.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { checkReachable, connect, ContextError, disconnect, type Kube } from "./kube.ts";
import {
  clusterNamespaces,
  type KubeObject,
  MANAGED_LABELS,
  renderAll,
  renderWorkload,
} from "./manifests.ts";
import {
  applyObjects,
  cleanupCluster,
  ClusterStageError,
  OwnershipError,
  restartWorkloads,
  waitHealthy,
} from "./deploy.ts";
import { CLUSTER_MESHES, enableNamespace } from "./meshes.ts";
import { applyMeshResources, installCrds, readCrds, removeCrds, verifyMeshed } from "./mesh.ts";
import { runJob } from "./job.ts";
import { checkMetricsApi, MetricsUnavailableError } from "./metrics.ts";
import { renderKubeconfig } from "../testenv/testenv.ts";
import { skipReason } from "../../tests/skip.ts";

const skip = testenvSkipReason();
skipReason("cluster tests", skip);

const ALL_NS = clusterNamespaces().map((s) => s.namespace);
const MESHED_NS = clusterNamespaces().filter((s) => s.meshed).map((s) => s.namespace);

function labelled(o: Omit<KubeObject, "metadata"> & { metadata: KubeObject["metadata"] }) {
  o.metadata.labels = { ...MANAGED_LABELS, ...o.metadata.labels };
  return o as KubeObject;
}

/**
 * One replica of namespace `index`'s server Deployment renamed `name`, with one of the test
 * environment's fault images (`registry.invalid/meshbench/<fault>:0`, see kwok_stages.yaml).
 */
function faultyServer(index: number, name: string, fault: string): KubeObject {
  const ns = clusterNamespaces()[index];
  const [dep] = renderWorkload(ns).filter((o) => o.metadata.name === `${ns.workload}-server`);
  dep.metadata.name = name;
  const spec = dep.spec as {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Array<{ image: string }> };
    };
  };
  spec.replicas = 1;
  spec.selector.matchLabels = { app: name };
  spec.template.metadata.labels.app = name;
  spec.template.spec.containers[0].image = `registry.invalid/meshbench/${fault}:0`;
  return dep;
}

Deno.test({
  name: "cluster target against a real API server",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const env = await startForTest("cluster");
    let kube: Kube | undefined;
    try {
      await t.step("a context is used only when named", () => {
        const err = (() => {
          try {
            connect("", { kubeconfig: env.kubeconfigPath });
          } catch (e) {
            return e;
          }
        })();
        assert(err instanceof ContextError);
        assertStringIncludes(err.message, "no context named");
        const unknown = (() => {
          try {
            connect("prod", { kubeconfig: env.kubeconfigPath });
          } catch (e) {
            return e as Error;
          }
        })();
        assertStringIncludes(String(unknown?.message), 'Cannot use context "prod"');
        assertStringIncludes(String(unknown?.message), `"${env.context}"`);
        kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
      });
      const k = () => kube!;

      await t.step("an unreachable cluster is a clear error within a bounded time", async () => {
        const dir = await Deno.makeTempDir();
        const pki = `${env.dir}/pki`;
        const path = `${dir}/kubeconfig`;
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (l.addr as Deno.NetAddr).port;
        l.close();
        await Deno.writeTextFile(
          path,
          renderKubeconfig("gone", `https://127.0.0.1:${port}`, {
            ca: await Deno.readTextFile(`${pki}/ca.crt`),
            cert: await Deno.readTextFile(`${pki}/admin.crt`),
            key: await Deno.readTextFile(`${pki}/admin.key`),
          }),
        );
        const started = Date.now();
        const e = await assertRejects(() =>
          checkReachable(connect("gone", { kubeconfig: path }), 3000)
        );
        assertStringIncludes((e as Error).message, 'Cannot reach the cluster of context "gone"');
        assert(Date.now() - started < 10_000);
        await Deno.remove(dir, { recursive: true });
      });

      await t.step("every manifest passes server-side dry-run validation", async () => {
        const objs = renderAll();
        // Namespaces must exist for namespaced dry runs; apply them for real first.
        await applyObjects(k(), objs.filter((o) => o.kind === "Namespace"));
        const res = await applyObjects(k(), objs.filter((o) => o.kind !== "Namespace"), {
          dryRun: true,
        });
        assertEquals(res.length, objs.length - ALL_NS.length);
      });

      await t.step("an invalid object is rejected by the API server, naming it", async () => {
        const [bad] = renderWorkload(clusterNamespaces()[0]).filter((o) => o.kind === "Service");
        (bad.spec as { ports: Array<{ port: unknown }> }).ports[0].port = "eighty";
        const e = await assertRejects(() => applyObjects(k(), [bad], { dryRun: true }));
        assert(e instanceof ClusterStageError);
        assertStringIncludes(e.message, 'Service "http-benchmark/http-server"');
      });

      await t.step("meshbench refuses a namespace it did not label", async () => {
        await k().core.createNamespace({ body: { metadata: { name: "someone-else" } } });
        const cm = labelled({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "x", namespace: "someone-else" },
          data: {},
        });
        const e = await assertRejects(() => applyObjects(k(), [cm]));
        assert(e instanceof OwnershipError);
        assertStringIncludes(e.message, 'Refusing to touch namespace "someone-else"');
        const unlabelled = {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "y", namespace: "http-benchmark" },
          data: {},
        };
        await assertRejects(() => applyObjects(k(), [unlabelled]), OwnershipError);
      });

      await t.step("deploy -> health: every workload ready, placement honoured", async () => {
        const objs = renderAll().filter((o) => o.kind !== "Job");
        const istio = CLUSTER_MESHES.istio;
        const enabled = objs.map((o) =>
          o.kind === "Namespace" && MESHED_NS.includes(o.metadata.name)
            ? enableNamespace(o, istio)
            : o
        );
        await applyObjects(k(), enabled);
        await waitHealthy(k(), ALL_NS, { timeoutMs: 90_000 });
        const ns = await k().core.readNamespace({ name: "http-benchmark" });
        assertEquals(ns.metadata?.labels?.["istio-injection"], "enabled");
        const base = await k().core.readNamespace({ name: "baseline-http" });
        assertEquals(base.metadata?.labels?.["istio-injection"], "disabled");
        const pods = await k().core.listNamespacedPod({ namespace: "http-benchmark" });
        assertEquals(pods.items.length, 5);
        const serverNodes = new Set(
          pods.items.filter((p) => p.metadata?.labels?.app === "http-server").map((p) =>
            p.spec?.nodeName
          ),
        );
        const clientNodes = pods.items.filter((p) => p.metadata?.labels?.app === "http-client")
          .map((p) => p.spec?.nodeName);
        assert(
          clientNodes.every((n) => n && !serverNodes.has(n)),
          `clients ${clientNodes} share nodes with servers ${[...serverNodes]}`,
        );
        const redis = await k().apps.readNamespacedStatefulSet({
          name: "redis",
          namespace: "db-benchmark",
        });
        assertEquals(redis.status?.readyReplicas, 3);
        // Like kubeadm, the test control plane has no StorageClass: Redis is ready without.
        const classes = await k().objects.list("storage.k8s.io/v1", "StorageClass");
        assertEquals(classes.items.length, 0);
        const svc = await k().core.readNamespacedService({
          name: "http-server-nodeport",
          namespace: "baseline-http",
        });
        assertEquals(svc.spec?.ports?.[0].nodePort, 31080);
      });

      await t.step("restarting workloads re-creates their pods (for injection)", async () => {
        const before = (await k().core.listNamespacedPod({ namespace: "http-benchmark" })).items
          .map((p) => p.metadata?.name).sort();
        const restarted = await restartWorkloads(k(), ["http-benchmark"]);
        assertEquals(restarted.sort(), [
          'Deployment "http-benchmark/http-client"',
          'Deployment "http-benchmark/http-server"',
        ]);
        await waitHealthy(k(), ["http-benchmark"], { timeoutMs: 60_000, pollMs: 250 });
        const after = (await k().core.listNamespacedPod({ namespace: "http-benchmark" })).items
          .filter((p) => !p.metadata?.deletionTimestamp);
        assertEquals(after.length, 5);
        assert(after.every((p) => p.metadata?.annotations?.["meshbench.io/restarted-at"]));
        assert(after.every((p) => !before.includes(p.metadata?.name)));
      });

      await t.step("mesh CRDs installed; meshbench's mesh resources validated", async () => {
        const crds = readCrds(["istio-security.yaml", "cilium.yaml"]);
        await installCrds(k(), crds);
        const pa = await applyMeshResources(k(), CLUSTER_MESHES.istio, MESHED_NS);
        assertEquals(pa.length, MESHED_NS.length);
        assertEquals((pa[0].spec as { mtls: { mode: string } }).mtls.mode, "STRICT");
        const cnp = await applyMeshResources(k(), CLUSTER_MESHES.cilium, MESHED_NS);
        assertEquals(cnp.length, MESHED_NS.length);
        const bad = CLUSTER_MESHES.istio.resources("http-benchmark")[0];
        (bad.spec as { mtls: { mode: string } }).mtls.mode = "SUPERSTRICT";
        const e = await assertRejects(() => applyObjects(k(), [bad], { dryRun: true }));
        assertStringIncludes((e as Error).message, "SUPERSTRICT");
      });

      const realCrds = new URL("../../.testenv/charts/cilium/crds/", import.meta.url).pathname;
      let noRealCrds: string | null = null;
      try {
        Deno.statSync(`${realCrds}ciliumnetworkpolicies.yaml`);
      } catch {
        noRealCrds = `Cilium's CRDs missing in "${realCrds}" (run: bash .ci/install_charts.sh)`;
      }
      skipReason("Cilium policies against the real CRD", noRealCrds);
      await t.step({
        name: "meshbench's Cilium policies (L3/L4 and L7) pass Cilium's own CRD schema",
        ignore: noRealCrds !== null,
        async fn() {
          const crd = readCrds(["ciliumnetworkpolicies.yaml"], realCrds)[0];
          crd.metadata.labels = { ...crd.metadata.labels, ...MANAGED_LABELS };
          await installCrds(k(), [crd]);
          for (const name of ["cilium", "cilium-l7"]) {
            const [applied] = await applyMeshResources(k(), CLUSTER_MESHES[name], [
              "http-benchmark",
            ], { dryRun: true });
            // A field the schema does not know would have been pruned, not kept.
            assertEquals(applied.spec, CLUSTER_MESHES[name].resources("http-benchmark")[0].spec);
          }
        },
      });

      await t.step("meshed-pod verification catches pods without the proxy", async () => {
        const e = await assertRejects(() =>
          verifyMeshed(k(), CLUSTER_MESHES.istio, ["http-benchmark"])
        );
        assert(e instanceof ClusterStageError);
        assertStringIncludes(e.message, 'no "istio-proxy" container');
        const e2 = await assertRejects(() =>
          verifyMeshed(k(), CLUSTER_MESHES.cilium, ["http-benchmark"])
        );
        assertStringIncludes((e2 as Error).message, "no CiliumEndpoint");
        assertEquals(await verifyMeshed(k(), CLUSTER_MESHES.baseline, ["http-benchmark"]), 0);
      });

      await t.step("the ML Job completes and its completion time is measured", async () => {
        const job = renderWorkload(clusterNamespaces().find((s) => s.workload === "ml")!)
          .find((o) => o.kind === "Job")!;
        const out = await runJob(k(), job, { timeoutMs: 90_000, pollMs: 250 });
        assertEquals(out.completions, 5);
        assert(out.durationS >= 0 && out.observedS > 0);
      });

      await t.step("an image that cannot be pulled fails fast with the pod's events", async () => {
        await applyObjects(k(), [faultyServer(0, "broken-image", "unpullable")]);
        const started = Date.now();
        const e = await assertRejects(() =>
          waitHealthy(k(), ["http-benchmark"], { timeoutMs: 60_000, pollMs: 250 })
        );
        assert(e instanceof ClusterStageError);
        assertEquals(e.stage, "health");
        assertStringIncludes(e.message, "ImagePullBackOff");
        assertStringIncludes(e.message, "event: Warning Failed");
        assert(Date.now() - started < 30_000, "fails fast, not at the timeout");
        await k().apps.deleteNamespacedDeployment({
          name: "broken-image",
          namespace: "http-benchmark",
        });
      });

      await t.step("a pod that never becomes ready fails at the bound", async () => {
        await applyObjects(k(), [faultyServer(1, "never-ready", "never-ready")]);
        const e = await assertRejects(() =>
          waitHealthy(k(), ["grpc-benchmark"], { timeoutMs: 4_000, pollMs: 250 })
        );
        assertStringIncludes((e as Error).message, "not ready after 4000 ms");
        assertStringIncludes((e as Error).message, 'Deployment "grpc-benchmark/never-ready"');
        // Ctrl-C stops the wait at once instead of at the bound.
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 300);
        const started = Date.now();
        const i = await assertRejects(() =>
          waitHealthy(k(), ["grpc-benchmark"], {
            timeoutMs: 60_000,
            pollMs: 100,
            signal: abort.signal,
          })
        );
        assertStringIncludes(i.message, "interrupted while waiting");
        assert(Date.now() - started < 5_000);
      });

      await t.step("missing metrics-server is a clear message", async () => {
        const e = await assertRejects(() => checkMetricsApi(k()));
        assert(e instanceof MetricsUnavailableError);
        assertStringIncludes(e.message, "metrics.k8s.io API is not served");
      });

      await t.step("cleanup removes exactly what meshbench labelled", async () => {
        const dry = await cleanupCluster(k(), { dryRun: true });
        assertEquals(dry.namespaces.sort(), [...ALL_NS].sort());
        // As a user runs it: `deno task cleanup` without --run, through the target's cleanupAll.
        const task = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "tasks/cleanup.ts",
            "--target",
            "cluster",
            "--context",
            env.context,
            "--kubeconfig",
            env.kubeconfigPath,
          ],
          cwd: fileURLToPath(new URL("../..", import.meta.url)),
          stdout: "piped",
          stderr: "piped",
        }).output();
        const said = new TextDecoder().decode(task.stdout);
        assertEquals(task.code, 0, new TextDecoder().decode(task.stderr));
        assertStringIncludes(said, `Removed from context "${env.context}": namespaces `);
        for (const ns of ALL_NS) assertStringIncludes(said, ns);
        const left = await k().core.listNamespace();
        const names = left.items.map((n) => n.metadata?.name);
        for (const ns of ALL_NS) assert(!names.includes(ns), `${ns} still there`);
        assert(names.includes("someone-else"), "a foreign namespace is never deleted");
        assert(names.includes("default"));
        await removeCrds(
          k(),
          readCrds(["istio-security.yaml", "cilium.yaml"]).map((c) => c.metadata.name),
        );
        const crds = await k().apiext.listCustomResourceDefinition();
        assertEquals(crds.items.length, 0);
      });
    } finally {
      if (kube) await disconnect(kube);
      await stopForTest(env);
    }
  },
});
