// The capacity check before deploy, on the free-tier shape the design targets: kubeadm's
// tainted 2-OCPU control-plane node and two 1-OCPU workers.
import type * as k8s from "@kubernetes/client-node";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { capacityProblems, controlPlaneNode, demandOf, nodeCapacities } from "./capacity.ts";
import { clusterNamespaces, renderAll } from "./manifests.ts";
import { clusterMesh } from "./meshes.ts";

function node(name: string, cpu: string, memory: string, controlPlane = false): k8s.V1Node {
  return {
    metadata: {
      name,
      labels: controlPlane ? { "node-role.kubernetes.io/control-plane": "" } : {},
    },
    spec: controlPlane
      ? { taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }] }
      : {},
    status: { allocatable: { cpu, memory } },
  };
}

function pod(nodeName: string, cpu: string, memory: string): k8s.V1Pod {
  return {
    metadata: { name: `sys-${nodeName}-${cpu}`, labels: { "k8s-app": "cilium" } },
    spec: { nodeName, containers: [{ name: "c", resources: { requests: { cpu, memory } } }] },
    status: { phase: "Running" },
  };
}

const freeTier = [
  node("master", "2", "11Gi", true),
  node("worker-1", "1", "5Gi"),
  node("worker-2", "1", "5Gi"),
];
// What a kubeadm cluster with Cilium already runs: the agent on every node, CoreDNS, ...
const system = [
  pod("master", "950m", "500Mi"),
  pod("worker-1", "100m", "200Mi"),
  pod("worker-2", "100m", "200Mi"),
];
const MESHES = ["istio", "istio-ambient", "linkerd", "cilium"].map(clusterMesh);
const meshedNs = clusterNamespaces().filter((s) => s.meshed).map((s) => s.namespace);

Deno.test("the whole design does not fit two 1-CPU workers: refused, naming the numbers", () => {
  const nodes = nodeCapacities(freeTier, system);
  // The tainted control plane takes no benchmark pod, but mesh control planes.
  assertEquals(controlPlaneNode(nodes)?.name, "master");
  const problems = capacityProblems(nodes, demandOf(renderAll(), meshedNs, MESHES));
  assert(problems.length > 0);
  assert(problems[0].startsWith("without a mesh the benchmark requests"), problems[0]);
  assert(problems[0].includes("worker-1, worker-2"), problems[0]);
  assert(problems[0].includes("1.80 CPU"), problems[0]);
});

Deno.test("http and grpc fit the free tier under every mesh, control planes on the master", () => {
  const specs = clusterNamespaces().filter((s) => s.workload === "http" || s.workload === "grpc");
  const nodes = nodeCapacities(freeTier, system);
  const demand = demandOf(renderAll(specs), meshedNs, MESHES);
  assertEquals(capacityProblems(nodes, demand), []);
  // Without the tainted master the control planes land on the workers and are counted there.
  const flat = nodeCapacities(freeTier.slice(1), system.slice(1));
  const big = {
    ...clusterMesh("istio"),
    footprint: {
      ...clusterMesh("istio").footprint,
      controlPlane: { cpu: 2, memoryMiB: 2048 },
    },
  };
  const p = capacityProblems(flat, demandOf(renderAll(specs), meshedNs, [big]));
  assertEquals(p.length, 1);
  assert(p[0].startsWith("under istio") && p[0].includes("control plane 2.00 CPU"), p[0]);
});

Deno.test("a mesh control plane larger than the master's room is refused", () => {
  const nodes = nodeCapacities(freeTier, [...system, pod("master", "1", "1Gi")]);
  const specs = clusterNamespaces().filter((s) => s.workload === "http");
  const p = capacityProblems(nodes, demandOf(renderAll(specs), meshedNs, [clusterMesh("istio")]));
  assertEquals(p.length, 1);
  assert(p[0].includes("control-plane node master"), p[0]);
});

Deno.test("DaemonSets count on every schedulable node; meshbench's own pods are not committed", () => {
  const nodes = nodeCapacities(freeTier, [
    ...system,
    {
      ...pod("worker-1", "5", "1Gi"),
      metadata: {
        name: "old",
        labels: { "app.kubernetes.io/part-of": "meshbench", "meshbench.io/managed": "true" },
      },
    },
  ]);
  assertEquals(nodes[1].committed.cpu, 0.1);
  const ml = clusterNamespaces().filter((s) => s.workload === "ml");
  const d = demandOf(renderAll(ml), meshedNs, [clusterMesh("istio-ambient")]);
  // The image pre-pull DaemonSet: its init container (10m) is larger than its pause (1m).
  assertEquals(d.perNode.cpu, 0.01);
  assertEquals(d.pods.map((p) => [p.name, p.count]), [["ml-benchmark/ml-train", 2]]);
});

Deno.test("a pod's requests as the scheduler counts them: native sidecars add, init containers peak", async () => {
  const { podRequests } = await import("./capacity.ts");
  const c = (cpu: string, restartPolicy?: string) => ({
    restartPolicy,
    resources: { requests: { cpu, memory: "10Mi" } },
  });
  // linkerd-proxy as a native sidecar (10m) beside the app (50m); linkerd-init (10m) before.
  assertEquals(
    podRequests({ containers: [c("50m")], initContainers: [c("10m"), c("10m", "Always")] }),
    { cpu: 0.06, memoryMiB: 20 },
  );
  // A large ordinary init container sets the pod's request.
  assertEquals(podRequests({ containers: [c("50m")], initContainers: [c("500m")] }).cpu, 0.5);
});

Deno.test("a mesh's node agents (its DaemonSets) count on every schedulable node", () => {
  // istio-ambient's ztunnel and istio-cni run on every worker beside the benchmark pods.
  const specs = clusterNamespaces().filter((s) => s.workload === "http");
  const nodes = nodeCapacities(freeTier, system);
  const ambient = clusterMesh("istio-ambient");
  assertEquals(capacityProblems(nodes, demandOf(renderAll(specs), meshedNs, [ambient])), []);
  // The same mesh with node agents of 0.8 CPU: 1.6 CPU more on the two workers, which have
  // 1.8 free, so the http servers and clients no longer fit.
  const heavy = {
    ...ambient,
    footprint: { ...ambient.footprint, perNode: { cpu: 0.8, memoryMiB: 64 } },
  };
  const p = capacityProblems(nodes, demandOf(renderAll(specs), meshedNs, [heavy]));
  assertEquals(p.length, 1);
  assert(p[0].startsWith("under istio-ambient the benchmark requests"), p[0]);
  assert(p[0].includes("DaemonSets 0.80 CPU / 64 MiB per node"), p[0]);
});

Deno.test("the inference block is counted as its pods request (the init container's peak) and fits the free tier under every mesh", () => {
  const specs = clusterNamespaces().filter((s) => s.workload === "inference");
  assertEquals(specs.map((s) => [s.namespace, s.meshed]), [["inference-benchmark", true]]);
  const d = demandOf(renderAll(specs), meshedNs, [clusterMesh("istio-ambient")]);
  assertEquals(
    d.pods.map((p) => [p.name, p.count, p.requests.cpu, p.requests.memoryMiB, p.meshed]),
    [
      // The model server: 250m and 256Mi.
      ["inference-benchmark/inference-server", 2, 0.25, 256, true],
      // fortio's 100m/64Mi, and the init container writing the payloads peaks above it (128Mi).
      ["inference-benchmark/inference-client", 2, 0.1, 128, true],
    ],
  );
  const nodes = nodeCapacities(freeTier, system);
  assertEquals(capacityProblems(nodes, demandOf(renderAll(specs), meshedNs, MESHES)), []);
});
