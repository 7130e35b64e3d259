// A real node in the test control plane (lib/testenv/realnode.ts): containerd, a kubelet,
// kube-proxy and CoreDNS on this machine, pods from the locally assembled images, and a
// teardown that leaves nothing of its own. Skipped, with the reason printed, when the node's
// binaries or images are not installed (bash .ci/install_realnode.sh) or not root.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startTestenv, stopTestenv } from "./testenv.ts";
import { NODE_INTERFACES, REAL_NODE_NAME, withRealNodeLock } from "./realnode.ts";
import { nodeTraces, realNodeSkipReason, waitFor } from "./realnode_fixture.ts";
import { connect, disconnect, type Kube } from "../cluster/kube.ts";
import { execInPod } from "../cluster/exec.ts";
import { scrapeCfs } from "../cluster/throttling.ts";
import { readManifestFile } from "../cluster/manifests.ts";
import { skipReason } from "../../tests/skip.ts";

const skip = realNodeSkipReason();
skipReason("real node tests", skip);

async function readyPod(kube: Kube, ns: string, selector: string): Promise<string> {
  return await waitFor(`a ready pod ${selector} in ${ns}`, 180_000, async () => {
    const pods = await kube.core.listNamespacedPod({ namespace: ns, labelSelector: selector });
    const p = pods.items.find((p) =>
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    );
    return p?.metadata?.name;
  });
}

/** The fortio arguments of the http workload's client Deployment, from the manifest. */
function httpClientArgs(): string[] {
  const client = readManifestFile("workloads/http.yaml").find((o) =>
    o.kind === "Deployment" && o.metadata.name === "http-client"
  );
  // deno-lint-ignore no-explicit-any
  const args = (client?.spec as any)?.template?.spec?.containers?.[0]?.args;
  assert(Array.isArray(args), "manifests/workloads/http.yaml has no http-client args");
  return args;
}

const labels = (app: string) => ({ app, "meshbench.io/test": "realnode" });

Deno.test({
  name: "a real node runs pods from the local images with Service DNS, exec through the kubelet, " +
    "cAdvisor CPU counters and 1 allocatable CPU, and testenv:down leaves nothing of its own",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => withRealNodeLock(testRealNode, (m) => console.log(m)),
});

async function testRealNode() {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-realnode-" });
  const before = await nodeTraces(dir);
  // Another real node (or a leftover) would make this test meaningless: say so.
  assertEquals(before.interfaces, [], "the machine already has the node's interfaces");
  const env = await startTestenv({
    dir,
    realNode: true,
    metricsServer: true,
    timeoutMs: 300_000,
    log: (m) => console.log(m),
  });
  let kube: Kube | undefined;
  try {
    kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    const node = await kube.core.readNode({ name: REAL_NODE_NAME });
    // Like one OCI worker: 1 CPU allocatable, the rest system-reserved.
    assertEquals(node.status?.allocatable?.cpu, "1");
    assert(node.status?.nodeInfo?.containerRuntimeVersion.startsWith("containerd://"));
    assertEquals(node.status?.nodeInfo?.kubeletVersion, env.versions.K8S_VERSION);
    // Every image the manifests name is there (no registry: a missing one would fail with
    // ErrImagePull at deploy, as the ML image did when its tag changed).
    const named = new Set<string>();
    for (const e of Deno.readDirSync(new URL("../../manifests/workloads", import.meta.url))) {
      for (const o of readManifestFile(`workloads/${e.name}`)) {
        for (const m of JSON.stringify(o).matchAll(/"image":"([^"]+)"/g)) named.add(m[1]);
      }
    }
    const imported = new Set(
      (env.realNode?.images ?? []).map((i) => i.replace(/^docker\.io\/(library\/)?/, "")),
    );
    assertEquals([...named].filter((i) => !imported.has(i)), []);
    // The node's network lives in its namespace: the machine's iptables hold none of it.
    const during = await nodeTraces(dir);
    assertEquals(during.iptables, []);
    assertEquals(
      during.interfaces.map((l) => l.split(":")[1].trim().split("@")[0]),
      [NODE_INTERFACES.host],
    );

    const ns = "realnode-test";
    await kube.core.createNamespace({ body: { metadata: { name: ns } } });
    const web: k8s.V1Deployment = {
      metadata: { name: "web", labels: labels("web") },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels("web") },
        template: {
          metadata: { labels: labels("web") },
          spec: {
            containers: [{
              name: "nginx",
              image: "nginx:1.27.4-alpine",
              ports: [{ containerPort: 80 }],
              readinessProbe: { httpGet: { path: "/", port: 80 }, periodSeconds: 1 },
              resources: {
                requests: { cpu: "100m", memory: "32Mi" },
                limits: { cpu: "200m", memory: "64Mi" },
              },
            }],
          },
        },
      },
    };
    await kube.apps.createNamespacedDeployment({ namespace: ns, body: web });
    await kube.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: { selector: labels("web"), ports: [{ port: 80, targetPort: 80 }] },
      },
    });
    await kube.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "client", labels: labels("client") },
        spec: {
          containers: [{
            name: "fortio",
            image: "fortio/fortio:1.66.5",
            // Exactly as the http workload's client pods run it: on kwok the container
            // never ran, so its port collision (fortio's TCP/UDP echo on 8078) never showed.
            args: httpClientArgs(),
            readinessProbe: { httpGet: { path: "/", port: 8078 }, periodSeconds: 1 },
            resources: { requests: { cpu: "100m", memory: "32Mi" } },
          }],
        },
      },
    });
    const webPod = await readyPod(kube, ns, "app=web");
    await readyPod(kube, ns, "app=client");

    // Service DNS (CoreDNS) and the ClusterIP (kube-proxy), from inside a pod, by exec
    // through the API server and the real kubelet.
    // A pod is Ready before kube-proxy has its endpoint (EndpointSlice, then the next
    // iptables sync): until then the ClusterIP refuses. Bounded retries, as a client would.
    const curl = await waitFor(
      "the web Service to answer from the client pod",
      60_000,
      () =>
        execInPod(
          kube!,
          { namespace: ns, pod: "client", container: "fortio" },
          ["fortio", "curl", `http://web.${ns}.svc.cluster.local/`],
          { timeoutMs: 30_000 },
        ),
    );
    assert(/HTTP\/1\.1 200/.test(curl.stdout + curl.stderr), curl.stderr);
    assert(/nginx/.test(curl.stdout), curl.stdout);

    // CPU counters: cAdvisor's cumulative CFS counters through the node proxy (kwok's
    // loopback nodes refuse this path: 'address not allowed').
    // cAdvisor refreshes them on its housekeeping interval (about 10 s), so the first
    // scrape after a container starts can still say 0.
    const key = `${ns}/${webPod}/nginx`;
    const counters = await waitFor(`CFS periods of ${key}`, 90_000, async () => {
      const c = (await scrapeCfs(kube!, [REAL_NODE_NAME])).get(key);
      return c && c.periods > 0 ? c : undefined;
    });
    assert(counters.throttled <= counters.periods, JSON.stringify(counters));

    // metrics.k8s.io from metrics-server scraping the real kubelet (kwok's numbers are
    // constants derived from requests; these are measured).
    const http = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${dir}/pki/ca.crt`)],
      cert: await Deno.readTextFile(`${dir}/pki/admin.crt`),
      key: await Deno.readTextFile(`${dir}/pki/admin.key`),
    });
    try {
      const usage = await waitFor("NodeMetrics of the real node", 90_000, async () => {
        const r = await fetch(
          `${env.server}/apis/metrics.k8s.io/v1beta1/nodes/${REAL_NODE_NAME}`,
          { client: http },
        );
        if (r.status !== 200) {
          await r.body?.cancel();
          return undefined;
        }
        return (await r.json()).usage as { cpu: string; memory: string };
      });
      assert(/^[1-9]\d*n$/.test(usage.cpu), JSON.stringify(usage));
    } finally {
      http.close();
    }

    // Capacity: a pod asking for more CPU than the node allocates is not scheduled
    // (kwok's nodes allocate 8 CPUs, so this never showed there).
    await kube.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "too-big", labels: labels("too-big") },
        spec: {
          containers: [{
            name: "fortio",
            image: "fortio/fortio:1.66.5",
            resources: { requests: { cpu: "1500m" } },
          }],
        },
      },
    });
    const unschedulable = await waitFor("too-big to be unschedulable", 60_000, async () => {
      const p = await kube!.core.readNamespacedPod({ namespace: ns, name: "too-big" });
      const c = p.status?.conditions?.find((c) => c.type === "PodScheduled");
      return c?.reason === "Unschedulable" ? c.message : undefined;
    });
    assert(/Insufficient cpu/.test(unschedulable ?? ""), unschedulable);
  } finally {
    if (kube) await disconnect(kube);
    await stopTestenv(dir, { log: (m) => console.log(m) });
  }
  const after = await nodeTraces(dir);
  assertEquals(after, { ...before, netns: before.netns, processes: [] });
  await Deno.remove(dir, { recursive: true });
}
