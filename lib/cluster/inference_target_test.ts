// The inference workload through the ClusterTarget against a real API server with kwok:
// deploy fills the pods' values from the run's config, health waits for its pods, and the load
// runs by exec in a client pod (kwok runs the exec'd fortio on this machine) POSTing the
// payload files to a real model server on loopback, the same model the local target serves.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { waitForPort } from "../local/proc.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import type { BenchConfig } from "../config.ts";
import { configDefaults } from "../config_schema.ts";
import type { RunSpec } from "../types.ts";
import { pointsOn } from "../workload.ts";
import { inferenceParameters, prepareInference, serveCommand } from "../workloads/inference.ts";
import { inferenceWorkload } from "../workloads/inference.ts";
import { ML_SIZES, sklearnTool } from "../workloads/ml.ts";
import { PARAMETERS_CHECKSUM_ANNOTATION } from "./manifests.ts";
import { ClusterTarget } from "./target.ts";
import { connect, disconnect } from "./kube.ts";
import { makeContext } from "./testdata/context.ts";
import { skipReason } from "../../tests/skip.ts";

let skip = testenvSkipReason();
try {
  Deno.statSync(`${resolveBinDir()}/fortio`);
} catch {
  skip ??= `fortio missing in "${resolveBinDir()}" (run: bash .ci/install_testenv.sh)`;
}
const sklearn = sklearnTool();
if (
  !skip &&
  !(await new Deno.Command(sklearn.version![0], { args: sklearn.version!.slice(1) }).output()
    .then((o) => o.success, () => false))
) {
  skip = `scikit-learn missing for ${sklearn.bin} (run: bash .ci/install_workloads.sh)`;
}
skipReason("inference cluster target test", skip);

Deno.test({
  name:
    "ClusterTarget with the inference workload: the pods get the run's model values, fortio in a client pod POSTs each payload to the model",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const env = await startForTest("inference");
    const runDir = await Deno.makeTempDir({ prefix: "meshbench-run-" });
    const work = await Deno.makeTempDir({ prefix: "meshbench-inference-" });
    const ctx = makeContext({
      kubeconfig: env.kubeconfigPath,
      context: env.context,
      runDir,
      workloads: ["inference"],
    });
    const config = ctx.config as BenchConfig;
    Object.assign(config, {
      profile: "quick",
      seed: 5,
      inference: { rate: 20, payloadBytes: [1024, 16384], connections: 2 },
      local: configDefaults().local,
    });
    config.load.throughput = { enabled: false, durationS: 1, connections: 2 };
    // The model server the client pods' Service stands for: the local target's model for the
    // same config, on loopback (kwok runs the exec'd fortio on this machine).
    const size = ML_SIZES.quick;
    const model = await prepareInference(realRunner, work, {
      rows: size.rows,
      features: size.features,
      trees: size.trees,
      dataSeed: 5,
      payloadBytes: [1024, 16384],
    });
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const [cmd, ...args] = serveCommand(join(work, "model.pkl"), port);
    const server = new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn();
    const target = new ClusterTarget({
      healthTimeoutMs: 60_000,
      loadTarget: () => ({
        address: `http://127.0.0.1:${port}/predict`,
        protocol: "http",
        payloadDir: join(work, "payloads"),
      }),
    });
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    try {
      await waitForPort(port, "ml_serve", 60_000, server.pid);
      await t.step("deploy and health: the pods' ConfigMap holds the run's values", async () => {
        await target.deploy(ctx);
        await target.health(ctx);
        const state = JSON.parse(await Deno.readTextFile(`${runDir}/cluster.json`));
        assertEquals(state.namespaces, ["inference-benchmark"]);
        const cm = await kube.core.readNamespacedConfigMap({
          name: "meshbench-inference-params",
          namespace: "inference-benchmark",
        });
        assertEquals(cm.data, inferenceParameters(config));
        assertEquals(cm.data?.PAYLOADS, "1024,16384");
        assertEquals(cm.data?.DATA_SEED, "5");
        for (const name of ["inference-server", "inference-client"]) {
          const dep = await kube.apps.readNamespacedDeployment({
            name,
            namespace: "inference-benchmark",
          });
          assertEquals(dep.status?.readyReplicas, 2, name);
          assert(
            dep.spec?.template.metadata?.annotations?.[PARAMETERS_CHECKSUM_ANNOTATION],
            `${name} carries the values' checksum`,
          );
        }
      });

      await t.step(
        "each payload point: fortio by exec POSTs the payload file, every request answered",
        async () => {
          const points = pointsOn(inferenceWorkload, "pod", config);
          assertEquals(points.map((p) => [p.mode, p.tool, p.payloadBytes]), [
            ["fixed-rate", "fortio", 1024],
            ["fixed-rate", "fortio", 16384],
          ]);
          const perRequest: number[] = [];
          for (const [i, point] of points.entries()) {
            const spec: RunSpec = {
              seq: i + 1,
              workload: "inference",
              mesh: "baseline",
              iteration: 1,
              point: { ...point, durationS: 2 },
            };
            const out = await target.runLoad(ctx, spec);
            assertEquals(out.load.tool, "fortio");
            // A request without the payload would be refused (405 for a GET, 400 for other bytes).
            assertEquals(out.load.errors, 0, JSON.stringify(out.load.errorKinds));
            assert(out.load.operations > 0 && out.load.operations <= 44, `${out.load.operations}`);
            assert(out.raw.length > 0, "raw fortio output kept");
            perRequest.push(out.load.bytesIn / out.load.operations);
          }
          // The model answers one label per row it read ("0," or "1,"): the 16 KB payload's
          // answers are longer than the 1 KB one's by at least one byte per extra row.
          const rows = points.map((p) =>
            model.payloads.find((x) => x.bytes === p.payloadBytes)!.rows
          );
          assert(
            perRequest[1] - perRequest[0] >= rows[1] - rows[0],
            `answers of ${perRequest.map((b) => b.toFixed(1))} bytes for ${rows} rows`,
          );
        },
      );

      await t.step("cleanup removes the namespace", async () => {
        await target.cleanup(ctx);
        const names = (await kube.core.listNamespace()).items.map((n) => n.metadata?.name);
        assert(!names.includes("inference-benchmark"), "inference-benchmark left behind");
      });
    } finally {
      server.kill("SIGTERM");
      await server.status;
      await target.close();
      await disconnect(kube);
      await stopForTest(env);
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
