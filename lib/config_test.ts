import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, loadConfig } from "./config.ts";

async function withFile(text: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  const f = join(dir, "bench.yaml");
  await Deno.writeTextFile(f, text);
  return f;
}

Deno.test("defaults give the quick local profile", async () => {
  const { config, sources } = await loadConfig();
  assertEquals(config.target, "local");
  assertEquals(config.profile, "quick");
  assertEquals(config.meshes, ["baseline", "sidecar-emu", "node-proxy-emu"]);
  assertEquals(sources, ["defaults"]);
});

Deno.test("standard profile is the design's: 10 s warm-up, 5 s cool-down", async () => {
  const { config } = await loadConfig({ flags: { profile: "standard" } });
  assertEquals(config.warmupS, 10);
  assertEquals(config.cooldownS, 5);
  assert(config.iterations >= 3 && config.iterations <= 5);
  assertEquals(config.load.throughput.enabled, true);
});

Deno.test("precedence: defaults < file < env < flags", async () => {
  const file = await withFile("seed: 5\niterations: 4\nload:\n  rates: [100]\n");
  const { config } = await loadConfig({
    file,
    env: { MESHBENCH_SEED: "6" },
    flags: { seed: 7 },
  });
  assertEquals(config.seed, 7);
  assertEquals(config.iterations, 4);
  assertEquals(config.load.rates, [100]);
  assertEquals(config.load.durationS, 5, "unset nested fields keep their defaults");
});

Deno.test("a wrong type names the field, the value and the file line", async () => {
  const file = await withFile("seed: 1\nload:\n  rates: [100]\n  durationS: fast\n");
  await rejects(loadConfig({ file }), (e: Error) => {
    assert(e instanceof ConfigError);
    assert(e.message.includes('"load.durationS"'), e.message);
    assert(e.message.includes('"fast"'), e.message);
    assert(e.message.includes(`${file}:4`), e.message);
    return true;
  });
});

Deno.test("a misspelt field is refused with the known ones listed", async () => {
  const file = await withFile("iteratons: 3\n");
  await rejects(loadConfig({ file }), /"iteratons".*unknown field.*iterations/);
});

Deno.test("range rules name the field and value", async () => {
  await rejects(loadConfig({ flags: { "load.rates": [-5] } }), /"load.rates".*-5/);
  await rejects(loadConfig({ flags: { iterations: 0 } }), /"iterations".*got 0/);
  await rejects(loadConfig({ flags: { profile: "fast" } }), /"profile".*"fast"/);
  await rejects(loadConfig({ flags: { baseline: "none" } }), /"baseline".*"none"/);
  await rejects(loadConfig({ env: { MESHBENCH_SEED: "abc" } }), /"seed".*MESHBENCH_SEED.*"abc"/);
});

Deno.test("the cluster target needs an explicitly named context", async () => {
  await rejects(
    loadConfig({ flags: { target: "cluster" } }),
    /"cluster.context".*explicitly named/,
  );
  const { config } = await loadConfig({
    flags: { target: "cluster", "cluster.context": "kind-a" },
  });
  assertEquals(config.meshes, ["baseline", "istio", "linkerd", "cilium"]);
  assertEquals(config.workloads, ["http", "grpc", "websocket", "db", "ml"]);
  assertEquals(config.cluster.qos, "burstable");
});

Deno.test("cluster QoS and proxy sizes are checked, naming field and value", async () => {
  const cluster = { target: "cluster", "cluster.context": "kind-a" };
  const { config } = await loadConfig({ flags: { ...cluster, "cluster.qos": "guaranteed" } });
  assertEquals(config.cluster.qos, "guaranteed");
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.qos": "besteffort" } }),
    /"cluster.qos".*command-line flag.*burstable or guaranteed, got "besteffort"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.cpu": "half" } }),
    /"cluster.proxyResources.cpu".*got "half"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.memory": "256MB" } }),
    /"cluster.proxyResources.memory".*got "256MB"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.cpu": "0m" } }),
    /"cluster.proxyResources.cpu".*above 0.*got "0m"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.memory": "0Mi" } }),
    /"cluster.proxyResources.memory".*above 0.*got "0Mi"/,
  );
});

Deno.test("YAML syntax errors carry the line", async () => {
  const file = await withFile("seed: 1\nload: [\n");
  await rejects(
    loadConfig({ file }),
    (e: Error) => e.message.includes(file) && /YAML/.test(e.message),
  );
});

Deno.test("the example config in the repository is valid", async () => {
  const file = new URL("../bench.example.yaml", import.meta.url).pathname;
  const { config } = await loadConfig({ file });
  assertEquals(config.workloads, ["http", "grpc", "websocket", "db", "ml"]);
});
