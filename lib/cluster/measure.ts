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
import {
  componentOf,
  listPodInfo,
  reduceSamples,
  type ResourceSample,
  sampledNamespaces,
} from "./metrics.ts";
import { attachThrottling, type CfsCounters, scrapeCfs, throttlingBetween } from "./throttling.ts";
import { attachCpu, cpuBetween, type CpuCounters, scrapeCpuCounters } from "./cpu_counters.ts";
import { type ClusterState, writeState } from "./state.ts";
import {
  findContainerCgroups,
  localCgroupRoot,
  readContainerSwitches,
  switchesBetween,
  type SwitchReading,
} from "./node_switches.ts";
import type { ContextSwitches, ProxyCounters } from "../types.ts";
import { parseEnvoyPrometheus, proxyWindow, type RawCounters } from "../proxy_counters.ts";
import { apiReason } from "./kube.ts";

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
 * How long, at most, to wait after a run for the kubelets' counters to be newer than its
 * load window. A kubelet serves cAdvisor's cached statistics, refreshed every housekeeping
 * interval (10 s by default, with jitter), each sample stamped with its own time.
 */
export const COUNTERS_FRESH_TIMEOUT_MS = 30_000;

/**
 * The kubelets' counters read again until every node's and every container's sample that
 * `before` had is stamped at or after `endMs` (the load's end), at most
 * {@linkcode COUNTERS_FRESH_TIMEOUT_MS}. Read at once instead, a real kubelet's cached
 * samples of a short run were often the very samples read before it (no time between them:
 * the run had no CPU figure) or ended seconds before the load did (its end was not counted);
 * kwok computes its samples when asked, so this never showed there. Samples still older when
 * the wait ends are returned as they are (the differencing leaves out those with no time
 * between them) and said.
 */
export async function cpuCountersAfter(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  before: CpuCounters,
  endMs: number,
  timeoutMs = COUNTERS_FRESH_TIMEOUT_MS,
): Promise<CpuCounters | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const after = await cpuCounters(kube, ctx, state);
    if (!after) return undefined;
    const stale = [
      ...[...before.nodes.keys()].filter((k) => (after.nodes.get(k)?.atMs ?? Infinity) < endMs),
      ...[...before.containers.keys()].filter((k) =>
        (after.containers.get(k)?.atMs ?? Infinity) < endMs
      ),
    ];
    if (stale.length === 0) return after;
    if (Date.now() >= deadline || ctx.signal.aborted) {
      ctx.log.warn(
        `CPU counters: ${stale.length} sample(s) (${stale.slice(0, 3).join(", ")}${
          stale.length > 3 ? ", ..." : ""
        }) still older than the load's end after ${timeoutMs} ms`,
      );
      return after;
    }
    await new Promise((r) => setTimeout(r, 1_000));
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
  switches?: NodeSwitches;
  /** Each Envoy sidecar's counters, by `namespace/pod/container`. */
  sidecars?: Map<string, RawCounters>;
}

/**
 * Envoy sidecar containers that serve Envoy's Prometheus stats on the pod's port 15090
 * (Istio's `istio-proxy`, the envoy-sidecar mesh's `meshbench-envoy`). Linkerd's proxy
 * serves another format (`:4191/metrics`), not read.
 */
const ENVOY_SIDECARS = ["istio-proxy", "meshbench-envoy"];
const ENVOY_STATS_PORT = 15090;

/**
 * Reads the counters of every Envoy sidecar of `namespace`'s running pods through the API
 * server's pod proxy (`<pod>:15090/stats/prometheus`); undefined (said once, not tried again
 * in the run) when one cannot be read, empty when the mesh has no Envoy sidecar there.
 */
export async function sidecarCounters(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  namespace: string,
): Promise<Map<string, RawCounters> | undefined> {
  const out = new Map<string, RawCounters>();
  const containers = mesh.sidecarContainers.filter((c) => ENVOY_SIDECARS.includes(c));
  if (state.sidecarCountersNote || containers.length === 0) return out;
  const pods = (await kube.core.listNamespacedPod({ namespace })).items.filter((p) =>
    p.status?.phase === "Running" && !p.metadata?.deletionTimestamp
  );
  try {
    await Promise.all(
      pods.flatMap((p) =>
        (p.spec?.containers ?? []).filter((c) => containers.includes(c.name)).map(async (c) => {
          const name = p.metadata?.name ?? "";
          const text = String(
            await kube.core.connectGetNamespacedPodProxyWithPath({
              name: `${name}:${ENVOY_STATS_PORT}`,
              namespace,
              path: "stats/prometheus",
            }),
          );
          out.set(`${namespace}/${name}/${c.name}`, parseEnvoyPrometheus(text));
        })
      ),
    );
  } catch (e) {
    state.sidecarCountersNote = `The sidecars' own counters are not recorded: reading Envoy's ` +
      `stats on port ${ENVOY_STATS_PORT} through the API server failed: ${apiReason(e)}`;
    await writeState(ctx.runDir, state);
    ctx.log.warn(state.sidecarCountersNote);
    return undefined;
  }
  return out;
}

/** Each sidecar's counters between `before` and `after` (sidecars in both readings). */
export function sidecarWindows(
  before: Map<string, RawCounters>,
  after: Map<string, RawCounters>,
): ProxyCounters[] {
  return [...after].filter(([key]) => before.has(key)).map(([key, a]) =>
    proxyWindow(key, "envoy", before.get(key)!, a)
  );
}

/** Containers whose cgroups are on this machine, and their first reading. */
export interface NodeSwitches {
  /** `namespace/pod/container` -> cgroup directory. */
  cgroups: Map<string, string>;
  /** `namespace/pod` -> labels and node, for classifying. */
  pods: Map<string, { labels: Record<string, string>; node: string }>;
  reading: SwitchReading;
}

/**
 * Finds the cgroups of the containers of `namespace` and of the mesh on this machine and
 * reads their threads' switches; undefined (said once, not tried again in the run) when
 * none is here: only a node meshbench runs on is read kubelet-side (the real test node).
 */
export async function switchesBefore(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  namespace: string,
): Promise<NodeSwitches | undefined> {
  if (state.switchesNote) return undefined;
  const root = localCgroupRoot();
  const containers = new Map<string, { podUid: string; containerId: string }>();
  const pods = new Map<string, { labels: Record<string, string>; node: string }>();
  for (const n of sampledNamespaces(mesh, [namespace])) {
    for (const p of (await kube.core.listNamespacedPod({ namespace: n })).items) {
      const key = `${n}/${p.metadata?.name}`;
      pods.set(key, { labels: p.metadata?.labels ?? {}, node: p.spec?.nodeName ?? "" });
      for (const c of p.status?.containerStatuses ?? []) {
        const id = c.containerID?.split("://")[1];
        if (id && p.metadata?.uid) {
          containers.set(`${key}/${c.name}`, { podUid: p.metadata.uid, containerId: id });
        }
      }
    }
  }
  // No container yet (the ML Job's pods are created during its run): nothing to read for
  // this run, which says nothing of where the containers' cgroups are.
  if (containers.size === 0) return undefined;
  const cgroups = root ? findContainerCgroups(root, containers) : new Map<string, string>();
  if (cgroups.size === 0) {
    state.switchesNote = `Context switches are not recorded: none of the ${containers.size} ` +
      `containers' cgroups is on this machine (they are read kubelet-side, from the node's ` +
      `cgroups and /proc, only where meshbench runs on the node, as on the real test node)`;
    await writeState(ctx.runDir, state);
    ctx.log.warn(state.switchesNote);
    return undefined;
  }
  return { cgroups, pods, reading: readContainerSwitches(cgroups) };
}

/**
 * The switches of each component between `before` and now, classified like CPU, and the
 * node-wide count for each node whose containers were read here (its kernel is this
 * machine's). Keys are `component\0name`.
 */
export function switchesByComponent(
  before: NodeSwitches,
  after: SwitchReading,
  mesh: ClusterMesh,
  namespace: string,
): Map<string, ContextSwitches> {
  const out = new Map<string, ContextSwitches>();
  for (const [key, s] of switchesBetween(before.reading, after)) {
    const [ns, pod, container] = key.split("/");
    const info = before.pods.get(`${ns}/${pod}`);
    const where = componentOf(mesh, [namespace], ns, pod, info?.labels ?? {}, container);
    if (!where) continue;
    const id = `${where.component}\u0000${where.name}`;
    const t = out.get(id) ??
      { total: 0, voluntary: 0, involuntary: 0, tasks: 0, source: "task-status" as const };
    t.voluntary! += s.voluntary;
    t.involuntary! += s.involuntary;
    t.total += s.voluntary + s.involuntary;
    t.tasks! += s.tasks;
    out.set(id, t);
  }
  const nodes = new Set(
    [...before.cgroups.keys()].map((k) => before.pods.get(k.split("/").slice(0, 2).join("/"))?.node)
      .filter((n): n is string => !!n),
  );
  for (const node of nodes) {
    out.set(`node\u0000${node}`, {
      total: after.nodeTotal - before.reading.nodeTotal,
      source: "node-stat",
    });
  }
  return out;
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
  const sidecars = await sidecarCounters(kube, ctx, state, mesh, namespace);
  // Last, nearest the load: the threads' counters move with anything in between.
  const switches = await switchesBefore(kube, ctx, state, mesh, namespace);
  return { cfs, cpu, switches, sidecars };
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
  // First, nearest the load's end.
  const switchesAfter = before.switches && readContainerSwitches(before.switches.cgroups);
  let resources: ResourceUse[] = reduceSamples(samples, window);
  const cpuAfter = before.cpu &&
    await cpuCountersAfter(kube, ctx, state, before.cpu, Date.parse(window.end));
  if (before.cpu && cpuAfter) {
    const namespaces = sampledNamespaces(mesh, [namespace]);
    resources = attachCpu(
      resources,
      cpuBetween(
        before.cpu,
        cpuAfter,
        mesh,
        await listPodInfo(kube, namespaces),
        [namespace],
        (Date.parse(window.end) - Date.parse(window.start)) / 1000,
      ),
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
  if (before.switches && switchesAfter) {
    const switches = switchesByComponent(before.switches, switchesAfter, mesh, namespace);
    resources = resources.map((r) => {
      const s = switches.get(`${r.component}\u0000${r.name}`);
      return s ? { ...r, contextSwitches: s } : r;
    });
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
