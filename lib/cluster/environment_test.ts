import type * as k8s from "@kubernetes/client-node";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { describeNode, detectCni } from "./environment.ts";

Deno.test("a node's shape, software and roles; the CNI by its DaemonSet", () => {
  const node: k8s.V1Node = {
    metadata: {
      name: "w1",
      labels: {
        "meshbench.io/role": "server",
        "node-role.kubernetes.io/worker": "",
        "node.kubernetes.io/instance-type": "VM.Standard.A1.Flex",
        "topology.kubernetes.io/zone": "AD-1",
      },
    },
    status: {
      capacity: { cpu: "1", memory: "6Gi" },
      allocatable: { cpu: "950m", memory: "5500Mi" },
      nodeInfo: {
        architecture: "arm64",
        osImage: "Ubuntu 24.04.1 LTS",
        kernelVersion: "6.8.0-1013-oracle",
        containerRuntimeVersion: "containerd://1.7.24",
        kubeletVersion: "v1.34.4",
        bootID: "",
        kubeProxyVersion: "",
        machineID: "",
        operatingSystem: "linux",
        systemUUID: "",
      },
    },
  };
  assertEquals(describeNode(node), {
    name: "w1",
    roles: ["server", "worker"],
    instanceType: "VM.Standard.A1.Flex",
    zone: "AD-1",
    arch: "arm64",
    os: "Ubuntu 24.04.1 LTS",
    kernel: "6.8.0-1013-oracle",
    containerRuntime: "containerd://1.7.24",
    kubelet: "v1.34.4",
    cpu: 1,
    allocatableCpu: 0.95,
    memoryMiB: 6144,
    allocatableMemoryMiB: 5500,
  });
  const ds = (name: string): k8s.V1DaemonSet => ({ metadata: { name } });
  assertEquals(detectCni([ds("kube-proxy"), ds("kube-flannel-ds")]), "flannel");
  assertEquals(detectCni([ds("kube-proxy"), ds("cilium"), ds("cilium-envoy")]), "cilium");
  assertEquals(detectCni([ds("kube-proxy")]), "unknown");
});
