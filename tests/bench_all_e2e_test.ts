/**
 * End to end on the local target with real nginx, Envoy, HAProxy, meshbench's HTTP client and wrk:
 * `bench:all` writes a run directory whose files validate against the schema,
 * and the emulated sidecar mesh shows a positive p99 latency overhead with a CI.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord, validateSummary } from "../lib/schema.ts";
import { isAlive } from "../lib/local/proc.ts";
import type { LocalState } from "../lib/local/target.ts";
import { freeLocal, onlyRunDir, quickConfig, runTask, tempSetup } from "./helpers.ts";

Deno.test({
  name: "bench:all --profile quick: valid results, sidecar p99 overhead with a CI, all stopped",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out } = await tempSetup(
      quickConfig({ local: await freeLocal({ workloads: ["http"] }) }),
    );
    const r = await runTask("bench_all.ts", [
      "--profile",
      "quick",
      "--config",
      configFile,
      "--out",
      out,
    ]);
    assertEquals(r.code, 0, `bench:all failed:\n${r.stderr.slice(-3000)}\n${r.stdout}`);
    assert(r.stdout.includes("EMULATIONS"), "the summary must say the meshes are emulations");
    assert(r.stdout.includes("Report:"), "the summary must say where the report is");
    const runDir = await onlyRunDir(out);

    const manifest = validateManifest(await readJson(join(runDir, "manifest.json")), "manifest");
    assertEquals(manifest.status, "complete");
    for (
      const stage of [
        "deploy",
        "health",
        "warmup",
        "load",
        "cooldown",
        "cleanup",
        "collect",
        "report",
      ]
    ) {
      const s = manifest.stages.find((x) => x.name === stage);
      assert(s && s.status === "ok" && s.end, `stage ${stage} recorded ok: ${JSON.stringify(s)}`);
    }
    assert(manifest.provenance.tools.vegeta.includes("v12.13.0"));
    assert(manifest.provenance.gitCommit.length > 0);

    const files = await listRunFiles(runDir);
    assertEquals(files.length, manifest.plan.length);
    for (const f of files) {
      const rec = validateRunRecord(await readJson(f), f);
      assert(f.includes(`${rec.spec.workload}_test_`), f);
      assert(
        rec.status === "ok" || rec.status === "saturated",
        `${f}: ${rec.status} ${rec.reason}`,
      );
      for (const raw of rec.raw) await Deno.stat(join(runDir, raw));
      assert(rec.load!.latency.total > 0);
      if (rec.spec.mesh !== "baseline") assertEquals(rec.mesh.emulated, true);
    }

    const summary = validateSummary(await readJson(join(runDir, "summary.json")), "summary");
    const p99 = summary.overheads.find((o) =>
      o.mesh === "sidecar-emu" && o.metric === "latency_p99_ms"
    );
    assert(p99, "sidecar p99 overhead present");
    assert(p99.overheadPct > 0, `sidecar p99 overhead should be positive: ${JSON.stringify(p99)}`);
    assert(p99.ci95[0] <= p99.overheadPct && p99.overheadPct <= p99.ci95[1], JSON.stringify(p99));
    assertEquals(p99.iterations, { baseline: 3, mesh: 3 });
    for (
      const metric of ["latency_p50_ms", "throughput_rps", "proxy_cpu_cores", "proxy_memory_mb"]
    ) {
      assert(summary.overheads.some((o) => o.metric === metric), `metric ${metric} present`);
    }
    const thr = summary.overheads.find((o) =>
      o.mesh === "sidecar-emu" && o.metric === "throughput_rps"
    )!;
    assert(thr.overheadPct < 0, `a proxy hop cannot add max throughput: ${JSON.stringify(thr)}`);

    const html = await Deno.readTextFile(join(runDir, "report.html"));
    assert(html.includes("<svg"), "report has inline SVG plots");

    const state = await readJson(join(runDir, "local", "state.json")) as LocalState;
    assert(state.processes.length >= 9);
    assert(
      state.processes.every((p) => !isAlive(p.pid)),
      "every process meshbench started is stopped",
    );
  },
});
