/**
 * A workload and a target are each added with one file and one registry line: the toy
 * workload (`toy/toy_workload.ts`) and the toy target (`toy/toy_target.ts`) are registered
 * below and run through the unchanged pipeline, every stage, to a valid summary. On the
 * cluster side the toy workload's namespaces, objects, load driver and address come from its
 * own definition (and its manifest beside it), with no edit to the cluster target's code.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../lib/command.ts";
import { loadConfig } from "../lib/config.ts";
import { memoryLogger } from "../lib/log.ts";
import { benchAll, closeTargets, configVocabulary } from "../lib/pipeline.ts";
import { readRunRecords } from "../lib/load_results.ts";
import { registerTarget } from "../lib/targets.ts";
import { registerWorkload } from "../lib/workloads/mod.ts";
import { TOY_MESH, TOY_MESHES, ToyTarget } from "./toy/toy_target.ts";
import { toyWorkload } from "./toy/toy_workload.ts";
import { repoFiles, ROOT } from "./helpers.ts";
import { clusterNamespaces, labellingProblems, renderAll } from "../lib/cluster/manifests.ts";
import {
  baselineFirstWorkloads,
  fortioTargetFor,
  namespaceFor,
  podDriver,
} from "../lib/cluster/addresses.ts";

// The two registry lines: nothing else outside ./toy/ knows the toy workload or target.
registerWorkload(toyWorkload);
registerTarget("toy", {
  make: () => Promise.resolve(new ToyTarget()),
  meshes: () => Promise.resolve(TOY_MESHES),
});

Deno.test({
  name: "a toy workload on a toy target runs every stage with one registry line each",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "meshbench-toy-" });
    try {
      const { config, sources } = await loadConfig({
        flags: {
          target: "toy",
          workloads: ["toy"],
          meshes: ["baseline", TOY_MESH],
          iterations: 2,
          warmupS: 1,
          cooldownS: 0,
          gapS: 0,
          "load.rates": [50],
          "load.durationS": 1,
          "load.throughput.enabled": false,
          out,
        },
        vocabulary: await configVocabulary(),
      });
      const result = await benchAll(config, sources, {
        runner: realRunner,
        log: memoryLogger(),
        signal: new AbortController().signal,
      });
      assertEquals(result.status, "complete", result.reason ?? "");
      const { records, notes } = await readRunRecords(result.runDir);
      assertEquals(notes, [], "every record validates against the schema");
      assertEquals(
        records.map((r) => [r.target, r.spec.workload, r.spec.mesh, r.status]).sort(),
        [
          ["toy", "toy", "baseline", "ok"],
          ["toy", "toy", "baseline", "ok"],
          ["toy", "toy", TOY_MESH, "ok"],
          ["toy", "toy", TOY_MESH, "ok"],
        ],
      );
      for (const r of records) {
        assertEquals(r.load!.operations, 50);
        assertEquals(r.load!.errors, 0);
        assertEquals(r.load!.latency.total, 50);
      }
      assert(result.summary?.groups.some((g) => g.workload === "toy" && g.mesh === "baseline"));
      assert(result.summary?.overheads.some((o) => o.workload === "toy" && o.mesh === TOY_MESH));
      assert(result.reportPath, "a report was written");
    } finally {
      await closeTargets();
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("the toy workload's cluster namespaces, objects and load address come from its own definition", () => {
  const specs = clusterNamespaces().filter((s) => s.workload === "toy");
  assertEquals(specs, [
    {
      namespace: "toy-benchmark",
      workload: "toy",
      manifest: "tests/toy/toy.yaml",
      meshed: true,
      nodePortOffset: 0,
    },
    {
      namespace: "baseline-toy",
      workload: "toy",
      manifest: "tests/toy/toy.yaml",
      meshed: false,
      nodePortOffset: 0,
    },
  ]);
  const objs = renderAll(specs);
  assertEquals(labellingProblems(objs), []);
  assertEquals(
    objs.filter((o) => o.kind === "Namespace").map((o) => [
      o.metadata.name,
      o.metadata.labels?.["meshbench.io/role"],
    ]),
    [["toy-benchmark", "meshed"], ["baseline-toy", "baseline"]],
  );
  for (const ns of ["toy-benchmark", "baseline-toy"]) {
    assertEquals(
      objs.filter((o) => o.metadata.namespace === ns).map((o) => `${o.kind}/${o.metadata.name}`),
      [
        "ConfigMap/toy-code",
        "Deployment/toy-server",
        "Service/toy-server",
        "Deployment/toy-client",
      ],
    );
  }
  const code = objs.find((o) => o.kind === "ConfigMap") as { data?: Record<string, string> };
  assert(code.data?.["toy_server.ts"]?.includes("Deno.serve"), "the server's file is filled in");
  assertEquals(namespaceFor("toy", "baseline").namespace, "baseline-toy");
  assertEquals(namespaceFor("toy", TOY_MESH).namespace, "toy-benchmark");
  assertEquals(podDriver("toy"), "fortio");
  assertEquals(baselineFirstWorkloads(["toy"]), []);
  assertEquals(fortioTargetFor(namespaceFor("toy", TOY_MESH)), {
    address: "http://toy-server.toy-benchmark.svc.cluster.local:80/",
    protocol: "http",
  });
});

Deno.test("nothing outside tests/ knows the toy: its only mentions are its files and the two registry lines", async () => {
  // Every source, schema, manifest and notebook of the repository but the tests themselves.
  const files = await repoFiles(
    ["lib", "tasks", "bench", "schema", "manifests", "notebooks", "servers"],
    (p) => !/_test\.ts$|\/testdata\//.test(p) && /\.(ts|json|ya?ml|ipynb|py|go|sh)$/.test(p),
  );
  const offenders: string[] = [];
  for (const p of files) {
    if (/\btoy\b/i.test(await Deno.readTextFile(join(ROOT, p)))) offenders.push(p);
  }
  assertEquals(offenders, []);
  const self = await Deno.readTextFile(new URL(import.meta.url));
  assertEquals(self.match(/^registerWorkload\(/gm)?.length, 1, "one workload registry line");
  assertEquals(self.match(/^registerTarget\(/gm)?.length, 1, "one target registry line");
});
