/**
 * `deno task bench:all --target cluster` end to end against the test control plane (a real
 * API server with kwok nodes): every stage runs; the ML Job's baseline runs are measured
 * (kwok completes Job pods); Istio cannot be installed here (no chart repository is
 * reachable), so its runs fail naming the Helm release; the run ends failed (exit 1) with
 * schema-valid results and a report, and nothing meshbench labelled is left in the cluster.
 * Then Ctrl-C mid-run: exit 130, interrupted, measured runs kept, the cluster cleaned.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord, validateSummary } from "../lib/schema.ts";
import { startForTest, stopForTest, testenvSkipReason } from "../lib/testenv/fixture.ts";
import { connect, disconnect } from "../lib/cluster/kube.ts";
import { MANAGED_SELECTOR } from "../lib/cluster/manifests.ts";
import { onlyRunDir, runTask, startTask, tempSetup, waitUntil } from "./helpers.ts";
import { skipReason } from "./skip.ts";

const skip = testenvSkipReason();
skipReason("cluster end-to-end test", skip);

Deno.test({
  name: "bench:all --target cluster: every stage, failed mesh named, results and report, " +
    "nothing left",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const env = await startForTest("e2e");
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    const { dir, configFile, out } = await tempSetup({
      workloads: ["ml"],
      meshes: ["baseline", "istio"],
      iterations: 2,
      warmupS: 0,
      cooldownS: 0,
      gapS: 0,
    });
    // bench:all on the test cluster, its results under `to`.
    const args = (to: string) => [
      ...["--target", "cluster", "--context", env.context, "--kubeconfig", env.kubeconfigPath],
      ...["--config", configFile, "--out", to],
    ];
    try {
      const r = await runTask("bench_all.ts", args(out));
      assertEquals(r.code, 1, `expected a failed run (Istio not installable):\n${r.stderr}`);
      const runDir = await onlyRunDir(out);
      const manifest = validateManifest(await readJson(join(runDir, "manifest.json")));
      assertEquals(manifest.target, "cluster");
      assertEquals(manifest.status, "failed");
      assert(manifest.provenance.tools.kubernetes === "v1.34.4", "cluster version recorded");
      const stages = manifest.stages.map((s) => s.name);
      for (const s of ["deploy", "health", "load", "collect", "report", "cleanup"]) {
        assert(stages.includes(s as never), `stage ${s} ran: ${stages.join(", ")}`);
      }

      const files = await listRunFiles(runDir);
      const records = await Promise.all(
        files.map(async (f) => validateRunRecord(await readJson(f), f)),
      );
      assertEquals(records.length, 4);
      const base = records.filter((x) => x.spec.mesh === "baseline");
      const istio = records.filter((x) => x.spec.mesh === "istio");
      assertEquals(base.map((x) => x.status), ["ok", "ok"]);
      for (const x of base) assertEquals(x.load?.operations, 5, "5 Job completions");
      assertEquals(istio.map((x) => x.status), ["failed", "failed"]);
      for (const x of istio) {
        assert(x.reason?.includes(`Helm release "istio-base"`), String(x.reason));
      }
      validateSummary(await readJson(join(runDir, "summary.json")));
      assert((await Deno.stat(join(runDir, "report.html"))).size > 10_000);

      // Nothing labelled as meshbench's is left: namespaces (the benchmark's and the one
      // the failed install created), CRDs.
      const namespaces = await kube.core.listNamespace({ labelSelector: MANAGED_SELECTOR });
      assertEquals(namespaces.items.map((n) => n.metadata?.name), []);
      const crds = await kube.apiext.listCustomResourceDefinition({
        labelSelector: MANAGED_SELECTOR,
      });
      assertEquals(crds.items.length, 0);

      // Ctrl-C mid-run: exit 130, the run marked interrupted, measured runs kept, the
      // cluster cleaned of everything meshbench labelled.
      const out2 = join(dir, "results-interrupted");
      const child = startTask("bench_all.ts", args(out2));
      await waitUntil(
        async () => {
          try {
            return (await listRunFiles(await onlyRunDir(out2))).length >= 1;
          } catch {
            return false;
          }
        },
        120_000,
        "a measured cluster run",
      );
      child.kill("SIGINT");
      const status = await child.output();
      assertEquals(status.code, 130, new TextDecoder().decode(status.stderr).slice(-2000));
      const runDir2 = await onlyRunDir(out2);
      const m2 = validateManifest(await readJson(join(runDir2, "manifest.json")));
      assertEquals(m2.status, "interrupted");
      assertEquals(m2.stages.find((s) => s.name === "cleanup")?.status, "ok");
      assert((await listRunFiles(runDir2)).length >= 1, "measured runs kept");
      const left = await kube.core.listNamespace({ labelSelector: MANAGED_SELECTOR });
      assertEquals(left.items.map((n) => n.metadata?.name), []);
    } finally {
      await disconnect(kube);
      await stopForTest(env);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
