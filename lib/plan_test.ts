import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { buildPlan, plannedLoadSeconds, standardPoints } from "./plan.ts";
import { configDefaults } from "./config_schema.ts";
import type { LoadPoint } from "./types.ts";

const point: LoadPoint = {
  mode: "fixed-rate",
  tool: "vegeta",
  rate: 100,
  connections: 4,
  durationS: 5,
};
const input = {
  workloads: [{ name: "http", points: [point] }],
  meshes: ["baseline", "sidecar-emu", "node-proxy-emu"],
  iterations: 6,
  seed: 11,
};

Deno.test("every mesh appears once per block, in varying order", () => {
  const plan = buildPlan(input);
  assertEquals(plan.length, 18);
  assertEquals(plan.map((r) => r.seq), Array.from({ length: 18 }, (_, i) => i + 1));
  const orders = new Set<string>();
  for (let b = 0; b < 6; b++) {
    const block = plan.slice(b * 3, b * 3 + 3);
    assertEquals(block.map((r) => r.mesh).sort(), [...input.meshes].sort());
    assert(block.every((r) => r.iteration === b + 1));
    orders.add(block.map((r) => r.mesh).join(","));
  }
  assert(orders.size > 1, "the order must be randomised across blocks");
});

Deno.test("the plan is reproducible from its seed", () => {
  assertEquals(buildPlan(input), buildPlan(input));
  assert(JSON.stringify(buildPlan({ ...input, seed: 12 })) !== JSON.stringify(buildPlan(input)));
});

Deno.test("planned load seconds sum the windows", () => {
  assertEquals(plannedLoadSeconds(buildPlan(input)), 90);
});

Deno.test("per-mesh grouping: one mesh at a time, the baseline interleaved with each", () => {
  const plan = buildPlan({
    workloads: [{ name: "http", points: [point] }, { name: "ml", points: [point] }],
    meshes: ["baseline", "istio", "linkerd"],
    iterations: 2,
    seed: 3,
    grouping: "per-mesh",
    baseline: "baseline",
    baselineFirst: ["ml"],
  });
  // ml's baseline first (2), then per mesh: http baseline+mesh and ml mesh, per iteration.
  assertEquals(plan.length, 2 + 2 * 2 * 3);
  assert(plan.slice(0, 2).every((r) => r.workload === "ml" && r.mesh === "baseline"));
  const meshes = plan.slice(2).map((r) => r.mesh).filter((m) => m !== "baseline");
  const switches = meshes.filter((m, i) => i > 0 && m !== meshes[i - 1]).length;
  assertEquals(switches, 1, "each mesh is installed once");
  assertEquals(plan.filter((r) => r.workload === "http" && r.mesh === "baseline").length, 4);
});

Deno.test("deploy blocks: each block's runs (every mesh and the baseline) before the next block's", () => {
  const input = {
    workloads: ["http", "grpc", "ml", "db"].map((name) => ({ name, points: [point] })),
    meshes: ["baseline", "istio", "linkerd"],
    iterations: 2,
    seed: 3,
    grouping: "per-mesh" as const,
    baseline: "baseline",
    baselineFirst: ["ml", "db"],
  };
  const plan = buildPlan({ ...input, blocks: [["http", "ml"], ["grpc"], ["db"]] });
  // As many runs as without blocks, each once.
  assertEquals(plan.length, buildPlan(input).length);
  assertEquals(plan.map((r) => r.seq), plan.map((_, i) => i + 1));
  const blockOf = (w: string) => (["http", "ml"].includes(w) ? 0 : w === "grpc" ? 1 : 2);
  const order = plan.map((r) => blockOf(r.workload));
  assertEquals(order, [...order].sort(), "a block's runs all come before the next block's");
  for (const b of [0, 1, 2]) {
    const runs = plan.filter((r) => blockOf(r.workload) === b);
    assertEquals(new Set(runs.map((r) => r.mesh)), new Set(input.meshes), `block ${b}`);
    // Within a block the baseline-only workloads' baseline runs come before any mesh.
    const firstMesh = runs.findIndex((r) => r.mesh !== "baseline");
    assert(
      runs.slice(firstMesh).every((r) =>
        !(input.baselineFirst.includes(r.workload) &&
          r.mesh === "baseline")
      ),
    );
  }
  // One block of everything is the plan without blocks.
  assertEquals(buildPlan({ ...input, blocks: [["http", "grpc", "ml", "db"]] }), buildPlan(input));
  throws(() => buildPlan({ ...input, blocks: [["http", "ml"], ["grpc"]] }), /each workload once/);
  throws(() => buildPlan({ ...input, blocks: [["http", "ml", "db"], ["grpc", "db"]] }), /once/);
});

Deno.test("the connection sweep and the knee ramp are points of their own, the ramp increasing", () => {
  const config = configDefaults();
  config.load.sweep.connections = [1, 64];
  config.knee.enabled = true;
  config.knee.rates = [1000, 250, 500];
  const points = standardPoints(config, "vegeta", "wrk", { sweeps: true });
  assertEquals(
    points.map((p) => [p.mode, p.rate, p.connections, p.sweep ?? "-"]),
    [
      ["fixed-rate", 500, 8, "-"],
      ["fixed-rate", 1000, 1, "connections"],
      ["fixed-rate", 1000, 64, "connections"],
      ["fixed-rate", 250, 16, "knee"],
      ["fixed-rate", 500, 16, "knee"],
      ["fixed-rate", 1000, 16, "knee"],
      ["max-throughput", null, 16, "-"],
    ],
  );
  // Without the option (workloads whose tool spreads connections), no sweep points.
  assertEquals(standardPoints(config, "ghz").length, 2);
});

Deno.test("payload points: one POST point per body size at the sweep's rate, standard otherwise", () => {
  const config = configDefaults();
  config.load.sweep.payloadsBytes = [0, 16384];
  config.load.sweep.rate = 700;
  const points = standardPoints(config, "http-client", "wrk", { sweeps: true })
    .filter((p) => p.payloadBytes !== undefined);
  assertEquals(points.map((p) => [p.rate, p.payloadBytes, p.connections, p.sweep]), [
    [700, 0, 8, undefined],
    [700, 16384, 8, undefined],
  ]);
});

Deno.test("h2c payload points: every payload size once per protocol, h2c ones with their own tool", () => {
  const config = configDefaults();
  config.load.sweep.payloadsBytes = [0, 1024];
  config.load.sweep.httpProtocols = ["http/1.1", "h2c"];
  const points = standardPoints(config, "http-client", "wrk", { sweeps: true, h2cTool: "vegeta" })
    .filter((p) => p.payloadBytes !== undefined);
  assertEquals(points.map((p) => [p.tool, p.payloadBytes, p.httpProtocol ?? "-"]), [
    ["http-client", 0, "-"],
    ["http-client", 1024, "-"],
    ["vegeta", 0, "h2c"],
    ["vegeta", 1024, "h2c"],
  ]);
  config.load.sweep.httpProtocols = ["h2c"];
  assertEquals(
    standardPoints(config, "http-client", "wrk", { sweeps: true, h2cTool: "vegeta" })
      .filter((p) => p.payloadBytes !== undefined).map((p) => p.httpProtocol),
    ["h2c", "h2c"],
  );
  // A workload without an h2c tool refuses h2c points instead of sending HTTP/1.1.
  throws(
    () => standardPoints(config, "http-client", "wrk", { sweeps: true }),
    /Cannot plan h2c points \(load.sweep.httpProtocols\)/,
  );
});

Deno.test("the cluster target's HTTP points carry the same sweeps, knee and payloads, for fortio", async () => {
  const { httpWorkload } = await import("./workloads/http.ts");
  const config = configDefaults();
  config.load.sweep.connections = [1, 64];
  config.load.sweep.payloadsBytes = [1024];
  config.knee.enabled = true;
  config.knee.rates = [250, 500];
  const points = httpWorkload.pod!.points(config);
  assertEquals(
    points.map((p) => [p.tool, p.rate, p.connections, p.sweep ?? "-", p.payloadBytes ?? "-"]),
    [
      ["fortio", 500, 8, "-", "-"],
      ["fortio", 1000, 1, "connections", "-"],
      ["fortio", 1000, 64, "connections", "-"],
      ["fortio", 1000, 8, "-", 1024],
      ["fortio", 250, 16, "knee", "-"],
      ["fortio", 500, 16, "knee", "-"],
      ["fortio", null, 16, "-", "-"],
    ],
  );
});
