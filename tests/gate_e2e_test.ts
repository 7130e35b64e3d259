/**
 * End to end on the local target with real nginx, Envoy and vegeta: `compare --gate`
 * fails (exit 1) on a run whose emulated sidecars hold every request 20 ms longer
 * (`local.proxyDelayMs`, a real delay in Envoy's fault filter) and passes (exit 0) on two runs of the
 * same configuration. The three runs go at the same time, on separate ports, so a change
 * of the machine's load reaches all three alike (what interleaving does within a run);
 * 5 iterations a side, the fewest at which the rank tests can reach p <= 0.01.
 */
import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { readJson } from "../lib/run_dir.ts";
import { freeLocal, onlyRunDir, runTask, tempSetup } from "./helpers.ts";

function gateConfig(local: Record<string, unknown>) {
  return {
    workloads: ["http"],
    meshes: ["baseline", "sidecar-emu"],
    iterations: 5,
    warmupS: 1,
    cooldownS: 0.5,
    gapS: 0.1,
    load: {
      rates: [100],
      durationS: 2,
      connections: 4,
      throughput: { enabled: false },
    },
    local,
  };
}

async function distinctPorts(n: number) {
  const picked: Array<Awaited<ReturnType<typeof freeLocal>>> = [];
  while (picked.length < n) {
    const l = await freeLocal({ workloads: ["http"], meshes: ["baseline", "sidecar-emu"] });
    if (picked.every((p) => p.basePort !== l.basePort)) picked.push(l);
  }
  return picked;
}

Deno.test({
  name: "compare --gate exits 1 on an injected 20 ms proxy delay and 0 on the same configuration",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ports = await distinctPorts(3);
    const setups = await Promise.all([
      tempSetup(gateConfig(ports[0])),
      tempSetup(gateConfig(ports[1])),
      tempSetup(gateConfig({ ...ports[2], proxyDelayMs: 20 })),
    ]);
    try {
      const runs = await Promise.all(
        setups.map((s) => runTask("bench_all.ts", ["--config", s.configFile, "--out", s.out])),
      );
      // Exit 1 is a measured run below its success threshold on a loaded machine (named in its
      // record, left out of the comparison); anything else is a broken pipeline.
      for (const [i, r] of runs.entries()) {
        assert(r.code === 0 || r.code === 1, `bench:all ${i}: ${r.code}\n${r.stderr.slice(-3000)}`);
      }
      const [a, same, slow] = await Promise.all(setups.map((s) => onlyRunDir(s.out)));

      // The delayed run says so in its records.
      const slowRecords = [];
      for await (const e of Deno.readDir(join(slow, "runs"))) {
        slowRecords.push(
          await readJson(join(slow, "runs", e.name)) as {
            mesh: { name: string; settings: Record<string, unknown> };
          },
        );
      }
      const sidecar = slowRecords.find((r) => r.mesh.name === "sidecar-emu")!;
      assertEquals(sidecar.mesh.settings.injectedDelayMs, 20);

      const outDir = setups[0].dir;
      const pass = await runTask("compare.ts", [a, same, "--gate", "--out", join(outDir, "c1")]);
      assertEquals(pass.code, 0, `same configuration must pass:\n${pass.stdout}\n${pass.stderr}`);
      match(pass.stdout, /Gate passed/);
      assert(!pass.stdout.includes("FAIL "), pass.stdout);

      const fail = await runTask("compare.ts", [a, slow, "--gate", "--out", join(outDir, "c2")]);
      assertEquals(fail.code, 1, `the delay must fail the gate:\n${fail.stdout}\n${fail.stderr}`);
      match(fail.stdout, /FAIL http · sidecar-emu \(emulated\) · p50 latency @ 100\/s/);
      match(fail.stdout, /Gate FAILED/);
      // Only the delayed path fails: the baseline went through no proxy.
      for (const line of fail.stdout.split("\n").filter((l) => l.includes("FAIL "))) {
        assert(line.includes("sidecar-emu"), line);
      }
      const json = await readJson(join(outDir, "c2", "comparison.json")) as {
        gate: {
          failed: boolean;
          results: Array<
            {
              mesh: string;
              metric: string;
              verdict: string;
              better: string;
              alertThresholdPct: number;
            }
          >;
        };
      };
      assert(json.gate.failed);
      const p50 = json.gate.results.find((r) =>
        r.mesh === "sidecar-emu" && r.metric === "latency_p50_ms"
      )!;
      assertEquals([p50.verdict, p50.better, p50.alertThresholdPct], ["different", "lower", 10]);
    } finally {
      for (const s of setups) await Deno.remove(s.dir, { recursive: true });
    }
  },
});
