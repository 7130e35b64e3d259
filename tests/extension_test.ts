/**
 * A workload and a target are each added with one file and one registry line: the toy
 * workload (`toy/toy_workload.ts`) and the toy target (`toy/toy_target.ts`) are registered
 * below and run through the unchanged pipeline, every stage, to a valid summary.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { realRunner } from "../lib/command.ts";
import { loadConfig } from "../lib/config.ts";
import { memoryLogger } from "../lib/log.ts";
import { benchAll, closeTargets, configVocabulary, readRunRecords } from "../lib/pipeline.ts";
import { registerTarget } from "../lib/targets.ts";
import { registerWorkload } from "../lib/workloads/mod.ts";
import { TOY_MESH, TOY_MESHES, ToyTarget } from "./toy/toy_target.ts";
import { toyWorkload } from "./toy/toy_workload.ts";

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
