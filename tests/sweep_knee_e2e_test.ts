/**
 * End to end on the local target with real nginx, HAProxy, vegeta and wrk: a tiny connection
 * sweep and a tiny knee ramp. The ramp's outcome is made certain without timing: the
 * `local.proxyDelayMs` knob holds every request 20 ms in sidecar-emu's L7 server-side proxy,
 * so its p99 (from the intended send) is at least 20 ms and breaks a 10 ms target at the
 * first step, whatever the machine's speed; its higher step must then never run. The sweep
 * and the payload points run at 25/s, which one connection carries through the held proxy (one
 * request per 20 ms).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord, validateSummary } from "../lib/schema.ts";
import { freeLocal, onlyRunDir, quickConfig, runTask, tempSetup } from "./helpers.ts";

Deno.test({
  name:
    "bench:all with a connection sweep and a knee ramp: a broken ramp stops, knees and sweep in summary, report and text",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = quickConfig();
    const { configFile, out } = await tempSetup({
      ...base,
      iterations: 2,
      load: {
        rates: [200],
        durationS: 2,
        connections: 4,
        sweep: { connections: [1, 4], payloadsBytes: [0, 16384], rate: 25 },
        throughput: { enabled: true, durationS: 1, connections: 4 },
      },
      knee: { enabled: true, rates: [100, 200], durationS: 2, connections: 4, p99TargetMs: 10 },
      local: { ...(await freeLocal({ workloads: ["http"] })), proxyDelayMs: 20 },
    });
    const r = await runTask("bench_all.ts", ["--config", configFile, "--out", out]);
    // Broken ramp steps are the ramp's answer, not failed runs: the run completes.
    assertEquals(r.code, 0, `bench:all failed:\n${r.stderr.slice(-3000)}\n${r.stdout}`);
    const runDir = await onlyRunDir(out);
    const manifest = validateManifest(await readJson(join(runDir, "manifest.json")), "manifest");
    assertEquals(manifest.status, "complete");
    const kneePlan = manifest.plan.filter((s) => s.point.sweep === "knee");
    // 2 steps x 3 meshes x 2 iterations planned.
    assertEquals(kneePlan.length, 12);

    const records = await Promise.all(
      (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
    );
    const sidecarSteps = records.filter((x) =>
      x.spec.point.sweep === "knee" && x.spec.mesh === "sidecar-emu"
    );
    // Broken at its first step in both iterations, so its 200/s step never ran.
    assertEquals(sidecarSteps.map((x) => x.spec.point.rate).sort(), [100, 100]);
    for (const x of sidecarSteps) assert(x.latency!.p99Ms >= 20, JSON.stringify(x.latency));
    assert(
      r.stdout.includes("knee ramp") || r.stderr.includes("skipped: http sidecar-emu's knee ramp"),
      "the skipped steps are said",
    );
    // The sweep's runs hold exactly their connections.
    const sweepRuns = records.filter((x) => x.spec.point.sweep === "connections");
    assertEquals(sweepRuns.length, 2 * 3 * 2);
    for (const x of sweepRuns) assertEquals(x.load!.connections, x.spec.point.connections);

    // Payload points: POST with exactly that body, so bytes sent grow by it per request.
    const payloadRuns = records.filter((x) => x.spec.point.payloadBytes !== undefined);
    assertEquals(payloadRuns.length, 2 * 3 * 2);
    for (const x of payloadRuns.filter((x) => x.status !== "failed")) {
      const perRequest = x.load!.bytesOut / x.load!.operations;
      const body = x.spec.point.payloadBytes!;
      assert(perRequest >= body && perRequest < body + 400, `${perRequest} B for a ${body} B body`);
    }

    const summary = validateSummary(await readJson(join(runDir, "summary.json")), "summary");
    for (const mesh of ["sidecar-emu", "node-proxy-emu"]) {
      for (const b of [0, 16384]) {
        assert(
          summary.overheads.some((o) =>
            o.mesh === mesh && o.payloadBytes === b && o.metric === "latency_p99_ms"
          ),
          `${mesh} p99 overhead at a ${b} B payload`,
        );
      }
    }
    const knees = summary.knees!;
    assertEquals(knees.map((k) => k.mesh), ["baseline", "node-proxy-emu", "sidecar-emu"]);
    const sidecar = knees.find((k) => k.mesh === "sidecar-emu")!;
    assertEquals(sidecar.kneeRate, 0);
    assertEquals(sidecar.interval, [0, 0]);
    for (const i of sidecar.iterations) {
      assertEquals(i.brokeAt, 100);
      assert(i.reasons.some((x) => /^p99: p99 \d+(\.\d+)? ms > 10 ms$/.test(x)), i.reasons[0]);
    }
    for (const k of knees) {
      assertEquals(k.rates, [100, 200]);
      assertEquals(k.iterations.length, 2);
      assert([0, 100, 200].includes(k.kneeRate), String(k.kneeRate));
      assert(k.interval[0] <= k.kneeRate && k.kneeRate <= k.interval[1]);
      assert(k.maxThroughput && k.maxThroughput.mean > 0, "closed-loop max beside the knee");
    }
    // The standard point keeps one group per mesh; the sweep is apart, per connections.
    assertEquals(summary.groups.filter((g) => g.rate === 200).length, 3);
    assertEquals(summary.groups.filter((g) => g.payloadBytes !== undefined).length, 6);
    const sweep = summary.connectionSweep!;
    for (const mesh of ["sidecar-emu", "node-proxy-emu"]) {
      for (const c of [1, 4]) {
        assert(
          sweep.overheads.some((o) =>
            o.mesh === mesh && o.connections === c && o.metric === "latency_p99_ms"
          ),
          `${mesh} at ${c} connection(s)`,
        );
      }
    }
    // The headline in the one-screen summary and the report.
    assert(r.stdout.includes("knee: the highest fixed rate that held p99 <= 10 ms"), r.stdout);
    assert(r.stdout.includes("connection sweep at 25 req/s"), r.stdout);
    const html = await Deno.readTextFile(join(runDir, "report.html"));
    assert(html.includes('<section id="knee">') && html.includes('<section id="connections">'));
    assert(html.includes("http knee (p99 &lt;= 10 ms"), "the knee sentence leads the findings");
    await Deno.remove(join(out, ".."), { recursive: true });
  },
});
