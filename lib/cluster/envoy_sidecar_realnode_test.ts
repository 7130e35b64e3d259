// The envoy-sidecar mesh on a real node (lib/testenv/realnode.ts): meshbench's injection of the
// http workload (one server, one client) and the ML Job into the real kubelet and containerd,
// with the upstream Envoy image and the iptables init container assembled locally. Shows the
// traffic through the proxy pair in both Envoys' own stats, mTLS enforced (a pod without the
// sidecar is refused at the server's inbound listener), the kubelet's readiness probes passing
// through the sidecar, the Job completing with its long-running native sidecar, and the
// removal (redeploy without the sidecar) verified.
//
// Only one real node can run on a machine: the test takes the machine-wide lock
// (withRealNodeLock; under `flock /tmp/meshbench-realnode.lock ...` it holds it already).
// Skipped, with the reason printed, when the node's binaries or images are not installed
// (bash .ci/install_realnode.sh) or not root.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startTestenv, stopTestenv } from "../testenv/testenv.ts";
import { withRealNodeLock } from "../testenv/realnode.ts";
import { realNodeSkipReason, waitFor } from "../testenv/realnode_fixture.ts";
import { connect, disconnect, type Kube } from "./kube.ts";
import { execInPod } from "./exec.ts";
import { applyObjects, waitHealthy } from "./deploy.ts";
import {
  clusterNamespaces,
  type KubeObject,
  podTemplateOf,
  renderNamespaces,
  renderWorkload,
} from "./manifests.ts";
import { clusterMesh, enableNamespace, injectMeshed } from "./meshes.ts";
import { removeMeshResources, verifyMeshed, verifyUnmeshed } from "./mesh.ts";
import { runJob } from "./job.ts";
import { ENVOY_IMAGE, IPTABLES_INIT_IMAGE } from "./envoy_sidecar.ts";
import { realRunner } from "../command.ts";
import { skipReason } from "../../tests/skip.ts";

const skip = realNodeSkipReason({
  images: [ENVOY_IMAGE, IPTABLES_INIT_IMAGE],
  metricsServer: false,
});
skipReason("envoy-sidecar real node test", skip);

// deno-lint-ignore no-explicit-any
type Any = any;
const NS = "http-benchmark";
const ML = "ml-benchmark";

/** The http workload's objects sized for one real node: one server and one client. */
function httpObjects(): KubeObject[] {
  const spec = clusterNamespaces().find((s) => s.namespace === NS)!;
  return renderWorkload(spec).map((o) => {
    if (o.kind === "Deployment") (o.spec as Any).replicas = 1;
    return o;
  });
}

/**
 * The ML namespace's objects as deploy applies them (its ConfigMap; not the image pre-pull,
 * the image is imported) and its Job, one completion (the real node allocates 1 CPU; the
 * training is not the point).
 */
function mlObjects(): { deployed: KubeObject[]; job: KubeObject } {
  const spec = clusterNamespaces().find((s) => s.namespace === ML)!;
  const all = renderWorkload(spec);
  const job = all.find((o) => o.kind === "Job")!;
  Object.assign(job.spec as Any, { completions: 1, parallelism: 1 });
  const c = (podTemplateOf(job) as Any).spec.containers[0];
  c.command = ["python", "-c", "import sklearn; print('trained', sklearn.__version__)"];
  return { deployed: all.filter((o) => o.kind === "ConfigMap"), job };
}

/** Envoy's counters from a `/stats` text. */
function counters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = line.match(/^(\S+): (\d+)$/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function podOf(kube: Kube, ns: string, app: string): Promise<k8s.V1Pod> {
  return await waitFor(`a ready ${app} pod`, 240_000, async () => {
    const pods = await kube.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
    return pods.items.find((p) =>
      !p.metadata?.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    );
  });
}

Deno.test({
  name: "envoy-sidecar on a real node: traffic through the Envoy pair over mTLS, plaintext " +
    "refused, probes through the sidecar, the Job completes, and removal is verified",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => withRealNodeLock(testEnvoySidecar, (m) => console.log(m)),
});

async function testEnvoySidecar(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-realnode-envoy-" });
  const env = await startTestenv({
    dir,
    realNode: true,
    timeoutMs: 600_000,
    log: (m) => console.log(m),
  });
  let kube: Kube | undefined;
  try {
    kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
    const k = kube;
    const mesh = clusterMesh("envoy-sidecar");
    const specs = clusterNamespaces().filter((s) => s.namespace === NS || s.namespace === ML);
    // "Install": the namespaces enabled, the run's identity, the workloads injected.
    await applyObjects(k, renderNamespaces(specs).map((n) => enableNamespace(n, mesh)));
    const identity = await mesh.injection!.identity(realRunner, `${dir}/identity`);
    await applyObjects(k, [NS, ML].flatMap((ns) => mesh.resources(ns, identity)));
    await applyObjects(k, injectMeshed(httpObjects(), specs, mesh.injection!));
    // Ready means the kubelet's readiness probe passed: nginx's through the sidecar.
    await waitHealthy(k, [NS], { timeoutMs: 300_000, log: (m) => console.log(m) });
    assertEquals(await verifyMeshed(k, mesh, [NS]), 2);

    const client = (await podOf(k, NS, "http-client")).metadata!.name!;
    const server = await podOf(k, NS, "http-server");
    const exec = (cmd: string[], pod = client, ns = NS) =>
      execInPod(k, { namespace: ns, pod, container: "fortio" }, cmd, { timeoutMs: 90_000 });
    // 100 requests through the Service, as the benchmark's clients send them. The first
    // may meet the ClusterIP before kube-proxy has the endpoint: bounded retries.
    const url = `http://http-server.${NS}.svc.cluster.local/`;
    await waitFor("the Service through the sidecars", 60_000, async () => {
      const r = await exec(["fortio", "curl", url]);
      return /HTTP\/1\.1 200/.test(r.stdout + r.stderr) ? true : undefined;
    });
    const load = await exec(["fortio", "load", "-qps", "0", "-c", "2", "-n", "100", url]);
    assert(/Code 200 : 100 /.test(load.stdout + load.stderr), load.stdout + load.stderr);

    // The client's Envoy (admin on 127.0.0.1 of the pod) and the server's (its stats
    // listener, reached from the client pod: not a mesh port, so passed through).
    const clientStats = counters(
      (await exec(["fortio", "curl", "http://127.0.0.1:15000/stats"])).stdout,
    );
    const serverStats = counters(
      (await exec(["fortio", "curl", `http://${server.status!.podIP}:15090/stats`])).stdout,
    );
    assert((clientStats.get("http.outbound_80.downstream_rq_2xx") ?? 0) >= 101);
    assert((clientStats.get("cluster.outbound_mtls_http1.ssl.handshake") ?? 0) >= 1);
    assert((serverStats.get("http.inbound_80.downstream_rq_2xx") ?? 0) >= 101);
    assert((serverStats.get("listener.0.0.0.0_15006.ssl.handshake") ?? 0) >= 1);
    // The kubelet's probes went through the sidecar's health listener to nginx.
    assert((serverStats.get("cluster.probe_80.upstream_rq_2xx") ?? 0) >= 1);
    console.log(
      `envoy-sidecar: client outbound_80 2xx ${
        clientStats.get("http.outbound_80.downstream_rq_2xx")
      }, server inbound_80 2xx ${serverStats.get("http.inbound_80.downstream_rq_2xx")}, ` +
        `probes ${serverStats.get("cluster.probe_80.upstream_rq_2xx")}`,
    );

    // A pod without the sidecar is refused at the server's inbound listener (strict mTLS).
    const plainNs = "envoy-plain";
    await applyObjects(k, [{
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: plainNs,
        labels: { "app.kubernetes.io/part-of": "meshbench", "meshbench.io/managed": "true" },
      },
    }]);
    await k.core.createNamespacedPod({
      namespace: plainNs,
      body: {
        metadata: {
          name: "plain",
          labels: {
            app: "plain",
            "app.kubernetes.io/part-of": "meshbench",
            "meshbench.io/managed": "true",
          },
        },
        spec: {
          containers: [{
            name: "fortio",
            image: "fortio/fortio:1.66.5",
            args: [
              "server",
              "-http-port",
              "8078",
              "-tcp-port",
              "disabled",
              "-udp-port",
              "disabled",
            ],
            resources: { requests: { cpu: "10m", memory: "32Mi" } },
          }],
        },
      },
    });
    await podOf(k, plainNs, "plain");
    const refused = await exec(
      ["fortio", "curl", `http://${server.status!.podIP}:80/`],
      "plain",
      plainNs,
    ).then((r) => r.stdout + r.stderr, (e) => String(e));
    assert(!/HTTP\/1\.1 200/.test(refused), `plaintext was answered: ${refused}`);
    const after = counters(
      (await exec(["fortio", "curl", `http://${server.status!.podIP}:15090/stats`])).stdout,
    );
    assert(
      (after.get("listener.0.0.0.0_15006.no_filter_chain_match") ?? 0) >= 1,
      "the plaintext connection did not reach the inbound listener",
    );

    // The Job completes with its native sidecar still running when the trainer exits.
    const ml = mlObjects();
    await applyObjects(k, ml.deployed);
    const job = injectMeshed([ml.job], specs, mesh.injection!)[0];
    const out = await runJob(k, job, { timeoutMs: 300_000, log: (m) => console.log(m) });
    console.log(`envoy-sidecar: ML Job ${JSON.stringify(out)}`);
    const done = await k.batch.readNamespacedJob({ namespace: ML, name: "ml-train" });
    assertEquals(done.status?.succeeded, 1);

    // "Uninstall": redeploy without the sidecar, remove the identity, verify.
    await applyObjects(k, httpObjects());
    await removeMeshResources(k, mesh, [NS, ML]);
    await waitHealthy(k, [NS], { timeoutMs: 300_000, log: (m) => console.log(m) });
    await verifyUnmeshed(k, mesh, [NS]);
    const plainClient = (await podOf(k, NS, "http-client")).metadata!.name!;
    const direct = await waitFor("the Service without the sidecars", 60_000, async () => {
      const r = await exec(["fortio", "curl", url], plainClient);
      return /HTTP\/1\.1 200/.test(r.stdout + r.stderr) ? r : undefined;
    });
    assert(direct.stdout.includes("nginx"), direct.stdout);
  } finally {
    if (kube) await disconnect(kube);
    await stopTestenv(dir, { log: (m) => console.log(m) });
  }
  await Deno.remove(dir, { recursive: true });
}
