/**
 * The cluster target's objects: the YAML in `manifests/` rendered per namespace. Workload
 * files carry no namespace; each workload's pod side names its namespaces and its manifest
 * ({@linkcode clusterNamespaces} reads them from the workload registry), so the baseline
 * namespaces run exactly the same objects as the meshed ones and a workload is added without
 * an edit here.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { registeredWorkloads } from "../workloads/mod.ts";

/** Labels on every object meshbench creates. */
export const MANAGED_LABELS = {
  "app.kubernetes.io/part-of": "meshbench",
  "meshbench.io/managed": "true",
} as const;

/** Label selector for everything meshbench created. */
export const MANAGED_SELECTOR = "meshbench.io/managed=true,app.kubernetes.io/part-of=meshbench";

/** A Kubernetes object as plain data. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** One benchmark namespace: which workload it runs and whether a mesh may enable it. */
export interface NamespaceSpec {
  namespace: string;
  /** The registered workload's name. */
  workload: string;
  /** Its objects' YAML file, relative to the repository root. */
  manifest: string;
  /** False for the baseline namespaces: never enabled for any mesh. */
  meshed: boolean;
  /** Added to every NodePort of the workload (NodePorts are cluster-wide). */
  nodePortOffset: number;
}

/**
 * The namespaces of every registered workload that has a pod side, in deploy order: each
 * workload's own (meshed) namespace in registration order, then the baseline twins.
 */
export function clusterNamespaces(): NamespaceSpec[] {
  const pod = registeredWorkloads().filter((w) => w.pod);
  const manifest = (w: (typeof pod)[number]) =>
    w.pod!.manifest ?? `manifests/workloads/${w.name}.yaml`;
  return [
    ...pod.map((w) => ({
      namespace: w.namespace,
      workload: w.name,
      manifest: manifest(w),
      meshed: true,
      nodePortOffset: 0,
    })),
    ...pod.flatMap((w) =>
      w.pod!.baseline
        ? [{
          namespace: w.pod!.baseline.namespace,
          workload: w.name,
          manifest: manifest(w),
          meshed: false,
          nodePortOffset: w.pod!.baseline.nodePortOffset,
        }]
        : []
    ),
  ];
}

/** The repository's `manifests/` directory. */
export const MANIFEST_DIR = new URL("../../manifests/", import.meta.url).pathname;

/** Parses a multi-document YAML text into objects; errors name the file, line and column. */
export function parseManifests(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      throw new Error(`Cannot parse manifest "${source}": ${doc.errors[0].message}`);
    }
    const obj = doc.toJS() as KubeObject | null;
    if (obj === null) continue;
    if (typeof obj !== "object" || !obj.apiVersion || !obj.kind || !obj.metadata?.name) {
      throw new Error(
        `Cannot use manifest "${source}": a document lacks apiVersion, kind or metadata.name`,
      );
    }
    out.push(obj);
  }
  return out;
}

/** Reads and parses one file under `manifests/`. */
export function readManifestFile(relative: string, dir = MANIFEST_DIR): KubeObject[] {
  const path = `${dir}${relative}`;
  return parseManifests(Deno.readTextFileSync(path), path);
}

/**
 * The Namespace objects of `specs`: the template of their role (`meshed` or `baseline`) in
 * `manifests/namespaces.yaml` under their names.
 */
export function renderNamespaces(
  specs: readonly NamespaceSpec[] = clusterNamespaces(),
  dir = MANIFEST_DIR,
): KubeObject[] {
  const all = readManifestFile("namespaces.yaml", dir);
  return specs.map((s) => {
    const role = s.meshed ? "meshed" : "baseline";
    const ns = all.find((o) => o.metadata.name === role);
    if (!ns) {
      throw new Error(
        `Cannot render namespace "${s.namespace}": no Namespace "${role}" in ${dir}namespaces.yaml`,
      );
    }
    const copy = structuredClone(ns);
    copy.metadata.name = s.namespace;
    return copy;
  });
}

/** The repository root (where `manifests/` is). */
export const REPO_DIR = new URL("../../", import.meta.url).pathname;

/** Annotation of a ConfigMap whose data meshbench fills with repository files. */
export const REPO_FILES_ANNOTATION = "meshbench.io/repo-files";

/**
 * Fills a ConfigMap annotated with {@linkcode REPO_FILES_ANNOTATION} (comma-separated paths
 * relative to the repository root): each file becomes the data key of its file name, so pods
 * mount it back at its path with `items`. Other objects are returned unchanged.
 */
export function fillRepoFiles(o: KubeObject, repo = REPO_DIR): KubeObject {
  const list = o.metadata.annotations?.[REPO_FILES_ANNOTATION];
  if (o.kind !== "ConfigMap" || list === undefined) return o;
  const data: Record<string, string> = {};
  for (const path of list.split(",").map((p) => p.trim()).filter((p) => p)) {
    const key = path.slice(path.lastIndexOf("/") + 1);
    if (key in data) {
      throw new Error(
        `Cannot render ConfigMap "${o.metadata.name}": two files named "${key}" in ` +
          `${REPO_FILES_ANNOTATION}`,
      );
    }
    try {
      data[key] = Deno.readTextFileSync(`${repo}${path}`);
    } catch (e) {
      throw new Error(
        `Cannot render ConfigMap "${o.metadata.name}": cannot read "${path}" listed in ` +
          `${REPO_FILES_ANNOTATION}: ${(e as Error).message}`,
      );
    }
  }
  return { ...o, data };
}

/** Annotation on pod templates: checksum of the repository files their ConfigMaps carry. */
export const CODE_CHECKSUM_ANNOTATION = "meshbench.io/code-checksum";

/**
 * Annotation of a ConfigMap that meshbench fills with the run's values for the workload's pods
 * (its pod side's `parameters`); its pods read it as environment (`envFrom`).
 */
export const PARAMETERS_ANNOTATION = "meshbench.io/parameters";

/** Annotation on pod templates: checksum of the run's values they read. */
export const PARAMETERS_CHECKSUM_ANNOTATION = "meshbench.io/parameters-checksum";

/**
 * Fills each ConfigMap annotated with {@linkcode PARAMETERS_ANNOTATION} with the values of its
 * namespace (`valuesOf`), and marks the pod templates that read it (`envFrom`) with their
 * checksum, so a run with other values replaces the pods. A namespace without values for such
 * a ConfigMap is an error: its pods would start without them.
 */
export function fillParameters(
  objs: readonly KubeObject[],
  valuesOf: (namespace: string) => Record<string, string> | undefined,
): KubeObject[] {
  const sums = new Map<string, string>();
  const out = objs.map((o) => {
    if (o.kind !== "ConfigMap" || o.metadata.annotations?.[PARAMETERS_ANNOTATION] === undefined) {
      return o;
    }
    const ns = o.metadata.namespace ?? "";
    const values = valuesOf(ns);
    if (!values) {
      throw new Error(
        `Cannot render ConfigMap "${o.metadata.name}" in "${ns}": its workload gives no ` +
          `parameters for ${PARAMETERS_ANNOTATION}`,
      );
    }
    const data = Object.fromEntries(Object.entries(values).sort(([a], [b]) => a < b ? -1 : 1));
    sums.set(
      `${ns}/${o.metadata.name}`,
      createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 16),
    );
    return { ...structuredClone(o), data };
  });
  return out.map((o) => {
    const t = podTemplateOf(o) as
      | {
        metadata?: KubeObject["metadata"];
        spec?: {
          containers?: Array<{ envFrom?: Array<{ configMapRef?: { name: string } }> }>;
          initContainers?: Array<{ envFrom?: Array<{ configMapRef?: { name: string } }> }>;
        };
      }
      | undefined;
    if (!t) return o;
    const ns = o.metadata.namespace ?? "";
    const used = [...(t.spec?.initContainers ?? []), ...(t.spec?.containers ?? [])]
      .flatMap((c) => c.envFrom ?? [])
      .map((e) => sums.get(`${ns}/${e.configMapRef?.name ?? ""}`))
      .filter((x): x is string => x !== undefined);
    if (used.length === 0) return o;
    const copy = structuredClone(o);
    const tc = podTemplateOf(copy)!;
    tc.metadata ??= {} as KubeObject["metadata"];
    tc.metadata.annotations = {
      ...tc.metadata.annotations,
      [PARAMETERS_CHECKSUM_ANNOTATION]: [...new Set(used)].join(","),
    };
    return copy;
  });
}

/**
 * The workload objects of one namespace (namespace set, NodePorts shifted, files filled).
 * Pod templates that mount a filled ConfigMap carry its checksum, so pods are replaced when
 * meshbench's code changes (a mounted ConfigMap alone does not restart a running server).
 */
export function renderWorkload(spec: NamespaceSpec, repo = REPO_DIR): KubeObject[] {
  const objs = readManifestFile(spec.manifest, repo).map((o) => fillRepoFiles(o));
  const sums = new Map(
    objs.filter((o) => o.kind === "ConfigMap" && o.metadata.annotations?.[REPO_FILES_ANNOTATION])
      .map((o) => [
        o.metadata.name,
        createHash("sha256").update(JSON.stringify((o as { data?: unknown }).data)).digest("hex")
          .slice(0, 16),
      ]),
  );
  for (const o of objs) {
    const t = podTemplateOf(o) as
      | {
        metadata?: KubeObject["metadata"];
        spec?: { volumes?: Array<{ configMap?: { name: string } }> };
      }
      | undefined;
    const used = (t?.spec?.volumes ?? []).map((v) => sums.get(v.configMap?.name ?? ""))
      .filter((x) => x);
    if (!t || used.length === 0) continue;
    t.metadata ??= {} as KubeObject["metadata"];
    t.metadata.annotations = {
      ...t.metadata.annotations,
      [CODE_CHECKSUM_ANNOTATION]: used.join(","),
    };
  }
  for (const o of objs) {
    o.metadata.namespace = spec.namespace;
    if (o.kind === "Service" && spec.nodePortOffset) {
      const ports = ((o.spec as { ports?: Array<{ nodePort?: number }> })?.ports) ?? [];
      for (const p of ports) if (p.nodePort) p.nodePort += spec.nodePortOffset;
    }
  }
  return objs;
}

/** Namespaces first, then every workload object, in apply order. */
export function renderAll(specs: readonly NamespaceSpec[] = clusterNamespaces()): KubeObject[] {
  return [...renderNamespaces(specs), ...specs.flatMap((s) => renderWorkload(s))];
}

/** Pod templates inside an object (Deployment, StatefulSet, Job, DaemonSet). */
export function podTemplateOf(o: KubeObject): { metadata?: KubeObject["metadata"] } | undefined {
  const spec = o.spec as { template?: { metadata?: KubeObject["metadata"] } } | undefined;
  return spec?.template;
}

/**
 * Problems with meshbench's labelling rules: every object and pod template labelled as
 * meshbench's. Empty when all is well.
 */
export function labellingProblems(objs: KubeObject[]): string[] {
  const problems: string[] = [];
  const check = (what: string, labels: Record<string, string> | undefined) => {
    for (const [k, v] of Object.entries(MANAGED_LABELS)) {
      if (labels?.[k] !== v) problems.push(`${what} lacks label ${k}=${v}`);
    }
  };
  for (const o of objs) {
    const id = `${o.kind} "${
      o.metadata.namespace ? o.metadata.namespace + "/" : ""
    }${o.metadata.name}"`;
    check(id, o.metadata.labels);
    const t = podTemplateOf(o);
    if (t) check(`pod template of ${id}`, t.metadata?.labels);
  }
  return problems;
}

/** Node label that places servers and load clients (set by `cluster:setup`). */
export const ROLE_LABEL = "meshbench.io/role";

interface Affinity {
  nodeAffinity?: {
    preferredDuringSchedulingIgnoredDuringExecution?: Array<{
      weight: number;
      preference: {
        matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
      };
    }>;
    requiredDuringSchedulingIgnoredDuringExecution?: {
      nodeSelectorTerms: Array<{
        matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
      }>;
    };
  };
}

/**
 * The objects with every preferred node affinity on {@linkcode ROLE_LABEL} made required
 * (for a cluster whose nodes carry the label: servers and clients then never share a node,
 * whatever the scheduler would prefer). Other objects are returned unchanged.
 */
export function requirePlacement(objs: readonly KubeObject[]): KubeObject[] {
  return objs.map((o) => {
    const t = podTemplateOf(o) as { spec?: { affinity?: Affinity } } | undefined;
    const preferred = t?.spec?.affinity?.nodeAffinity
      ?.preferredDuringSchedulingIgnoredDuringExecution;
    const terms = (preferred ?? []).filter((p) =>
      p.preference.matchExpressions?.some((e) => e.key === ROLE_LABEL)
    );
    if (terms.length === 0) return o;
    const copy = structuredClone(o);
    const na = (podTemplateOf(copy) as { spec: { affinity: Affinity } }).spec.affinity
      .nodeAffinity!;
    na.preferredDuringSchedulingIgnoredDuringExecution = preferred!.filter((p) =>
      !terms.includes(p)
    );
    if (na.preferredDuringSchedulingIgnoredDuringExecution.length === 0) {
      delete na.preferredDuringSchedulingIgnoredDuringExecution;
    }
    na.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: [{
        matchExpressions: terms.flatMap((p) => p.preference.matchExpressions ?? []),
      }],
    };
    return copy;
  });
}
