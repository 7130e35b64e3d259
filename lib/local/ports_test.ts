import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { ConfigError, loadConfig } from "../config.ts";
import { portFree, portPlan, reservePorts } from "./ports.ts";

/** A config whose plan's ports are all free now (a random range, retried). */
async function freeConfig(workloads = ["http", "db"]) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 100 * Math.floor(Math.random() * 120);
    const { config } = await loadConfig({ flags: { workloads, "local.basePort": base } });
    if (portPlan(config).every((p) => portFree(p.port))) return config;
  }
  throw new Error("no free port range found in 50 tries");
}

async function refusal(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  throw new Error("expected a refusal");
}

Deno.test("the port plan lists every server and proxy port of every workload once", async () => {
  const { config } = await loadConfig({
    flags: { workloads: ["http", "ml"], "local.basePort": 30_000 },
  });
  const plan = portPlan(config);
  const ports = plan.map((p) => p.port);
  assertEquals(new Set(ports).size, ports.length, "no port twice");
  // http: 3 replicas x (server, sidecar in, sidecar admin, node in) + 2 client proxies + the
  // client sidecar's admin; ml: 1 x 4 + 2.
  assertEquals(plan.length, 3 * 4 + 2 + 1 + 4 + 2);
  assert(plan.some((p) => p.port === 30_060 && p.what === "client sidecar admin"));
  assert(plan.some((p) => p.port === 30_000 && p.what === "http server 0"));
  assert(plan.some((p) => p.port === 30_120 && p.what === "ml client sidecar"));
});

Deno.test("a second reservation of the same ports is refused, naming the run holding them", async () => {
  const config = await freeConfig();
  const first = await reservePorts(config, { runId: "20260101T000000Z-aaaaaa", runDir: "/r/a" });
  try {
    const e = await refusal(
      reservePorts(config, { runId: "20260101T000000Z-bbbbbb", runDir: "/r/b" }),
    );
    assertEquals(e.field, "local.basePort");
    assert(e.message.includes(String(config.local.basePort)), e.message);
    assert(e.message.includes("20260101T000000Z-aaaaaa"), e.message);
    assert(e.message.includes(`pid ${Deno.pid}`), e.message);
  } finally {
    first.release();
  }
  // Released: the same ports can be reserved again.
  (await reservePorts(config, { runId: "20260101T000000Z-cccccc", runDir: "/r/c" })).release();
});

Deno.test("a busy port is refused before anything starts, naming local.basePort and the port", async () => {
  const config = await freeConfig();
  const victim = portPlan(config)[4];
  const l = Deno.listen({ hostname: "127.0.0.1", port: victim.port });
  try {
    const e = await refusal(
      reservePorts(config, { runId: "20260101T000000Z-dddddd", runDir: "/r/d" }),
    );
    assertEquals(e.field, "local.basePort");
    assert(e.message.includes(`port ${victim.port} (${victim.what})`), e.message);
    assert(e.message.includes("already in use"), e.message);
  } finally {
    l.close();
  }
  // Nothing stays locked after a refusal.
  (await reservePorts(config, { runId: "20260101T000000Z-eeeeee", runDir: "/r/e" })).release();
});
