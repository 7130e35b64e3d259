// Mesh lifecycle through a real helm binary against the test API server: install creates
// the mesh's namespace labelled as meshbench's and waits for the control plane, uninstall
// removes it fully; a failed install is an error naming mesh and release within its bound.
// The chart is a local fixture (no chart repository is reachable here).
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import { connect, disconnect, isNotFound } from "./kube.ts";
import { ClusterStageError } from "./deploy.ts";
import { CLUSTER_MESHES, type ClusterMesh } from "./meshes.ts";
import { installMesh, uninstallMesh } from "./mesh.ts";
import { realRunner } from "../command.ts";

const helm = `${resolveBinDir()}/helm`;
let skip = testenvSkipReason();
try {
  Deno.statSync(helm);
} catch {
  skip ??= `helm missing in "${resolveBinDir()}" (run: bash .ci/install_testenv.sh)`;
}
if (skip) console.log(`SKIP mesh lifecycle tests: ${skip}`);

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
        const pods = await kube.core.listNamespacedPod({
          namespace: "fake-mesh-system",
          labelSelector: mesh.controlPlane[0].labelSelector,
        });
        assertEquals(pods.items.length, 1);
        await uninstallMesh(kube, mesh, opts);
        const e = await assertRejects(() => kube.core.readNamespace({ name: "fake-mesh-system" }));
        assert(isNotFound(e));
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
