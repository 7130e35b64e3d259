/**
 * CPU throttling during a run (METHODOLOGY rule 10: "watch CPU throttling"): a load
 * generator or proxy held back by its CPU limit shows as latency that is not the mesh's.
 * The kubelet's cAdvisor counters `container_cpu_cfs_periods_total` and
 * `container_cpu_cfs_throttled_periods_total` are read through the API server's node proxy
 * (`/api/v1/nodes/<node>/proxy/metrics/cadvisor`) before and after the load window; the
 * share of CFS periods in which a component was throttled is recorded with its resources.
 *
 * @module
 */

import type { Kube } from "./kube.ts";
import { apiReason } from "./kube.ts";
import type { ClusterMesh } from "./meshes.ts";
import { componentOf, type PodInfo } from "./metrics.ts";
import type { Component, ResourceUse } from "../types.ts";

/** CFS counters of one container. */
export interface CfsCounters {
  periods: number;
  throttled: number;
}

const SERIES =
  /^(container_cpu_cfs_periods_total|container_cpu_cfs_throttled_periods_total)\{(.*)\}\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses cAdvisor's Prometheus text into CFS counters by `namespace/pod/container`
 * (series without a container, or of the pause container, are skipped).
 */
export function parseCadvisorCfs(text: string): Map<string, CfsCounters> {
  const out = new Map<string, CfsCounters>();
  for (const line of text.split("\n")) {
    const m = SERIES.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2].matchAll(LABEL)) labels[l[1]] = l[2];
    if (!labels.container || labels.container === "POD" || !labels.namespace || !labels.pod) {
      continue;
    }
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const key = `${labels.namespace}/${labels.pod}/${labels.container}`;
    const c = out.get(key) ?? { periods: 0, throttled: 0 };
    if (m[1] === "container_cpu_cfs_periods_total") c.periods = value;
    else c.throttled = value;
    out.set(key, c);
  }
  return out;
}

/** Reads the CFS counters of every container on `nodes`, through the API server. */
export async function scrapeCfs(kube: Kube, nodes: string[]): Promise<Map<string, CfsCounters>> {
  const texts = await Promise.all(nodes.map(async (name) => {
    try {
      return await kube.core.connectGetNodeProxyWithPath({ name, path: "metrics/cadvisor" });
    } catch (e) {
      throw new Error(`cannot read cAdvisor metrics of node "${name}": ${apiReason(e)}`);
    }
  }));
  const all = new Map<string, CfsCounters>();
  for (const t of texts) for (const [k, v] of parseCadvisorCfs(String(t))) all.set(k, v);
  return all;
}

/**
 * Throttled share of CFS periods between two scrapes, per component and name (classified
 * like the resource samples). Containers without a CPU limit have no CFS periods and are
 * left out; so are containers that restarted (counters went down).
 */
export function throttlingBetween(
  before: Map<string, CfsCounters>,
  after: Map<string, CfsCounters>,
  mesh: ClusterMesh,
  pods: PodInfo[],
  benchmarkNamespaces: string[],
): Map<string, { component: Component; name: string; periods: number; throttled: number }> {
  const info = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const out = new Map<
    string,
    { component: Component; name: string; periods: number; throttled: number }
  >();
  for (const [key, a] of after) {
    const b = before.get(key) ?? { periods: 0, throttled: 0 };
    const periods = a.periods - b.periods;
    const throttled = a.throttled - b.throttled;
    if (!(periods > 0) || throttled < 0) continue;
    const [ns, pod, container] = key.split("/");
    const where = componentOf(
      mesh,
      benchmarkNamespaces,
      ns,
      pod,
      info.get(`${ns}/${pod}`)?.labels ?? {},
      container,
    );
    if (!where) continue;
    const id = `${where.component}\u0000${where.name}`;
    const sum = out.get(id) ?? { ...where, periods: 0, throttled: 0 };
    sum.periods += periods;
    sum.throttled += throttled;
    out.set(id, sum);
  }
  return out;
}

/** Adds `cpuThrottledPct` to the resources whose component and name were measured. */
export function attachThrottling(
  resources: ResourceUse[],
  throttling: ReturnType<typeof throttlingBetween>,
): ResourceUse[] {
  return resources.map((r) => {
    const t = throttling.get(`${r.component}\u0000${r.name}`);
    return t
      ? { ...r, cpuThrottledPct: (t.throttled / t.periods) * 100, cfsPeriods: t.periods }
      : r;
  });
}
