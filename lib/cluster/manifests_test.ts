import { throws } from "node:assert/strict";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { WS_CLIENT_FILES } from "../tools/ws_client.ts";
import { layOutConfigMap } from "./testdata/context.ts";
import {
  clusterNamespaces,
  CODE_CHECKSUM_ANNOTATION,
  fillRepoFiles,
  type KubeObject,
  labellingProblems,
  parseManifests,
  renderAll,
  renderWorkload,
  REPO_DIR,
} from "./manifests.ts";

const all = renderAll();
const find = (ns: string, kind: string, name: string) =>
  all.find((o) => o.metadata.namespace === ns && o.kind === kind && o.metadata.name === name);
// deno-lint-ignore no-explicit-any
const spec = (o: KubeObject | undefined) => o?.spec as any;

Deno.test("every object and pod template is labelled as meshbench's", () => {
  assertEquals(labellingProblems(all), []);
  const unlabelled = parseManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "t");
  assertEquals(labellingProblems(unlabelled).length, 2);
});

Deno.test("the design's namespaces, names, replicas, ports and NodePorts", () => {
  assertEquals(
    all.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name),
    [
      "http-benchmark",
      "grpc-benchmark",
      "websocket-benchmark",
      "db-benchmark",
      "ml-benchmark",
      "inference-benchmark",
      "baseline-http",
      "baseline-grpc",
    ],
  );
  assertEquals(spec(find("http-benchmark", "Deployment", "http-server")).replicas, 3);
  assertEquals(spec(find("http-benchmark", "Deployment", "http-client")).replicas, 2);
  assertEquals(spec(find("http-benchmark", "Service", "http-server")).ports[0].port, 80);
  assertEquals(
    spec(find("http-benchmark", "Service", "http-server-nodeport")).ports[0].nodePort,
    30080,
  );
  assertEquals(spec(find("grpc-benchmark", "Deployment", "grpc-server")).replicas, 3);
  assertEquals(spec(find("grpc-benchmark", "Deployment", "grpc-client")).replicas, 2);
  assertEquals(spec(find("grpc-benchmark", "Service", "grpc-server")).ports[0].port, 9000);
  assertEquals(
    spec(find("grpc-benchmark", "Service", "grpc-server-nodeport")).ports[0].nodePort,
    30090,
  );
  assertEquals(spec(find("websocket-benchmark", "Deployment", "ws-server")).replicas, 3);
  assertEquals(spec(find("websocket-benchmark", "Service", "ws-server")).ports[0].port, 8080);
  assertEquals(
    spec(find("websocket-benchmark", "Service", "ws-server-nodeport")).ports[0].nodePort,
    30808,
  );
  const redis = spec(find("db-benchmark", "StatefulSet", "redis"));
  assertEquals(redis.replicas, 3);
  assertEquals(redis.serviceName, "redis-cluster");
  assertEquals(redis.volumeClaimTemplates, undefined);
  assertEquals(spec(find("db-benchmark", "Service", "redis-cluster")).clusterIP, "None");
  assertEquals(spec(find("db-benchmark", "Deployment", "redis-client")).replicas, 2);
  const job = spec(find("ml-benchmark", "Job", "ml-train"));
  assertEquals([job.completions, job.parallelism], [5, 2]);
  // Baselines: same objects, NodePorts moved out of the way (they are cluster-wide).
  assertEquals(
    spec(find("baseline-http", "Service", "http-server-nodeport")).ports[0].nodePort,
    31080,
  );
  assertEquals(
    spec(find("baseline-grpc", "Service", "grpc-server-nodeport")).ports[0].nodePort,
    31090,
  );
  assertEquals(spec(find("baseline-http", "Deployment", "http-server")).replicas, 3);
});

Deno.test("images pinned, requests and limits set on every container", () => {
  for (const s of clusterNamespaces()) {
    for (const o of renderWorkload(s)) {
      const containers = spec(o)?.template?.spec?.containers ?? [];
      for (const c of containers) {
        const tag = c.image.split("/").pop().split(":")[1];
        assert(tag && tag !== "latest", `${o.metadata.name}: image "${c.image}" is not pinned`);
        for (const k of ["cpu", "memory"]) {
          assert(c.resources?.requests?.[k], `${o.metadata.name}/${c.name}: no ${k} request`);
          assert(c.resources?.limits?.[k], `${o.metadata.name}/${c.name}: no ${k} limit`);
        }
      }
    }
  }
});

Deno.test("load clients avoid server nodes; baseline namespaces opt out of every mesh", () => {
  const client = spec(find("http-benchmark", "Deployment", "http-client"));
  const term = client.template.spec.affinity.podAntiAffinity
    .preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  assertEquals(term.labelSelector.matchLabels, { "meshbench.io/tier": "server" });
  const base = all.find((o) => o.metadata.name === "baseline-http")!;
  assertEquals(base.metadata.labels?.["istio-injection"], "disabled");
  assertEquals(base.metadata.labels?.["istio.io/dataplane-mode"], "none");
  assertEquals(base.metadata.annotations?.["linkerd.io/inject"], "disabled");
});

Deno.test("ConfigMaps of repository files: filled from the repo, every mounted key present", () => {
  const cm = find("websocket-benchmark", "ConfigMap", "meshbench-ws-code")!;
  const data = (cm as { data?: Record<string, string> }).data ?? {};
  for (const path of [...WS_CLIENT_FILES, "servers/ws_echo.ts"]) {
    const key = path.slice(path.lastIndexOf("/") + 1);
    assertEquals(data[key], Deno.readTextFileSync(`${REPO_DIR}${path}`), `${key} in the ConfigMap`);
  }
  // Every configMap volume item of every pod template names a key its ConfigMap has, and
  // the client pods mount the client's files at their repository paths.
  for (const o of all) {
    const pod = spec(o)?.template?.spec;
    for (const v of pod?.volumes ?? []) {
      if (!v.configMap) continue;
      const source = find(o.metadata.namespace!, "ConfigMap", v.configMap.name) as
        | { data?: Record<string, string> }
        | undefined;
      assert(source, `${o.metadata.name}: ConfigMap "${v.configMap.name}" not rendered`);
      for (const item of v.configMap.items ?? []) {
        assert(item.key in (source.data ?? {}), `${o.metadata.name}: no key "${item.key}"`);
      }
    }
  }
  const client = spec(find("websocket-benchmark", "Deployment", "ws-client")).template.spec;
  assertEquals(
    client.volumes.find((v: { name: string }) => v.name === "code").configMap.items.map(
      (i: { path: string }) => i.path,
    ),
    [...WS_CLIENT_FILES],
  );
  assertEquals(client.containers[0].workingDir, "/meshbench");

  const bad = parseManifests(
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n" +
      "    meshbench.io/repo-files: lib/nope.ts\n",
    "t",
  )[0];
  throws(() => fillRepoFiles(bad), /cannot read "lib\/nope.ts"/);
});

Deno.test({
  name: "the WebSocket echo pod's own command serves from its ConfigMap layout; code checksum",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ns = clusterNamespaces().find((n) => n.workload === "websocket")!;
    const objs = renderWorkload(ns);
    const cm = objs.find((o) => o.kind === "ConfigMap")! as unknown as {
      data: Record<string, string>;
    };
    const server = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "ws-server")!;
    const pod = spec(server).template;
    // Pods are replaced when the code changes: the checksum of the ConfigMap's files.
    const sum = pod.metadata.annotations[CODE_CHECKSUM_ANNOTATION];
    assert(/^[0-9a-f]{16}$/.test(sum), sum);
    const client = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "ws-client")!;
    assertEquals(spec(client).template.metadata.annotations[CODE_CHECKSUM_ANNOTATION], sum);
    const http = renderWorkload(clusterNamespaces()[0]);
    assert(
      http.every((o) => !spec(o)?.template?.metadata?.annotations?.[CODE_CHECKSUM_ANNOTATION]),
      "only pods that mount meshbench's code carry it",
    );
    // The container exactly as the pod runs it (its command, args, working directory and
    // files at the volume's paths), on this machine's Deno; only the port is a free one.
    const c = pod.spec.containers[0];
    const dir = await Deno.makeTempDir({ prefix: "meshbench-ws-pod-" });
    await layOutConfigMap(dir, pod.spec.volumes[0].configMap.items, cm.data);
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const args = (c.args as string[]).map((a) =>
      a === "8080" ? String(port) : a === "$(POD_NAME)" ? "ws-server-test" : a
    );
    assertEquals(c.command, ["deno"]);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: dir,
      env: { DENO_DIR: `${dir}/deno-dir`, DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      // The readiness probe's request, then one WebSocket round trip.
      const probe = c.readinessProbe.httpGet;
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}${probe.path}`).then(
          async (r) => (await r.body?.cancel(), r.status),
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assertEquals(status, 200);
      const { wsProbe } = await import("../workloads/websocket.ts");
      await wsProbe([port]);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel();
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("no object needs a StorageClass: Redis keeps its data on an emptyDir", () => {
  // kubeadm installs no StorageClass and no provisioner: a PVC would stay Pending.
  for (const o of all) {
    assert(o.kind !== "PersistentVolumeClaim", `${o.metadata.name} is a PVC`);
    assertEquals(spec(o)?.volumeClaimTemplates, undefined, `${o.metadata.name} claims volumes`);
  }
  const redis = spec(find("db-benchmark", "StatefulSet", "redis")).template.spec;
  assertEquals(redis.volumes, [{ name: "data", emptyDir: {} }]);
});

Deno.test("every namespace states its Pod Security level; meshed ones admit the meshes' init containers", () => {
  for (const ns of all.filter((o) => o.kind === "Namespace")) {
    const level = ns.metadata.labels?.["pod-security.kubernetes.io/enforce"];
    const meshed = clusterNamespaces().find((s) => s.namespace === ns.metadata.name)!.meshed;
    // istio-init and linkerd-init add NET_ADMIN and NET_RAW: only "privileged" admits them.
    assertEquals(level, meshed ? "privileged" : "baseline", ns.metadata.name);
  }
});

Deno.test("under every mesh's policy each probe is of a kind the mesh admits", async () => {
  const { CLUSTER_MESHES } = await import("./meshes.ts");
  for (const s of clusterNamespaces().filter((s) => s.meshed)) {
    for (const o of renderWorkload(s)) {
      const pod = spec(o)?.template?.spec;
      for (const c of [...pod?.containers ?? [], ...pod?.initContainers ?? []]) {
        for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          const p = c[probe];
          if (!p) continue;
          const kind = ["httpGet", "grpc", "tcpSocket", "exec"].find((k) => k in p)!;
          for (const mesh of Object.values(CLUSTER_MESHES)) {
            assert(
              (mesh.admitsProbes as string[]).includes(kind),
              `${s.namespace}/${o.metadata.name}/${c.name}: ${kind} ${probe} is not admitted ` +
                `under ${mesh.name}`,
            );
          }
        }
      }
    }
  }
});

Deno.test("the ML image is pinned by a dated tag and pre-pulled on every node", () => {
  const job = spec(find("ml-benchmark", "Job", "ml-train")).template.spec.containers[0].image;
  assert(/:\d{4}-\d{2}-\d{2}$|@sha256:[0-9a-f]{64}$/.test(job), `"${job}" is a rolling tag`);
  const pull = spec(find("ml-benchmark", "DaemonSet", "ml-image-prepull")).template;
  assertEquals(pull.spec.initContainers[0].image, job);
  assertEquals(pull.metadata.labels["meshbench.io/tier"], "prepull");
});

Deno.test("on a cluster with role labels, servers and clients are pinned to them (required)", async () => {
  const { requirePlacement } = await import("./manifests.ts");
  const objs = requirePlacement(all);
  for (const o of objs) {
    const na = spec(o)?.template?.spec?.affinity?.nodeAffinity;
    if (!na) continue;
    assertEquals(na.preferredDuringSchedulingIgnoredDuringExecution, undefined);
    const [term] = na.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    const tier = o.metadata.labels?.["meshbench.io/tier"];
    assertEquals(term.matchExpressions, [
      { key: "meshbench.io/role", operator: "In", values: [tier] },
    ]);
  }
  // The input keeps its preferred terms (clusters without the labels).
  const client = spec(find("http-benchmark", "Deployment", "http-client"));
  assert(
    client.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution,
  );
  // cluster:setup sets the labels: the first worker serves, the others load.
  const role = Deno.readTextFileSync(
    new URL("../../ansible/roles/cluster_addons/tasks/main.yml", import.meta.url),
  );
  assert(
    role.includes(
      "meshbench.io/role={{ 'server' if cluster_addons_worker_index == 0 else 'client' }}",
    ),
  );
});

Deno.test("the WebSocket pods run the Deno that CI runs meshbench with (.ci/run's DENO_VERSION)", () => {
  // The pods' Deno 2.1.4 never woke the load client's Atomics.waitAsync when its ticker
  // worker notified (denoland/deno#14786): on a real node every run hung until its kill bound
  // (exit 137); on kwok the command ran on this machine, under CI's Deno. One pin for both.
  const ci = Deno.readTextFileSync(`${REPO_DIR}.ci/run`).match(/^DENO_VERSION="([^"]+)"/m);
  assert(ci, ".ci/run has no DENO_VERSION");
  const images = all.flatMap((o) =>
    (spec(o)?.template?.spec?.containers ?? []).map((c: { image: string }) => c.image)
  ).filter((i: string) => i.startsWith("denoland/deno:"));
  assertEquals(images.length, 2); // ws-server and ws-client
  assertEquals([...new Set(images)], [`denoland/deno:debian-${ci[1]}`]);
});

Deno.test("every Deployment restarts without a surge pod (a mesh switch fits the steady state)", () => {
  // On the 1-CPU real node the switch to a sidecar mesh restarted every Deployment with the
  // default 25 % surge: the surge pods (with their sidecars) did not fit, stayed Pending, and
  // the rollout never finished. The capacity check counts the steady state only.
  const deployments = all.filter((o) => o.kind === "Deployment");
  assert(deployments.length > 0);
  for (const d of deployments) {
    assertEquals(
      spec(d).strategy,
      { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      `${d.metadata.namespace}/${d.metadata.name}`,
    );
  }
});
