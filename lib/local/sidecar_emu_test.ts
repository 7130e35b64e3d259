/**
 * The local `sidecar-emu` mesh on the real Envoy (`.ci/install_envoy.sh`): deployed by the
 * deploy task with real servers for every workload the local target proxies (HTTP, gRPC,
 * WebSocket, Redis), checked by the health task through the sidecar pair, then read back
 * from Envoy's own admin stats.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { readJson } from "../run_dir.ts";
import type { LocalState } from "./target.ts";
import { isAlive } from "./proc.ts";
import type { ProxyStatsEndpoint } from "../proxy_counters.ts";
import { workloadPorts } from "./ports.ts";
import { loadConfig } from "../config.ts";
import { freeLocal, onlyRunDir, quickConfig, runTask, tempSetup } from "../../tests/helpers.ts";

/** Envoy's `/stats` text as numbers (counters and gauges; histograms left out). */
async function stats(admin: string): Promise<Map<string, number>> {
  const res = await fetch(`${admin}/stats`);
  assertEquals(res.status, 200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = line.match(/^(\S+): (\d+)$/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Sum of one stat over the admins. */
async function total(admins: string[], name: string): Promise<number> {
  let n = 0;
  for (const a of admins) n += (await stats(a)).get(name) ?? 0;
  return n;
}

/** What a plaintext HTTP client gets back from a port: the bytes read before the close. */
async function plaintextAnswer(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  // Bounded: a server that neither answers nor closes is closed on after 10 s.
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, 10_000);
  let got = "";
  try {
    await conn.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch (e) {
    if (timedOut) throw new Error(`port ${port} neither answered nor closed in 10 s`);
    if (!(e instanceof Deno.errors.ConnectionReset)) throw e;
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
  return got;
}

Deno.test({
  name: "sidecar-emu carries HTTP, gRPC, WebSocket and Redis over mTLS between real Envoys, " +
    "refuses plaintext at the server sidecar, and Envoy's stats show the traffic",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const workloads = ["http", "grpc", "websocket", "db"];
    const meshes = ["baseline", "sidecar-emu"];
    const local = await freeLocal({ workloads, meshes });
    const { configFile, out } = await tempSetup(quickConfig({ workloads, meshes, local }));
    const step = async (task: string, args: string[]) => {
      const r = await runTask(`${task}.ts`, args);
      assertEquals(r.code, 0, `${task} failed:\n${r.stderr.slice(-3000)}`);
    };
    await step("deploy", ["--config", configFile, "--out", out]);
    const runDir = await onlyRunDir(out);
    const state = await readJson(join(runDir, "local", "state.json")) as LocalState;
    const { config } = await loadConfig({
      flags: { workloads, meshes, "local.basePort": local.basePort },
    });
    try {
      // Provenance: the mesh says it is an emulation, on which Envoy.
      const ref = state.meshes["sidecar-emu"];
      assert(ref.emulated);
      assert(/^emulated with Envoy \d+\.\d+\.\d+ /.test(ref.version), ref.version);
      assertEquals(ref.settings.proxy, "envoy");
      const proxies = state.processes.filter((p) => p.mesh === "sidecar-emu");
      assertEquals(proxies.length, 3 * 4 + 1);
      for (const p of proxies) {
        assert(p.cmd[0].endsWith("/envoy"), `${p.name} runs ${p.cmd[0]}`);
        assert(
          p.stats?.software === "envoy" && p.stats.adminUrl.startsWith("http://127.0.0.1:"),
          `${p.name} has no admin address`,
        );
      }
      const admin = (p: { stats?: ProxyStatsEndpoint }) =>
        p.stats?.software === "envoy" ? p.stats.adminUrl : "";
      const client = proxies.find((p) => p.name === "sidecar-emu-client-sidecar")!;
      const servers = (w: string) =>
        proxies.filter((p) => p.name.startsWith(`sidecar-emu-${w}-server-sidecar-`))
          .map(admin);

      // The health stage sends each workload's own probe through the client sidecar.
      await step("health", ["--run", runDir]);
      for (const [wi, w] of workloads.entries()) {
        assert(
          await total([admin(client)], `cluster.${w}_upstream.ssl.handshake`) > 0,
          `no mTLS handshake from the client sidecar to ${w}'s server sidecars`,
        );
        let handshakes = 0;
        for (const [r, admin] of servers(w).entries()) {
          const port = workloadPorts(config, wi).sidecarIn(r);
          handshakes += await total([admin], `listener.127.0.0.1_${port}.ssl.handshake`);
        }
        assert(handshakes > 0, `${w}: the server sidecars saw no TLS handshake`);
      }
      assert(await total(servers("http"), "http.http_in.downstream_rq_completed") > 0);
      assert(await total(servers("grpc"), "http.grpc_in.downstream_rq_http2_total") > 0);
      assert(
        await total(servers("websocket"), "http.websocket_in.downstream_cx_upgrades_total") > 0,
      );
      assert(await total(servers("db"), "tcp.db_in.downstream_cx_total") > 0);

      // A plaintext client at a server sidecar's port matches no filter chain: closed unanswered.
      const inbound = workloadPorts(config, 0).sidecarIn(0);
      const server0 = proxies.find((p) => p.name === "sidecar-emu-http-server-sidecar-0")!;
      const refusedStat = `listener.127.0.0.1_${inbound}.no_filter_chain_match`;
      const before = await total([admin(server0)], refusedStat);
      assertEquals(await plaintextAnswer(inbound), "");
      assertEquals(await total([admin(server0)], refusedStat), before + 1);
      // The app behind it answers plaintext directly (the refusal is the sidecar's).
      assert((await plaintextAnswer(workloadPorts(config, 0).server(0))).startsWith("HTTP/1.1"));

      // TLS without a client certificate is refused too.
      const ca = await Deno.readTextFile(join(runDir, "local", "certs", "ca.pem"));
      const tls = await Deno.connectTls({
        hostname: "localhost",
        port: inbound,
        caCerts: [ca],
      });
      let answered = "";
      try {
        await tls.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        const buf = new Uint8Array(1024);
        const n = await tls.read(buf);
        if (n) answered = new TextDecoder().decode(buf.subarray(0, n));
      } catch {
        /* the handshake's alert: refused */
      } finally {
        try {
          tls.close();
        } catch { /* closed */ }
      }
      assertEquals(answered, "", "a client without a certificate got an answer");
    } finally {
      await step("cleanup", ["--run", runDir]);
    }
    for (const p of state.processes) assert(!isAlive(p.pid), `${p.name} still runs`);
  },
});
