// Resource metrics through the real metrics.k8s.io: the test control plane with metrics-server
// (v0.9.0, from .ci/install_testenv.sh), which scrapes the kubelet resource metrics kwok
// simulates. kwok reports every container as using exactly its requests (see
// lib/testenv/kwok_metrics.yaml), so the expected cores and MB are known: the numbers that
// come back through metrics-server, sampleResources, startSampler and reduceSamples are
// checked against them.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startForTest, stopForTest, testenvSkipReason } from "../testenv/fixture.ts";
import { connect, disconnect, type Kube } from "./kube.ts";
import {
  clusterNamespaces,
  type KubeObject,
  MANAGED_LABELS,
  renderNamespaces,
  renderWorkload,
} from "./manifests.ts";
import { applyObjects, waitHealthy } from "./deploy.ts";
import { CLUSTER_MESHES } from "./meshes.ts";
import {
  cpuBetween,
  type CpuCounters,
  parseResourceMetrics,
  resourceMetricsPath,
} from "./cpu_counters.ts";
import { parseCpu, parseMemory } from "../quantity.ts";
import {
  checkMetricsApi,
  listPodInfo,
  reduceSamples,
  sampleResources,
  startSampler,
} from "./metrics.ts";
import { METRICS_RESOLUTION_S } from "../testenv/testenv.ts";
import { skipReason } from "../../tests/skip.ts";

const skip = testenvSkipReason({ metricsServer: true });
skipReason("metrics API tests", skip);

const NS = "http-benchmark";
const mesh = CLUSTER_MESHES.istio;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function labelled(o: KubeObject): KubeObject {
  o.metadata.labels = { ...MANAGED_LABELS, ...o.metadata.labels };
  return o;
}

/** A Deployment of `replicas` pods whose containers request the given CPU and memory. */
function deployment(
  namespace: string,
  app: string,
  replicas: number,
  containers: Array<[name: string, cpu: string, memory: string]>,
): KubeObject {
  const labels = { ...MANAGED_LABELS, app, "meshbench.io/tier": "server" };
  return labelled({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: app, namespace, labels },
    spec: {
      replicas,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels },
        spec: {
          containers: containers.map(([name, cpu, memory]) => ({
            name,
            image: "registry.invalid/meshbench/metrics:0",
            resources: { requests: { cpu, memory } },
          })),
        },
      },
    },
  });
}

/** What kwok was told to report, per sample key: requests x replicas, summed. */
function expectedUsage(
  objs: KubeObject[],
): Map<string, { cpuCores: number; memoryMB: number }> {
  const out = new Map<string, { cpuCores: number; memoryMB: number }>();
  for (const o of objs) {
    if (o.kind !== "Deployment") continue;
    // deno-lint-ignore no-explicit-any
    const spec = o.spec as any;
    const labels = spec.template.metadata.labels as Record<string, string>;
    const ns = o.metadata.namespace!;
    for (const c of spec.template.spec.containers) {
      const cp = mesh.controlPlane.find((s) => s.namespace === ns);
      const key = cp
        ? `control-plane:${cp.labelSelector.split("=").pop()}`
        : mesh.sidecarContainers.includes(c.name)
        ? `data-plane:sidecars/${ns}`
        : `${labels["meshbench.io/tier"] === "client" ? "loadgen" : "app"}:${ns}/${labels.app}`;
      const e = out.get(key) ?? { cpuCores: 0, memoryMB: 0 };
      e.cpuCores += spec.replicas * parseCpu(c.resources.requests.cpu);
      e.memoryMB += spec.replicas * parseMemory(c.resources.requests.memory);
      out.set(key, e);
    }
  }
  return out;
}

/** Waits until metrics-server has pod metrics for every pod in `namespaces` (two scrapes). */
async function waitForPodMetrics(kube: Kube, namespaces: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let status = "";
  while (Date.now() < deadline) {
    const counts = await Promise.all(namespaces.map(async (namespace) => {
      const pods = await kube.core.listNamespacedPod({ namespace });
      const metrics = await kube.objects.list("metrics.k8s.io/v1beta1", "PodMetrics", namespace);
      return { namespace, pods: pods.items.length, metrics: metrics.items.length };
    }));
    status = counts.map((c) => `${c.namespace}: ${c.metrics}/${c.pods}`).join(", ");
    if (counts.every((c) => c.pods > 0 && c.metrics === c.pods)) return;
    await sleep(500);
  }
  throw new Error(`Pod metrics incomplete after ${timeoutMs} ms (metrics/pods: ${status})`);
}

const close = (actual: number, expected: number, rel: number, what: string) =>
  assert(
    Math.abs(actual - expected) <= rel * expected,
    `${what}: expected ${expected} within ${rel * 100} %, got ${actual}`,
  );

Deno.test({
  name: "resource metrics through the real metrics-server over kwok",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const env = await startForTest("metrics-api", 3, { metricsServer: true });
    const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    try {
      await t.step("checkMetricsApi passes once metrics-server is registered", async () => {
        await checkMetricsApi(kube);
      });

      // The http workload as deployed (nginx servers, fortio clients), a meshed server
      // (app + an "istio-proxy" container; kwok reports only spec.containers, so not a native
      // sidecar here) and an istiod-labelled control plane pod.
      const objs = [
        ...renderNamespaces(clusterNamespaces().filter((s) => s.namespace === NS)),
        ...renderWorkload(clusterNamespaces().find((s) => s.namespace === NS)!),
        deployment(NS, "meshed-server", 2, [["app", "20m", "10Mi"], [
          "istio-proxy",
          "10m",
          "40Mi",
        ]]),
        labelled({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "istio-system" },
        }),
        deployment("istio-system", "istiod", 1, [["discovery", "30m", "100Mi"]]),
      ];
      const expected = expectedUsage(objs);
      await applyObjects(kube, objs);
      await waitHealthy(kube, [NS, "istio-system"], { timeoutMs: 60_000 });
      // Two scrapes after the pods exist, plus slack.
      await waitForPodMetrics(kube, [NS, "istio-system"], 6 * METRICS_RESOLUTION_S * 1000);

      await t.step("sampleResources: every component at the usage kwok reports", async () => {
        const samples = await sampleResources(kube, mesh, [NS]);
        const by = new Map(samples.map((s) => [`${s.component}:${s.name}`, s]));
        const keys = [...by.keys()].filter((k) => !k.startsWith("node:")).sort();
        assertEquals(keys, [...expected.keys()].sort());
        assertEquals(keys, [
          "app:http-benchmark/http-server",
          "app:http-benchmark/meshed-server",
          "control-plane:istiod",
          "data-plane:sidecars/http-benchmark",
          "loadgen:http-benchmark/http-client",
        ]);
        for (const [key, e] of expected) {
          const s = by.get(key)!;
          close(s.cpuCores, e.cpuCores, 0.02, `${key} cores`);
          close(s.memoryMB, e.memoryMB, 1e-9, `${key} MB`);
        }
        // The app's three nginx pods request 50m / 32Mi each.
        close(by.get("app:http-benchmark/http-server")!.cpuCores, 0.15, 0.02, "nginx cores");
        close(by.get("app:http-benchmark/http-server")!.memoryMB, 3 * 32 * 1.048576, 1e-9, "MB");

        // Nodes: each node's usage is the sum of its pods'; all of them together are the
        // sum of every container above.
        const nodes = samples.filter((s) => s.component === "node");
        assert(nodes.length >= 1, "no node samples");
        for (const n of nodes) {
          assert(n.cpuCores > 0 && n.memoryMB > 0, `node ${n.name} reports zero`);
          assert(env.nodes.includes(n.name), `unknown node ${n.name}`);
        }
        const all = [...expected.values()];
        close(
          nodes.reduce((a, n) => a + n.cpuCores, 0),
          all.reduce((a, e) => a + e.cpuCores, 0),
          0.02,
          "node cores",
        );
        close(
          nodes.reduce((a, n) => a + n.memoryMB, 0),
          all.reduce((a, e) => a + e.memoryMB, 0),
          1e-9,
          "node MB",
        );
      });

      await t.step("startSampler + reduceSamples over a window", async () => {
        const start = new Date().toISOString();
        const sampler = startSampler(kube, mesh, [NS], { intervalMs: 300 });
        await sleep(1_500);
        const samples = await sampler.stop();
        const end = new Date().toISOString();
        assertEquals(sampler.errors, []);
        const uses = reduceSamples(samples, { start, end });
        const seconds = (Date.parse(end) - Date.parse(start)) / 1000;
        for (const [key, e] of expected) {
          const u = uses.find((u) => `${u.component}:${u.name}` === key);
          assert(u, `no reduced use for ${key}`);
          assert(u.samples >= 3, `${key}: ${u.samples} samples`);
          close(u.cpuCores, e.cpuCores, 0.02, `${key} mean cores`);
          close(u.cpuSeconds, e.cpuCores * seconds, 0.02, `${key} CPU-seconds`);
          close(u.memoryPeakMB, e.memoryMB, 1e-9, `${key} peak MB`);
        }
        assert(uses.some((u) => u.component === "node" && u.cpuCores > 0));
      });

      await t.step(
        "CPU from the cumulative counters in kwok's kubelet resource metrics, by their clocks",
        async () => {
          // The API server refuses to proxy to loopback node addresses ("address not
          // allowed"), so the scrape goes where metrics-server's does: each node's kubelet
          // endpoint (kwok) at the path its annotation names, verified with the test CA.
          const client = Deno.createHttpClient({
            caCerts: [await Deno.readTextFile(`${env.dir}/pki/ca.crt`)],
          });
          const scrape = async () => {
            const all = { containers: new Map(), nodes: new Map() } as CpuCounters;
            for (const name of env.nodes) {
              const node = await kube.core.readNode({ name });
              const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
              const path = resourceMetricsPath(node.metadata?.annotations);
              const res = await fetch(`https://127.0.0.1:${port}/${path}`, { client });
              const one = parseResourceMetrics(await res.text(), name, Date.now());
              for (const [k, v] of one.containers) all.containers.set(k, v);
              for (const [k, v] of one.nodes) all.nodes.set(k, v);
            }
            return all;
          };
          try {
            const before = await scrape();
            await sleep(3_000);
            const after = await scrape();
            const pods = await listPodInfo(kube, [NS, "istio-system"]);
            const use = cpuBetween(before, after, mesh, pods, [NS]);
            for (const [key, e] of expected) {
              const [component, ...rest] = key.split(":");
              const u = use.get(`${component}\u0000${rest.join(":")}`);
              assert(u, `no counter CPU for ${key}`);
              close(u.cpuCores, e.cpuCores, 0.02, `${key} cores from counters`);
            }
            const nodes = [...use.values()].filter((u) => u.component === "node");
            assert(nodes.length > 0, "no node counters");
            close(
              nodes.reduce((a, n) => a + n.cpuCores, 0),
              [...expected.values()].reduce((a, e) => a + e.cpuCores, 0),
              0.02,
              "node cores from counters",
            );
          } finally {
            client.close();
          }
        },
      );
    } finally {
      await disconnect(kube);
      await stopForTest(env);
    }
  },
});
