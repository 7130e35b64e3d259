import assert from "node:assert/strict";
import { DELAY_LUA, serverProxyConfig } from "./meshes.ts";

const certs = { ca: "/c/ca.pem", server: "/c/server.pem", client: "/c/client.pem" };

Deno.test("proxyDelayMs holds HTTP requests in an L7 server sidecar, and nothing else", () => {
  const delay = { ms: 20, luaFile: "/run/delay.lua" };
  const listeners = [
    { name: "http", protocol: "http" as const, inboundPort: 1, appPort: 2 },
    { name: "db", protocol: "tcp" as const, inboundPort: 3, appPort: 4 },
  ];
  const l7 = serverProxyConfig({ layer: "l7", threads: 1, pidfile: "/p", certs, listeners, delay });
  assert.match(l7, /lua-load \/run\/delay\.lua/);
  const http = l7.slice(l7.indexOf("frontend http_in"), l7.indexOf("backend http_app"));
  assert.match(http, /http-request lua\.meshbench_delay 20\n/);
  const db = l7.slice(l7.indexOf("frontend db_in"), l7.indexOf("backend db_app"));
  assert.doesNotMatch(db, /meshbench_delay/);
  // L4 proxies carry opaque TCP: no requests to hold, no Lua loaded.
  const l4 = serverProxyConfig({ layer: "l4", threads: 1, pidfile: "/p", certs, listeners, delay });
  assert.doesNotMatch(l4, /lua/);
  const off = serverProxyConfig({ layer: "l7", threads: 1, pidfile: "/p", certs, listeners });
  assert.doesNotMatch(off, /lua/);
  assert.match(DELAY_LUA, /core\.msleep/);
});
