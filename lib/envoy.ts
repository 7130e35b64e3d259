/**
 * Envoy bootstrap configs of meshbench's emulated sidecar meshes: the local target's
 * `sidecar-emu` (Envoy processes on loopback) and the cluster target's `envoy-sidecar`
 * (an Envoy container injected into each meshed pod). One module builds both, so the two
 * emulations run the same listeners, TLS settings and clusters, and their figures compare.
 *
 * These are static bootstrap configs written by meshbench: no xDS control plane, and not
 * the config Istio's istiod generates (no telemetry filters, no per-service clusters, no
 * authorization policies). What they share with a mesh sidecar: an L7 proxy on each end,
 * mutual TLS between the two (client certificate required, peer identity checked against
 * the run's CA and a SPIFFE-style URI), HTTP/1.1 with WebSocket upgrades, HTTP/2 (gRPC)
 * and opaque TCP (Redis), and connection pools between the proxies.
 *
 * @module
 */

/** How a listener or upstream treats traffic: HTTP/1.1 (WebSocket upgrades too), HTTP/2, TCP. */
export type EnvoyProtocol = "http1" | "http2" | "tcp";

/** PEM files of one side's identity and the CA that signs its peers. */
export interface EnvoyTls {
  ca: string;
  cert: string;
  key: string;
  /** What the peer's certificate must carry: an exact DNS name or a URI prefix. */
  peer: { dns: string } | { uriPrefix: string };
  /** SNI sent upstream (client side only). */
  sni?: string;
}

/** Envoy's admin interface (stats at `/stats`, `/stats/prometheus`, `/ready`). */
export interface EnvoyAdmin {
  address: string;
  port: number;
}

/** An address Envoy listens on or connects to. */
export interface SocketAddress {
  address: string;
  port: number;
}

/** The SPIFFE-style trust domain of meshbench's per-run identities. */
export const TRUST_DOMAIN = "meshbench.local";

/** The `@type` of a typed config. */
const T = (name: string) => `type.googleapis.com/${name}`;

function socket(a: SocketAddress) {
  return { socket_address: { address: a.address, port_value: a.port } };
}

/** Envoy's duration string for milliseconds ("0.020s"). */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

function commonTls(tls: EnvoyTls, alpn: string[]) {
  return {
    tls_params: { tls_minimum_protocol_version: "TLSv1_2" },
    tls_certificates: [{
      certificate_chain: { filename: tls.cert },
      private_key: { filename: tls.key },
    }],
    validation_context: {
      trusted_ca: { filename: tls.ca },
      match_typed_subject_alt_names: "dns" in tls.peer
        ? [{ san_type: "DNS", matcher: { exact: tls.peer.dns } }]
        : [{ san_type: "URI", matcher: { prefix: tls.peer.uriPrefix } }],
    },
    ...(alpn.length ? { alpn_protocols: alpn } : {}),
  };
}

function alpnFor(protocol: EnvoyProtocol): string[] {
  return protocol === "http2" ? ["h2"] : protocol === "http1" ? ["http/1.1"] : [];
}

/** Server-side TLS: a client certificate signed by the run's CA is required. */
export function downstreamTls(tls: EnvoyTls, protocol: EnvoyProtocol) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": T("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"),
      require_client_certificate: true,
      common_tls_context: commonTls(tls, protocol === "tcp" ? [] : ["h2", "http/1.1"]),
    },
  };
}

/** Client-side TLS: presents the client identity, checks the server's. */
export function upstreamTls(tls: EnvoyTls, protocol: EnvoyProtocol) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": T("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"),
      ...(tls.sni ? { sni: tls.sni } : {}),
      common_tls_context: commonTls(tls, alpnFor(protocol)),
    },
  };
}

/** Options of one HTTP connection manager. */
export interface HttpRouteOptions {
  statPrefix: string;
  protocol: "http1" | "http2";
  cluster: string;
  /** Delay every request by this many milliseconds (the `local.proxyDelayMs` test knob). */
  delayMs?: number;
  /** Routes by exact path, each rewritten and sent to its own cluster (probe listeners). */
  paths?: Array<{ path: string; rewrite: string; cluster: string }>;
}

/** An HTTP connection manager: routes every request to one cluster, WebSocket upgrades on. */
export function httpFilter(o: HttpRouteOptions) {
  const httpFilters: unknown[] = [];
  if (o.delayMs && o.delayMs > 0) {
    httpFilters.push({
      name: "envoy.filters.http.fault",
      typed_config: {
        "@type": T("envoy.extensions.filters.http.fault.v3.HTTPFault"),
        delay: {
          fixed_delay: seconds(o.delayMs),
          percentage: { numerator: 100, denominator: "HUNDRED" },
        },
      },
    });
  }
  httpFilters.push({
    name: "envoy.filters.http.router",
    typed_config: { "@type": T("envoy.extensions.filters.http.router.v3.Router") },
  });
  // Route timeout off: load runs hold streams (gRPC, WebSocket) longer than the 15 s default.
  const routes = o.paths
    ? o.paths.map((p) => ({
      match: { path: p.path },
      route: { cluster: p.cluster, prefix_rewrite: p.rewrite, timeout: "0s" },
    }))
    : [{ match: { prefix: "/" }, route: { cluster: o.cluster, timeout: "0s" } }];
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": T(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      ),
      stat_prefix: o.statPrefix,
      codec_type: "AUTO",
      ...(o.protocol === "http1" ? { upgrade_configs: [{ upgrade_type: "websocket" }] } : {}),
      route_config: {
        name: o.statPrefix,
        virtual_hosts: [{ name: o.statPrefix, domains: ["*"], routes }],
      },
      http_filters: httpFilters,
    },
  };
}

/** Opaque TCP to one cluster. */
export function tcpFilter(statPrefix: string, cluster: string) {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: {
      "@type": T("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"),
      stat_prefix: statPrefix,
      cluster,
    },
  };
}

/** One upstream cluster. */
export interface ClusterOptions {
  name: string;
  protocol: EnvoyProtocol;
  /** Fixed endpoints (round robin), or the connection's original destination (iptables). */
  endpoints: SocketAddress[] | "original-destination";
  /** mTLS to the peer proxy; absent for plaintext (to the app, or passthrough). */
  tls?: EnvoyTls;
}

/**
 * An upstream cluster. Circuit breakers are raised far above Envoy's defaults (1,024
 * connections, pending and active requests), as Istio does: the benchmark measures the
 * proxy, not a queue limit that would turn overload into 503s.
 */
export function cluster(o: ClusterOptions) {
  return {
    name: o.name,
    connect_timeout: "5s",
    ...(o.endpoints === "original-destination"
      ? { type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" }
      : {
        type: "STATIC",
        lb_policy: "ROUND_ROBIN",
        load_assignment: {
          cluster_name: o.name,
          endpoints: [{
            lb_endpoints: o.endpoints.map((e) => ({ endpoint: { address: socket(e) } })),
          }],
        },
      }),
    circuit_breakers: {
      thresholds: [{
        max_connections: 1_000_000,
        max_pending_requests: 1_000_000,
        max_requests: 1_000_000,
        max_retries: 3,
      }],
    },
    ...(o.protocol === "http2"
      ? {
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": T("envoy.extensions.upstreams.http.v3.HttpProtocolOptions"),
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
      }
      : {}),
    ...(o.tls ? { transport_socket: upstreamTls(o.tls, o.protocol) } : {}),
  };
}

/** A listener filter by name. */
export function listenerFilter(name: "original_dst" | "tls_inspector") {
  return {
    name: `envoy.filters.listener.${name}`,
    typed_config: {
      "@type": T(
        name === "original_dst"
          ? "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
          : "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
      ),
    },
  };
}

/** The network filter of one protocol. */
export function protocolFilter(
  protocol: EnvoyProtocol,
  statPrefix: string,
  clusterName: string,
  delayMs?: number,
) {
  return protocol === "tcp"
    ? tcpFilter(statPrefix, clusterName)
    : httpFilter({ statPrefix, protocol, cluster: clusterName, delayMs });
}

/** A whole bootstrap: node, admin, static listeners and clusters. */
export function bootstrap(o: {
  node: string;
  admin: EnvoyAdmin;
  listeners: unknown[];
  clusters: unknown[];
}) {
  return {
    node: { id: o.node, cluster: "meshbench" },
    admin: { address: socket(o.admin) },
    static_resources: { listeners: o.listeners, clusters: o.clusters },
  };
}

/** One workload behind the local target's sidecar pair. */
export interface LocalEnvoyWorkload {
  name: string;
  protocol: EnvoyProtocol;
}

/**
 * The local client-side sidecar: one plaintext listener per workload on loopback, each
 * balancing over the server sidecars' mTLS ports.
 */
export function localClientSidecar(o: {
  node: string;
  admin: EnvoyAdmin;
  tls: EnvoyTls;
  workloads: Array<LocalEnvoyWorkload & { listen: number; upstreams: number[] }>;
}) {
  return bootstrap({
    node: o.node,
    admin: o.admin,
    listeners: o.workloads.map((w) => ({
      name: `${w.name}_out`,
      address: socket({ address: "127.0.0.1", port: w.listen }),
      filter_chains: [{
        filters: [protocolFilter(w.protocol, `${w.name}_out`, `${w.name}_upstream`)],
      }],
    })),
    clusters: o.workloads.map((w) =>
      cluster({
        name: `${w.name}_upstream`,
        protocol: w.protocol,
        endpoints: w.upstreams.map((port) => ({ address: "127.0.0.1", port })),
        tls: o.tls,
      })
    ),
  });
}

/**
 * The local server-side sidecar of one replica: one mTLS listener (client certificate
 * required; a plaintext client matches no filter chain and is disconnected) to the app.
 */
export function localServerSidecar(o: {
  node: string;
  admin: EnvoyAdmin;
  tls: EnvoyTls;
  workload: LocalEnvoyWorkload;
  listen: number;
  app: number;
  delayMs?: number;
  /**
   * More listeners of the same replica in the same Envoy, each to its own app port (the h2c
   * listener of a workload that serves h2c beside HTTP/1.1).
   */
  more?: Array<LocalEnvoyWorkload & { listen: number; app: number }>;
}) {
  const all = [{ ...o.workload, listen: o.listen, app: o.app }, ...(o.more ?? [])];
  return bootstrap({
    node: o.node,
    admin: o.admin,
    listeners: all.map((w) => ({
      name: `${w.name}_in`,
      address: socket({ address: "127.0.0.1", port: w.listen }),
      listener_filters: [listenerFilter("tls_inspector")],
      filter_chains: [{
        filter_chain_match: { transport_protocol: "tls" },
        filters: [protocolFilter(w.protocol, `${w.name}_in`, `${w.name}_app`, o.delayMs)],
        transport_socket: downstreamTls(o.tls, w.protocol),
      }],
    })),
    clusters: all.map((w) =>
      cluster({
        name: `${w.name}_app`,
        protocol: w.protocol,
        endpoints: [{ address: "127.0.0.1", port: w.app }],
      })
    ),
  });
}

/** Ports and uid of the in-pod sidecar (Istio's numbers, so the layout reads familiar). */
export const POD_SIDECAR = {
  /** Outbound capture: iptables redirects the pod's outgoing TCP here. */
  outbound: 15001,
  /** Inbound capture: iptables redirects TCP arriving at the pod here. */
  inbound: 15006,
  /** Admin interface, on 127.0.0.1 only. */
  admin: 15000,
  /** Plaintext listener of the rewritten kubelet probes and of the sidecar's readiness. */
  health: 15021,
  /** Plaintext listener serving the admin's stats to the cluster (`/stats`, `/stats/prometheus`). */
  stats: 15090,
  /** The uid Envoy runs as: its own traffic is never redirected. */
  uid: 1337,
} as const;

/** A port of the pod's services and how the sidecars carry it. */
export interface MeshPort {
  port: number;
  protocol: EnvoyProtocol;
}

/** A kubelet probe rewritten to the sidecar's health listener. */
export interface ProbeRoute {
  /** Path the kubelet now asks on the health port. */
  path: string;
  /** The app's own port and path, reached from the sidecar on 127.0.0.1. */
  port: number;
  rewrite: string;
}

/**
 * The bootstrap of the in-pod sidecar (the cluster target's `envoy-sidecar`), transparent
 * through iptables like Istio's:
 * - outbound (15001): the original destination is recovered from the redirected socket;
 *   connections to a mesh port go to the peer sidecar over mTLS with that port's protocol,
 *   anything else passes through in plaintext (DNS over TCP, the API server, ...);
 * - inbound (15006): TLS connections to a mesh port are terminated (client certificate
 *   required) and sent to the app on the original port; a plaintext connection matches no
 *   filter chain and is closed, as under STRICT mTLS;
 * - health (15021): the kubelet's rewritten probes, proxied to the app on 127.0.0.1, and
 *   `/healthz/ready` (Envoy's own readiness, the sidecar's startup probe);
 * - stats (15090): the admin's `/stats` and `/stats/prometheus`, readable from the cluster.
 */
export function podSidecar(o: {
  ports: MeshPort[];
  probes: ProbeRoute[];
  tls: EnvoyTls;
}) {
  const P = POD_SIDECAR;
  const any = { address: "0.0.0.0" };
  const admin = { address: "127.0.0.1", port: P.admin };
  const protocols = [...new Set(o.ports.map((p) => p.protocol))].sort();
  const outboundChains = o.ports.map((p) => ({
    name: `outbound_${p.port}`,
    filter_chain_match: { destination_port: p.port },
    filters: [protocolFilter(p.protocol, `outbound_${p.port}`, `outbound_mtls_${p.protocol}`)],
  }));
  const inboundChains = o.ports.map((p) => ({
    name: `inbound_${p.port}`,
    filter_chain_match: { destination_port: p.port, transport_protocol: "tls" },
    filters: [protocolFilter(p.protocol, `inbound_${p.port}`, `inbound_app_${p.protocol}`)],
    transport_socket: downstreamTls(o.tls, p.protocol),
  }));
  const probeClusters = [...new Set(o.probes.map((p) => p.port))].sort((a, b) => a - b);
  return bootstrap({
    node: "envoy-sidecar",
    admin,
    listeners: [
      {
        name: "outbound",
        address: socket({ ...any, port: P.outbound }),
        listener_filters: [listenerFilter("original_dst")],
        filter_chains: outboundChains,
        default_filter_chain: {
          name: "outbound_passthrough",
          filters: [tcpFilter("outbound_passthrough", "passthrough")],
        },
      },
      // A pod with no mesh port (a batch Job) has no inbound listener: what iptables
      // redirects there is refused by the kernel, as under strict mTLS.
      ...(inboundChains.length
        ? [{
          name: "inbound",
          address: socket({ ...any, port: P.inbound }),
          listener_filters: [listenerFilter("original_dst"), listenerFilter("tls_inspector")],
          filter_chains: inboundChains,
        }]
        : []),
      {
        name: "health",
        address: socket({ ...any, port: P.health }),
        filter_chains: [{
          filters: [httpFilter({
            statPrefix: "health",
            protocol: "http1",
            cluster: "admin",
            paths: [
              { path: "/healthz/ready", rewrite: "/ready", cluster: "admin" },
              ...o.probes.map((p) => ({
                path: p.path,
                rewrite: p.rewrite,
                cluster: `probe_${p.port}`,
              })),
            ],
          })],
        }],
      },
      {
        name: "stats",
        address: socket({ ...any, port: P.stats }),
        filter_chains: [{
          filters: [httpFilter({
            statPrefix: "stats",
            protocol: "http1",
            cluster: "admin",
            paths: [
              { path: "/stats", rewrite: "/stats", cluster: "admin" },
              { path: "/stats/prometheus", rewrite: "/stats/prometheus", cluster: "admin" },
            ],
          })],
        }],
      },
    ],
    clusters: [
      ...protocols.map((p) =>
        cluster({
          name: `outbound_mtls_${p}`,
          protocol: p,
          endpoints: "original-destination",
          tls: o.tls,
        })
      ),
      ...protocols.map((p) =>
        cluster({ name: `inbound_app_${p}`, protocol: p, endpoints: "original-destination" })
      ),
      cluster({ name: "passthrough", protocol: "tcp", endpoints: "original-destination" }),
      cluster({ name: "admin", protocol: "http1", endpoints: [admin] }),
      ...probeClusters.map((port) =>
        cluster({
          name: `probe_${port}`,
          protocol: "http1",
          endpoints: [{ address: "127.0.0.1", port }],
        })
      ),
    ],
  });
}
