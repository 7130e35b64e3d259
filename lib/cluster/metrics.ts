/**
 * Resource metrics on a cluster through the Kubernetes API (metrics.k8s.io, served by
 * metrics-server): samples during the load window, classified into control plane, data
 * plane (sidecar containers and node proxies), application, load generators and nodes
 * (METHODOLOGY rule 12), and reduced to {@linkcode ResourceUse} over the window.
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import type { Component, ResourceUse } from "../types.ts";
import { apiReason, apiStatus, type Kube } from "./kube.ts";
import type { ClusterMesh } from "./meshes.ts";
import { parseCpu, parseMemory } from "../quantity.ts";

/** One sample of one component at one instant. */
export interface ResourceSample {
  component: Component;
  name: string;
  cpuCores: number;
  memoryMB: number;
  at: string;
}

/** Usage of one container as metrics.k8s.io reports it. */
export interface ContainerUsage {
  name: string;
  usage: { cpu: string; memory: string };
}

/** A PodMetrics item (metrics.k8s.io/v1beta1). */
export interface PodMetricsItem {
  metadata: { name: string; namespace: string };
  timestamp?: string;
  containers: ContainerUsage[];
}

/** A NodeMetrics item (metrics.k8s.io/v1beta1). */
export interface NodeMetricsItem {
  metadata: { name: string };
  timestamp?: string;
  usage: { cpu: string; memory: string };
}

/** The cluster does not serve metrics.k8s.io. */
export class MetricsUnavailableError extends Error {
  constructor(context: string, detail: string) {
    super(
      `Cannot collect resource metrics on context "${context}": the metrics.k8s.io API is not ` +
        `served (${detail}). Runs go on without CPU and memory figures (latency and ` +
        `throughput are unaffected); install metrics-server ` +
        `(https://github.com/kubernetes-sigs/metrics-server) to collect them.`,
    );
    this.name = "MetricsUnavailableError";
  }
}

/** Whether `labels` satisfy an equality-only selector ("a=b,c=d"). */
export function selectorMatches(selector: string, labels: Record<string, string> = {}): boolean {
  return selector.split(",").filter((s) => s.trim()).every((term) => {
    const [k, v] = term.split("=").map((x) => x.trim());
    return labels[k] === v;
  });
}

/** The pod facts classification needs. */
export interface PodInfo {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/**
 * The component and name a container's usage counts under (see {@linkcode classify}), or
 * null for containers outside the mesh and the benchmark namespaces.
 */
export function componentOf(
  mesh: ClusterMesh,
  benchmarkNamespaces: Iterable<string>,
  namespace: string,
  pod: string,
  labels: Record<string, string>,
  container: string,
): { component: Component; name: string } | null {
  const cp = mesh.controlPlane.find((s) =>
    s.namespace === namespace && selectorMatches(s.labelSelector, labels)
  );
  if (cp) return { component: "control-plane", name: cp.labelSelector.split("=").pop()! };
  const np = mesh.nodeProxies.find((s) =>
    s.namespace === namespace && selectorMatches(s.labelSelector, labels)
  );
  if (np) return { component: "data-plane", name: np.labelSelector.split("=").pop()! };
  if (![...benchmarkNamespaces].includes(namespace)) return null;
  if (mesh.sidecarContainers.includes(container)) {
    return { component: "data-plane", name: `sidecars/${namespace}` };
  }
  const app = labels.app ?? pod;
  return {
    component: labels["meshbench.io/tier"] === "client" ? "loadgen" : "app",
    name: `${namespace}/${app}`,
  };
}

/**
 * Classifies one instant's pod and node metrics into samples, summed per component and
 * name: control plane per selector, node proxies per selector, sidecar containers per
 * namespace (`data-plane`, `sidecars/<ns>`), application containers per workload
 * (`app`, `<ns>/<app>`), load clients (`loadgen`, `<ns>/<app>`), and nodes (`node`, name).
 * Pure: tested without a cluster.
 */
export function classify(
  mesh: ClusterMesh,
  pods: PodInfo[],
  podMetrics: PodMetricsItem[],
  nodeMetrics: NodeMetricsItem[],
  benchmarkNamespaces: string[],
  at: string,
): ResourceSample[] {
  const info = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const bench = new Set(benchmarkNamespaces);
  const sums = new Map<string, ResourceSample>();
  const add = (component: Component, name: string, cpu: number, mem: number) => {
    const key = `${component}\u0000${name}`;
    const s = sums.get(key) ?? { component, name, cpuCores: 0, memoryMB: 0, at };
    s.cpuCores += cpu;
    s.memoryMB += mem;
    sums.set(key, s);
  };
  for (const pm of podMetrics) {
    const ns = pm.metadata.namespace;
    const labels = info.get(`${ns}/${pm.metadata.name}`)?.labels ?? {};
    for (const c of pm.containers) {
      const where = componentOf(mesh, bench, ns, pm.metadata.name, labels, c.name);
      if (where) {
        add(where.component, where.name, parseCpu(c.usage.cpu), parseMemory(c.usage.memory));
      }
    }
  }
  for (const n of nodeMetrics) {
    add("node", n.metadata.name, parseCpu(n.usage.cpu), parseMemory(n.usage.memory));
  }
  return [...sums.values()];
}

/**
 * Reduces samples over a window into one {@linkcode ResourceUse} per component and name:
 * mean cores, CPU-seconds over the window, peak memory.
 */
export function reduceSamples(
  samples: ResourceSample[],
  window: { start: string; end: string },
): ResourceUse[] {
  const t0 = Date.parse(window.start);
  const t1 = Date.parse(window.end);
  const seconds = Math.max(0, (t1 - t0) / 1000);
  const groups = new Map<string, ResourceSample[]>();
  for (const s of samples) {
    const t = Date.parse(s.at);
    if (t < t0 || t > t1) continue;
    const key = `${s.component}\u0000${s.name}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups.values()].map((g) => {
    const cpuCores = g.reduce((a, s) => a + s.cpuCores, 0) / g.length;
    return {
      component: g[0].component,
      name: g[0].name,
      cpuCores,
      cpuSeconds: cpuCores * seconds,
      memoryPeakMB: Math.max(...g.map((s) => s.memoryMB)),
      samples: g.length,
    };
  }).sort((a, b) => a.component.localeCompare(b.component) || a.name.localeCompare(b.name));
}

/** CPU-seconds per 1,000 operations (derived, never stored). */
export function cpuSecondsPer1k(use: ResourceUse, operations: number): number {
  return operations > 0 ? (use.cpuSeconds / operations) * 1000 : 0;
}

/** Throws {@linkcode MetricsUnavailableError} unless metrics.k8s.io/v1beta1 is served. */
export async function checkMetricsApi(kube: Kube): Promise<void> {
  try {
    await kube.objects.list(
      "metrics.k8s.io/v1beta1",
      "NodeMetrics",
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      1,
    );
  } catch (e) {
    const status = apiStatus(e);
    if (
      status === 404 || status === 503 ||
      /not found|unable to retrieve|Unrecognized API/i.test(String((e as Error)?.message))
    ) {
      throw new MetricsUnavailableError(kube.context, apiReason(e));
    }
    throw new Error(`Cannot check metrics.k8s.io on context "${kube.context}": ${apiReason(e)}`, {
      cause: e,
    });
  }
}

/** Namespaces whose pods a mesh's samples cover. */
export function sampledNamespaces(mesh: ClusterMesh, benchmarkNamespaces: string[]): string[] {
  return [
    ...new Set([
      ...benchmarkNamespaces,
      ...mesh.controlPlane.map((s) => s.namespace),
      ...mesh.nodeProxies.map((s) => s.namespace),
    ]),
  ];
}

/** Pod facts of `namespaces`, from the core API. */
export async function listPodInfo(kube: Kube, namespaces: string[]): Promise<PodInfo[]> {
  const lists = await Promise.all(
    namespaces.map((namespace) => kube.core.listNamespacedPod({ namespace })),
  );
  return lists.flatMap((l: k8s.V1PodList) =>
    l.items.map((p) => ({
      namespace: p.metadata?.namespace ?? "",
      name: p.metadata?.name ?? "",
      labels: p.metadata?.labels ?? {},
    }))
  );
}

/** Takes one sample from metrics.k8s.io (pod metrics of the sampled namespaces, all nodes). */
export async function sampleResources(
  kube: Kube,
  mesh: ClusterMesh,
  benchmarkNamespaces: string[],
): Promise<ResourceSample[]> {
  const namespaces = sampledNamespaces(mesh, benchmarkNamespaces);
  const at = new Date().toISOString();
  try {
    const [pods, podMetrics, nodes] = await Promise.all([
      listPodInfo(kube, namespaces),
      Promise.all(
        namespaces.map((ns) => kube.objects.list("metrics.k8s.io/v1beta1", "PodMetrics", ns)),
      ),
      kube.objects.list("metrics.k8s.io/v1beta1", "NodeMetrics"),
    ]);
    return classify(
      mesh,
      pods,
      podMetrics.flatMap((l) => l.items as unknown as PodMetricsItem[]),
      nodes.items as unknown as NodeMetricsItem[],
      benchmarkNamespaces,
      at,
    );
  } catch (e) {
    if (apiStatus(e) === 404) throw new MetricsUnavailableError(kube.context, apiReason(e));
    throw e;
  }
}

/** A running sampler; `stop` returns every sample taken. */
export interface Sampler {
  stop(): Promise<ResourceSample[]>;
  /** Errors from individual samples (a sample that failed is reported, not dropped silently). */
  errors: string[];
}

/**
 * Samples every `intervalMs` (default 5 s; metrics-server resolution is 15 s by default)
 * until `stop` or `maxMs` (bounded).
 */
export function startSampler(
  kube: Kube,
  mesh: ClusterMesh,
  benchmarkNamespaces: string[],
  options: { intervalMs?: number; maxMs?: number } = {},
): Sampler {
  const samples: ResourceSample[] = [];
  const errors: string[] = [];
  const deadline = Date.now() + (options.maxMs ?? 3_600_000);
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped && Date.now() < deadline) {
      try {
        samples.push(...await sampleResources(kube, mesh, benchmarkNamespaces));
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
        if (e instanceof MetricsUnavailableError) return;
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, options.intervalMs ?? 5_000);
      });
    }
  })();
  return {
    errors,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return samples;
    },
  };
}
