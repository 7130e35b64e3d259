/**
 * What the cluster under test is (METHODOLOGY rule 11: kernel, node shape, CNI): read
 * from the API when a run starts and recorded with its results, so two runs can be told
 * apart by their machines, not only by their meshes.
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import { checkReachable, type Kube } from "./kube.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";

/** One node as a result records it. */
export interface ClusterNode {
  name: string;
  /** `meshbench.io/role` label (server, client) when set, and the node-role.* labels. */
  roles: string[];
  /** `node.kubernetes.io/instance-type` (the node shape), when the cloud sets it. */
  instanceType: string | null;
  zone: string | null;
  arch: string;
  os: string;
  kernel: string;
  containerRuntime: string;
  kubelet: string;
  /** Capacity and allocatable CPU in cores, memory in MiB. */
  cpu: number;
  allocatableCpu: number;
  memoryMiB: number;
  allocatableMemoryMiB: number;
}

/** The cluster as a result records it. */
export interface ClusterEnvironment {
  serverVersion: string;
  nodes: ClusterNode[];
  /** The CNI found by its DaemonSet, or "unknown" (see {@linkcode detectCni}). */
  cni: string;
}

/** One node's record. */
export function describeNode(n: k8s.V1Node): ClusterNode {
  const labels = n.metadata?.labels ?? {};
  const info = n.status?.nodeInfo;
  const roles = [
    ...(labels["meshbench.io/role"] ? [labels["meshbench.io/role"]] : []),
    ...Object.keys(labels).filter((k) => k.startsWith("node-role.kubernetes.io/")).map((k) =>
      k.slice("node-role.kubernetes.io/".length)
    ),
  ];
  return {
    name: n.metadata?.name ?? "",
    roles,
    instanceType: labels["node.kubernetes.io/instance-type"] ?? null,
    zone: labels["topology.kubernetes.io/zone"] ?? null,
    arch: info?.architecture ?? labels["kubernetes.io/arch"] ?? "unknown",
    os: info?.osImage ?? "unknown",
    kernel: info?.kernelVersion ?? "unknown",
    containerRuntime: info?.containerRuntimeVersion ?? "unknown",
    kubelet: info?.kubeletVersion ?? "unknown",
    cpu: cpuCores(n.status?.capacity?.cpu),
    allocatableCpu: cpuCores(n.status?.allocatable?.cpu),
    memoryMiB: memoryMiB(n.status?.capacity?.memory),
    allocatableMemoryMiB: memoryMiB(n.status?.allocatable?.memory),
  };
}

/** DaemonSet names (any namespace) that identify a CNI, in the order they are checked. */
const CNI_DAEMONSETS: Array<[RegExp, string]> = [
  [/^cilium$/, "cilium"],
  [/^calico-node$/, "calico"],
  [/^canal$/, "canal"],
  [/^kube-flannel(-ds)?$/, "flannel"],
  [/^weave-net$/, "weave"],
  [/^kube-router$/, "kube-router"],
  [/^antrea-agent$/, "antrea"],
  [/^aws-node$/, "aws-vpc-cni"],
  [/^azure-cni/, "azure-cni"],
  [/^kindnet$/, "kindnet"],
];

/** The CNI named by the DaemonSets running in the cluster, or "unknown". */
export function detectCni(daemonSets: readonly k8s.V1DaemonSet[]): string {
  const names = daemonSets.map((d) => d.metadata?.name ?? "");
  for (const [re, cni] of CNI_DAEMONSETS) if (names.some((n) => re.test(n))) return cni;
  return "unknown";
}

/** Reads the cluster's description through the API (nodes, DaemonSets, version). */
export async function describeCluster(kube: Kube): Promise<ClusterEnvironment> {
  // Reachability first: its error names the context and server plainly.
  const serverVersion = await checkReachable(kube);
  const [nodes, daemonSets] = await Promise.all([
    kube.core.listNode(),
    kube.apps.listDaemonSetForAllNamespaces(),
  ]);
  return {
    serverVersion,
    nodes: nodes.items.map(describeNode).sort((a, b) => a.name.localeCompare(b.name)),
    cni: detectCni(daemonSets.items),
  };
}
