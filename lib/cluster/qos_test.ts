import { throws } from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { clusterNamespaces, renderAll } from "./manifests.ts";
import { guaranteeObjects, qosByApp, qosProblems } from "./qos.ts";
import { clusterMesh } from "./meshes.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("guaranteeObjects: requests = limits everywhere, proxy sizing on every template", () => {
  const annotations = {
    ...clusterMesh("istio").guaranteedProxy!.annotations("500m", "256Mi"),
    ...clusterMesh("linkerd").guaranteedProxy!.annotations("500m", "256Mi"),
  };
  const before = renderAll(clusterNamespaces());
  const objs = guaranteeObjects(before, annotations);
  let templates = 0;
  for (const o of objs) {
    const t = (o.spec as Any)?.template;
    if (!t) continue;
    templates++;
    assertEquals(t.metadata.annotations["sidecar.istio.io/proxyCPULimit"], "500m");
    assertEquals(t.metadata.annotations["config.linkerd.io/proxy-memory-request"], "256Mi");
    for (const c of [...t.spec.containers, ...(t.spec.initContainers ?? [])]) {
      assertEquals(c.resources.requests, c.resources.limits, `${o.metadata.name}/${c.name}`);
    }
  }
  assertEquals(
    templates,
    16,
    "pod templates: 6 workloads + 2 baselines, servers and clients, the Job, its image pre-pull",
  );
  // The input is left as it was (Burstable requests).
  const server = before.find((o) => o.metadata.name === "http-server" && o.kind === "Deployment");
  assertEquals((server!.spec as Any).template.spec.containers[0].resources.requests.cpu, "50m");
  const noLimit = structuredClone(server!);
  delete (noLimit.spec as Any).template.spec.containers[0].resources.limits.memory;
  throws(
    () => guaranteeObjects([noLimit], {}),
    /Cannot make Deployment "http-server" Guaranteed: container "nginx" has no memory limit/,
  );
});

const pod = (
  name: string,
  qosClass: string,
  containers: Array<
    { name: string; requests: Record<string, string>; limits: Record<string, string> }
  >,
  init: typeof containers = [],
): k8s.V1Pod => ({
  metadata: { name, namespace: "http-benchmark", labels: { app: name.replace(/-\w+$/, "") } },
  spec: {
    containers: containers.map((c) => ({ name: c.name, resources: c })),
    initContainers: init.map((c) => ({ name: c.name, resources: c })),
  },
  status: { qosClass },
});

Deno.test("qosProblems names the pod and the containers (injected ones too) that differ", () => {
  const same = { cpu: "1", memory: "256Mi" };
  const ok = pod("http-client-a", "Guaranteed", [{ name: "fortio", requests: same, limits: same }]);
  const bad = pod(
    "http-server-b",
    "Burstable",
    [{ name: "nginx", requests: same, limits: same }],
    [{ name: "istio-proxy", requests: { cpu: "10m", memory: "40Mi" }, limits: same }],
  );
  assertEquals(qosProblems([ok]), []);
  assertEquals(qosProblems([ok, bad]), [
    'pod "http-benchmark/http-server-b" is Burstable: init container "istio-proxy": ' +
    "cpu request 10m, limit 1; memory request 40Mi, limit 256Mi",
  ]);
  assertEquals(qosByApp([ok, bad]), {
    "http-benchmark/http-client": "Guaranteed",
    "http-benchmark/http-server": "Burstable",
  });
});
