// CPU from the kubelet's cumulative counters, differenced by the samples' own timestamps.
// The text is in the kubelet's /metrics/resource format (Prometheus text with millisecond
// timestamps on every sample).
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  attachCpu,
  cpuBetween,
  parseResourceMetrics,
  resourceMetricsPath,
} from "./cpu_counters.ts";
import { clusterMesh } from "./meshes.ts";
import type { PodInfo } from "./metrics.ts";

function scrape(atMs: number, server: number, proxy: number, client: number, node: number) {
  return `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="nginx",namespace="http-benchmark",pod="http-server-1"} ${server} ${atMs}
container_cpu_usage_seconds_total{container="istio-proxy",namespace="http-benchmark",pod="http-server-1"} ${proxy} ${atMs}
container_cpu_usage_seconds_total{container="fortio",namespace="http-benchmark",pod="http-client-1"} ${client} ${atMs}
container_cpu_usage_seconds_total{container="discovery",namespace="istio-system",pod="istiod-1"} 40 ${atMs}
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="istio-proxy",namespace="http-benchmark",pod="http-server-1"} 5.2e+07 ${atMs}
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total ${node} ${atMs}
node_memory_working_set_bytes 1.5e+09 ${atMs}
`;
}

const pods: PodInfo[] = [
  { namespace: "http-benchmark", name: "http-server-1", labels: { app: "http-server" } },
  {
    namespace: "http-benchmark",
    name: "http-client-1",
    labels: { app: "http-client", "meshbench.io/tier": "client" },
  },
  { namespace: "istio-system", name: "istiod-1", labels: { app: "istiod" } },
];

Deno.test("a 15 s run at 0.4 cores reads 0.4 cores and 6 CPU-seconds, by the samples' clocks", () => {
  // The scrapes were answered 16 s apart by our clock, but the samples are 15 s apart.
  const before = parseResourceMetrics(scrape(1_700_000_000_000, 100, 10, 50, 1000), "w1", 0);
  const after = parseResourceMetrics(
    scrape(1_700_000_015_000, 106, 13, 54.5, 1018),
    "w1",
    16_000,
  );
  const use = cpuBetween(before, after, clusterMesh("istio"), pods, ["http-benchmark"]);
  const get = (c: string, n: string) => use.get(`${c}\u0000${n}`)!;
  assertEquals(get("app", "http-benchmark/http-server").cpuSeconds, 6);
  assertEquals(get("app", "http-benchmark/http-server").cpuCores, 0.4);
  assertEquals(get("data-plane", "sidecars/http-benchmark").cpuCores, 0.2);
  assertEquals(get("data-plane", "sidecars/http-benchmark").memoryMB, 52);
  assertEquals(get("loadgen", "http-benchmark/http-client").cpuCores, 0.3);
  assertEquals(get("control-plane", "istiod").cpuCores, 0);
  assertEquals(get("node", "w1").cpuCores, 1.2);
  assertEquals(get("node", "w1").memoryMB, 1500);
  // metrics-server's figure for the same component is replaced and the source said.
  const merged = attachCpu([{
    component: "app",
    name: "http-benchmark/http-server",
    cpuCores: 0.08,
    cpuSeconds: 1.2,
    memoryPeakMB: 30,
    samples: 3,
  }, {
    component: "app",
    name: "elsewhere/x",
    cpuCores: 0.5,
    cpuSeconds: 7.5,
    memoryPeakMB: 10,
    samples: 3,
  }], use);
  const server = merged.find((r) => r.name === "http-benchmark/http-server")!;
  assertEquals([server.cpuCores, server.cpuSeconds, server.cpuSource], [0.4, 6, "counters"]);
  assertEquals(merged.find((r) => r.name === "elsewhere/x")!.cpuSource, "metrics-server");
  assertEquals(merged.find((r) => r.component === "node")!.samples, 2);
});

Deno.test("samples without timestamps use the scrape's time; restarted containers are skipped", () => {
  const text = (v: number) =>
    `container_cpu_usage_seconds_total{container="nginx",namespace="http-benchmark",pod="http-server-1"} ${v}\n`;
  const a = parseResourceMetrics(text(50), "w1", 10_000);
  const b = parseResourceMetrics(text(52), "w1", 14_000);
  const use = cpuBetween(a, b, clusterMesh("istio"), pods, ["http-benchmark"]);
  assertEquals(use.get("app\u0000http-benchmark/http-server")!.cpuCores, 0.5);
  const restarted = parseResourceMetrics(text(1), "w1", 14_000);
  assertEquals(cpuBetween(a, restarted, clusterMesh("istio"), pods, ["http-benchmark"]).size, 0);
});

Deno.test("cached samples bracketing a 5 s window by 10 s: its CPU-seconds over the window", () => {
  // A real kubelet's samples are refreshed every housekeeping interval: read before and
  // after a 5 s run they can be 20 s apart. 2 CPU-seconds used in the run are 0.4 cores
  // over the run, not 0.1 over the samples' span; samples closer than the window still give
  // their own rate.
  const text = (v: number, at: number) =>
    `container_cpu_usage_seconds_total{container="nginx",namespace="http-benchmark",pod="http-server-1"} ${v} ${at}\n`;
  const a = parseResourceMetrics(text(50, 10_000), "w1", 0);
  const b = parseResourceMetrics(text(52, 30_000), "w1", 0);
  const server = "app\u0000http-benchmark/http-server";
  assertEquals(cpuBetween(a, b, clusterMesh("istio"), pods, ["http-benchmark"], 5).get(server), {
    component: "app",
    name: "http-benchmark/http-server",
    cpuSeconds: 2,
    cpuCores: 0.4,
    memoryMB: 0,
  });
  assertEquals(
    cpuBetween(a, b, clusterMesh("istio"), pods, ["http-benchmark"]).get(server)!.cpuCores,
    0.1,
  );
  const close = parseResourceMetrics(text(51, 14_000), "w1", 0);
  assertEquals(
    cpuBetween(a, close, clusterMesh("istio"), pods, ["http-benchmark"], 5).get(server)!.cpuCores,
    0.25,
  );
});

Deno.test("the kubelet's resource metrics path, or the one a node annotates (kwok)", () => {
  assertEquals(resourceMetricsPath(undefined), "metrics/resource");
  assertEquals(
    resourceMetricsPath({
      "metrics.k8s.io/resource-metrics-path": "/metrics/nodes/n1/metrics/resource",
    }),
    "metrics/nodes/n1/metrics/resource",
  );
});
