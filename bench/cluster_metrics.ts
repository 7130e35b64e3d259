/**
 * Benchmark: time per resource-metrics sample of the cluster target over a kwok cluster of
 * 100 nodes and 1,000 pods (goal: under 10 s per sample).
 *
 * What is measured, exactly: the test control plane has no metrics-server, so
 * metrics.k8s.io is not served (kwok simulates nodes and pods, not the metrics API). One
 * sample here is everything `sampleResources` does except the two metrics.k8s.io list calls:
 * listing the pods of the sampled namespaces and the nodes through the real API server, plus
 * `classify` over one PodMetrics item per listed pod (two containers each, usage taken from
 * the pod's requests) and one NodeMetrics item per node. A real cluster adds the two
 * metrics.k8s.io calls, which return one item per pod and node like the lists measured here.
 *
 * Usage: deno task bench:cluster-metrics [--nodes 100] [--pods 1000] [--samples 10]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startTestenv, stopTestenv, TestenvMissingError } from "../lib/testenv/testenv.ts";
import { connect, disconnect } from "../lib/cluster/kube.ts";
import { applyObjects } from "../lib/cluster/deploy.ts";
import { MANAGED_LABELS, renderNamespaces } from "../lib/cluster/manifests.ts";
import { CLUSTER_MESHES } from "../lib/cluster/meshes.ts";
import {
  classify,
  listPodInfo,
  type NodeMetricsItem,
  type PodMetricsItem,
  sampledNamespaces,
} from "../lib/cluster/metrics.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "100" },
      pods: { type: "string", default: "1000" },
      samples: { type: "string", default: "10" },
    },
  });
  const nodes = Number(values.nodes);
  const pods = Number(values.pods);
  const samples = Number(values.samples);
  const dir = await Deno.makeTempDir({ prefix: "meshbench-bench-metrics-" });
  const t0 = performance.now();
  let env;
  try {
    env = await startTestenv({ dir, nodes, timeoutMs: 300_000 });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(e instanceof TestenvMissingError ? 3 : 1);
  }
  const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
  try {
    console.log(
      `control plane + ${nodes} kwok nodes ready in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
    const ns = "http-benchmark";
    await applyObjects(kube, renderNamespaces().filter((n) => n.metadata.name === ns));
    const labels = { ...MANAGED_LABELS, app: "bench", "meshbench.io/tier": "server" };
    await applyObjects(kube, [{
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "bench", namespace: ns, labels },
      spec: {
        replicas: pods,
        selector: { matchLabels: { app: "bench" } },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: "app",
                image: "nginx:1.27.4-alpine",
                resources: { requests: { cpu: "10m", memory: "16Mi" } },
              },
              {
                name: "istio-proxy",
                image: "istio/proxyv2:1.27.3",
                resources: { requests: { cpu: "10m", memory: "40Mi" } },
              },
            ],
          },
        },
      },
    }]);
    const t1 = performance.now();
    const deadline = Date.now() + 600_000;
    while (true) {
      const d = await kube.apps.readNamespacedDeployment({ name: "bench", namespace: ns });
      if ((d.status?.readyReplicas ?? 0) >= pods) break;
      if (Date.now() > deadline) {
        throw new Error(`Only ${d.status?.readyReplicas} of ${pods} pods ready after 600 s`);
      }
      await sleep(1000);
    }
    console.log(
      `${pods} pods scheduled and ready in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );

    const mesh = CLUSTER_MESHES.istio;
    const namespaces = sampledNamespaces(mesh, [ns]);
    const times: number[] = [];
    let classified = 0;
    for (let i = 0; i < samples; i++) {
      const s0 = performance.now();
      const [info, nodeList] = await Promise.all([
        listPodInfo(kube, namespaces),
        kube.core.listNode(),
      ]);
      const podMetrics: PodMetricsItem[] = info.map((p) => ({
        metadata: { name: p.name, namespace: p.namespace },
        containers: [
          { name: "app", usage: { cpu: "12m", memory: "20Mi" } },
          { name: "istio-proxy", usage: { cpu: "7m", memory: "45Mi" } },
        ],
      }));
      const nodeMetrics: NodeMetricsItem[] = nodeList.items.map((n) => ({
        metadata: { name: n.metadata!.name! },
        usage: { cpu: "1500m", memory: "2Gi" },
      }));
      const out = classify(mesh, info, podMetrics, nodeMetrics, [ns], new Date().toISOString());
      times.push(performance.now() - s0);
      classified = info.length + nodeList.items.length;
      if (out.length === 0) throw new Error("classification produced no samples");
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)];
    const max = times[times.length - 1];
    console.log(
      `metrics sample over ${classified} objects (${nodes} nodes, ${pods} pods): ` +
        `median ${med.toFixed(0)} ms, max ${max.toFixed(0)} ms over ${samples} samples ` +
        `(goal < 10000 ms: ${max < 10_000 ? "met" : "NOT met"})`,
    );
    await Deno.mkdir(new URL("./out", import.meta.url), { recursive: true });
    await Deno.writeTextFile(
      new URL("./out/cluster_metrics.json", import.meta.url),
      JSON.stringify({ nodes, pods, samples, medianMs: med, maxMs: max, timesMs: times }, null, 2),
    );
  } finally {
    await disconnect(kube);
    await stopTestenv(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
