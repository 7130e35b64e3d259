/**
 * The emulated meshes of the local target, as data rather than branches, and the
 * HAProxy configs of the node proxies. These are emulations, named so everywhere:
 * - `sidecar-emu`: Envoy L7 proxies on both ends (client sidecar -> mTLS -> one server
 *   sidecar per replica), like Istio's Envoy sidecars; their bootstrap configs come from
 *   `../envoy.ts`, shared with the cluster target's `envoy-sidecar` mesh.
 * - `node-proxy-emu`: HAProxy L4 proxies with mTLS, one per "node" on each side, like
 *   Istio ambient's ztunnel without a waypoint (ztunnel is not Envoy: an L4 HAProxy is as
 *   close a stand-in as an L4 Envoy would be).
 *
 * @module
 */
import type { CertSet } from "./certs.ts";
import { type EnvoyProtocol, type EnvoyTls, TRUST_DOMAIN } from "../envoy.ts";
import type { MeshKind } from "../types.ts";
import type { Protocol } from "../workload.ts";

/** One emulated mesh. */
export interface LocalMesh {
  name: string;
  kind: MeshKind;
  description: string;
  /** Proxy layer on the data path. */
  layer: "none" | "l7" | "l4";
  /** The proxy program (a tool in `./tools.ts`). */
  proxy: "none" | "envoy" | "haproxy";
}

export const LOCAL_MESHES: Record<string, LocalMesh> = {
  baseline: {
    name: "baseline",
    kind: "none",
    description: "no mesh: the client reaches the server replicas directly",
    layer: "none",
    proxy: "none",
  },
  "sidecar-emu": {
    name: "sidecar-emu",
    kind: "sidecar",
    description:
      "EMULATED sidecar mesh: Envoy L7 client sidecar -> mTLS -> Envoy L7 sidecar per server " +
      "replica (meshbench's static Envoy config, no control plane)",
    layer: "l7",
    proxy: "envoy",
  },
  "node-proxy-emu": {
    name: "node-proxy-emu",
    kind: "node-proxy",
    description:
      "EMULATED node-proxy mesh (ztunnel-like): HAProxy L4 node proxy -> mTLS -> HAProxy L4 node proxy",
    layer: "l4",
    proxy: "haproxy",
  },
};

/** A workload's endpoints as the proxies need them. */
export interface ProxiedWorkload {
  name: string;
  protocol: Protocol;
  /** Ports of the server replicas. */
  serverPorts: number[];
}

/** Ports of one mesh for one workload. */
export interface MeshPorts {
  /** Where the client sends (the client-side proxy). */
  clientPort: number;
  /** One inbound (mTLS) port per replica on the server side. */
  inboundPorts: number[];
}

function globalSection(threads: number, pidfile: string, statsSocket?: string): string {
  // The stats socket serves the proxy's own counters (`show stat`), read around each run.
  return `global
  nbthread ${threads}
  maxconn 8000
  pidfile ${pidfile}
${
    statsSocket
      ? `  stats socket ${statsSocket} mode 600 level user\n`
      : ""
  }  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-server-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048
`;
}

const DEFAULTS = `defaults
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout tunnel 3600s
  timeout http-keep-alive 120s
`;

/** The HAProxy PEM bundles a node proxy uses. */
export type HaproxyCerts = Pick<CertSet, "ca" | "server" | "client">;

/**
 * HAProxy config of the client-side node proxy (L4) for all workloads: one frontend per
 * workload, balancing over the server side's mTLS inbound ports.
 */
export function clientProxyConfig(opts: {
  threads: number;
  pidfile: string;
  certs: HaproxyCerts;
  workloads: Array<ProxiedWorkload & MeshPorts>;
  /** Unix socket path of HAProxy's stats socket (absent: none). */
  statsSocket?: string;
}): string {
  let cfg = globalSection(opts.threads, opts.pidfile, opts.statsSocket) + DEFAULTS;
  for (const w of opts.workloads) {
    cfg += `
frontend ${w.name}_out
  mode tcp
  bind 127.0.0.1:${w.clientPort}
  default_backend ${w.name}_upstream

backend ${w.name}_upstream
  mode tcp
  balance roundrobin
${
      w.inboundPorts.map((p, i) =>
        `  server r${i} 127.0.0.1:${p} ssl verify required ca-file ${opts.certs.ca} crt ${opts.certs.client} sni str(localhost)\n`
      ).join("")
    }`;
  }
  return cfg;
}

/**
 * HAProxy config of the server-side node proxy (L4): terminates mTLS (client certificate
 * required) and forwards to the local server replicas.
 */
export function serverProxyConfig(opts: {
  threads: number;
  pidfile: string;
  certs: HaproxyCerts;
  /** Each listener: inbound mTLS port -> app port. */
  listeners: Array<{ name: string; inboundPort: number; appPort: number }>;
  /** Unix socket path of HAProxy's stats socket (absent: none). */
  statsSocket?: string;
}): string {
  let cfg = globalSection(opts.threads, opts.pidfile, opts.statsSocket) + DEFAULTS;
  for (const l of opts.listeners) {
    cfg += `
frontend ${l.name}_in
  mode tcp
  bind 127.0.0.1:${l.inboundPort} ssl crt ${opts.certs.server} ca-file ${opts.certs.ca} verify required
  default_backend ${l.name}_app

backend ${l.name}_app
  mode tcp
  server app 127.0.0.1:${l.appPort}
`;
  }
  return cfg;
}

/** How the Envoy sidecars carry a workload's protocol (WebSocket: HTTP/1.1 with upgrades). */
export function envoyProtocol(p: Protocol): EnvoyProtocol {
  return p === "h2" ? "http2" : p === "tcp" ? "tcp" : "http1";
}

/** The client sidecar's identity, checking the server sidecars' (DNS:localhost). */
export function clientTls(certs: CertSet): EnvoyTls {
  return { ca: certs.ca, ...certs.clientId, peer: { dns: "localhost" }, sni: "localhost" };
}

/** A server sidecar's identity, requiring a client identity under the trust domain. */
export function serverTls(certs: CertSet): EnvoyTls {
  return { ca: certs.ca, ...certs.serverId, peer: { uriPrefix: `spiffe://${TRUST_DOMAIN}/` } };
}
