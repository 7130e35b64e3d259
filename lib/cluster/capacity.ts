/**
 * Whether the benchmark fits the cluster, checked before anything is applied (whatever the
 * QoS mode): kubeadm taints its control-plane node, so only the workers take benchmark pods,
 * and on the free tier they are two 1-CPU nodes. The check counts what is already committed
 * on each node (the CNI, kube-proxy, CoreDNS, ...), the benchmark's pods with each mesh's
 * sidecar, the benchmark's own DaemonSets, and each mesh's DaemonSets and control plane (as
 * the mesh data sizes them, checked against the rendered charts), one mesh at a time. Mesh
 * control planes go to a tainted control-plane node when the cluster has one (meshbench adds
 * the toleration), else onto the workers.
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import type { ClusterMesh, Requests } from "./meshes.ts";
import { type KubeObject, MANAGED_LABELS, podTemplateOf } from "./manifests.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";

/** Label kubeadm puts on its control-plane nodes. */
export const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";

/** One node as the capacity check sees it. */
export interface NodeCapacity {
  name: string;
  allocatable: Requests;
  /** Requests of the pods already bound to it (meshbench's own excluded). */
  committed: Requests;
  /** NoSchedule/NoExecute taints (`key:effect`); cordoned nodes count as tainted. */
  taints: string[];
  controlPlane: boolean;
}

/** What the benchmark asks for. */
export interface CapacityDemand {
  /** Benchmark pods (Deployments, StatefulSets, Jobs): requests per pod and how many. */
  pods: Array<{ name: string; requests: Requests; count: number; meshed: boolean }>;
  /** The benchmark's own DaemonSets: requests per node. */
  perNode: Requests;
  meshes: ClusterMesh[];
  /**
   * Sidecar requests per meshed pod when Guaranteed QoS sizes it (meshes that size their
   * proxy by annotation); otherwise each mesh's own footprint.
   */
  sidecar?: Requests;
}

type ContainerView = {
  restartPolicy?: string;
  resources?: { requests?: Record<string, string | number> };
};

/**
 * A pod's requests as the scheduler counts them: its containers and native sidecars (init
 * containers with restartPolicy Always, which run beside them) summed, or the largest
 * ordinary init container (with the sidecars started before it) if that is larger.
 */
export function podRequests(
  spec: { containers?: ContainerView[]; initContainers?: ContainerView[] },
): Requests {
  const one = (c: ContainerView) => ({
    cpu: cpuCores(c.resources?.requests?.cpu),
    memoryMiB: memoryMiB(c.resources?.requests?.memory),
  });
  let sidecars = { cpu: 0, memoryMiB: 0 };
  let init = { cpu: 0, memoryMiB: 0 };
  for (const c of spec.initContainers ?? []) {
    const r = one(c);
    if (c.restartPolicy === "Always") {
      sidecars = { cpu: sidecars.cpu + r.cpu, memoryMiB: sidecars.memoryMiB + r.memoryMiB };
    } else {
      init = {
        cpu: Math.max(init.cpu, sidecars.cpu + r.cpu),
        memoryMiB: Math.max(init.memoryMiB, sidecars.memoryMiB + r.memoryMiB),
      };
    }
  }
  const main = (spec.containers ?? []).map(one).reduce(
    (a, r) => ({ cpu: a.cpu + r.cpu, memoryMiB: a.memoryMiB + r.memoryMiB }),
    sidecars,
  );
  // In millicores, as Kubernetes counts them (no floating-point dust).
  return {
    cpu: Math.round(Math.max(main.cpu, init.cpu) * 1000) / 1000,
    memoryMiB: Math.max(main.memoryMiB, init.memoryMiB),
  };
}

/** The benchmark's demand from its rendered objects (`meshedNamespaces` get a sidecar). */
export function demandOf(
  objs: readonly KubeObject[],
  meshedNamespaces: readonly string[],
  meshes: ClusterMesh[],
  sidecar?: Requests,
): CapacityDemand {
  const pods: CapacityDemand["pods"] = [];
  const perNode = { cpu: 0, memoryMiB: 0 };
  for (const o of objs) {
    const t = podTemplateOf(o) as { spec?: Parameters<typeof podRequests>[0] } | undefined;
    if (!t?.spec) continue;
    const requests = podRequests(t.spec);
    if (o.kind === "DaemonSet") {
      perNode.cpu += requests.cpu;
      perNode.memoryMiB += requests.memoryMiB;
      continue;
    }
    const spec = o.spec as { replicas?: number; parallelism?: number };
    pods.push({
      name: `${o.metadata.namespace}/${o.metadata.name}`,
      requests,
      count: o.kind === "Job" ? (spec.parallelism ?? 1) : (spec.replicas ?? 1),
      meshed: meshedNamespaces.includes(o.metadata.namespace ?? ""),
    });
  }
  return { pods, perNode, meshes, sidecar };
}

/** Nodes with their allocatable resources, taints and the requests already bound to them. */
export function nodeCapacities(nodes: readonly k8s.V1Node[], pods: readonly k8s.V1Pod[]) {
  const committed = new Map<string, Requests>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    const phase = p.status?.phase;
    if (!node || phase === "Succeeded" || phase === "Failed") continue;
    const labels = p.metadata?.labels ?? {};
    if (Object.entries(MANAGED_LABELS).every(([k, v]) => labels[k] === v)) continue;
    const r = podRequests(p.spec as Parameters<typeof podRequests>[0]);
    const c = committed.get(node) ?? { cpu: 0, memoryMiB: 0 };
    committed.set(node, { cpu: c.cpu + r.cpu, memoryMiB: c.memoryMiB + r.memoryMiB });
  }
  return nodes.map((n): NodeCapacity => {
    const name = n.metadata?.name ?? "";
    const taints = (n.spec?.taints ?? [])
      .filter((t) => t.effect === "NoSchedule" || t.effect === "NoExecute")
      .map((t) => `${t.key}:${t.effect}`);
    if (n.spec?.unschedulable) taints.push("cordoned");
    return {
      name,
      allocatable: {
        cpu: cpuCores(n.status?.allocatable?.cpu),
        memoryMiB: memoryMiB(n.status?.allocatable?.memory),
      },
      committed: committed.get(name) ?? { cpu: 0, memoryMiB: 0 },
      taints,
      controlPlane: CONTROL_PLANE_LABEL in (n.metadata?.labels ?? {}),
    };
  });
}

/** The tainted control-plane node mesh control planes go to, if the cluster has one. */
export function controlPlaneNode(nodes: readonly NodeCapacity[]): NodeCapacity | undefined {
  return nodes.find((n) =>
    n.controlPlane && n.taints.length > 0 &&
    n.taints.every((t) => t.startsWith(CONTROL_PLANE_LABEL))
  );
}

const fmt = (r: Requests) => `${r.cpu.toFixed(2)} CPU / ${Math.round(r.memoryMiB)} MiB`;
const add = (a: Requests, b: Requests, k = 1): Requests => ({
  cpu: a.cpu + k * b.cpu,
  memoryMiB: a.memoryMiB + k * b.memoryMiB,
});
const free = (n: NodeCapacity): Requests => add(n.allocatable, n.committed, -1);

/**
 * Why the benchmark does not fit, one line per mesh that does not (with the numbers), or an
 * empty list. Pure: tested without a cluster.
 */
export function capacityProblems(nodes: readonly NodeCapacity[], demand: CapacityDemand): string[] {
  const workers = nodes.filter((n) => n.taints.length === 0);
  const cp = controlPlaneNode(nodes);
  const problems: string[] = [];
  if (workers.length === 0) {
    return [
      `no schedulable node: every node is tainted (${
        nodes.map((n) => `${n.name}: ${n.taints.join(", ")}`).join("; ")
      })`,
    ];
  }
  const baseline = { name: "baseline", footprint: undefined, guaranteedProxy: undefined };
  for (const mesh of [baseline, ...demand.meshes]) {
    const f = mesh.footprint;
    const sidecar = (mesh.guaranteedProxy && demand.sidecar) ?? f?.sidecar ??
      { cpu: 0, memoryMiB: 0 };
    let need = { cpu: 0, memoryMiB: 0 };
    let largest = { cpu: 0, memoryMiB: 0, name: "" };
    for (const p of demand.pods) {
      const each = p.meshed && f ? add(p.requests, sidecar) : p.requests;
      need = add(need, each, p.count);
      if (each.cpu > largest.cpu) largest = { ...each, name: p.name };
    }
    const perNode = add(demand.perNode, f?.perNode ?? { cpu: 0, memoryMiB: 0 });
    need = add(need, perNode, workers.length);
    if (f && !cp) need = add(need, f.controlPlane);
    const have = workers.reduce((a, n) => add(a, free(n)), { cpu: 0, memoryMiB: 0 });
    const what = mesh.name === "baseline" ? "without a mesh" : `under ${mesh.name}`;
    if (need.cpu > have.cpu + 1e-9 || need.memoryMiB > have.memoryMiB) {
      problems.push(
        `${what} the benchmark requests ${fmt(need)} on the ${workers.length} schedulable ` +
          `node(s) ${workers.map((w) => w.name).join(", ")}, which have ${fmt(have)} free ` +
          `(allocatable less what is already bound there; DaemonSets ${fmt(perNode)} per node` +
          (f && !cp ? `, control plane ${fmt(f.controlPlane)}` : "") + ")",
      );
      continue;
    }
    const roomiest = Math.max(...workers.map((n) => free(n).cpu - perNode.cpu));
    if (largest.cpu > roomiest + 1e-9) {
      problems.push(
        `${what} pod ${largest.name} requests ${largest.cpu.toFixed(2)} CPU, more than any ` +
          `schedulable node has free (${roomiest.toFixed(2)})`,
      );
      continue;
    }
    if (f && cp) {
      const room = add(free(cp), f.perNode, -1);
      if (f.controlPlane.cpu > room.cpu + 1e-9 || f.controlPlane.memoryMiB > room.memoryMiB) {
        problems.push(
          `${what} the control plane requests ${fmt(f.controlPlane)} on the control-plane node ` +
            `${cp.name}, which has ${fmt(room)} free`,
        );
      }
    }
  }
  return problems;
}
