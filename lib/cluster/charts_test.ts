// The meshes as meshbench installs them, checked against the projects' real Helm charts
// (fetched by .ci/install_charts.sh from the Go module proxy: Cilium at the pinned release,
// Istio's source charts at a pinned commit; Linkerd's are not on the proxy: its test runs where
// .ci/install_linkerd_charts.sh has copied them from a linkerd/linkerd2 checkout). Each install
// step is rendered by the real helm with exactly the `--set` arguments meshbench passes, at
// the test control plane's Kubernetes version and at the benchmark cluster's (Ansible's
// kubernetes_version). Every value must change what is rendered outside the ConfigMaps that
// only echo the values (Istio's "values", the injector's and Linkerd's "values" keys), or
// name a key the chart declares (one its injector reads at run time): a misspelt key does
// neither. The pod selectors meshbench uses for control plane and node proxies, the system
// namespaces, the sidecar sizing annotations and each mesh's declared footprint (what the
// capacity check counts) must match what the charts create; the Cilium meshes' values must
// keep the CNI's and their revert must render the CNI exactly as cluster:setup installed it.
import { parseAllDocuments } from "yaml";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  CILIUM_CNI_VALUES,
  type ClusterMesh,
  clusterMesh,
  helmArgs,
  type HelmStep,
  type Requests,
} from "./meshes.ts";
import { helmBinary, linkerdCerts, ownedSystemNamespaces } from "./mesh.ts";
import { realRunner } from "../command.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";
import { CONTROL_PLANE_LABEL, podRequests } from "./capacity.ts";
import { skipReason } from "../../tests/skip.ts";

const CHARTS = new URL("../../.testenv/charts/", import.meta.url).pathname;
/** The Kubernetes version charts are rendered for (the test control plane's). */
const KUBE_VERSION = "1.34.4";
/** The benchmark cluster's Kubernetes version (what cluster:setup installs). */
const CLUSTER_KUBE_VERSION = String(
  (parseAllDocuments(
    Deno.readTextFileSync(new URL("../../ansible/group_vars/all.yml", import.meta.url)),
  )[0].toJS() as Record<string, unknown>).kubernetes_version,
);

let skip: string | null = null;
try {
  Deno.statSync(`${CHARTS}charts.env`);
} catch {
  skip = `charts missing in "${CHARTS}" (run: bash .ci/install_charts.sh)`;
}
try {
  Deno.statSync(helmBinary());
} catch {
  skip ??= `helm missing at "${helmBinary()}" (run: bash .ci/install_testenv.sh)`;
}
skipReason("chart tests", skip);

interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec?: {
        containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }>;
      };
    };
  };
  data?: Record<string, string>;
}

/** A generated file meshbench passes with `--set-file` (Linkerd's certificates), by kind. */
type FileFor = (kind: NonNullable<HelmStep["files"]>[string]) => string;

/** The `--set` arguments meshbench passes for `step` (taken from the real argv builder). */
function setArgs(step: HelmStep, fileFor: FileFor = () => "/dev/null"): string[] {
  const argv = helmArgs(step, "0", "ctx", "/dev/null", fileFor);
  const at = argv.indexOf("--set");
  return at < 0 ? [] : argv.slice(at);
}

/**
 * Removes, anywhere in `v`, what a chart generates anew on every render: webhook CA bundles
 * (Linkerd's injector and validators) and checksum annotations of generated data (any pod
 * template's, a CronJob's included).
 */
function scrubGenerated(v: unknown, key = ""): void {
  if (Array.isArray(v)) {
    for (const x of v) scrubGenerated(x);
    return;
  }
  if (v === null || typeof v !== "object") return;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k === "caBundle" || (key === "annotations" && k.includes("checksum"))) delete o[k];
    else scrubGenerated(o[k], k);
  }
}

/**
 * Rendered output without what differs on every render: Secrets' data (charts generate
 * certificates, e.g. Cilium's Hubble TLS), webhook CA bundles and checksum annotations
 * derived from them.
 */
function normalized(text: string): string {
  return JSON.stringify(
    objects(text).filter((o) => !(o.kind === "ConfigMap" && o.metadata.name === "values")).map(
      (o) => {
        const c = structuredClone(o) as Rendered & { stringData?: unknown };
        // ConfigMaps that echo the values: Istio's injector and Linkerd's config.
        if (
          c.kind === "ConfigMap" &&
          ["istio-sidecar-injector", "linkerd-config"].includes(c.metadata.name)
        ) {
          delete c.data?.values;
        }
        if (c.kind === "Secret") {
          delete c.data;
          delete c.stringData;
        }
        scrubGenerated(c);
        return c;
      },
    ),
  );
}

async function render(
  family: string,
  step: HelmStep,
  sets: string[],
  kubeVersion = KUBE_VERSION,
): Promise<string> {
  const out = await new Deno.Command(helmBinary(), {
    args: [
      "template",
      step.release,
      `${CHARTS}${family}/${step.chart}`,
      "--namespace",
      step.namespace,
      "--kube-version",
      kubeVersion,
      ...sets,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `helm template ${step.release} (${family}/${step.chart}) failed: ` +
        new TextDecoder().decode(out.stderr),
    );
  }
  return text;
}

function objects(text: string): Rendered[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Rendered | null).filter((
    o,
  ): o is Rendered => o !== null && typeof o === "object" && "kind" in o);
}

function matches(selector: string, labels: Record<string, string> | undefined): boolean {
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    return labels?.[k.trim()] === v.trim();
  });
}

/** The chart's default values (Istio's charts nest them under `_internal_defaults_do_not_set`). */
function chartDefaults(family: string, chart: string): Record<string, unknown> {
  const doc = parseAllDocuments(
    Deno.readTextFileSync(`${CHARTS}${family}/${chart}/values.yaml`),
  )[0]?.toJS() as Record<string, unknown> | null ?? {};
  const internal = doc["_internal_defaults_do_not_set"] as Record<string, unknown> | undefined;
  return { ...internal, ...doc };
}

function lookup(values: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = values;
  for (const k of dotted.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * Namespaces the charts create themselves must not be ones meshbench creates first (helm
 * refuses to adopt a Namespace it did not create).
 */
function checkNamespaces(mesh: ClusterMesh, objs: Rendered[]): void {
  const own = ownedSystemNamespaces(mesh);
  for (const o of objs.filter((o) => o.kind === "Namespace")) {
    assert(
      !own.includes(o.metadata.name),
      `${mesh.name}: the chart creates Namespace "${o.metadata.name}", meshbench must not`,
    );
  }
}

/** Renders every step of `mesh`; checks each value has an effect; returns all objects. */
async function checkSteps(
  family: string,
  mesh: ClusterMesh,
  fileFor?: FileFor,
): Promise<Rendered[]> {
  const all: Rendered[] = [];
  for (const step of mesh.install) {
    const sets = setArgs(step, fileFor);
    const full = await render(family, step, sets);
    const fullNormalized = normalized(full);
    assertEquals(normalized(await render(family, step, sets)), fullNormalized, "renders repeat");
    const defaults = chartDefaults(family, step.chart);
    for (let i = 0; i < sets.length; i += 2) {
      if (sets[i] === "--set-file") continue; // generated certificates: always used
      const without = [...sets.slice(0, i), ...sets.slice(i + 2)];
      const other = normalized(await render(family, step, without));
      if (other !== fullNormalized) continue;
      // No effect on what is rendered is fine only for a key the chart declares (its
      // injector reads it at run time, or meshbench states the default explicitly).
      const key = sets[i + 1].slice(0, sets[i + 1].indexOf("="));
      assert(
        lookup(defaults, key) !== undefined,
        `${mesh.name}: "${sets[i]} ${sets[i + 1]}" changes nothing in ${family}/${step.chart} ` +
          `and is no key of the chart (misspelt?)`,
      );
    }
    // The benchmark cluster's Kubernetes version renders too.
    objects(await render(family, step, sets, CLUSTER_KUBE_VERSION));
    // Objects without a namespace land in the release's.
    all.push(
      ...objects(full).map((o) => ({
        ...o,
        metadata: { ...o.metadata, namespace: o.metadata.namespace ?? step.namespace },
      })),
    );
  }
  return all;
}

/**
 * `mesh` with its control plane placed on kubeadm's tainted control-plane node, as a cluster
 * run installs it when the cluster has one (the node selector and toleration of lib/cluster's
 * lifecycle).
 */
function placed(mesh: ClusterMesh): ClusterMesh {
  const p = mesh.controlPlanePlacement?.({ [CONTROL_PLANE_LABEL]: "" }, {
    key: CONTROL_PLANE_LABEL,
    operator: "Exists",
    effect: "NoSchedule",
  });
  return {
    ...mesh,
    install: mesh.install.map((s) => ({ ...s, json: { ...s.json, ...p?.[s.release] } })),
  };
}

/**
 * Every control-plane Deployment or StatefulSet of `mesh` is rendered onto the control-plane
 * node (node selector and toleration), so it stays off the measured workers; node agents
 * (DaemonSets, e.g. SPIRE's agent) run everywhere.
 */
function checkPlacement(mesh: ClusterMesh, objs: Rendered[]): void {
  let checked = 0;
  for (const sel of mesh.controlPlane) {
    const hit = objs.filter((w) =>
      (w.kind === "Deployment" || w.kind === "StatefulSet") &&
      w.metadata.namespace === sel.namespace &&
      matches(sel.labelSelector, w.spec?.template?.metadata?.labels)
    );
    for (const w of hit) {
      const pod = w.spec?.template?.spec as {
        nodeSelector?: Record<string, string>;
        tolerations?: Array<{ key?: string; effect?: string }>;
      };
      const where = `${mesh.name}: ${w.kind} ${w.metadata.name}`;
      assertEquals(pod.nodeSelector?.[CONTROL_PLANE_LABEL], "", `${where} has no node selector`);
      assert(
        pod.tolerations?.some((t) => t.key === CONTROL_PLANE_LABEL && t.effect === "NoSchedule"),
        `${where} does not tolerate the control-plane taint`,
      );
      checked++;
    }
  }
  assert(checked > 0, `${mesh.name}: no control-plane Deployment or StatefulSet rendered`);
}

function checkSelectors(mesh: ClusterMesh, objs: Rendered[]): void {
  const workloads = objs.filter((o) => ["Deployment", "DaemonSet", "StatefulSet"].includes(o.kind));
  for (const sel of [...mesh.controlPlane, ...mesh.nodeProxies]) {
    const hit = workloads.filter((w) =>
      w.metadata.namespace === sel.namespace &&
      matches(sel.labelSelector, w.spec?.template?.metadata?.labels)
    );
    assert(
      hit.length > 0,
      `${mesh.name}: no ${
        workloads.map((w) => w.kind).join("/")
      } in "${sel.namespace}" has pods labelled ${sel.labelSelector}`,
    );
  }
}

/** Requests of workloads (as the scheduler counts a pod): Deployments/StatefulSets x replicas. */
function requestsOf(objs: Rendered[], kinds: string[]): Requests {
  let cpu = 0;
  let mem = 0;
  for (const o of objs.filter((o) => kinds.includes(o.kind))) {
    const spec = o.spec as {
      replicas?: number;
      template?: { spec?: Parameters<typeof podRequests>[0] };
    };
    const n = o.kind === "DaemonSet" ? 1 : (spec.replicas ?? 1);
    const r = podRequests(spec.template?.spec ?? {});
    cpu += n * r.cpu;
    mem += n * r.memoryMiB;
  }
  return { cpu: Math.round(cpu * 1000) / 1000, memoryMiB: mem };
}

const id = (o: Rendered) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;

/** Objects of `objs` that `base` does not render (what a mesh adds to a release). */
function added(objs: Rendered[], base: Rendered[]): Rendered[] {
  const have = new Set(base.map(id));
  return objs.filter((o) => !have.has(id(o)));
}

Deno.test({
  name: "Cilium as meshbench runs it: the CNI release's values kept, the mesh reverted exactly",
  ignore: skip !== null,
  async fn() {
    const cni: HelmStep = {
      release: "cilium",
      chart: "cilium",
      repo: "",
      namespace: "kube-system",
      values: CILIUM_CNI_VALUES,
      timeoutS: 1,
    };
    // The CNI's own values (what cluster:setup installs) each take effect or are declared.
    const cniObjs = await checkSteps("cilium", { ...clusterMesh("cilium"), install: [cni] });
    const cniOnly = normalized(await render("cilium", cni, setArgs(cni)));
    for (const name of ["cilium", "cilium-l7"]) {
      const mesh = clusterMesh(name);
      const chart = Deno.readTextFileSync(`${CHARTS}cilium/cilium/Chart.yaml`);
      assertEquals(/^version:\s*(\S+)/m.exec(chart)?.[1], mesh.version);
      const objs = await checkSteps("cilium", placed(mesh));
      checkSelectors(mesh, objs);
      // What the mesh places: SPIRE's server (cilium-operator is the CNI's, not the mesh's).
      checkPlacement(mesh, added(objs, cniObjs));
      checkNamespaces(mesh, objs);
      // SPIRE for mutual authentication gets its own namespace, from the chart itself, and
      // keeps no PersistentVolumeClaim (a kubeadm cluster has no StorageClass).
      assert(objs.some((o) => o.kind === "Namespace" && o.metadata.name === "cilium-spire"));
      assert(!JSON.stringify(objs).includes("volumeClaimTemplates"), "SPIRE claims a volume");
      const config = objs.find((o) =>
        o.kind === "ConfigMap" && o.metadata.name === "cilium-config"
      );
      assertEquals(config?.data?.["enable-wireguard"], "true");
      assertEquals(config?.data?.["mesh-auth-enabled"], "true");
      assertEquals(config?.data?.["ipam"], "kubernetes");
      assertEquals(config?.data?.["cni-exclusive"], "false");
      const operator = objs.find((o) =>
        o.kind === "Deployment" &&
        matches("io.cilium/app=operator", o.spec?.template?.metadata?.labels)
      );
      assertEquals((operator?.spec as { replicas?: number })?.replicas, 1);
      // What the mesh adds to the CNI is what the capacity check counts.
      const extra = added(objs, cniObjs);
      assertEquals(requestsOf(extra, ["Deployment", "StatefulSet"]), mesh.footprint.controlPlane);
      assertEquals(requestsOf(extra, ["DaemonSet"]), mesh.footprint.perNode);
      // "Uninstalling" the mesh renders the CNI exactly as cluster:setup installed it.
      const step = mesh.install[0];
      const revert = helmArgs(step, "0", "ctx", "/dev/null", () => "", { revert: true });
      const reverted = await render("cilium", step, [
        ...setArgs(step),
        ...revert.slice(revert.indexOf("--set")),
      ]);
      assertEquals(normalized(reverted), cniOnly, `${name}: the revert leaves the CNI changed`);
    }
  },
});

Deno.test({
  name: "Istio sidecar and ambient as meshbench installs them: Istio's source charts",
  ignore: skip !== null,
  async fn() {
    const sidecar = clusterMesh("istio");
    const objs = await checkSteps("istio", placed(sidecar));
    checkSelectors(sidecar, objs);
    checkPlacement(sidecar, objs);
    checkNamespaces(sidecar, objs);
    const istiod = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "istiod");
    const env = istiod?.spec?.template?.spec?.containers?.[0].env ?? [];
    assertEquals(env.find((e) => e.name === "ENABLE_NATIVE_SIDECARS")?.value, "true");
    // The injection template reads every annotation meshbench sets for Guaranteed sidecars.
    const injector = objs.find((o) =>
      o.kind === "ConfigMap" && o.metadata.name === "istio-sidecar-injector"
    );
    const template = Object.values(injector?.data ?? {}).join("\n");
    for (const a of Object.keys(sidecar.guaranteedProxy!.annotations("1", "1Gi"))) {
      assert(template.includes(a), `istio injection template does not read "${a}"`);
    }
    assert(template.includes("name: istio-proxy"), "injection template names istio-proxy");
    assertEquals(requestsOf(objs, ["Deployment", "StatefulSet"]), sidecar.footprint.controlPlane);
    assertEquals(requestsOf(objs, ["DaemonSet"]), sidecar.footprint.perNode);
    // The injector sizes every sidecar from the values it was given.
    const injected = JSON.parse(injector?.data?.values ?? "{}").global.proxy.resources.requests;
    assertEquals(
      { cpu: cpuCores(injected.cpu), memoryMiB: memoryMiB(injected.memory) },
      sidecar.footprint.sidecar,
    );

    const ambient = clusterMesh("istio-ambient");
    const ambientObjs = await checkSteps("istio", placed(ambient));
    checkSelectors(ambient, ambientObjs);
    checkPlacement(ambient, ambientObjs);
    checkNamespaces(ambient, ambientObjs);
    assertEquals(
      requestsOf(ambientObjs, ["Deployment", "StatefulSet"]),
      ambient.footprint.controlPlane,
    );
    assertEquals(requestsOf(ambientObjs, ["DaemonSet"]), ambient.footprint.perNode);
  },
});

/** Linkerd's charts, where a linkerd/linkerd2 checkout provided them (not on the Go proxy). */
let noLinkerd: string | null = skip;
try {
  Deno.statSync(`${CHARTS}linkerd/linkerd-control-plane/Chart.yaml`);
} catch {
  noLinkerd ??= `Linkerd's charts missing in "${CHARTS}linkerd" (not on the Go module proxy; ` +
    "from a linkerd/linkerd2 checkout: bash .ci/install_linkerd_charts.sh DIR)";
}
if (!skip) skipReason("Linkerd chart test", noLinkerd);

Deno.test({
  name: "Linkerd as meshbench installs it: the edge release's own charts",
  ignore: noLinkerd !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-linkerd-" });
    try {
      // The trust anchor and issuer meshbench generates, so the chart renders as installed.
      const certs = await linkerdCerts(realRunner, dir);
      const mesh = clusterMesh("linkerd");
      const objs = await checkSteps("linkerd", placed(mesh), (kind) => certs[kind]);
      checkSelectors(mesh, objs);
      checkPlacement(mesh, objs);
      checkNamespaces(mesh, objs);
      // The controllers and their proxies as sized (the chart requests nothing by default).
      assertEquals(requestsOf(objs, ["Deployment", "StatefulSet"]), mesh.footprint.controlPlane);
      assertEquals(requestsOf(objs, ["DaemonSet"]), mesh.footprint.perNode);
      // The injector sizes each proxy from proxy.resources: the footprint's sidecar.
      const config = objs.find((o) =>
        o.kind === "ConfigMap" && o.metadata.name === "linkerd-config"
      );
      const values = parseAllDocuments(config?.data?.values ?? "")[0]?.toJS() as {
        proxy: { resources: { cpu: { request: string }; memory: { request: string } } };
      };
      assertEquals({
        cpu: cpuCores(values.proxy.resources.cpu.request),
        memoryMiB: memoryMiB(values.proxy.resources.memory.request),
      }, mesh.footprint.sidecar);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
