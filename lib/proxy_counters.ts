/**
 * Each proxy's own request and connection counters over a run window: read from the proxy
 * (HAProxy's stats socket `show stat`, Envoy's admin `/stats?type=Counters`, nginx's
 * `stub_status`) just before and just after the window, and differenced. What a proxy did
 * beyond forwarding shows here: retries, resets, connection errors, and how many upstream
 * connections it opened for how many requests (pooling). Parsing is pure; reading is a
 * socket or HTTP call to the proxy's own admin endpoint.
 *
 * @example
 * ```ts
 * import { parseEnvoyCounters, proxyWindow } from "./proxy_counters.ts";
 * const before = parseEnvoyCounters("http.in.downstream_rq_total: 10\n");
 * const after = parseEnvoyCounters("http.in.downstream_rq_total: 25\n");
 * const w = proxyWindow("sidecar", "envoy", before, after);
 * if (w.downstreamRequests !== 15) throw new Error();
 * ```
 *
 * @module
 */
import type { ProxyCounters, ProxySoftware } from "./types.ts";

/** Where a proxy serves its own counters. */
export type ProxyStatsEndpoint =
  /** HAProxy's stats socket (`stats socket PATH level user`), a Unix socket path. */
  | { software: "haproxy"; socket: string }
  /** Envoy's admin interface, e.g. `http://127.0.0.1:15000`. */
  | { software: "envoy"; adminUrl: string }
  /** nginx's `stub_status` location, a full URL. */
  | { software: "nginx"; statusUrl: string };

/** Cumulative counters by the proxy's own names. */
export type RawCounters = Map<string, number>;

/**
 * HAProxy `show stat` columns that only grow (cumulative counters); the others are gauges,
 * rates, maxima, times or states, which a difference would not mean anything for.
 */
const HAPROXY_COUNTERS = new Set([
  "stot",
  "bin",
  "bout",
  "dreq",
  "dresp",
  "ereq",
  "econ",
  "eresp",
  "wretr",
  "wredis",
  "lbtot",
  "hrsp_1xx",
  "hrsp_2xx",
  "hrsp_3xx",
  "hrsp_4xx",
  "hrsp_5xx",
  "hrsp_other",
  "req_tot",
  "cli_abrt",
  "srv_abrt",
  "conn_tot",
  "intercepted",
  "dcon",
  "dses",
  "wrew",
  "connect",
  "reuse",
  "eint",
]);

/**
 * Parses HAProxy's `show stat` CSV into `proxy/server/column` counters (server is
 * `FRONTEND`, `BACKEND` or a server's name), without `req_tot` of TCP-mode proxies.
 * Throws when the header is missing.
 */
export function parseHaproxyStat(csv: string): RawCounters {
  const lines = csv.split("\n").filter((l) => l.trim());
  if (!lines[0]?.startsWith("# ")) {
    throw new Error(
      `Cannot parse HAProxy "show stat": expected a "# pxname,..." header, got "${
        (lines[0] ?? "").slice(0, 60)
      }"`,
    );
  }
  const header = lines[0].slice(2).split(",");
  const modeAt = header.indexOf("mode");
  const out: RawCounters = new Map();
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const [px, sv] = f;
    // A TCP-mode proxy shows req_tot as 0: it has no requests to count, so none is read.
    const tcp = modeAt >= 0 && f[modeAt] === "tcp";
    header.forEach((col, i) => {
      if (!HAPROXY_COUNTERS.has(col) || f[i] === undefined || f[i] === "") return;
      if (tcp && col === "req_tot") return;
      const v = Number(f[i]);
      if (Number.isFinite(v)) out.set(`${px}/${sv}/${col}`, v);
    });
  }
  return out;
}

/**
 * Parses Envoy's admin `/stats?type=Counters` text (`name: value` lines). Lines that are
 * not a name and an integer (histogram summaries, text readouts) are skipped.
 */
export function parseEnvoyCounters(text: string): RawCounters {
  const out: RawCounters = new Map();
  for (const line of text.split("\n")) {
    const m = /^(\S+): (\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Parses Envoy's `/stats/prometheus` (what Istio's sidecars and the `envoy-sidecar` mesh
 * serve to the cluster on port 15090): the series of every `# TYPE ... counter`, keyed by
 * name and labels as printed (`envoy_cluster_upstream_rq_total{envoy_cluster_name="x"}`).
 * Gauges and histograms are skipped: a difference of them means nothing.
 */
export function parseEnvoyPrometheus(text: string): RawCounters {
  const counters = new Set<string>();
  const out: RawCounters = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const t = /^# TYPE (\S+) counter$/.exec(line);
    if (t) counters.add(t[1]);
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m || !counters.has(m[1])) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) out.set(`${m[1]}${m[2] ?? ""}`, v);
  }
  return out;
}

/** Parses nginx's `stub_status` page: its cumulative accepts, handled and requests. */
export function parseNginxStubStatus(text: string): RawCounters {
  const m = /server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  if (!m) {
    throw new Error(
      `Cannot parse nginx stub_status: no "server accepts handled requests" line in "${
        text.slice(0, 80)
      }"`,
    );
  }
  return new Map([["accepts", Number(m[1])], ["handled", Number(m[2])], [
    "requests",
    Number(m[3]),
  ]]);
}

async function readUnixSocket(path: string, command: string, timeoutMs: number) {
  const conn = await Deno.connect({ transport: "unix", path });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(command));
    return await new Response(conn.readable).text();
  } finally {
    clearTimeout(timer);
  }
}

async function readUrl(url: string, timeoutMs: number): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${text.slice(0, 200)}`);
  return text;
}

/** Reads a proxy's cumulative counters from its stats endpoint (bounded by `timeoutMs`). */
export async function readProxyCounters(
  endpoint: ProxyStatsEndpoint,
  timeoutMs = 5000,
): Promise<RawCounters> {
  try {
    switch (endpoint.software) {
      case "haproxy":
        return parseHaproxyStat(await readUnixSocket(endpoint.socket, "show stat\n", timeoutMs));
      case "envoy":
        return parseEnvoyCounters(
          await readUrl(`${endpoint.adminUrl.replace(/\/$/, "")}/stats?type=Counters`, timeoutMs),
        );
      case "nginx":
        return parseNginxStubStatus(await readUrl(endpoint.statusUrl, timeoutMs));
    }
  } catch (e) {
    const where = endpoint.software === "haproxy"
      ? endpoint.socket
      : endpoint.software === "envoy"
      ? endpoint.adminUrl
      : endpoint.statusUrl;
    throw new Error(
      `Cannot read the ${endpoint.software} counters at ${where}: ${(e as Error).message}`,
    );
  }
}

/** Sum of the window differences of the counters whose names match `re`. */
function sumOf(diff: RawCounters, re: RegExp): number | undefined {
  let s: number | undefined;
  for (const [k, v] of diff) if (re.test(k)) s = (s ?? 0) + v;
  return s;
}

/**
 * The counters of one proxy over a window: every counter that moved between `before` and
 * `after` (a counter that went down, a restarted proxy, is left out), and the same in the
 * vocabulary shared by the proxies:
 * - HAProxy: downstream connections and requests from the FRONTEND rows (`conn_tot`,
 *   `req_tot`), upstream connections from the BACKEND rows' `connect` (connections
 *   attempted, failed ones included) and `reuse`, upstream requests from their `req_tot`,
 *   retries `wretr` + `wredis` (redispatches to another server), connect failures `econ`
 *   (attempts that exhausted their retries), resets the aborts `cli_abrt` + `srv_abrt`.
 * - Envoy: `http.*`/`tcp.*` `downstream_cx_total` and `http.*.downstream_rq_total` (admin
 *   excluded), `cluster.*.upstream_cx_total` and `upstream_rq_total`, retries
 *   `upstream_rq_retry`, connect failures `upstream_cx_connect_fail`, resets
 *   `upstream_rq_rx_reset` + `upstream_rq_tx_reset`.
 * - nginx: `accepts` and `requests` (downstream only: stub_status counts no upstreams).
 * A figure the proxy does not count (HTTP requests of an L4 proxy) is absent.
 */
export function proxyWindow(
  name: string,
  software: ProxySoftware,
  before: RawCounters,
  after: RawCounters,
): ProxyCounters {
  const diff: RawCounters = new Map();
  for (const [k, a] of after) {
    const d = a - (before.get(k) ?? 0);
    if (d > 0) diff.set(k, d);
  }
  // A counter that exists but did not move is a real 0, not an absent figure.
  const has = (re: RegExp) => [...after.keys()].some((k) => re.test(k));
  const fig = (re: RegExp) => sumOf(diff, re) ?? (has(re) ? 0 : undefined);
  const out: ProxyCounters = { name, software, counters: Object.fromEntries(diff) };
  const put = (key: keyof ProxyCounters, v: number | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, number>)[key] = v;
  };
  switch (software) {
    case "haproxy": {
      put("downstreamConnections", fig(/\/FRONTEND\/conn_tot$/));
      // No req_tot is read in TCP mode (see parseHaproxyStat): absent, not zero.
      put("downstreamRequests", fig(/\/FRONTEND\/req_tot$/));
      put("upstreamConnections", fig(/\/BACKEND\/connect$/));
      put("upstreamConnectionReuses", fig(/\/BACKEND\/reuse$/));
      put("upstreamRequests", fig(/\/BACKEND\/req_tot$/));
      // A redispatch is a retry on another server (with `option redispatch 1`, every retry).
      put("retries", fig(/\/BACKEND\/(wretr|wredis)$/));
      put("upstreamConnectFailures", fig(/\/BACKEND\/econ$/));
      put("resets", fig(/\/BACKEND\/(cli_abrt|srv_abrt)$/));
      break;
    }
    case "envoy": {
      // Envoy's own traffic is not the benchmark's: the admin listener (`http.admin.*`), and
      // in Prometheus form (read through a stats listener, as Istio's sidecars and the
      // envoy-sidecar mesh serve on 15090) the admin, stats, health and agent listeners and
      // clusters, the rewritten probes' clusters and Istio's xDS and SDS clusters.
      const own = "admin|stats|health|prometheus_stats|agent";
      const ownClusters = `${own}|xds-grpc|sds-grpc|probe_[^"]*`;
      const http = (stat: string) =>
        new RegExp(
          String.raw`^(?!http\.admin\.)http\.[^.]+\.${stat}$|^envoy_http_${stat}\{` +
            String.raw`(?!.*envoy_http_conn_manager_prefix="(${own})")`,
        );
      const tcp = (stat: string) =>
        new RegExp(String.raw`^tcp\.[^.]+\.${stat}$|^envoy_tcp_${stat}\{`);
      const cluster = (stat: string) =>
        new RegExp(
          String.raw`^cluster\..+\.${stat}$|^envoy_cluster_${stat}\{` +
            String.raw`(?!.*envoy_cluster_name="(${ownClusters})")`,
        );
      const either = (a: RegExp, b: RegExp) => new RegExp(`${a.source}|${b.source}`);
      put(
        "downstreamConnections",
        fig(either(http("downstream_cx_total"), tcp("downstream_cx_total"))),
      );
      put("downstreamRequests", fig(http("downstream_rq_total")));
      put("upstreamConnections", fig(cluster("upstream_cx_total")));
      put("upstreamRequests", fig(cluster("upstream_rq_total")));
      put("retries", fig(cluster("upstream_rq_retry")));
      put("upstreamConnectFailures", fig(cluster("upstream_cx_connect_fail")));
      put("resets", fig(cluster("upstream_rq_(rx|tx)_reset")));
      break;
    }
    case "nginx": {
      put("downstreamConnections", fig(/^accepts$/));
      put("downstreamRequests", fig(/^requests$/));
      break;
    }
  }
  return out;
}
