import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  CILIUM_CNI_VALUES,
  CILIUM_VERSION,
  CLUSTER_MESHES,
  clusterMesh,
  CNI_RELEASE_LABELS,
  enableNamespace,
  helmArgs,
} from "./meshes.ts";
import { throws } from "node:assert/strict";

Deno.test("every real mesh pins a version and says how to install, enable and verify it", () => {
  for (const name of ["istio", "istio-ambient", "linkerd", "cilium"]) {
    const m = clusterMesh(name);
    assert(/^\d+\.\d+\.\d+$/.test(m.version), `${name} version "${m.version}" not pinned`);
    assert(m.install.length > 0 && m.controlPlane.length > 0);
    assert(m.settings.mtls, `${name} records its mTLS setting`);
  }
  throws(() => clusterMesh("consul"), /Unknown cluster mesh "consul"/);
});

Deno.test("meshed-pod checks: native sidecars, ambient redirection", () => {
  const istio = CLUSTER_MESHES.istio;
  assertEquals(
    istio.unmeshedReason({ spec: { containers: [{ name: "nginx" }] } }),
    'no "istio-proxy" container',
  );
  assertEquals(
    istio.unmeshedReason({
      metadata: { annotations: { "sidecar.istio.io/status": "{}" } },
      spec: {
        containers: [{ name: "nginx" }],
        initContainers: [{ name: "istio-proxy", restartPolicy: "Always" }],
      },
    }),
    null,
  );
  assert(
    istio.unmeshedReason({ spec: { containers: [{ name: "nginx" }, { name: "istio-proxy" }] } })!
      .includes("not a native sidecar"),
  );
  const linkerd = CLUSTER_MESHES.linkerd;
  assertEquals(
    linkerd.unmeshedReason({
      spec: { initContainers: [{ name: "linkerd-proxy", restartPolicy: "Always" }] },
    }),
    null,
  );
  const ambient = CLUSTER_MESHES["istio-ambient"];
  assert(ambient.unmeshedReason({ metadata: { annotations: {} } })!.includes("absent"));
  assertEquals(
    ambient.unmeshedReason({
      metadata: { annotations: { "ambient.istio.io/redirection": "enabled" } },
    }),
    null,
  );
});

Deno.test("namespace enablement and helm command lines", () => {
  const ns = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "http-benchmark", labels: { a: "b" } },
  };
  const on = enableNamespace(ns, CLUSTER_MESHES.linkerd);
  assertEquals(on.metadata.annotations?.["linkerd.io/inject"], "enabled");
  assertEquals(ns.metadata.labels, { a: "b" });
  const args = helmArgs(
    CLUSTER_MESHES.linkerd.install[1],
    "2025.10.2",
    "ctx",
    "/k",
    (f) => `/tmp/${f}`,
  );
  assertEquals(args.slice(0, 4), [
    "upgrade",
    "--install",
    "linkerd-control-plane",
    "linkerd-control-plane",
  ]);
  assert(args.includes("--kube-context") && args[args.indexOf("--kube-context") + 1] === "ctx");
  assert(args.includes("identityTrustAnchorsPEM=/tmp/trust-anchor-crt"));
  assert(args.includes("proxy.nativeSidecar=true"));
});

Deno.test("cluster load points and baseline-first workloads", async () => {
  const { baselineFirstWorkloads } = await import("./addresses.ts");
  const { pointsOn } = await import("../workload.ts");
  const { workloadsByName } = await import("../workloads/mod.ts");
  const { loadConfig } = await import("../config.ts");
  // The defaults (no sweep, no knee ramp), with the rates and connections this test reads.
  const { config: defaults } = await loadConfig();
  const config: Parameters<typeof pointsOn>[2] = {
    ...defaults,
    workloads: ["http", "ml"],
    load: {
      ...defaults.load,
      rates: [100, 500],
      durationS: 30,
      connections: 8,
      throughput: { enabled: true, durationS: 15, connections: 16 },
    },
  };
  const inPods = (name: string) => pointsOn(workloadsByName([name])[0], "pod", config);
  assertEquals(inPods("http").map((p) => [p.mode, p.tool, p.rate]), [
    ["fixed-rate", "fortio", 100],
    ["fixed-rate", "fortio", 500],
    ["max-throughput", "fortio", null],
  ]);
  assertEquals(inPods("ml")[0].mode, "batch");
  assertEquals(inPods("db").map((p) => [p.mode, p.tool, p.connections]), [
    ["max-throughput", "redis-benchmark", 8],
  ]);
  assertEquals(inPods("websocket").map((p) => [p.mode, p.tool, p.rate, p.connections]), [
    ["fixed-rate", "ws-client", 100, 50],
    ["fixed-rate", "ws-client", 500, 50],
  ]);
  assertEquals(baselineFirstWorkloads(["http", "grpc", "websocket", "ml", "db"]), [
    "websocket",
    "ml",
    "db",
  ]);
  throws(() => inPods("smtp"), /Unknown workload "smtp" in "workloads" \(known: http, grpc/);
});

Deno.test("a WebSocket point splits over the client pods, same rate per connection", async () => {
  const { splitWsLoad } = await import("./drivers.ts");
  assertEquals(splitWsLoad({ rate: 1000, connections: 50 }, 2), [
    { connections: 25, rate: 500 },
    { connections: 25, rate: 500 },
  ]);
  assertEquals(splitWsLoad({ rate: 300, connections: 5 }, 2), [
    { connections: 3, rate: 180 },
    { connections: 2, rate: 120 },
  ]);
  // More pods than connections: only as many pods as connections get a share.
  assertEquals(splitWsLoad({ rate: 10, connections: 1 }, 3), [{ connections: 1, rate: 10 }]);
});

Deno.test("a new CRD is a mesh's own only by its Helm release or its API group", async () => {
  const { crdOwnedBy } = await import("./mesh.ts");
  const crd = (group: string, annotations: Record<string, string> = {}) => ({
    metadata: { name: `x.${group}`, annotations },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "x", kind: "X" },
      versions: [],
    },
  });
  const istio = clusterMesh("istio");
  const release = {
    "meta.helm.sh/release-name": "istio-base",
    "meta.helm.sh/release-namespace": "istio-system",
  };
  assertEquals(crdOwnedBy(istio, crd("example.com", release)), true);
  assertEquals(crdOwnedBy(istio, crd("security.istio.io")), true);
  assertEquals(crdOwnedBy(istio, crd("example.com")), false);
  assertEquals(crdOwnedBy(istio, crd("notistio.io")), false, "suffix, not substring");
  assertEquals(
    crdOwnedBy(istio, crd("example.com", { ...release, "meta.helm.sh/release-namespace": "x" })),
    false,
  );
  assertEquals(crdOwnedBy(clusterMesh("cilium"), crd("cilium.io")), true);
});

Deno.test("one Cilium version for the cluster's CNI (Ansible), the meshes and the chart tests", async () => {
  const { parse } = await import("yaml");
  const vars = parse(
    Deno.readTextFileSync(new URL("../../ansible/group_vars/all.yml", import.meta.url)),
  ) as Record<string, unknown>;
  assertEquals(String(vars.cilium_version), CILIUM_VERSION);
  const charts = Deno.readTextFileSync(new URL("../../.ci/install_charts.sh", import.meta.url));
  assertEquals(/github\.com\/cilium\/cilium@v([0-9.]+)/.exec(charts)?.[1], CILIUM_VERSION);
  for (const name of ["cilium", "cilium-l7"]) {
    assertEquals(clusterMesh(name).version, CILIUM_VERSION);
  }
});

Deno.test("Linkerd's chart test reads the charts of the edge release meshbench installs", () => {
  // .ci/install_linkerd_charts.sh copies them from a linkerd/linkerd2 checkout by tag.
  const script = Deno.readTextFileSync(
    new URL("../../.ci/install_linkerd_charts.sh", import.meta.url),
  );
  const tag = /^LINKERD_TAG="([^"]+)"/m.exec(script)?.[1];
  assertEquals(tag, `edge-${clusterMesh("linkerd").version.slice(2)}`);
});

Deno.test("the Cilium meshes change the CNI's release: CNI values kept, never helm uninstall", () => {
  // Ansible installs the CNI from the very file the meshes read.
  const role = Deno.readTextFileSync(
    new URL("../../ansible/roles/cni/tasks/cilium.yml", import.meta.url),
  );
  assert(role.includes("--values={{ cni_helm_dir }}/cilium-cni-values.yaml"));
  assert(role.includes("--labels=meshbench.io/managed=true,meshbench.io/cni=cilium"));
  const defaults = Deno.readTextFileSync(
    new URL("../../ansible/roles/cni/defaults/main.yml", import.meta.url),
  );
  assert(defaults.includes('"{{ role_path }}/../../../meshes/cilium/cni-values.yaml"'));
  assertEquals(CILIUM_CNI_VALUES["ipam.mode"], "kubernetes");
  for (const name of ["cilium", "cilium-l7"]) {
    const mesh = clusterMesh(name);
    assertEquals(mesh.requiresCni, "cilium");
    for (const step of mesh.install) {
      assert(step.reuse, `${name}: step "${step.release}" must change the CNI's release`);
      assertEquals(step.reuse.owner, CNI_RELEASE_LABELS);
      for (const [k, v] of Object.entries(CILIUM_CNI_VALUES)) {
        assertEquals(step.values[k], v, `${name} install drops or changes CNI value "${k}"`);
        assertEquals(step.reuse.revert[k], v, `${name} revert drops or changes CNI value "${k}"`);
      }
      const install = helmArgs(step, mesh.version, "ctx", "/k", () => "");
      const revert = helmArgs(step, mesh.version, "ctx", "/k", () => "", { revert: true });
      for (const args of [install, revert]) {
        assert(args.includes("--reset-then-reuse-values"));
        assert(!args.includes("--install") && !args.includes("uninstall"));
        assertEquals(args[args.indexOf("--version") + 1], CILIUM_VERSION);
      }
      assert(revert.includes("authentication.mutual.spire.enabled=false"));
    }
  }
});

Deno.test("Istio ambient can chain after the Cilium CNI: cni.exclusive is false", () => {
  // Istio's platform prerequisites for Cilium: an exclusive Cilium removes istio-cni's
  // configuration.
  assertEquals(CILIUM_CNI_VALUES["cni.exclusive"], false);
});

Deno.test("every release meshbench installs is labelled as its own; SPIRE keeps no PersistentVolume", () => {
  for (const mesh of Object.values(CLUSTER_MESHES)) {
    for (const step of mesh.install.filter((s) => !s.reuse)) {
      const args = helmArgs(step, mesh.version, "ctx", "/k", () => "/f");
      assertEquals(args[args.indexOf("--labels") + 1], "meshbench.io/managed=true");
      assert(args.includes("--install"));
    }
  }
  for (const name of ["cilium", "cilium-l7"]) {
    const values = clusterMesh(name).install[0].values;
    assertEquals(values["authentication.mutual.spire.install.server.dataStorage.enabled"], false);
  }
});

Deno.test("Cilium's mesh settings say what mutual authentication is and that WireGuard encrypts", () => {
  for (const name of ["cilium", "cilium-l7"]) {
    const m = clusterMesh(name);
    assert(String(m.settings.mtls).includes("beta"));
    assertEquals(m.settings.encryption, "wireguard (node to node)");
    assertEquals(m.install[0].values["encryption.type"], "wireguard");
    assert(
      m.controlPlane.some((s) => s.namespace === "cilium-spire"),
      "SPIRE is control plane",
    );
  }
  // The L7 variant sends HTTP and gRPC through cilium-envoy (HTTP rules), the other does not.
  const l7 = JSON.stringify(clusterMesh("cilium-l7").resources("http-benchmark"));
  assert(l7.includes('"http":[{}]'));
  assert(!JSON.stringify(clusterMesh("cilium").resources("http-benchmark")).includes('"http"'));
});
