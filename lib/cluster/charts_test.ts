// The meshes as meshbench installs them, checked against the projects' real Helm charts
// (fetched by .ci/install_charts.sh from the Go module proxy: Cilium at the pinned release,
// Istio's source charts at a pinned commit; Linkerd's are not obtainable here). Each install
// step is rendered by the real helm with exactly the `--set` arguments meshbench passes;
// every value must change what is rendered (a misspelt key changes nothing), and the pod
// selectors meshbench uses for control plane and node proxies, the system namespaces and
// the sidecar sizing annotations must match what the charts create.
import { parseAllDocuments } from "yaml";
import { assert, assertEquals } from "./_assert.ts";
import { type ClusterMesh, clusterMesh, helmArgs, type HelmStep } from "./meshes.ts";
import { helmBinary, ownedSystemNamespaces } from "./mesh.ts";

const CHARTS = new URL("../../.testenv/charts/", import.meta.url).pathname;
/** The Kubernetes version charts are rendered for (the test control plane's). */
const KUBE_VERSION = "1.34.4";

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
if (skip) console.log(`SKIP chart tests: ${skip}`);

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

/** The `--set` arguments meshbench passes for `step` (taken from the real argv builder). */
function setArgs(step: HelmStep): string[] {
  const argv = helmArgs(step, "0", "ctx", "/dev/null", () => "/dev/null");
  const at = argv.indexOf("--set");
  return at < 0 ? [] : argv.slice(at);
}

/**
 * Rendered output without what differs on every render: Secrets' data (charts generate
 * certificates, e.g. Cilium's Hubble TLS) and checksum annotations derived from it.
 */
function normalized(text: string): string {
  return JSON.stringify(
    objects(text).map((o) => {
      const c = structuredClone(o) as Rendered & { stringData?: unknown };
      if (c.kind === "Secret") {
        delete c.data;
        delete c.stringData;
      }
      const ann = (c.spec?.template?.metadata as { annotations?: Record<string, string> })
        ?.annotations;
      for (const k of Object.keys(ann ?? {})) if (k.includes("checksum")) delete ann![k];
      return c;
    }),
  );
}

async function render(family: string, step: HelmStep, sets: string[]): Promise<string> {
  const out = await new Deno.Command(helmBinary(), {
    args: [
      "template",
      step.release,
      `${CHARTS}${family}/${step.chart}`,
      "--namespace",
      step.namespace,
      "--kube-version",
      KUBE_VERSION,
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
async function checkSteps(family: string, mesh: ClusterMesh): Promise<Rendered[]> {
  const all: Rendered[] = [];
  for (const step of mesh.install) {
    const sets = setArgs(step);
    const full = await render(family, step, sets);
    const fullNormalized = normalized(full);
    assertEquals(normalized(await render(family, step, sets)), fullNormalized, "renders repeat");
    const defaults = chartDefaults(family, step.chart);
    for (let i = 0; i < sets.length; i += 2) {
      const without = [...sets.slice(0, i), ...sets.slice(i + 2)];
      const other = normalized(await render(family, step, without));
      if (other !== fullNormalized) continue;
      // No effect is fine only when meshbench states the chart's own default explicitly.
      const [key, value] = [
        sets[i + 1].slice(0, sets[i + 1].indexOf("=")),
        step.values[
          sets[i + 1].slice(0, sets[i + 1].indexOf("="))
        ],
      ];
      assertEquals(
        lookup(defaults, key),
        value,
        `${mesh.name}: "--set ${sets[i + 1]}" changes nothing in ${family}/${step.chart} and ` +
          `is not the chart's default (misspelt?)`,
      );
    }
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

Deno.test({
  name: "Cilium as meshbench installs it: the real chart at the pinned version",
  ignore: skip !== null,
  async fn() {
    const mesh = clusterMesh("cilium");
    const chart = Deno.readTextFileSync(`${CHARTS}cilium/cilium/Chart.yaml`);
    assertEquals(/^version:\s*(\S+)/m.exec(chart)?.[1], mesh.version);
    const objs = await checkSteps("cilium", mesh);
    checkSelectors(mesh, objs);
    checkNamespaces(mesh, objs);
    // SPIRE for mutual authentication gets its own namespace, from the chart itself.
    assert(objs.some((o) => o.kind === "Namespace" && o.metadata.name === "cilium-spire"));
    const operator = objs.find((o) =>
      o.kind === "Deployment" &&
      matches("io.cilium/app=operator", o.spec?.template?.metadata?.labels)
    );
    assertEquals((operator?.spec as { replicas?: number })?.replicas, 1);
  },
});

Deno.test({
  name: "Istio sidecar and ambient as meshbench installs them: Istio's source charts",
  ignore: skip !== null,
  async fn() {
    const sidecar = clusterMesh("istio");
    const objs = await checkSteps("istio", sidecar);
    checkSelectors(sidecar, objs);
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

    const ambient = clusterMesh("istio-ambient");
    const ambientObjs = await checkSteps("istio", ambient);
    checkSelectors(ambient, ambientObjs);
    checkNamespaces(ambient, ambientObjs);
  },
});
