import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { findBinary, toolPath } from "./binaries.ts";
import { MESH_TOOLS } from "./local/tools.ts";
import { freePort, spawnDaemon } from "./process.ts";
import { isAlive, stopGroup } from "./local/proc.ts";
import { startNginx, startTestNginx, type TestNginx } from "./testenv/nginx.ts";
import {
  parseEnvoyCounters,
  parseEnvoyPrometheus,
  parseHaproxyStat,
  parseNginxStubStatus,
  type ProxyStatsEndpoint,
  proxyWindow,
  readProxyCounters,
} from "./proxy_counters.ts";

/** `n` GET requests one after another (one kept-alive connection), each answered 200. */
async function send(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(url);
    await r.arrayBuffer();
    assertEquals(r.status, 200, `request ${i} to ${url}`);
  }
}

/**
 * Starts a daemon and waits (bounded) until `ready` succeeds: a probe that sends nothing
 * to the proxied port, whose counters a connection would move.
 */
async function daemon(cmd: string[], dir: string, what: string, ready: () => Promise<unknown>) {
  const pid = await spawnDaemon(cmd, join(dir, `${what}.log`));
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!isAlive(pid)) throw new Error(`${what} exited`);
      try {
        await ready();
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (e) {
    await stopGroup(pid, 1000);
    const log = await Deno.readTextFile(join(dir, `${what}.log`)).catch(() => "");
    throw new Error(`${(e as Error).message}\n${log.slice(-800)}`);
  }
  return { stop: () => stopGroup(pid, 2000) };
}

async function window(endpoint: ProxyStatsEndpoint, load: () => Promise<void>) {
  const before = await readProxyCounters(endpoint);
  await load();
  const after = await readProxyCounters(endpoint);
  return proxyWindow("proxy", endpoint.software, before, after);
}

/**
 * Runs `fn` with a temporary directory and a real test nginx behind the proxy it starts;
 * stops the proxy (the daemon `fn` returned through `started`) and nginx, and removes the
 * directory, whatever happens.
 */
async function behindProxy(
  fn: (
    o: { dir: string; nginx: TestNginx; started: (p: { stop(): Promise<void> }) => void },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-pc-" });
  let nginx: TestNginx | undefined;
  let proxy: { stop(): Promise<void> } | undefined;
  try {
    nginx = await startTestNginx();
    await fn({ dir, nginx, started: (p) => (proxy = p) });
  } finally {
    await proxy?.stop();
    await nginx?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts HAProxy on config `cfg` in `dir`, ready once its stats socket answers. */
async function startHaproxy(dir: string, cfg: string) {
  const haproxy = findBinary("haproxy");
  assert(haproxy, "haproxy is installed");
  await Deno.writeTextFile(join(dir, "haproxy.cfg"), cfg);
  const endpoint = { software: "haproxy" as const, socket: join(dir, "stats.sock") };
  // The stats socket is bound after the frontends.
  const proxy = await daemon(
    [haproxy, "-db", "-f", join(dir, "haproxy.cfg")],
    dir,
    "haproxy",
    () => readProxyCounters(endpoint),
  );
  return { endpoint, proxy };
}

Deno.test("a real HAProxy's stats socket counts each request once and shows its pooled and retried upstream connections", async () => {
  await behindProxy(async ({ dir, nginx, started }) => {
    const port = freePort();
    const dead = freePort(); // nothing listens here: connecting to it fails at once
    const retryPort = freePort();
    const { endpoint, proxy } = await startHaproxy(
      dir,
      `global
  stats socket ${join(dir, "stats.sock")} mode 600 level user
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend pooled
  bind 127.0.0.1:${port}
  default_backend app
backend app
  http-reuse always
  server s1 127.0.0.1:${nginx.port}
frontend flaky
  bind 127.0.0.1:${retryPort}
  default_backend halfdead
backend halfdead
  balance roundrobin
  retries 2
  option redispatch 1
  server gone 127.0.0.1:${dead}
  server s1 127.0.0.1:${nginx.port}
`,
    );
    started(proxy);

    const idle = await window(endpoint, () => Promise.resolve());
    assertEquals(idle.downstreamRequests, 0, "an idle window counts nothing, not an absent figure");

    const w = await window(endpoint, () => send(`http://127.0.0.1:${port}/`, 60));
    // The windows overlap both frontends; the load went to `pooled` only.
    assertEquals(w.counters["pooled/FRONTEND/req_tot"], 60);
    assertEquals(w.counters["app/BACKEND/req_tot"], 60);
    assert(w.counters["app/BACKEND/connect"]! < 60, `pooled: ${JSON.stringify(w.counters)}`);
    assertEquals(w.retries, 0);

    // Requests sent to the dead server are retried on the live one (redispatched): every
    // request still succeeds, and the retries and the extra connection attempts show.
    const r = await window(endpoint, () => send(`http://127.0.0.1:${retryPort}/`, 20));
    assertEquals(r.downstreamRequests, 20);
    assert(r.retries! > 0, `retries visible: ${JSON.stringify(r)}`);
    assert(r.upstreamConnections! > r.retries!, JSON.stringify(r));
    assertEquals(r.counters["halfdead/gone/hrsp_2xx"], undefined, "the dead server answered none");
  });
});

Deno.test("a real L4 HAProxy counts connections, one upstream per downstream, and no requests", async () => {
  await behindProxy(async ({ dir, nginx, started }) => {
    const port = freePort();
    const { endpoint, proxy } = await startHaproxy(
      dir,
      `global
  stats socket ${join(dir, "stats.sock")} mode 600 level user
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend l4
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server s1 127.0.0.1:${nginx.port}
`,
    );
    started(proxy);
    const w = await window(endpoint, () => send(`http://127.0.0.1:${port}/`, 25));
    assertEquals(w.downstreamRequests, undefined, "a TCP proxy has no requests to count");
    assertEquals(w.upstreamRequests, undefined);
    assert(w.downstreamConnections! >= 1, JSON.stringify(w));
    assertEquals(w.upstreamConnections, w.downstreamConnections, "one upstream per connection");
  });
});

Deno.test("a real Envoy's admin counters count the benchmark's requests, not the admin reads, and its upstream connections", async () => {
  // The one lookup, where the sidecar-emu mesh finds its Envoy (.ci/install_envoy.sh).
  const envoy = toolPath(MESH_TOOLS["sidecar-emu"]);
  assert(envoy, `Envoy is installed (${MESH_TOOLS["sidecar-emu"].install})`);
  await behindProxy(async ({ dir, nginx, started }) => {
    const port = freePort();
    const admin = freePort();
    await Deno.writeTextFile(
      join(dir, "envoy.json"),
      JSON.stringify({
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
        static_resources: {
          listeners: [{
            name: "in",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            filter_chains: [{
              filters: [{
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type":
                    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  stat_prefix: "ingress",
                  route_config: {
                    virtual_hosts: [{
                      name: "all",
                      domains: ["*"],
                      routes: [{ match: { prefix: "/" }, route: { cluster: "app" } }],
                    }],
                  },
                  http_filters: [{
                    name: "envoy.filters.http.router",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                    },
                  }],
                },
              }],
            }],
          }],
          clusters: [{
            name: "app",
            type: "STATIC",
            load_assignment: {
              cluster_name: "app",
              endpoints: [{
                lb_endpoints: [{
                  endpoint: {
                    address: { socket_address: { address: "127.0.0.1", port_value: nginx.port } },
                  },
                }],
              }],
            },
          }],
        },
      }),
    );
    const proxy = await daemon(
      [
        envoy,
        "-c",
        join(dir, "envoy.json"),
        "--concurrency",
        "1",
        "-l",
        "warning",
        "--base-id",
        String(admin),
      ],
      dir,
      "envoy",
      // Envoy answers /ready with 200 once its listeners are up.
      async () => {
        const r = await fetch(`http://127.0.0.1:${admin}/ready`);
        await r.body?.cancel();
        if (r.status !== 200) throw new Error(`envoy /ready: ${r.status}`);
      },
    );
    started(proxy);
    const endpoint = { software: "envoy" as const, adminUrl: `http://127.0.0.1:${admin}` };
    const idle = await window(endpoint, () => Promise.resolve());
    assertEquals(idle.downstreamRequests, 0, "the admin reads are not counted as requests");
    const w = await window(endpoint, () => send(`http://127.0.0.1:${port}/`, 50));
    assertEquals(w.downstreamRequests, 50);
    assertEquals(w.upstreamRequests, 50);
    assertEquals(w.counters["http.ingress.downstream_rq_total"], 50);
    assert(w.upstreamConnections! >= 1 && w.upstreamConnections! < 50, JSON.stringify(w));
    assertEquals(w.retries ?? 0, 0);
    // The same window in Envoy's Prometheus form (what a cluster reads through port 15090):
    // the same figures, counters only.
    let promText = "";
    const prom = async () => {
      const r = await fetch(`http://127.0.0.1:${admin}/stats/prometheus`);
      promText = await r.text();
      return parseEnvoyPrometheus(promText);
    };
    const pBefore = await prom();
    const tBefore = await readProxyCounters(endpoint);
    await send(`http://127.0.0.1:${port}/`, 20);
    const tAfter = await readProxyCounters(endpoint);
    const pAfter = await prom();
    const text = proxyWindow("proxy", "envoy", tBefore, tAfter);
    const p = proxyWindow("proxy", "envoy", pBefore, pAfter);
    const { counters: _t, ...textFigures } = text;
    const { counters: _p, ...promFigures } = p;
    assertEquals(promFigures, textFigures);
    assertEquals(p.downstreamRequests, 20);
    assertEquals(
      p.counters['envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"}'],
      20,
    );
    assert(promText.includes("# TYPE envoy_cluster_upstream_cx_active gauge"), "a gauge is there");
    assert(
      [...pAfter.keys()].every((k) => !k.startsWith("envoy_cluster_upstream_cx_active{")),
      "gauges (active connections) are not counters",
    );
  });
});

Deno.test("a real nginx's stub_status counts connections and requests, its own status reads included", async () => {
  const server = await startNginx({
    server: () =>
      `location = /status { stub_status; }
    location / { return 200 "ok\\n"; }`,
  });
  const port = server.port;
  const endpoint = { software: "nginx" as const, statusUrl: `http://127.0.0.1:${port}/status` };
  try {
    const w = await window(endpoint, () => send(`http://127.0.0.1:${port}/`, 30));
    // nginx counts the status read that asks: the second read is one more request.
    assertEquals(w.downstreamRequests, 31);
    assert(w.downstreamConnections! >= 0 && w.downstreamConnections! <= 31);
    assertEquals(w.upstreamConnections, undefined, "stub_status counts no upstreams");
  } finally {
    await server.stop();
  }
});

Deno.test("the parsers refuse what is not stats output, naming what they got", () => {
  throws(() => parseHaproxyStat("Unknown command\n"), /expected a "# pxname,\.\.\." header/);
  throws(() => parseNginxStubStatus("<html>"), /no "server accepts handled requests"/);
  // Histogram summaries and text readouts are not counters.
  const e = parseEnvoyCounters("a.b: 3\ncluster.x.upstream_rq_time: P0(nan,1) P25(nan,2)\n");
  assertEquals([...e], [["a.b", 3]]);
});

Deno.test("a counter that went down (a restarted proxy) is left out, not counted negative", () => {
  const w = proxyWindow(
    "p",
    "envoy",
    new Map([["http.in.downstream_rq_total", 100], ["cluster.c.upstream_cx_total", 5]]),
    new Map([["http.in.downstream_rq_total", 7], ["cluster.c.upstream_cx_total", 6]]),
  );
  assertEquals(w.counters, { "cluster.c.upstream_cx_total": 1 });
  assertEquals(w.downstreamRequests, 0);
  assertEquals(w.upstreamConnections, 1);
});

Deno.test("reading a proxy that is not there fails naming the endpoint", async () => {
  await rejects(
    readProxyCounters({ software: "haproxy", socket: "/nonexistent/meshbench.sock" }),
    /Cannot read the haproxy counters at \/nonexistent\/meshbench\.sock/,
  );
});

Deno.test("in Prometheus form, a sidecar's own listeners and clusters (stats, health, admin, probes, xDS) are not the benchmark's", () => {
  const text = (n: number) =>
    [
      "# TYPE envoy_http_downstream_rq_total counter",
      `envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="inbound_8080"} ${n}`,
      `envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="stats"} ${n * 3}`,
      `envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="health"} ${n * 5}`,
      "# TYPE envoy_cluster_upstream_rq_total counter",
      `envoy_cluster_upstream_rq_total{envoy_cluster_name="inbound_app_http1"} ${n}`,
      `envoy_cluster_upstream_rq_total{envoy_cluster_name="admin"} ${n * 3}`,
      `envoy_cluster_upstream_rq_total{envoy_cluster_name="probe_8080"} ${n * 5}`,
      `envoy_cluster_upstream_rq_total{envoy_cluster_name="xds-grpc"} ${n * 7}`,
      "# TYPE envoy_cluster_upstream_cx_active gauge",
      `envoy_cluster_upstream_cx_active{envoy_cluster_name="inbound_app_http1"} ${n}`,
    ].join("\n");
  const w = proxyWindow(
    "bench/server-0/meshbench-envoy",
    "envoy",
    parseEnvoyPrometheus(text(10)),
    parseEnvoyPrometheus(text(30)),
  );
  assertEquals(w.downstreamRequests, 20);
  assertEquals(w.upstreamRequests, 20);
  assertEquals(
    Object.keys(w.counters).some((k) => k.startsWith("envoy_cluster_upstream_cx_active")),
    false,
  );
});
