import { assert, assertEquals } from "./_assert.ts";
import { CLUSTER_MESHES, clusterMesh, enableNamespace, helmArgs } from "./meshes.ts";
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
  const { clusterLoadPoints, baselineFirstWorkloads } = await import("./target.ts");
  const config = {
    workloads: ["http", "ml"],
    load: {
      rates: [100, 500],
      durationS: 30,
      connections: 8,
      throughput: { enabled: true, durationS: 15, connections: 16 },
    },
  } as unknown as Parameters<typeof clusterLoadPoints>[0];
  const [http, ml] = clusterLoadPoints(config);
  assertEquals(http.points.map((p) => [p.mode, p.rate]), [
    ["fixed-rate", 100],
    ["fixed-rate", 500],
    ["max-throughput", null],
  ]);
  assertEquals(ml.points[0].mode, "batch");
  const [db] = clusterLoadPoints({ ...config, workloads: ["db"] } as typeof config);
  assertEquals(db.points.map((p) => [p.mode, p.tool, p.connections]), [
    ["max-throughput", "redis-benchmark", 8],
  ]);
  const [ws] = clusterLoadPoints({ ...config, workloads: ["websocket"] } as typeof config);
  assertEquals(ws.points.map((p) => [p.mode, p.tool, p.rate, p.connections]), [
    ["fixed-rate", "ws-client", 100, 50],
    ["fixed-rate", "ws-client", 500, 50],
  ]);
  assertEquals(baselineFirstWorkloads(["http", "grpc", "websocket", "ml", "db"]), [
    "websocket",
    "ml",
    "db",
  ]);
  throws(
    () => clusterLoadPoints({ ...config, workloads: ["smtp"] } as typeof config),
    /Cannot plan workload "smtp" on the cluster target: supported are http, grpc, websocket/,
  );
});

Deno.test("a WebSocket point splits over the client pods, same rate per connection", async () => {
  const { splitWsLoad } = await import("./target.ts");
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
