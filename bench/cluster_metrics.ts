/**
 * Benchmark: time per resource-metrics sample of the cluster target over a kwok cluster of
 * 100 nodes and 1,000 pods (goal: under 10 s per sample).
 *
 * One sample is exactly `sampleResources`: the pod list of the sampled namespaces, the
 * PodMetrics list of each and the NodeMetrics list, through the real API server, the last
 * two through the aggregation layer to the real metrics-server (v0.9.0), which answers from
 * what it scraped from kwok's simulated kubelet endpoints; then `classify`. The test control
 * plane runs with `metricsServer: true`; kwok reports every container as using its requests
 * (lib/testenv/kwok_metrics.yaml). Before timing, the benchmark waits until metrics-server has
 * metrics for every pod, and each sample is checked against the expected totals (1,000 pods
 * x 10m CPU per container, 16Mi app and 40Mi sidecar memory), so a sample that returned
 * partial or wrong data would fail the run instead of looking fast.
 *
 * Not in the figure: metrics-server's scraping itself (every 10 s, in the background, as on
 * a cluster), and a real kubelet's or cAdvisor's cost.
 *
 * Usage: deno task bench:cluster-metrics [--nodes 100] [--pods 1000] [--samples 10]
 *
 * @module
 */
import { parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { startTestenv, stopTestenv, TestenvMissingError } from "../lib/testenv/testenv.ts";
import { connect, disconnect } from "../lib/cluster/kube.ts";
import { applyObjects } from "../lib/cluster/deploy.ts";
import { MANAGED_LABELS, renderNamespaces } from "../lib/cluster/manifests.ts";
import { CLUSTER_MESHES } from "../lib/cluster/meshes.ts";
import { sampleResources } from "../lib/cluster/metrics.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SPEC: TaskSpec = {
  name: "bench:cluster-metrics",
  description: "Time per resource-metrics sample over a kwok cluster (the test control plane).",
  flags: {
    nodes: { type: "string", arg: "N", help: "kwok nodes (1 to 1000; default: 100)" },
    pods: { type: "string", arg: "N", help: "pods (1 to 10000; default: 1000)" },
    samples: { type: "string", arg: "N", help: "samples timed (1 to 1000; default: 10)" },
  },
};

/** An integer flag within [1, max], or exit 2 naming it. */
function count(values: Record<string, unknown>, name: string, def: number, max: number): number {
  const text = (values[name] as string | undefined) ?? String(def);
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`error: Invalid --${name}: expected an integer from 1 to ${max}, got "${text}"`);
    Deno.exit(2);
  }
  return n;
}

if (import.meta.main) {
  const parsed = parseTaskArgs(SPEC, Deno.args);
  if (typeof parsed === "number") Deno.exit(parsed);
  const nodes = count(parsed.values, "nodes", 100, 1000);
  const pods = count(parsed.values, "pods", 1000, 10000);
  const samples = count(parsed.values, "samples", 10, 1000);
  const dir = await Deno.makeTempDir({ prefix: "meshbench-bench-metrics-" });
  const t0 = performance.now();
  let env;
  try {
    env = await startTestenv({ dir, nodes, timeoutMs: 300_000, metricsServer: true });
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(e instanceof TestenvMissingError ? 3 : 1);
  }
  const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
  const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
  try {
    console.log(`control plane + ${nodes} kwok nodes + metrics-server ready in ${seconds(t0)} s`);
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
    console.log(`${pods} pods scheduled and ready in ${seconds(t1)} s`);

    // metrics-server needs two scrapes of a pod (10 s apart) before it serves its metrics.
    const t2 = performance.now();
    const metricsDeadline = Date.now() + 120_000;
    while (true) {
      const list = await kube.objects.list("metrics.k8s.io/v1beta1", "PodMetrics", ns);
      if (list.items.length >= pods) break;
      if (Date.now() > metricsDeadline) {
        throw new Error(`metrics-server has metrics for ${list.items.length} of ${pods} pods`);
      }
      await sleep(1000);
    }
    console.log(`metrics-server serves all ${pods} pods' metrics ${seconds(t2)} s later`);

    const mesh = CLUSTER_MESHES.istio;
    const expected = { cores: pods * 0.01, appMB: pods * 16 * 1.048576 };
    const times: number[] = [];
    let objects = 0;
    for (let i = 0; i < samples; i++) {
      const s0 = performance.now();
      const out = await sampleResources(kube, mesh, [ns]);
      times.push(performance.now() - s0);
      const app = out.find((s) => s.component === "app" && s.name === `${ns}/bench`);
      const sidecars = out.find((s) => s.component === "data-plane");
      const nodeSamples = out.filter((s) => s.component === "node");
      const within = (a: number | undefined, e: number) =>
        a !== undefined && Math.abs(a - e) <= 0.02 * e;
      if (
        !within(app?.cpuCores, expected.cores) || !within(sidecars?.cpuCores, expected.cores) ||
        !within(app?.memoryMB, expected.appMB) || nodeSamples.length !== nodes
      ) {
        throw new Error(
          `Sample ${i} does not match what kwok reports: app ${app?.cpuCores} cores / ` +
            `${app?.memoryMB} MB, sidecars ${sidecars?.cpuCores} cores (expected ` +
            `${expected.cores} cores, ${expected.appMB} MB), ${nodeSamples.length} of ${nodes} nodes`,
        );
      }
      objects = pods + nodeSamples.length;
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)];
    const max = times[times.length - 1];
    console.log(
      `metrics sample (pod list + metrics.k8s.io pods and nodes via metrics-server + classify) ` +
        `over ${objects} objects (${nodes} nodes, ${pods} pods): median ${med.toFixed(0)} ms, ` +
        `max ${max.toFixed(0)} ms over ${samples} samples ` +
        `(goal < 10000 ms: ${max < 10_000 ? "met" : "NOT met"})`,
    );
    await Deno.mkdir(new URL("./out", import.meta.url), { recursive: true });
    await Deno.writeTextFile(
      new URL("./out/cluster_metrics.json", import.meta.url),
      JSON.stringify(
        {
          nodes,
          pods,
          samples,
          metricsServer: env.versions.METRICS_SERVER_VERSION ?? "unknown",
          medianMs: med,
          maxMs: max,
          timesMs: times,
        },
        null,
        2,
      ),
    );
  } finally {
    await disconnect(kube);
    await stopTestenv(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
