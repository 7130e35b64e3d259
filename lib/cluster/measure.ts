/**
 * What a cluster run measures besides its load: CPU from the kubelets' cumulative counters
 * (metrics-server's window-averaged rate when they cannot be read), memory from the
 * sampler, CPU throttling from cAdvisor's CFS counters, and the nodes its pods ran on.
 * Counters are read before and after the load window and differenced; a source that fails
 * is said once, recorded in the state and not tried again in the run.
 *
 * @module
 */
import type { StageContext } from "../target.ts";
import type { ResourceUse } from "../types.ts";
import type { Kube } from "./kube.ts";
import { MANAGED_SELECTOR } from "./manifests.ts";
import type { ClusterMesh } from "./meshes.ts";
import { listPodInfo, reduceSamples, type ResourceSample, sampledNamespaces } from "./metrics.ts";
import { attachThrottling, type CfsCounters, scrapeCfs, throttlingBetween } from "./throttling.ts";
import { attachCpu, cpuBetween, type CpuCounters, scrapeCpuCounters } from "./cpu_counters.ts";
import { type ClusterState, writeState } from "./state.ts";

/**
 * The kubelets' cumulative CPU counters of every node; undefined (said once, then not
 * tried again in this run) when they cannot be read.
 */
export async function cpuCounters(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
): Promise<CpuCounters | undefined> {
  if (state.cpuCountersNote) return undefined;
  try {
    const nodes = (await kube.core.listNode()).items.map((n) => n.metadata?.name ?? "");
    return await scrapeCpuCounters(kube, nodes.filter((n) => n));
  } catch (e) {
    state.cpuCountersNote = `CPU comes from metrics-server's window-averaged rate, which ` +
      `understates short runs: the kubelets' counters cannot be read: ${(e as Error).message}`;
    await writeState(ctx.runDir, state);
    ctx.log.warn(state.cpuCountersNote);
    return undefined;
  }
}

/**
 * CFS counters of the containers on the nodes that run the pods of `namespace` and of the
 * mesh; undefined (said once, then not tried again in this run) when the node proxy or
 * cAdvisor cannot be read.
 */
export async function cfsCounters(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  namespace: string,
): Promise<Map<string, CfsCounters> | undefined> {
  if (state.throttlingNote) return undefined;
  try {
    const lists = await Promise.all(
      sampledNamespaces(mesh, [namespace]).map((n) =>
        kube.core.listNamespacedPod({ namespace: n })
      ),
    );
    const nodes = [
      ...new Set(
        lists.flatMap((l) => l.items.map((p) => p.spec?.nodeName ?? "")).filter((n) => n),
      ),
    ].sort();
    return await scrapeCfs(kube, nodes);
  } catch (e) {
    state.throttlingNote = `CPU throttling is not recorded: ${(e as Error).message}`;
    await writeState(ctx.runDir, state);
    ctx.log.warn(state.throttlingNote);
    return undefined;
  }
}

/** The counters read before a run's load ({@linkcode cpuCounters}, {@linkcode cfsCounters}). */
export interface CountersBefore {
  cfs?: Map<string, CfsCounters>;
  cpu?: CpuCounters;
}

/** Reads the counters a run differences, before its load starts. */
export async function countersBefore(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  namespace: string,
): Promise<CountersBefore> {
  const cfs = await cfsCounters(kube, ctx, state, mesh, namespace);
  const cpu = await cpuCounters(kube, ctx, state);
  return { cfs, cpu };
}

/**
 * The resource use of run `seq` in `namespace` over `window`: the sampler's `samples`
 * reduced, CPU from the counters read `before` and now (else marked as metrics-server's),
 * CPU throttling attached, with a warning for a load generator or data plane throttled in
 * more than 5 % of its periods.
 */
export async function runResources(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  namespace: string,
  seq: number,
  samples: ResourceSample[],
  window: { start: string; end: string },
  before: CountersBefore,
): Promise<ResourceUse[]> {
  let resources: ResourceUse[] = reduceSamples(samples, window);
  const cpuAfter = before.cpu && await cpuCounters(kube, ctx, state);
  if (before.cpu && cpuAfter) {
    const namespaces = sampledNamespaces(mesh, [namespace]);
    resources = attachCpu(
      resources,
      cpuBetween(before.cpu, cpuAfter, mesh, await listPodInfo(kube, namespaces), [namespace]),
    );
  } else {
    resources = resources.map((r) => ({ ...r, cpuSource: "metrics-server" as const }));
  }
  const cfsAfter = before.cfs && await cfsCounters(kube, ctx, state, mesh, namespace);
  if (before.cfs && cfsAfter) {
    const namespaces = sampledNamespaces(mesh, [namespace]);
    const throttling = throttlingBetween(
      before.cfs,
      cfsAfter,
      mesh,
      await listPodInfo(kube, namespaces),
      [namespace],
    );
    resources = attachThrottling(resources, throttling);
    for (const t of throttling.values()) {
      const pct = (t.throttled / t.periods) * 100;
      if (pct > 5 && (t.component === "loadgen" || t.component === "data-plane")) {
        ctx.log.warn(
          `run ${seq}: ${t.component} ${t.name} was CPU-throttled in ${
            pct.toFixed(1)
          } % of periods: its latency includes its own CPU limit`,
        );
      }
    }
  }
  return resources;
}

/** The nodes of a namespace's load clients and servers, by pod, as a run records them. */
export async function runPlacement(kube: Kube, namespace: string): Promise<{
  clients: Record<string, string>;
  servers: Record<string, string>;
  clientNodes: string[];
  serverNodes: string[];
}> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR });
  const clients: Record<string, string> = {};
  const servers: Record<string, string> = {};
  for (const p of pods.items) {
    if (p.metadata?.deletionTimestamp || p.status?.phase !== "Running") continue;
    const tier = p.metadata?.labels?.["meshbench.io/tier"];
    const where = tier === "client" ? clients : tier === "server" ? servers : undefined;
    if (where) where[p.metadata!.name!] = p.spec?.nodeName ?? "";
  }
  const nodes = (m: Record<string, string>) => [...new Set(Object.values(m))].sort();
  return { clients, servers, clientNodes: nodes(clients), serverNodes: nodes(servers) };
}
