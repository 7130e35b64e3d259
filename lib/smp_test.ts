import { deepStrictEqual as assertEquals, match, ok as assert, throws } from "node:assert/strict";
import { join } from "node:path";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { usableByPoint } from "./compare.ts";
import { exportRun } from "./export.ts";
import { mergeHistograms, percentile } from "./histogram.ts";
import { loadRun } from "./load_results.ts";
import { SchemaError, validateSmp } from "./schema.ts";
import { SMP_VERSION, type SmpDocument } from "./smp.ts";
import { runTask } from "../tests/helpers.ts";

Deno.test("export --format smp writes SMP v0.6.1 messages that hold the run's figures", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_smp_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    const r = await exportRun(dir, { format: "smp" });
    assertEquals(r.path, join(dir, "smp.json"));
    const doc = JSON.parse(await Deno.readTextFile(r.path!)) as SmpDocument;
    validateSmp(doc, r.path!);
    assertEquals(doc.smp_version, SMP_VERSION);
    const run = await loadRun(dir);
    const groups = [...usableByPoint(run).values()];
    assertEquals(doc.experiments.length, groups.length);
    assertEquals(r.rows, groups.length);
    for (const [i, rs] of groups.entries()) {
      const e = doc.experiments[i];
      const res = e.performance_test_result as {
        latencies_ms: Record<string, number>;
        actual_qps: number;
        labels: Record<string, string>;
      };
      const h = mergeHistograms(rs.map((x) => x.load.latency));
      // Percentiles of the histograms merged over iterations, never averaged.
      assertEquals(res.latencies_ms.p99, percentile(h, 99) / 1000);
      assertEquals(res.latencies_ms.max, h.max / 1000);
      const qps = rs.reduce((s, x) => s + x.load.achievedRate, 0) / rs.length;
      assert(Math.abs(res.actual_qps - qps) < 1e-9);
      assertEquals(res.labels.mesh, rs[0].mesh.name);
      const client = (e.performance_test_config.clients as Array<Record<string, unknown>>)[0];
      match(String(client.load_generator), new RegExp(`^${rs[0].load.tool} `));
      assertEquals(client.connections, rs[0].spec.point.connections);
      // The baseline has no mesh, so no ServiceMeshConfig (Meshery's "mesh": null).
      if (rs[0].mesh.kind === "none") assertEquals(e.service_mesh_config, undefined);
      else {
        const smc = e.service_mesh_config as {
          mesh_type: { type: string; version: string };
          sidecar?: { cpu_mcores: number; mem_mb: number };
        };
        // Emulated meshes are not one of SMP's mesh types.
        assertEquals(smc.mesh_type.type, "INVALID_MESH");
        assertEquals(smc.mesh_type.version, rs[0].mesh.version);
        assert(smc.sidecar && smc.sidecar.mem_mb > 0, JSON.stringify(smc));
      }
    }
    const meshed = doc.experiments.filter((e) => e.service_mesh_config);
    assert(meshed.length > 0 && meshed.length < doc.experiments.length);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the SMP schema refuses a field SMP does not have and a missing latency", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_smp_bad_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    const r = await exportRun(dir, { format: "smp", output: "-" });
    assertEquals(r.path, null);
    const doc = JSON.parse(r.text);
    const bad = structuredClone(doc);
    bad.experiments[0].performance_test_result.p95 = 1;
    throws(
      () => validateSmp(bad),
      (e) => e instanceof SchemaError && /"p95"/.test(e.message),
    );
    const missing = structuredClone(doc);
    delete missing.experiments[0].performance_test_result.latencies_ms.p90;
    throws(() => validateSmp(missing), /must have required property 'p90'/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deno task export --format smp writes smp.json; --long with smp is bad input", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_smp_cli_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    const ok = await runTask("export.ts", [dir, "--format", "smp"]);
    assertEquals(ok.code, 0, ok.stderr);
    match(ok.stdout, /Wrote \d+ experiments to .*smp\.json/);
    validateSmp(JSON.parse(await Deno.readTextFile(join(dir, "smp.json"))));
    const bad = await runTask("export.ts", [dir, "--format", "smp", "--long"]);
    assertEquals(bad.code, 2);
    match(bad.stderr, /--long: it applies to --format csv only/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
