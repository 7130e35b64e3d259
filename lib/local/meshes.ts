/**
 * The emulated meshes of the local target, as data rather than branches, and the
 * HAProxy configs that realise them. These are emulations, named so everywhere:
 * - `sidecar-emu`: L7 proxies on both ends (client sidecar -> mTLS -> one server
 *   sidecar per replica), like Envoy or linkerd2-proxy sidecars.
 * - `node-proxy-emu`: L4 proxies with mTLS, one per "node" on each side, like
 *   Istio ambient's ztunnel without a waypoint.
 *
 * @module
 */
import type { CertSet } from "./certs.ts";
import type { MeshKind } from "../types.ts";
import type { Protocol } from "../workload.ts";

/** One emulated mesh. */
export interface LocalMesh {
  name: string;
  kind: MeshKind;
  description: string;
  /** Proxy layer on the data path. */
  layer: "none" | "l7" | "l4";
}

export const LOCAL_MESHES: Record<string, LocalMesh> = {
  baseline: {
    name: "baseline",
    kind: "none",
    description: "no mesh: the client reaches the server replicas directly",
    layer: "none",
  },
  "sidecar-emu": {
    name: "sidecar-emu",
    kind: "sidecar",
    description:
      "EMULATED sidecar mesh: HAProxy L7 client sidecar -> mTLS -> HAProxy L7 sidecar per server replica",
    layer: "l7",
  },
  "node-proxy-emu": {
    name: "node-proxy-emu",
    kind: "node-proxy",
    description:
      "EMULATED node-proxy mesh (ztunnel-like): HAProxy L4 node proxy -> mTLS -> HAProxy L4 node proxy",
    layer: "l4",
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

/**
 * HAProxy Lua action of the `local.proxyDelayMs` test knob: holds the request for the given
 * milliseconds before it is forwarded. `core.msleep` yields, so other requests go on.
 */
export const DELAY_LUA = `core.register_action("meshbench_delay", { "http-req" }, function(txn, ms)
  core.msleep(tonumber(ms))
end, 1)
`;

function globalSection(
  threads: number,
  pidfile: string,
  luaFile?: string,
  statsSocket?: string,
): string {
  // The stats socket serves the proxy's own counters (`show stat`), read around each run.
  return `global
  nbthread ${threads}
  maxconn 8000
  pidfile ${pidfile}
${luaFile ? `  lua-load ${luaFile}\n` : ""}${
    statsSocket ? `  stats socket ${statsSocket} mode 600 level user\n` : ""
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

function modeFor(layer: "l7" | "l4", protocol: Protocol): "http" | "tcp" {
  // An L7 sidecar treats raw TCP protocols (Redis) as opaque, as Linkerd does for 6379.
  return layer === "l7" && protocol !== "tcp" ? "http" : "tcp";
}

/**
 * HAProxy config of the client-side proxy (sidecar or node proxy) for all workloads:
 * one frontend per workload, balancing over the server side's mTLS inbound ports.
 */
export function clientProxyConfig(opts: {
  layer: "l7" | "l4";
  threads: number;
  pidfile: string;
  certs: CertSet;
  workloads: Array<ProxiedWorkload & MeshPorts>;
  /** Unix socket path of HAProxy's stats socket (absent: none). */
  statsSocket?: string;
}): string {
  let cfg = globalSection(opts.threads, opts.pidfile, undefined, opts.statsSocket) + DEFAULTS;
  for (const w of opts.workloads) {
    const mode = modeFor(opts.layer, w.protocol);
    const alpn = mode === "http" && w.protocol === "h2" ? " alpn h2" : "";
    const bindProto = mode === "http" && w.protocol === "h2" ? " proto h2" : "";
    cfg += `
frontend ${w.name}_out
  mode ${mode}
  bind 127.0.0.1:${w.clientPort}${bindProto}
  default_backend ${w.name}_upstream

backend ${w.name}_upstream
  mode ${mode}
  balance roundrobin
${mode === "http" ? "  http-reuse always\n" : ""}${
      w.inboundPorts.map((p, i) =>
        `  server r${i} 127.0.0.1:${p} ssl verify required ca-file ${opts.certs.ca} crt ${opts.certs.client} sni str(localhost)${alpn}\n`
      ).join("")
    }`;
  }
  return cfg;
}

/**
 * HAProxy config of a server-side proxy: terminates mTLS (client certificate
 * required) and forwards to the local server replica(s). With `delay` (the
 * `local.proxyDelayMs` test knob), each HTTP request waits `ms` in the proxy before it is
 * forwarded (L7 listeners only; opaque TCP has no requests to hold).
 */
export function serverProxyConfig(opts: {
  layer: "l7" | "l4";
  threads: number;
  pidfile: string;
  certs: CertSet;
  /** Each listener: inbound mTLS port -> app port. */
  listeners: Array<{ name: string; protocol: Protocol; inboundPort: number; appPort: number }>;
  /** Added delay per HTTP request, with the file holding {@linkcode DELAY_LUA}. */
  delay?: { ms: number; luaFile: string };
  /** Unix socket path of HAProxy's stats socket (absent: none). */
  statsSocket?: string;
}): string {
  const delayed = opts.delay !== undefined && opts.delay.ms > 0 &&
    opts.listeners.some((l) => modeFor(opts.layer, l.protocol) === "http");
  let cfg = globalSection(
    opts.threads,
    opts.pidfile,
    delayed ? opts.delay!.luaFile : undefined,
    opts.statsSocket,
  ) + DEFAULTS;
  for (const l of opts.listeners) {
    const mode = modeFor(opts.layer, l.protocol);
    const h2 = mode === "http" && l.protocol === "h2";
    const hold = delayed && mode === "http"
      ? `  http-request lua.meshbench_delay ${opts.delay!.ms}\n`
      : "";
    cfg += `
frontend ${l.name}_in
  mode ${mode}
  bind 127.0.0.1:${l.inboundPort} ssl crt ${opts.certs.server} ca-file ${opts.certs.ca} verify required${
      h2 ? " alpn h2" : mode === "http" ? " alpn http/1.1" : ""
    }
${hold}  default_backend ${l.name}_app

backend ${l.name}_app
  mode ${mode}
${mode === "http" ? "  http-reuse always\n" : ""}  server app 127.0.0.1:${l.appPort}${
      h2 ? " proto h2" : ""
    }
`;
  }
  return cfg;
}
