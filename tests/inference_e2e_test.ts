/**
 * End to end: `deno task bench:all --workloads inference` on the local target, typed as a user
 * would (a relative results directory; a config file only for free ports and short windows),
 * with the real model server, HAProxy meshes, vegeta and wrk. It must give overheads with
 * intervals per payload size in summary.json, the one-screen summary and the report.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { readJson } from "../lib/run_dir.ts";
import { validateSummary } from "../lib/schema.ts";
import { freeLocal, onlyRunDir, ROOT } from "./helpers.ts";

const PAYLOADS = [1024, 16384, 131072];

Deno.test({
  name: "bench:all --workloads inference gives p50/p99/throughput overheads with CIs per payload",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-inference-e2e-" });
    const configFile = join(dir, "bench.yaml");
    const local = await freeLocal({ workloads: ["inference"] });
    await Deno.writeTextFile(
      configFile,
      stringify({
        warmupS: 1,
        cooldownS: 0,
        gapS: 0,
        load: { throughput: { durationS: 1 } },
        local,
      }),
    );
    const out = `results/e2e-inference-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "bench:all",
          "--workloads",
          "inference",
          "--duration",
          "1",
          "--iterations",
          "2",
          "--config",
          configFile,
          "--out",
          out,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(r.stdout);
      const stderr = new TextDecoder().decode(r.stderr);
      assertEquals(r.code, 0, `bench:all failed:\n${stderr.slice(-3000)}\n${stdout}`);
      const runDir = await onlyRunDir(join(ROOT, out));

      const summary = validateSummary(await readJson(join(runDir, "summary.json")), "summary");
      for (const mesh of ["sidecar-emu", "node-proxy-emu"]) {
        for (const payloadBytes of PAYLOADS) {
          for (const metric of ["latency_p50_ms", "latency_p99_ms", "throughput_rps"]) {
            const o = summary.overheads.find((x) =>
              x.workload === "inference" && x.mesh === mesh && x.metric === metric &&
              x.payloadBytes === payloadBytes
            );
            assert(o, `${mesh} ${metric} at ${payloadBytes} B`);
            assertEquals(o.rate, metric === "throughput_rps" ? null : 20);
            assertEquals(o.iterations, { baseline: 2, mesh: 2 });
            assertEquals(o.ciMethod, "exact");
            assert(
              o.ci95[0] <= o.overheadPct && o.overheadPct <= o.ci95[1],
              `${mesh} ${metric} ${payloadBytes}: ${JSON.stringify(o)}`,
            );
          }
        }
      }
      // The baseline's groups: every payload measured at the rate, each request its payload.
      for (const payloadBytes of PAYLOADS) {
        const g = summary.groups.find((x) =>
          x.mesh === "baseline" && x.mode === "fixed-rate" && x.payloadBytes === payloadBytes
        );
        assert(g && g.iterations === 2 && g.errors === 0, JSON.stringify(g?.errors));
      }
      for (const label of ["inference 1 KB", "inference 16 KB", "inference 128 KB"]) {
        assert(stdout.includes(label), `one-screen summary row "${label}":\n${stdout}`);
      }
      const html = await Deno.readTextFile(join(runDir, "report.html"));
      assert(html.includes("inference: overhead against request payload size"));
      assert(html.includes("20/s, 128 KB payload"), "overhead panels name the payload");
    } finally {
      await Deno.remove(join(ROOT, out), { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
