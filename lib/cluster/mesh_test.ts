// Mesh lifecycle through a real helm binary against the test API server: install creates
// the mesh's namespace labelled as meshbench's and waits for the control plane, uninstall
// removes it fully; a failed install is an error naming mesh and release within its bound.
// The chart is a local fixture (no chart repository is reachable here).
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { assertRejects, assertStringIncludes } from "./_assert.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import { connect, disconnect, isNotFound } from "./kube.ts";
import { ClusterStageError } from "./deploy.ts";
import { CILIUM_CNI_VALUES_FILE, CLUSTER_MESHES, type ClusterMesh } from "./meshes.ts";
import { applyMeshResources, installMesh, uninstallMesh } from "./mesh.ts";
import { applyObjects } from "./deploy.ts";
import { clusterNamespaces, MANAGED_LABELS, renderNamespaces } from "./manifests.ts";
import { realRunner, type Runner } from "../command.ts";
import { skipReason } from "../../tests/skip.ts";

const helm = `${resolveBinDir()}/helm`;
let skip = testenvSkipReason();
try {
  Deno.statSync(helm);
} catch {
  skip ??= `helm missing in "${resolveBinDir()}" (run: bash .ci/install_testenv.sh)`;
}
skipReason("mesh lifecycle tests", skip);

const chart = new URL("./testdata/fake-mesh-chart", import.meta.url).pathname;

function fakeMesh(image: string, timeoutS: number): ClusterMesh {
  return {
    ...CLUSTER_MESHES.istio,
    name: "fake-mesh",
    version: "0.1.0",
    systemNamespaces: ["fake-mesh-system"],
    install: [{
      release: "fake-control-plane",
      chart,
      repo: "",
      namespace: "fake-mesh-system",
      values: { image },
      timeoutS,
    }],
  };
}

Deno.test({
  name: "mesh install and full uninstall with helm against a real API server",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const env = await startForTest("mesh");
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    const workDir = await Deno.makeTempDir({ prefix: "meshbench-mesh-" });
    const opts = {
      runner: realRunner,
      helm,
      kubeconfig: env.kubeconfigPath,
      workDir,
      timeoutMs: 60_000,
    };
    try {
      await t.step("install waits for the control plane in a labelled namespace", async () => {
        const mesh = fakeMesh("registry.example/fake-mesh/control-plane:1", 60);
        await installMesh(kube, mesh, opts);
        const ns = await kube.core.readNamespace({ name: "fake-mesh-system" });
        assertEquals(ns.metadata?.labels?.["meshbench.io/managed"], "true");
        // Node agents (istio-cni, ztunnel) are privileged: the level is stated, not left to
        // the cluster's default.
        assertEquals(ns.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "privileged");
        const pods = await kube.core.listNamespacedPod({
          namespace: "fake-mesh-system",
          labelSelector: mesh.controlPlane[0].labelSelector,
        });
        assertEquals(pods.items.length, 1);
        await uninstallMesh(kube, mesh, opts);
        const e = await assertRejects(() => kube.core.readNamespace({ name: "fake-mesh-system" }));
        assert(isNotFound(e));
      });

      await t.step(
        "a release meshbench did not install is neither upgraded nor uninstalled",
        async () => {
          const mesh = fakeMesh("registry.example/fake-mesh/control-plane:1", 60);
          // The namespace is meshbench's, the release in it is not (installed by hand, without
          // meshbench's release labels): the release check, not the namespace's, refuses it.
          await applyObjects(kube, [{
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name: "fake-mesh-system", labels: { ...MANAGED_LABELS } },
          }]);
          const theirs = "registry.example/theirs/control-plane:1";
          const cluster = ["--kube-context", env.context, "--kubeconfig", env.kubeconfigPath];
          await realRunner.run([
            helm,
            "upgrade",
            "--install",
            "fake-control-plane",
            chart,
            "--namespace",
            "fake-mesh-system",
            "--set",
            `image=${theirs}`,
            ...cluster,
            "--wait",
            "--timeout",
            "60s",
          ], { timeoutMs: 120_000 });
          for (const step of [installMesh, uninstallMesh]) {
            const e = await assertRejects(() => step(kube, mesh, opts));
            assertStringIncludes((e as Error).message, "meshbench did not create it");
          }
          const pods = await kube.core.listNamespacedPod({
            namespace: "fake-mesh-system",
            labelSelector: mesh.controlPlane[0].labelSelector,
          });
          assertEquals(pods.items.map((p) => p.spec?.containers[0].image), [theirs], "untouched");
          // Test cleanup: their release, then the namespace.
          await realRunner.run(
            [
              helm,
              "uninstall",
              "fake-control-plane",
              "--namespace",
              "fake-mesh-system",
              ...cluster,
            ],
            { timeoutMs: 120_000 },
          );
          await uninstallMesh(kube, mesh, opts);
        },
      );

      const istioCharts = new URL("../../.testenv/charts/istio/", import.meta.url).pathname;
      let noCharts: string | null = null;
      try {
        Deno.statSync(`${istioCharts}istiod/Chart.yaml`);
      } catch {
        noCharts = `Istio charts missing in "${istioCharts}" (run: bash .ci/install_charts.sh)`;
      }
      skipReason("real Istio install", noCharts);
      await t.step({
        name: "the real Istio charts install with meshbench's values, validate its mTLS " +
          "policy, and uninstall fully",
        ignore: noCharts !== null,
        async fn() {
          // meshbench's Istio exactly, with the charts read from disk instead of the
          // unreachable repository (Istio's source charts, see .ci/install_charts.sh).
          const real = CLUSTER_MESHES.istio;
          const istio: ClusterMesh = {
            ...real,
            install: real.install.map((s) => ({ ...s, repo: "", chart: istioCharts + s.chart })),
          };
          // A CRD that was there before is not meshbench's: never labelled, never removed.
          const theirs = {
            metadata: { name: "widgets.example.com" },
            spec: {
              group: "example.com",
              scope: "Namespaced",
              names: { plural: "widgets", singular: "widget", kind: "Widget" },
              versions: [{
                name: "v1",
                served: true,
                storage: true,
                schema: { openAPIV3Schema: { type: "object" } },
              }],
            },
          };
          await kube.apiext.createCustomResourceDefinition({ body: theirs });
          // ... and one another team creates while the install runs is not meshbench's
          // either: neither a release of the mesh's nor in its API groups.
          const during = structuredClone(theirs);
          during.metadata.name = "gadgets.example.com";
          during.spec.names = { plural: "gadgets", singular: "gadget", kind: "Gadget" };
          let sneaked = false;
          const runner: Runner = {
            run: async (cmd, o) => {
              if (!sneaked && cmd.includes("upgrade")) {
                sneaked = true;
                await kube.apiext.createCustomResourceDefinition({ body: during });
              }
              return await realRunner.run(cmd, o);
            },
          };
          await installMesh(kube, istio, { ...opts, runner });
          assert(sneaked);
          const pa = await kube.apiext.readCustomResourceDefinition({
            name: "peerauthentications.security.istio.io",
          });
          assertEquals(pa.metadata?.labels?.["meshbench.io/mesh"], "istio");
          const ns = await kube.core.readNamespace({ name: "istio-system" });
          assertEquals(ns.metadata?.labels?.["meshbench.io/managed"], "true");
          const istiod = await kube.core.listNamespacedPod({
            namespace: "istio-system",
            labelSelector: istio.controlPlane[0].labelSelector,
          });
          assertEquals(istiod.items.length, 1, "istiod found by meshbench's selector");
          // The PeerAuthentication CRD is now Istio's own (from its base chart): meshbench's
          // STRICT policy is accepted, a malformed one is rejected by the real schema.
          const [bench] = renderNamespaces(
            clusterNamespaces().filter((n) => n.namespace === "http-benchmark"),
          );
          await applyObjects(kube, [bench]);
          await applyMeshResources(kube, istio, ["http-benchmark"]);
          const bad = istio.resources("http-benchmark")[0];
          (bad.spec as { mtls: { mode: string } }).mtls.mode = "STRICTEST";
          const rejected = await assertRejects(() => applyObjects(kube, [bad]));
          assertStringIncludes(rejected.message, "STRICTEST");
          await uninstallMesh(kube, istio, opts);
          const names = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
          assert(!names.includes("istio-system"), "istio-system removed");
          const crds = (await kube.apiext.listCustomResourceDefinition()).items
            .map((c) => c.metadata?.name ?? "").filter((n) => n.endsWith(".istio.io"));
          assertEquals(crds, [], "the CRDs Istio's install created are removed");
          const kept = await kube.apiext.readCustomResourceDefinition({
            name: "widgets.example.com",
          });
          assertEquals(kept.metadata?.labels?.["meshbench.io/managed"], undefined);
          const keptToo = await kube.apiext.readCustomResourceDefinition({
            name: "gadgets.example.com",
          });
          assertEquals(keptToo.metadata?.labels?.["meshbench.io/managed"], undefined);
          await kube.apiext.deleteCustomResourceDefinition({ name: "widgets.example.com" });
          await kube.apiext.deleteCustomResourceDefinition({ name: "gadgets.example.com" });
          await kube.core.deleteNamespace({ name: "http-benchmark" });
        },
      });

      const ciliumChart = new URL("../../.testenv/charts/cilium/", import.meta.url).pathname;
      await t.step({
        name: "the Cilium mesh changes the CNI release cluster:setup made and reverts it, " +
          "never uninstalls it; releases meshbench did not label are refused",
        ignore: noCharts !== null,
        async fn() {
          const real = CLUSTER_MESHES.cilium;
          const cilium: ClusterMesh = {
            ...real,
            install: real.install.map((s) => ({ ...s, repo: "", chart: ciliumChart + s.chart })),
          };
          // No CNI release: the mesh has nothing to change, and says how to get one.
          const none = await assertRejects(() => installMesh(kube, cilium, opts));
          assertStringIncludes((none as Error).message, "cluster:setup --cni cilium");
          // The CNI as ansible/roles/cni installs it: the shared values file, the labels.
          const cni = (labels: string[]) =>
            realRunner.run([
              helm,
              "upgrade",
              "--install",
              "cilium",
              `${ciliumChart}cilium`,
              "--namespace",
              "kube-system",
              ...labels,
              `--values=${CILIUM_CNI_VALUES_FILE}`,
              "--set=k8sServiceHost=127.0.0.1",
              "--kube-context",
              env.context,
              "--kubeconfig",
              env.kubeconfigPath,
              "--wait",
              "--timeout",
              "300s",
            ], { timeoutMs: 360_000 });
          // Someone else's Cilium (no meshbench labels) is never touched.
          await cni([]);
          const foreign = await assertRejects(() => installMesh(kube, cilium, opts));
          assertStringIncludes((foreign as Error).message, "meshbench did not create it");
          // Relabelling it later would not make it meshbench's (its first revision has no
          // labels): the release meshbench may change is one cluster:setup created.
          const uninstallCni = () =>
            realRunner.run([
              helm,
              "uninstall",
              "cilium",
              "--namespace",
              "kube-system",
              "--kube-context",
              env.context,
              "--kubeconfig",
              env.kubeconfigPath,
              "--wait",
            ], { timeoutMs: 300_000 });
          await uninstallCni();
          await cni(["--labels=meshbench.io/managed=true,meshbench.io/cni=cilium"]);
          const agents = async () =>
            (await kube.core.listNamespacedPod({
              namespace: "kube-system",
              labelSelector: "k8s-app=cilium",
            })).items.length;
          assert(await agents() > 0, "the CNI's agents run");
          await installMesh(kube, cilium, opts);
          for (const sel of [...cilium.controlPlane, ...cilium.nodeProxies]) {
            const pods = await kube.core.listNamespacedPod({
              namespace: sel.namespace,
              labelSelector: sel.labelSelector,
            });
            assert(pods.items.length > 0, `no pods for ${sel.namespace} ${sel.labelSelector}`);
          }
          // The chart's own Namespace for SPIRE (helm owns it, meshbench does not create it).
          const spire = await kube.core.readNamespace({ name: "cilium-spire" });
          assertEquals(spire.metadata?.labels?.["app.kubernetes.io/managed-by"], "Helm");
          const values = async () =>
            JSON.parse(
              (await realRunner.run([
                helm,
                "get",
                "values",
                "cilium",
                "--namespace",
                "kube-system",
                "--kube-context",
                env.context,
                "--kubeconfig",
                env.kubeconfigPath,
                "-o",
                "json",
              ], { timeoutMs: 30_000 })).stdout,
            );
          const meshed = await values();
          assertEquals(meshed.ipam.mode, "kubernetes");
          assertEquals(meshed.k8sServiceHost, "127.0.0.1", "the per-cluster value is kept");
          assertEquals(meshed.authentication.mutual.spire.enabled, true);
          await uninstallMesh(kube, cilium, opts);
          const names = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
          assert(!names.includes("cilium-spire"), "SPIRE removed with the mesh");
          assert(await agents() > 0, "the CNI is still there after the mesh is gone");
          const reverted = await values();
          assertEquals(reverted.authentication.mutual.spire.enabled, false);
          assertEquals(reverted.encryption.enabled, false);
          assertEquals([reverted.ipam.mode, reverted.k8sServiceHost], ["kubernetes", "127.0.0.1"]);
          // Test cleanup: the CNI release goes as the test made it.
          await uninstallCni();
        },
      });

      await t.step("a failed install names the mesh and release, bounded", async () => {
        const mesh = fakeMesh("registry.invalid/meshbench/unpullable:0", 5);
        const started = Date.now();
        const e = await assertRejects(() => installMesh(kube, mesh, opts));
        assert(e instanceof ClusterStageError);
        assertEquals(e.stage, "mesh");
        assertStringIncludes(
          e.message,
          'mesh "fake-mesh" 0.1.0, Helm release "fake-control-plane"',
        );
        assert(Date.now() - started < 60_000);
        await uninstallMesh(kube, mesh, opts);
        const names = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
        assert(!names.includes("fake-mesh-system"), "nothing left behind");
      });
    } finally {
      await disconnect(kube);
      await stopForTest(env);
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "ClusterTarget switches meshes: full uninstall, enable, restart, verify, load",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { ClusterTarget } = await import("./target.ts");
    const { makeContext } = await import("./testdata/context.ts");
    const env = await startForTest("switch");
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    const runDir = await Deno.makeTempDir({ prefix: "meshbench-run-" });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("ok"),
    );
    // Two stand-in meshes: a fixture chart as control plane; "meshed" means re-created
    // after the install (a real mesh's check looks for its injected proxy instead).
    const stand = (name: string): ClusterMesh => ({
      ...fakeMesh("registry.example/fake-mesh/control-plane:1", 60),
      // Not a sidecar mesh: its pods carry nothing that tells meshed from unmeshed.
      kind: "ebpf",
      name,
      systemNamespaces: [`${name}-system`],
      install: [{ ...fakeMesh("x", 60).install[0], namespace: `${name}-system` }],
      enable: { labels: { "meshbench-test/mesh": name }, annotations: {} },
      unmeshedReason: (pod) =>
        pod.metadata?.annotations?.["meshbench.io/restarted-at"] ? null : "not re-created",
      resources: () => [],
    });
    // What the cluster looked like when mesh-a's release was uninstalled.
    let atUninstall: { label?: string; stamps: string[] } | undefined;
    const runner: Runner = {
      run: async (cmd, o) => {
        if (
          cmd[1] === "uninstall" && cmd.includes("--namespace") &&
          cmd[cmd.indexOf("--namespace") + 1] === "mesh-a-system"
        ) {
          const pods = await kube.core.listNamespacedPod({ namespace: "http-benchmark" });
          atUninstall = {
            label: await nsLabel(),
            stamps: pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) =>
              p.metadata?.annotations?.["meshbench.io/restarted-at"] ?? ""
            ),
          };
        }
        return await realRunner.run(cmd, o);
      },
    };
    const target = new ClusterTarget({
      helm,
      runner,
      healthTimeoutMs: 60_000,
      meshes: { "mesh-a": stand("mesh-a"), "mesh-b": stand("mesh-b") },
      loadTarget: () => ({ address: `http://127.0.0.1:${server.addr.port}/`, protocol: "http" }),
    });
    const ctx = makeContext({
      kubeconfig: env.kubeconfigPath,
      context: env.context,
      runDir,
      workloads: ["http"],
      meshes: ["baseline", "mesh-a", "mesh-b"],
    });
    const point = {
      mode: "fixed-rate" as const,
      tool: "fortio",
      rate: 50,
      connections: 1,
      durationS: 1,
    };
    const nsLabel = async () =>
      (await kube.core.readNamespace({ name: "http-benchmark" })).metadata?.labels?.[
        "meshbench-test/mesh"
      ];
    const names = async () =>
      (await kube.core.listNamespace()).items.map((n) => n.metadata?.name ?? "");
    try {
      await target.deploy(ctx);
      await target.health(ctx);
      let seq = 1;
      const run = (mesh: string) =>
        target.runLoad(ctx, { seq: seq++, workload: "http", mesh, iteration: 1, point });

      const a = await run("mesh-a");
      assertEquals(a.load.errors, 0);
      assertEquals(await nsLabel(), "mesh-a");
      assert((await names()).includes("mesh-a-system"));
      const base = (await kube.core.readNamespace({ name: "baseline-http" })).metadata?.labels;
      assertEquals(base?.["meshbench-test/mesh"], undefined, "baseline never enabled");

      const meshedStamps = (await kube.core.listNamespacedPod({ namespace: "http-benchmark" }))
        .items.map((p) => p.metadata?.annotations?.["meshbench.io/restarted-at"] ?? "");
      await run("mesh-b");
      // Unmeshed, restarted and ready before mesh-a was uninstalled.
      assert(atUninstall, "mesh-a's release was uninstalled");
      assertEquals(atUninstall.label, undefined, "enablement removed before the uninstall");
      assertEquals(atUninstall.stamps.length, 5);
      assert(
        atUninstall.stamps.every((s) => s && !meshedStamps.includes(s)),
        "pods restarted unmeshed before the uninstall",
      );
      assertEquals(await nsLabel(), "mesh-b");
      const now = await names();
      assert(!now.includes("mesh-a-system"), "mesh-a fully uninstalled before mesh-b");
      assert(now.includes("mesh-b-system"));
      const b = await run("baseline");
      assertEquals(b.load.errors, 0);
      const state = JSON.parse(await Deno.readTextFile(`${runDir}/cluster.json`));
      assertEquals([state.mesh, state.meshVersion], ["mesh-b", "0.1.0"]);

      await target.cleanup(ctx);
      const end = await names();
      for (const n of ["mesh-b-system", "http-benchmark", "baseline-http"]) {
        assert(!end.includes(n), `${n} left behind`);
      }
    } finally {
      await server.shutdown();
      await target.close();
      await disconnect(kube);
      await stopForTest(env);
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
    }
  },
});
