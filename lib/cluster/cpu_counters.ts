/**
 * CPU over a run from cumulative counters (METHODOLOGY rule 12). metrics.k8s.io reports a
 * rate that metrics-server computes over its own scrape window (15 s by default), so samples
 * taken by meshbench's clock during a 15-30 s run mostly average idle time before the load
 * in: CPU read that way was 0.2-0.5x the truth. Instead the kubelet's resource metrics
 * (`/metrics/resource`, read through the API server's node proxy) are read just before and
 * just after the load window, and each container's `container_cpu_usage_seconds_total`
 * (and each node's `node_cpu_usage_seconds_total`) is differenced over the two samples' own
 * timestamps: CPU-seconds used in the window, divided by the time between the samples.
 *
 * @module
 */

import type { Kube } from "./kube.ts";
import { apiReason } from "./kube.ts";
import type { ClusterMesh } from "./meshes.ts";
import { componentOf, type PodInfo } from "./metrics.ts";
import type { Component, ResourceUse } from "../types.ts";

/**
 * One reading: cumulative core-seconds at the sample's own time (ms since the epoch), and
 * the working set (MB) the same scrape reported.
 */
export interface CpuReading {
  seconds: number;
  atMs: number;
  memoryMB?: number;
}

/** One scrape of every node: containers by `namespace/pod/container`, nodes by name. */
export interface CpuCounters {
  containers: Map<string, CpuReading>;
  nodes: Map<string, CpuReading>;
}

const SERIES =
  /^(container_cpu_usage_seconds_total|node_cpu_usage_seconds_total|container_memory_working_set_bytes|node_memory_working_set_bytes)(?:\{(.*)\})?\s+(\S+)(?:\s+(\d+))?\s*$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the kubelet's resource metrics (Prometheus text) of node `node` into counters.
 * A sample without a timestamp gets `fallbackMs` (the time the scrape was answered).
 */
export function parseResourceMetrics(
  text: string,
  node: string,
  fallbackMs: number,
): CpuCounters {
  const out: CpuCounters = { containers: new Map(), nodes: new Map() };
  const memory = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = SERIES.exec(line.trim());
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]] = l[2];
    const isNode = m[1].startsWith("node_");
    if (!isNode && (!labels.container || !labels.namespace || !labels.pod)) continue;
    const key = isNode ? node : `${labels.namespace}/${labels.pod}/${labels.container}`;
    if (m[1].endsWith("_working_set_bytes")) {
      memory.set(`${isNode}\u0000${key}`, value / 1e6);
      continue;
    }
    (isNode ? out.nodes : out.containers).set(key, {
      seconds: value,
      atMs: m[4] ? Number(m[4]) : fallbackMs,
    });
  }
  for (const [isNode, map] of [["true", out.nodes], ["false", out.containers]] as const) {
    for (const [key, r] of map) {
      const mb = memory.get(`${isNode}\u0000${key}`);
      if (mb !== undefined) r.memoryMB = mb;
    }
  }
  return out;
}

/** Where a node's kubelet serves resource metrics (kwok's nodes name another path). */
export function resourceMetricsPath(annotations: Record<string, string> | undefined): string {
  const custom = annotations?.["metrics.k8s.io/resource-metrics-path"];
  return (custom ?? "/metrics/resource").replace(/^\//, "");
}

/** Reads the CPU counters of `nodes` through the API server's node proxy. */
export async function scrapeCpuCounters(kube: Kube, nodes: string[]): Promise<CpuCounters> {
  const all: CpuCounters = { containers: new Map(), nodes: new Map() };
  await Promise.all(nodes.map(async (name) => {
    let text: string;
    let at: number;
    try {
      const node = await kube.core.readNode({ name });
      const path = resourceMetricsPath(node.metadata?.annotations);
      text = String(await kube.core.connectGetNodeProxyWithPath({ name, path }));
      at = Date.now();
    } catch (e) {
      throw new Error(`cannot read the resource metrics of node "${name}": ${apiReason(e)}`);
    }
    const one = parseResourceMetrics(text, name, at);
    for (const [k, v] of one.containers) all.containers.set(k, v);
    for (const [k, v] of one.nodes) all.nodes.set(k, v);
  }));
  return all;
}

/** CPU of one component between two scrapes, with the larger working set of the two. */
export interface CpuUse {
  component: Component;
  name: string;
  cpuSeconds: number;
  cpuCores: number;
  memoryMB: number;
}

/**
 * CPU per component and name between two scrapes (classified like the resource samples):
 * each container's and node's counter difference over its own samples' time difference,
 * summed. Containers that restarted (counter went down) or appeared in between are left out.
 *
 * With `windowS` (the load window's length), samples further apart than the window (a real
 * kubelet's cached samples bracket the window by up to a housekeeping interval on each side)
 * give cores over the window: what the container used in the margins, idle between runs, is
 * taken as used in the window, instead of averaging idle margins into the load's rate.
 */
export function cpuBetween(
  before: CpuCounters,
  after: CpuCounters,
  mesh: ClusterMesh,
  pods: PodInfo[],
  benchmarkNamespaces: string[],
  windowS?: number,
): Map<string, CpuUse> {
  const info = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const out = new Map<string, CpuUse>();
  const add = (component: Component, name: string, a: CpuReading, b: CpuReading) => {
    const seconds = a.seconds - b.seconds;
    const span = (a.atMs - b.atMs) / 1000;
    if (!(span > 0) || seconds < 0) return;
    const id = `${component}\u0000${name}`;
    const u = out.get(id) ?? { component, name, cpuSeconds: 0, cpuCores: 0, memoryMB: 0 };
    u.cpuSeconds += seconds;
    u.cpuCores += seconds / (windowS && windowS > 0 ? Math.min(span, windowS) : span);
    u.memoryMB += Math.max(a.memoryMB ?? 0, b.memoryMB ?? 0);
    out.set(id, u);
  };
  for (const [key, a] of after.containers) {
    const b = before.containers.get(key);
    if (!b) continue;
    const [ns, pod, container] = key.split("/");
    const where = componentOf(
      mesh,
      benchmarkNamespaces,
      ns,
      pod,
      info.get(`${ns}/${pod}`)?.labels ?? {},
      container,
    );
    if (where) add(where.component, where.name, a, b);
  }
  for (const [node, a] of after.nodes) {
    const b = before.nodes.get(node);
    if (b) add("node", node, a, b);
  }
  return out;
}

/**
 * The resources with CPU from the counters (`cpuSource: "counters"`): each measured
 * component's cores and CPU-seconds replaced (its peak memory the larger of the sampled
 * peak and the two scrapes' working sets), components only the counters saw added, and the
 * others (not on a scraped node) kept from metrics.k8s.io, marked `cpuSource:
 * "metrics-server"`.
 */
export function attachCpu(resources: ResourceUse[], cpu: Map<string, CpuUse>): ResourceUse[] {
  const seen = new Set<string>();
  const out = resources.map((r): ResourceUse => {
    const id = `${r.component}\u0000${r.name}`;
    const c = cpu.get(id);
    if (!c) return { ...r, cpuSource: "metrics-server" };
    seen.add(id);
    return {
      ...r,
      cpuCores: c.cpuCores,
      cpuSeconds: c.cpuSeconds,
      memoryPeakMB: Math.max(r.memoryPeakMB, c.memoryMB),
      cpuSource: "counters",
    };
  });
  for (const [id, c] of cpu) {
    if (seen.has(id)) continue;
    out.push({
      component: c.component,
      name: c.name,
      cpuCores: c.cpuCores,
      cpuSeconds: c.cpuSeconds,
      memoryPeakMB: c.memoryMB,
      samples: 2,
      cpuSource: "counters",
    });
  }
  return out.sort((a, b) => a.component.localeCompare(b.component) || a.name.localeCompare(b.name));
}
