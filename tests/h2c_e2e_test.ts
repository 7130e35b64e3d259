/**
 * End to end on the local target with real nginx, Envoy, HAProxy and vegeta: the HTTP
 * workload's payload points over HTTP/1.1 and over h2c, through the baseline and both emulated
 * meshes. That h2c stays HTTP/2 on every hop is checked where each component counts it, so the
 * test fails if any hop fell back to HTTP/1.1: the health stage asks nginx what arrived
 * (`/protocol`, `$server_protocol`) through every path, and each h2c run's own Envoy counters
 * (client and server sidecars) must show HTTP/2 requests and no HTTP/1.1 one, as the HTTP/1.1
 * runs must show the opposite.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateRunRecord, validateSummary } from "../lib/schema.ts";
import type { RunRecord } from "../lib/types.ts";
import { freeLocal, onlyRunDir, quickConfig, runTask, tempSetup } from "./helpers.ts";

/** One counter of a record's proxies whose name matches, summed. */
function counter(r: RunRecord, proxy: RegExp, name: RegExp): number {
  let n = 0;
  for (const p of (r.proxies ?? []).filter((p) => proxy.test(p.name))) {
    for (const [k, v] of Object.entries(p.counters)) if (name.test(k)) n += v;
  }
  return n;
}

Deno.test({
  name: "bench:all with h2c payload points: h2c stays HTTP/2 through nginx, Envoy and HAProxy, " +
    "and summary, text and report give overhead per protocol",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const load = {
      rates: [100],
      durationS: 2,
      connections: 4,
      sweep: { payloadsBytes: [0, 16384], httpProtocols: ["http/1.1", "h2c"], rate: 100 },
      throughput: { enabled: false },
    };
    const { configFile, out } = await tempSetup({
      ...quickConfig(),
      iterations: 1,
      load,
      local: await freeLocal({ workloads: ["http"], load }),
    });
    const r = await runTask("bench_all.ts", ["--config", configFile, "--out", out]);
    assertEquals(r.code, 0, `bench:all failed:\n${r.stderr.slice(-3000)}\n${r.stdout}`);
    // The health stage's probe: nginx saw HTTP/2.0 through every mesh.
    for (const mesh of ["baseline", "sidecar-emu", "node-proxy-emu"]) {
      assert(
        r.stderr.includes(`Healthy: http through ${mesh}`) &&
          new RegExp(
            `Healthy: http through ${mesh} \\(ports [\\d,]+; h2c [\\d,]+, arriving as HTTP/2\\)`,
          )
            .test(r.stderr + r.stdout),
        `no h2c health line for ${mesh}`,
      );
    }
    const runDir = await onlyRunDir(out);
    const records = await Promise.all(
      (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
    );
    const h2c = records.filter((x) => x.spec.point.httpProtocol === "h2c");
    const h1 = records.filter((x) =>
      x.spec.point.payloadBytes !== undefined && x.spec.point.httpProtocol === undefined
    );
    // 2 sizes x 3 meshes each, every one carried out and recorded with its protocol.
    assertEquals(h2c.length, 6);
    assertEquals(h1.length, 6);
    for (const x of h2c) {
      assert(x.status !== "failed", `${x.spec.mesh} h2c run failed: ${x.reason}`);
      assertEquals(x.spec.point.tool, "vegeta");
      assertEquals(x.load!.extra!.httpProtocol, "h2c");
      // One multiplexed connection per target: the three replicas, or the mesh's one proxy port.
      assertEquals(x.load!.connections, x.spec.mesh === "baseline" ? 3 : 1);
      // Payload points: POST with exactly that body (HTTP/2 frames it; vegeta counts the body).
      assertEquals(x.load!.bytesOut, x.load!.operations * x.spec.point.payloadBytes!);
    }
    for (const x of h1) assertEquals(x.load!.extra!.httpProtocol, "http/1.1");

    // Under sidecar-emu, each run's Envoy counters say which HTTP version every hop carried.
    const client = /^sidecar-emu-client-sidecar$/;
    const servers = /^sidecar-emu-http-server-sidecar-\d$/;
    // (Envoy's admin listener, read for these counters, is HTTP/1.1: left out.)
    for (const x of h2c.filter((x) => x.spec.mesh === "sidecar-emu")) {
      const ops = x.load!.operations;
      assertEquals(counter(x, client, /^http\.http-h2c_out\.downstream_rq_http2_total$/), ops);
      assertEquals(counter(x, client, /^http\.(?!admin\.).*\.downstream_rq_http1_total$/), 0);
      // Client sidecar to server sidecars: HTTP/2 over mTLS; server sidecars to nginx: HTTP/2.
      assertEquals(counter(x, servers, /^http\.http-h2c_in\.downstream_rq_http2_total$/), ops);
      assertEquals(counter(x, servers, /^http\.(?!admin\.).*\.downstream_rq_http1_total$/), 0);
      assertEquals(counter(x, servers, /^cluster\.http-h2c_app\.upstream_rq_total$/), ops);
    }
    for (const x of h1.filter((x) => x.spec.mesh === "sidecar-emu")) {
      const ops = x.load!.operations;
      assertEquals(counter(x, client, /^http\.http_out\.downstream_rq_http1_total$/), ops);
      assertEquals(counter(x, client, /^http\.(?!admin\.).*\.downstream_rq_http2_total$/), 0);
      assertEquals(counter(x, servers, /^http\.(?!admin\.).*\.downstream_rq_http2_total$/), 0);
    }

    // Overheads per protocol: the h2c figures apart from the HTTP/1.1 ones, per payload size.
    const summary = validateSummary(await readJson(join(runDir, "summary.json")), "summary");
    assertEquals(summary.groups.filter((g) => g.httpProtocol === "h2c").length, 6);
    for (const mesh of ["sidecar-emu", "node-proxy-emu"]) {
      for (const b of [0, 16384]) {
        for (const protocol of ["h2c", undefined]) {
          assert(
            summary.overheads.some((o) =>
              o.mesh === mesh && o.payloadBytes === b && o.httpProtocol === protocol &&
              o.metric === "latency_p99_ms"
            ),
            `${mesh} p99 overhead at ${b} B over ${protocol ?? "HTTP/1.1"}`,
          );
        }
      }
    }
    assert(/http 16 KB h2c\s+sidecar-emu/.test(r.stdout), r.stdout);
    const html = await Deno.readTextFile(join(runDir, "report.html"));
    assert(html.includes("· HTTP/2 (h2c)"), "the payload chart has h2c panels");
    assert(html.includes("payload over h2c"), "the findings name the h2c points");
    await Deno.remove(join(out, ".."), { recursive: true });
  },
});
