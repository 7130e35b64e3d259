import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { classify, cpuSecondsPer1k, reduceSamples } from "./metrics.ts";
import { CLUSTER_MESHES } from "./meshes.ts";

Deno.test("samples are split into control plane, sidecars, app, loadgen and nodes", () => {
  const at = "2026-01-01T00:00:10.000Z";
  const samples = classify(
    CLUSTER_MESHES.istio,
    [
      { namespace: "istio-system", name: "istiod-1", labels: { app: "istiod" } },
      {
        namespace: "http-benchmark",
        name: "s1",
        labels: { app: "http-server", "meshbench.io/tier": "server" },
      },
      {
        namespace: "http-benchmark",
        name: "c1",
        labels: { app: "http-client", "meshbench.io/tier": "client" },
      },
      { namespace: "kube-system", name: "coredns", labels: { app: "coredns" } },
    ],
    [
      {
        metadata: { name: "istiod-1", namespace: "istio-system" },
        containers: [{ name: "discovery", usage: { cpu: "100m", memory: "100Mi" } }],
      },
      {
        metadata: { name: "s1", namespace: "http-benchmark" },
        containers: [
          { name: "nginx", usage: { cpu: "200m", memory: "10Mi" } },
          { name: "istio-proxy", usage: { cpu: "300m", memory: "50Mi" } },
        ],
      },
      {
        metadata: { name: "c1", namespace: "http-benchmark" },
        containers: [
          { name: "fortio", usage: { cpu: "1", memory: "20Mi" } },
          { name: "istio-proxy", usage: { cpu: "100m", memory: "40Mi" } },
        ],
      },
      {
        metadata: { name: "coredns", namespace: "kube-system" },
        containers: [{ name: "coredns", usage: { cpu: "5m", memory: "1Mi" } }],
      },
    ],
    [{ metadata: { name: "node-a" }, usage: { cpu: "1500m", memory: "1Gi" } }],
    ["http-benchmark"],
    at,
  );
  const by = Object.fromEntries(samples.map((s) => [`${s.component}:${s.name}`, s]));
  assertEquals(Object.keys(by).sort(), [
    "app:http-benchmark/http-server",
    "control-plane:istiod",
    "data-plane:sidecars/http-benchmark",
    "loadgen:http-benchmark/http-client",
    "node:node-a",
  ]);
  assertEquals(Math.round(by["data-plane:sidecars/http-benchmark"].cpuCores * 1000), 400);
  assertEquals(by["app:http-benchmark/http-server"].cpuCores, 0.2);
});

Deno.test("reduction: mean cores, CPU-seconds over the window, peak memory; per 1k", () => {
  const s = (at: string, cpu: number, mem: number) => ({
    component: "data-plane" as const,
    name: "sidecars/x",
    cpuCores: cpu,
    memoryMB: mem,
    at,
  });
  const [use] = reduceSamples(
    [
      s("2026-01-01T00:00:00Z", 1, 10),
      s("2026-01-01T00:00:05Z", 3, 30),
      s("2026-01-01T00:01:00Z", 9, 99),
    ],
    { start: "2026-01-01T00:00:00Z", end: "2026-01-01T00:00:10Z" },
  );
  assertEquals(use.cpuCores, 2);
  assertEquals(use.cpuSeconds, 20);
  assertEquals(use.memoryPeakMB, 30);
  assertEquals(use.samples, 2);
  assertEquals(cpuSecondsPer1k(use, 10_000), 2);
});
