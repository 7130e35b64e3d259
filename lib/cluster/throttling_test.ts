import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { clusterMesh } from "./meshes.ts";
import { attachThrottling, parseCadvisorCfs, throttlingBetween } from "./throttling.ts";
import type { ResourceUse } from "../types.ts";

// The kubelet's cAdvisor exposition (series abridged to the labels meshbench reads, plus
// the id/image/name labels a kubelet adds; a pause container and a pod-level series).
const scrape = (periods: number, throttled: number, proxyThrottled: number) => `
# HELP container_cpu_cfs_periods_total Number of elapsed enforcement period intervals.
# TYPE container_cpu_cfs_periods_total counter
container_cpu_cfs_periods_total{container="fortio",id="/kubepods/burstable/podA/c1",image="docker.io/fortio/fortio:1.66.5",name="c1",namespace="http-benchmark",pod="http-client-1"} ${periods} 1795660000000
container_cpu_cfs_periods_total{container="istio-proxy",id="/kubepods/burstable/podA/c2",image="docker.io/istio/proxyv2:1.27.3",name="c2",namespace="http-benchmark",pod="http-client-1"} ${periods} 1795660000000
container_cpu_cfs_periods_total{container="",id="/kubepods/burstable/podA",image="",name="",namespace="http-benchmark",pod="http-client-1"} ${periods} 1795660000000
container_cpu_cfs_periods_total{container="POD",id="/kubepods/burstable/podA/p",image="registry.k8s.io/pause:3.10",name="p",namespace="http-benchmark",pod="http-client-1"} 5
# HELP container_cpu_cfs_throttled_periods_total Number of throttled period intervals.
# TYPE container_cpu_cfs_throttled_periods_total counter
container_cpu_cfs_throttled_periods_total{container="fortio",id="/kubepods/burstable/podA/c1",image="docker.io/fortio/fortio:1.66.5",name="c1",namespace="http-benchmark",pod="http-client-1"} ${throttled} 1795660000000
container_cpu_cfs_throttled_periods_total{container="istio-proxy",id="/kubepods/burstable/podA/c2",image="docker.io/istio/proxyv2:1.27.3",name="c2",namespace="http-benchmark",pod="http-client-1"} ${proxyThrottled} 1795660000000
container_cpu_usage_seconds_total{container="fortio",namespace="http-benchmark",pod="http-client-1"} 12.5 1795660000000
`;

Deno.test("cAdvisor CFS counters: parsed per container, pause and pod-level series skipped", () => {
  const m = parseCadvisorCfs(scrape(1000, 50, 7));
  assertEquals([...m.keys()], [
    "http-benchmark/http-client-1/fortio",
    "http-benchmark/http-client-1/istio-proxy",
  ]);
  assertEquals(m.get("http-benchmark/http-client-1/fortio"), { periods: 1000, throttled: 50 });
});

Deno.test("throttling over a window, per component, attached to the resources", () => {
  const mesh = clusterMesh("istio");
  const pods = [{
    namespace: "http-benchmark",
    name: "http-client-1",
    labels: { app: "http-client", "meshbench.io/tier": "client" },
  }];
  const t = throttlingBetween(
    parseCadvisorCfs(scrape(1000, 50, 7)),
    parseCadvisorCfs(scrape(1600, 170, 7)),
    mesh,
    pods,
    ["http-benchmark"],
  );
  assertEquals([...t.values()], [
    { component: "loadgen", name: "http-benchmark/http-client", periods: 600, throttled: 120 },
    { component: "data-plane", name: "sidecars/http-benchmark", periods: 600, throttled: 0 },
  ]);
  const use = (component: ResourceUse["component"], name: string): ResourceUse => ({
    component,
    name,
    cpuCores: 0.5,
    cpuSeconds: 5,
    memoryPeakMB: 40,
    samples: 2,
  });
  const out = attachThrottling(
    [use("loadgen", "http-benchmark/http-client"), use("app", "http-benchmark/http-server")],
    t,
  );
  assertEquals([out[0].cpuThrottledPct, out[0].cfsPeriods], [20, 600]);
  assertEquals(out[1].cpuThrottledPct, undefined, "not measured: left out, not zero");
  // A container that restarted (counters went down) says nothing about the window.
  const restarted = throttlingBetween(
    parseCadvisorCfs(scrape(1000, 50, 7)),
    parseCadvisorCfs(scrape(300, 10, 7)),
    mesh,
    pods,
    ["http-benchmark"],
  );
  assertEquals(restarted.size, 0);
});
