import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  match,
  ok as assert,
} from "node:assert/strict";
import { localServerSidecar } from "../envoy.ts";
import { envoyProtocol, LOCAL_MESHES, serverProxyConfig } from "./meshes.ts";
import { MESH_TOOLS } from "./tools.ts";
import { missingTools } from "../binaries.ts";

const tls = { ca: "/c/ca.pem", cert: "/c/s.crt", key: "/c/s.key", peer: { dns: "localhost" } };
const admin = { address: "127.0.0.1", port: 1 };

function filterNames(cfg: unknown): string[] {
  return JSON.stringify(cfg).match(/envoy\.filters\.[a-z_.]+/g) ?? [];
}

Deno.test("proxyDelayMs holds HTTP requests in an Envoy server sidecar, and nothing else", () => {
  const http = localServerSidecar({
    node: "s",
    admin,
    tls,
    workload: { name: "http", protocol: envoyProtocol("http") },
    listen: 2,
    app: 3,
    delayMs: 20,
  });
  assert(filterNames(http).includes("envoy.filters.http.fault"));
  match(JSON.stringify(http), /"fixed_delay":"0\.020s"/);
  // Opaque TCP has no requests to hold: no HTTP filters at all.
  const db = localServerSidecar({
    node: "s",
    admin,
    tls,
    workload: { name: "db", protocol: envoyProtocol("tcp") },
    listen: 2,
    app: 3,
    delayMs: 20,
  });
  assert(!filterNames(db).some((f) => f.startsWith("envoy.filters.http.")));
  const off = localServerSidecar({
    node: "s",
    admin,
    tls,
    workload: { name: "http", protocol: "http1" },
    listen: 2,
    app: 3,
  });
  assert(!filterNames(off).includes("envoy.filters.http.fault"));
});

Deno.test("the sidecar-emu mesh runs on Envoy and the node proxies stay L4 HAProxy", () => {
  assertEquals(LOCAL_MESHES["sidecar-emu"].proxy, "envoy");
  match(LOCAL_MESHES["sidecar-emu"].description, /^EMULATED/);
  assertEquals(LOCAL_MESHES["node-proxy-emu"].proxy, "haproxy");
  const certs = { ca: "/c/ca.pem", server: "/c/server.pem", client: "/c/client.pem" };
  const cfg = serverProxyConfig({
    threads: 1,
    pidfile: "/p",
    certs,
    listeners: [{ name: "db_r0", inboundPort: 1, appPort: 2 }],
  });
  match(cfg, /mode tcp/);
  doesNotMatch(cfg, /mode http/);
  match(cfg, /verify required/);
});

Deno.test("a missing Envoy is reported with the script that installs it, which bench:all runs", () => {
  const [missing] = missingTools([{
    ...MESH_TOOLS["sidecar-emu"],
    bin: "meshbench-no-such-envoy",
  }]);
  assertEquals(missing.name, "envoy");
  match(missing.install, /bash \.ci\/install_envoy\.sh/);
  // bench:all runs the repository's installer itself (a fresh clone has no .testenv/bin).
  assertEquals(missing.autoInstallable, true);
  assert(MESH_TOOLS["sidecar-emu"].script!.endsWith("/.ci/install_envoy.sh"));
});
