// The envoy-sidecar injection as rendered: every meshed pod template gets the iptables init
// container and Envoy as a native sidecar, probes go through the sidecar, the bootstrap is
// one the real Envoy accepts, and the mesh's capacity footprint is the sidecar's requests.
import { throws } from "node:assert/strict";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  clusterNamespaces,
  type KubeObject,
  MANAGED_LABELS,
  podTemplateOf,
  renderWorkload,
} from "./manifests.ts";
import {
  ENVOY_IMAGE,
  envoyUnmeshedReason,
  INIT_CONTAINER,
  injectEnvoySidecar,
  IPTABLES_INIT_IMAGE,
  iptablesScript,
  meshPorts,
  PROXY_CPU_ANNOTATION,
  PROXY_MEMORY_ANNOTATION,
  SIDECAR_CONTAINER,
  SIDECAR_REQUESTS,
} from "./envoy_sidecar.ts";
import { clusterMesh, injectMeshed } from "./meshes.ts";
import { podRequests } from "./capacity.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";
import { POD_SIDECAR } from "../envoy.ts";
import { toolPath } from "../binaries.ts";
import { MESH_TOOLS } from "../local/tools.ts";
import { generateMeshIdentity } from "../local/certs.ts";
import { realRunner } from "../command.ts";
import { missingBinaries, skipReason } from "../../tests/skip.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
const template = (o: KubeObject) => podTemplateOf(o) as Any;
const meshed = clusterNamespaces().filter((s) => s.meshed);

Deno.test("every benchmark pod template of a meshed namespace gets the iptables init container and Envoy as a native sidecar", () => {
  for (const s of meshed) {
    const objs = injectEnvoySidecar(renderWorkload(s));
    for (const o of objs) {
      const t = template(o);
      if (!t) continue;
      if (o.kind === "DaemonSet") {
        // The ML image pre-pull is not a benchmark pod: untouched.
        assert(!JSON.stringify(t).includes(SIDECAR_CONTAINER), `${o.metadata.name} injected`);
        continue;
      }
      const [init, sidecar] = t.spec.initContainers;
      assertEquals([init.name, sidecar.name], [INIT_CONTAINER, SIDECAR_CONTAINER]);
      assertEquals(init.image, IPTABLES_INIT_IMAGE);
      assertEquals(init.securityContext.capabilities.add, ["NET_ADMIN", "NET_RAW"]);
      assertEquals(init.restartPolicy, undefined);
      assertEquals(sidecar.image, ENVOY_IMAGE);
      assertEquals(sidecar.restartPolicy, "Always");
      assertEquals(sidecar.securityContext.runAsUser, POD_SIDECAR.uid);
      assertEquals(sidecar.resources.requests, { ...SIDECAR_REQUESTS });
      assertEquals(t.metadata.annotations["meshbench.io/emulated"], "true");
      assert(t.spec.volumes.some((v: Any) => v.secret?.secretName), "no identity volume");
      assertEquals(envoyUnmeshedReason({ spec: t.spec }), null);
      // Every httpGet probe of the app now asks the sidecar's health port.
      for (const c of t.spec.containers) {
        for (const p of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          if (c[p]?.httpGet) assertEquals(c[p].httpGet.port, POD_SIDECAR.health);
        }
      }
    }
  }
  // The Job too: its pods complete because the sidecar is native.
  const ml = injectEnvoySidecar(renderWorkload(meshed.find((s) => s.workload === "ml")!));
  const job = ml.find((o) => o.kind === "Job")!;
  assertEquals(template(job).spec.initContainers[1].restartPolicy, "Always");
  // The input is not changed.
  const plain = renderWorkload(meshed[0]);
  injectEnvoySidecar(plain);
  assert(!JSON.stringify(plain).includes(SIDECAR_CONTAINER));
});

Deno.test("a pod without the native sidecar or the init container is not meshed, and says why", () => {
  assert(/no "meshbench-envoy"/.test(envoyUnmeshedReason({ spec: {} })!));
  assert(
    /not a native sidecar/.test(
      envoyUnmeshedReason({ spec: { initContainers: [{ name: SIDECAR_CONTAINER }] } })!,
    ),
  );
  assert(
    /iptables/.test(
      envoyUnmeshedReason({
        spec: { initContainers: [{ name: SIDECAR_CONTAINER, restartPolicy: "Always" }] },
      })!,
    ),
  );
});

Deno.test("the mesh ports and their protocols come from each namespace's Services", () => {
  const ports = (w: string) => meshPorts(renderWorkload(meshed.find((s) => s.workload === w)!));
  // The HTTP servers' h2c port (appProtocol kubernetes.io/h2c) is carried as HTTP/2.
  assertEquals(ports("http"), [{ port: 80, protocol: "http1" }, { port: 8081, protocol: "http2" }]);
  assertEquals(ports("grpc"), [{ port: 9000, protocol: "http2" }]);
  assertEquals(ports("websocket"), [{ port: 8080, protocol: "http1" }]);
  assertEquals(ports("db"), [{ port: 6379, protocol: "tcp" }]);
  assertEquals(ports("ml"), []);
  const svc = (appProtocol: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: appProtocol },
    spec: { ports: [{ port: 80, appProtocol }] },
  });
  throws(() => meshPorts([svc("http"), svc("grpc")]), /two protocols/);
});

Deno.test("the kubelet's httpGet probe is rewritten to the sidecar, which proxies it to the app's own port and path", () => {
  const http = injectEnvoySidecar(renderWorkload(meshed.find((s) => s.workload === "http")!));
  const t = template(http.find((o) => o.metadata.name === "http-server")!);
  const probe = t.spec.containers[0].readinessProbe.httpGet;
  assertEquals(probe, { path: "/app-health/nginx/readiness", port: POD_SIDECAR.health });
  const bootstrap = JSON.parse(t.spec.initContainers[1].args[1]);
  const health = bootstrap.static_resources.listeners.find((l: Any) => l.name === "health");
  const routes = health.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0]
    .routes;
  const app = routes.find((r: Any) => r.match.path === "/app-health/nginx/readiness");
  assertEquals([app.route.cluster, app.route.prefix_rewrite], ["probe_80", "/"]);
  const cluster = bootstrap.static_resources.clusters.find((c: Any) => c.name === "probe_80");
  assertEquals(
    cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address,
    { address: "127.0.0.1", port_value: 80 },
  );
  // A probe kind the sidecar cannot carry is refused at injection, not left to fail.
  const tcp = renderWorkload(meshed.find((s) => s.workload === "http")!);
  template(tcp.find((o) => o.metadata.name === "http-server")!).spec.containers[0]
    .readinessProbe = { tcpSocket: { port: 80 } };
  throws(() => injectEnvoySidecar(tcp), /tcpSocket readinessProbe/);
});

Deno.test("the iptables rules redirect inbound and outbound TCP to Envoy, sparing Envoy's uid, loopback and its health and stats ports", () => {
  const s = iptablesScript();
  assert(s.includes(`--uid-owner ${POD_SIDECAR.uid} -j RETURN`));
  assert(s.includes(`--dport ${POD_SIDECAR.health} -j RETURN`));
  assert(s.includes(`--dport ${POD_SIDECAR.stats} -j RETURN`));
  assert(s.includes(`REDIRECT --to-ports ${POD_SIDECAR.inbound}`));
  assert(s.includes(`REDIRECT --to-ports ${POD_SIDECAR.outbound}`));
  assert(s.includes("-o lo -j RETURN"));
  // The exemptions come before the redirections.
  assert(s.indexOf("--uid-owner") < s.indexOf(`--to-ports ${POD_SIDECAR.outbound}`));
  assert(
    s.indexOf(`--dport ${POD_SIDECAR.health}`) < s.indexOf(`--to-ports ${POD_SIDECAR.inbound}`),
  );
});

Deno.test("the capacity check counts the sidecar's explicit requests, and a Guaranteed size makes requests equal limits", () => {
  const mesh = clusterMesh("envoy-sidecar");
  assert(mesh.emulated);
  assertEquals(mesh.footprint.sidecar, {
    cpu: cpuCores(SIDECAR_REQUESTS.cpu),
    memoryMiB: memoryMiB(SIDECAR_REQUESTS.memory),
  });
  // The pod's effective request grows by exactly the footprint (the init container's is
  // smaller than the rest and runs before it).
  const http = renderWorkload(meshed.find((s) => s.workload === "http")!);
  const server = http.find((o) => o.metadata.name === "http-server")!;
  const injected = injectEnvoySidecar(http).find((o) => o.metadata.name === "http-server")!;
  const before = podRequests(template(server).spec);
  const after = podRequests(template(injected).spec);
  assert(Math.abs(after.cpu - before.cpu - mesh.footprint.sidecar.cpu) < 1e-9);
  assertEquals(after.memoryMiB - before.memoryMiB, mesh.footprint.sidecar.memoryMiB);
  // Guaranteed: the annotations the target puts on every template size the sidecar.
  const sized = structuredClone(http);
  const t = template(sized.find((o) => o.metadata.name === "http-server")!);
  t.metadata.annotations = mesh.guaranteedProxy!.annotations("1500m", "300Mi");
  assertEquals(Object.keys(t.metadata.annotations).sort(), [
    PROXY_CPU_ANNOTATION,
    PROXY_MEMORY_ANNOTATION,
  ]);
  const g = template(injectEnvoySidecar(sized).find((o) => o.metadata.name === "http-server")!)
    .spec.initContainers[1];
  assertEquals(g.resources, {
    requests: { cpu: "1500m", memory: "300Mi" },
    limits: { cpu: "1500m", memory: "300Mi" },
  });
  assertEquals(g.args[g.args.indexOf("--concurrency") + 1], "2");
});

Deno.test("only the meshed namespaces are injected, and the identity Secret is labelled as meshbench's", () => {
  const specs = clusterNamespaces().filter((s) => s.workload === "http");
  const objs = specs.flatMap((s) => renderWorkload(s));
  const mesh = clusterMesh("envoy-sidecar");
  const out = injectMeshed(objs, specs, mesh.injection!);
  for (const o of out) {
    if (!template(o)) continue;
    const injected = JSON.stringify(o).includes(SIDECAR_CONTAINER);
    assertEquals(injected, o.metadata.namespace === "http-benchmark", String(o.metadata.namespace));
  }
  const [secret] = mesh.resources("http-benchmark", { ca: "C", cert: "T", key: "K" });
  assertEquals(secret.kind, "Secret");
  for (const [k, v] of Object.entries(MANAGED_LABELS)) assertEquals(secret.metadata.labels?.[k], v);
  assertEquals((secret as Any).stringData, { "ca.pem": "C", "cert.pem": "T", "key.pem": "K" });
});

const envoy = toolPath(MESH_TOOLS["sidecar-emu"]);
const noEnvoy = skipReason("real Envoy bootstrap test", missingBinaries({ envoy }));
Deno.test({
  name: "the real Envoy accepts every injected pod's bootstrap",
  ignore: noEnvoy !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-envoy-sidecar-" });
    try {
      await generateMeshIdentity(realRunner, dir, "spiffe://meshbench.local/envoy-sidecar");
      const files: Record<string, string> = {
        "ca.pem": `${dir}/ca.pem`,
        "cert.pem": `${dir}/sidecar.crt`,
        "key.pem": `${dir}/sidecar.key`,
      };
      for (const s of meshed) {
        for (const o of injectEnvoySidecar(renderWorkload(s))) {
          const sidecar = template(o)?.spec?.initContainers?.find((c: Any) =>
            c.name === SIDECAR_CONTAINER
          );
          if (!sidecar) continue;
          // The identity's files where this machine has them, instead of the pod's mount.
          const config = (sidecar.args[1] as string).replace(
            /\/etc\/meshbench\/envoy-identity\/([a-z]+\.pem)/g,
            (_: string, f: string) => files[f],
          );
          const out = await new Deno.Command(envoy!, {
            args: ["--mode", "validate", "--config-yaml", config, "--disable-hot-restart"],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
          assert(out.success, `${s.namespace}/${o.metadata.name}: ${text.slice(-800)}`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
