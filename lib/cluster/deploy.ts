/**
 * Deploy, health and cleanup on a real cluster, with meshbench's safety rules: a namespace
 * is touched only when it is absent or labelled as meshbench's, objects are applied
 * server-side (so the API server validates them), waits are bounded and logged, failures
 * name the object and reason with the pod's events, and cleanup deletes exactly what
 * carries meshbench's labels.
 *
 * @module
 */

import { loadYaml, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type * as k8s from "@kubernetes/client-node";
import { apiReason, errorText, isNoAnswer, isNotFound, type Kube } from "./kube.ts";
import { type KubeObject, MANAGED_LABELS, MANAGED_SELECTOR } from "./manifests.ts";

/** Field manager name for server-side apply. */
export const FIELD_MANAGER = "meshbench";

/** meshbench was asked to touch something it did not create. */
export class OwnershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OwnershipError";
  }
}

/** A stage failed on the cluster: carries the stage, the object and the reason. */
export class ClusterStageError extends Error {
  constructor(readonly stage: string, readonly object: string, readonly reason: string) {
    super(`Stage "${stage}" failed for ${object}: ${reason}`);
    this.name = "ClusterStageError";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isManaged(labels: Record<string, string> | undefined): boolean {
  return Object.entries(MANAGED_LABELS).every(([k, v]) => labels?.[k] === v);
}

/**
 * Whether meshbench may use namespace `name`: true when it is absent or labelled as
 * meshbench's; throws {@linkcode OwnershipError} when it exists without the labels.
 * Returns "absent" or "owned".
 */
export async function checkNamespaceOwnership(
  kube: Kube,
  name: string,
): Promise<"absent" | "owned"> {
  let ns: k8s.V1Namespace;
  try {
    ns = await kube.core.readNamespace({ name });
  } catch (e) {
    if (isNotFound(e)) return "absent";
    throw new Error(`Cannot read namespace "${name}": ${apiReason(e)}`, { cause: e });
  }
  if (!isManaged(ns.metadata?.labels)) {
    throw new OwnershipError(
      `Refusing to touch namespace "${name}": it exists without the label ` +
        `meshbench.io/managed=true, so meshbench did not create it`,
    );
  }
  return "owned";
}

/** Options for {@linkcode applyObjects}. */
export interface ApplyOptions {
  /** Server-side dry run: validated by the API server, nothing persisted. */
  dryRun?: boolean;
  log?: (message: string) => void;
}

/** `Kind "ns/name"` for messages. */
export function describe(o: { kind?: string; metadata?: { name?: string; namespace?: string } }) {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : "";
  return `${o.kind ?? "object"} "${ns}${o.metadata?.name ?? "?"}"`;
}

/**
 * Applies `objs` in order with server-side apply. Every namespace an object lands in, and
 * every Namespace object, must pass {@linkcode checkNamespaceOwnership}; objects without
 * meshbench's labels are refused before anything is sent.
 */
export async function applyObjects(
  kube: Kube,
  objs: KubeObject[],
  options: ApplyOptions = {},
): Promise<KubeObject[]> {
  const log = options.log ?? (() => {});
  for (const o of objs) {
    if (!isManaged(o.metadata.labels)) {
      throw new OwnershipError(
        `Refusing to apply ${describe(o)}: it lacks meshbench's labels ` +
          `(app.kubernetes.io/part-of=meshbench, meshbench.io/managed=true)`,
      );
    }
  }
  const checked = new Map<string, "absent" | "owned">();
  const own = async (ns: string) => {
    if (!checked.has(ns)) checked.set(ns, await checkNamespaceOwnership(kube, ns));
  };
  for (const o of objs) {
    if (o.kind === "Namespace") await own(o.metadata.name);
    else if (o.metadata.namespace) await own(o.metadata.namespace);
  }
  const applied: KubeObject[] = [];
  for (const o of objs) {
    try {
      // client-node serializes by its typed models: a plain object of a known kind loses
      // fields whose model names differ from the JSON names (a CRD schema's "enum" and
      // "x-kubernetes-*"), so it is first turned into the typed model.
      const typed = loadYaml<k8s.KubernetesObject>(JSON.stringify(o));
      const res = await kube.objects.patch(
        typed,
        undefined,
        options.dryRun ? "All" : undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      applied.push(res as unknown as KubeObject);
      log(`apply: ${describe(o)}${options.dryRun ? " (dry run)" : ""}`);
    } catch (e) {
      throw new ClusterStageError("deploy", describe(o), `apply rejected: ${apiReason(e)}`);
    }
  }
  return applied;
}

/** Pod waiting reasons that never resolve by waiting: fail at once. */
export const FATAL_WAIT_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

/** Warning events of one object, newest last, as `Reason: message` lines. */
export async function objectEvents(
  kube: Kube,
  namespace: string,
  name: string,
  limit = 8,
): Promise<string[]> {
  try {
    const list = await kube.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items
      .sort((a, b) =>
        String(a.lastTimestamp ?? a.eventTime ?? "").localeCompare(
          String(b.lastTimestamp ?? b.eventTime ?? ""),
        )
      )
      .slice(-limit)
      .map((ev) => `${ev.type ?? "?"} ${ev.reason ?? "?"}: ${ev.message ?? ""}`.trim());
  } catch (e) {
    return [`(events unavailable: ${apiReason(e)})`];
  }
}

/** Why a pod is not ready, or null when it is Ready (or Succeeded). */
export function podProblem(pod: k8s.V1Pod): { reason: string; fatal: boolean } | null {
  const phase = pod.status?.phase;
  if (phase === "Succeeded") return null;
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  if (ready && phase === "Running") return null;
  if (phase === "Failed") {
    return {
      reason: `pod failed: ${pod.status?.reason ?? ""} ${pod.status?.message ?? ""}`,
      fatal: true,
    };
  }
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  for (const s of statuses) {
    const w = s.state?.waiting;
    if (w?.reason) {
      return {
        reason: `container "${s.name}" waiting: ${w.reason}${w.message ? ` (${w.message})` : ""}`,
        fatal: FATAL_WAIT_REASONS.has(w.reason),
      };
    }
  }
  const sched = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (sched?.status === "False") {
    return { reason: `unschedulable: ${sched.message ?? sched.reason ?? ""}`, fatal: false };
  }
  if (!pod.spec?.nodeName) return { reason: "not scheduled yet", fatal: false };
  const notReady = statuses.filter((s) => !s.ready).map((s) => `"${s.name}"`);
  return {
    reason: `phase ${phase ?? "unknown"}, not ready` +
      (notReady.length ? ` (containers ${notReady.join(", ")})` : ""),
    fatal: false,
  };
}

/** Options for {@linkcode waitHealthy}. */
export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  log?: (message: string) => void;
  /** Stops the wait at once (Ctrl-C) with an "interrupted" error. */
  signal?: AbortSignal;
}

interface Pending {
  object: string;
  reason: string;
  pod?: { namespace: string; name: string };
  fatal: boolean;
}

/**
 * Each Service (with a selector) whose EndpointSlices do not yet list every Ready pod it
 * selects as a ready endpoint, with what is missing. A pod's Ready condition comes first;
 * the EndpointSlice controller then adds it, and only from the slices do kube-proxy (the
 * ClusterIP's rules) and the cluster DNS (a headless Service's names) learn of it. Until
 * then a client in the cluster is refused (kube-proxy rejects a Service without endpoints)
 * or resolves nothing: on the real test node the first warm-up after health was refused.
 */
export function serviceEndpointProblems(
  services: readonly k8s.V1Service[],
  pods: readonly k8s.V1Pod[],
  slices: readonly k8s.V1EndpointSlice[],
): Array<{ object: string; reason: string }> {
  const out: Array<{ object: string; reason: string }> = [];
  for (const svc of services) {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) continue;
    const name = svc.metadata?.name ?? "";
    const ready = pods.filter((p) =>
      !p.metadata?.deletionTimestamp && podProblem(p) === null &&
      p.status?.phase === "Running" &&
      Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v)
    ).map((p) => p.metadata?.name ?? "");
    const listed = new Set(
      slices.filter((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === name)
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready === true && e.targetRef?.kind === "Pod")
        .map((e) => e.targetRef?.name ?? ""),
    );
    const missing = ready.filter((p) => !listed.has(p));
    if (missing.length > 0) {
      out.push({
        object: describe({ kind: "Service", metadata: svc.metadata }),
        reason: `${missing.length} Ready pod(s) not yet ready endpoints: ${missing.join(", ")}`,
      });
    }
  }
  return out;
}

async function pendingIn(kube: Kube, namespace: string): Promise<Pending[]> {
  const out: Pending[] = [];
  const [deps, sets, pods, services, slices] = await Promise.all([
    kube.apps.listNamespacedDeployment({ namespace, labelSelector: MANAGED_SELECTOR }),
    kube.apps.listNamespacedStatefulSet({ namespace, labelSelector: MANAGED_SELECTOR }),
    kube.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR }),
    kube.core.listNamespacedService({ namespace, labelSelector: MANAGED_SELECTOR }),
    kube.discovery.listNamespacedEndpointSlice({ namespace }),
  ]);
  for (const d of deps.items) {
    const want = d.spec?.replicas ?? 1;
    const have = d.status?.readyReplicas ?? 0;
    const updated = d.status?.updatedReplicas ?? 0;
    const total = d.status?.replicas ?? 0;
    const observed = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
    if (have < want || updated < want || total > want || !observed) {
      out.push({
        object: describe({ kind: "Deployment", metadata: d.metadata }),
        reason: `${have}/${want} replicas ready` +
          (total > want || updated < want ? `, rollout in progress (${updated} updated)` : ""),
        fatal: false,
      });
    }
  }
  for (const s of sets.items) {
    const want = s.spec?.replicas ?? 1;
    const have = s.status?.readyReplicas ?? 0;
    const observed = (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 0);
    const updated = s.status?.updateRevision === undefined ||
      s.status.currentRevision === s.status.updateRevision;
    if (have < want || !observed || !updated) {
      out.push({
        object: describe({ kind: "StatefulSet", metadata: s.metadata }),
        reason: `${have}/${want} replicas ready`,
        fatal: false,
      });
    }
  }
  for (const p of pods.items) {
    if (p.metadata?.deletionTimestamp) continue;
    const problem = podProblem(p);
    if (problem) {
      out.push({
        object: describe({ kind: "Pod", metadata: p.metadata }),
        reason: problem.reason,
        pod: { namespace, name: p.metadata!.name! },
        fatal: problem.fatal,
      });
    }
  }
  for (const s of serviceEndpointProblems(services.items, pods.items, slices.items)) {
    out.push({ ...s, fatal: false });
  }
  return out;
}

async function explain(kube: Kube, pending: Pending[]): Promise<string> {
  const lines: string[] = [];
  for (const p of pending.slice(0, 6)) {
    lines.push(`${p.object}: ${p.reason}`);
    if (p.pod) {
      const events = await objectEvents(kube, p.pod.namespace, p.pod.name);
      for (const e of events) lines.push(`    event: ${e}`);
    }
  }
  if (pending.length > 6) lines.push(`... and ${pending.length - 6} more`);
  return lines.join("\n");
}

/**
 * Waits until every meshbench Deployment and StatefulSet in `namespaces` has all replicas
 * ready and every meshbench pod is Ready (or Succeeded). Fails at once on a pod that cannot
 * start (image pull, crash loop), and after `timeoutMs` (default 300 s) otherwise; the error
 * names each unready object with its reason and its pods' events.
 */
export async function waitHealthy(
  kube: Kube,
  namespaces: string[],
  options: WaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const pollMs = options.pollMs ?? 1_000;
  const log = options.log ?? (() => {});
  const started = Date.now();
  let lastReport = 0;
  while (true) {
    let pending: Pending[];
    try {
      pending = (await Promise.all(namespaces.map((ns) => pendingIn(kube, ns)))).flat();
    } catch (e) {
      // An HTTP answer is the server's word and fails at once; a request that got none
      // (connection reset or refused: on the real test node, "fetch failed" while the
      // machine ran out of memory) is asked again until the bound, and said.
      if (!isNoAnswer(e)) throw e;
      const why = errorText(e);
      if (Date.now() - started >= timeoutMs || options.signal?.aborted) {
        throw new ClusterStageError(
          "health",
          `namespaces ${namespaces.join(", ")}`,
          `the API server did not answer: ${why}`,
        );
      }
      log(`health: the API server did not answer (${why}); asking again`);
      await sleep(pollMs);
      continue;
    }
    if (pending.length === 0) {
      log(`health: all objects ready in ${namespaces.join(", ")} after ${Date.now() - started} ms`);
      return;
    }
    if (options.signal?.aborted) {
      throw new ClusterStageError("health", pending[0].object, "interrupted while waiting");
    }
    const fatal = pending.filter((p) => p.fatal);
    if (fatal.length) {
      throw new ClusterStageError("health", fatal[0].object, await explain(kube, fatal));
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      throw new ClusterStageError(
        "health",
        pending[0].object,
        `not ready after ${timeoutMs} ms\n${await explain(kube, pending)}`,
      );
    }
    if (elapsed - lastReport >= 10_000) {
      lastReport = elapsed;
      log(
        `health: waiting (${Math.round(elapsed / 1000)} s): ${pending.length} not ready, ` +
          `first ${pending[0].object}: ${pending[0].reason}`,
      );
    }
    await sleep(pollMs);
  }
}

/**
 * Restarts every meshbench Deployment and StatefulSet in `namespaces` (new pods, so a mesh's
 * injector sees them), by stamping `meshbench.io/restarted-at` on their pod templates.
 * Returns the restarted objects.
 */
export async function restartWorkloads(kube: Kube, namespaces: string[]): Promise<string[]> {
  const stamp = { "meshbench.io/restarted-at": new Date().toISOString() };
  const body = { spec: { template: { metadata: { annotations: stamp } } } };
  const done: string[] = [];
  for (const namespace of namespaces) {
    const deps = await kube.apps.listNamespacedDeployment({
      namespace,
      labelSelector: MANAGED_SELECTOR,
    });
    for (const d of deps.items) {
      const name = d.metadata!.name!;
      await kube.apps.patchNamespacedDeployment(
        { name, namespace, body },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      done.push(describe({ kind: "Deployment", metadata: d.metadata }));
    }
    const sets = await kube.apps.listNamespacedStatefulSet({
      namespace,
      labelSelector: MANAGED_SELECTOR,
    });
    for (const st of sets.items) {
      const name = st.metadata!.name!;
      await kube.apps.patchNamespacedStatefulSet(
        { name, namespace, body },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      done.push(describe({ kind: "StatefulSet", metadata: st.metadata }));
    }
  }
  return done;
}

/** What {@linkcode cleanupCluster} removed (or would remove, in a dry run). */
export interface CleanupReport {
  namespaces: string[];
  clusterObjects: string[];
  dryRun: boolean;
}

/** Cluster-scoped kinds meshbench may create (mesh resources), checked by label on cleanup. */
export const CLUSTER_SCOPED_KINDS: Array<{ apiVersion: string; kind: string }> = [
  { apiVersion: "cilium.io/v2", kind: "CiliumClusterwideNetworkPolicy" },
];

/**
 * Deletes every namespace labelled as meshbench's (and with it everything inside), plus
 * labelled cluster-scoped mesh resources, then waits (bounded) until they are gone. Objects
 * without the labels are never deleted.
 */
export async function cleanupCluster(
  kube: Kube,
  options: WaitOptions & {
    dryRun?: boolean;
    /** Only these of meshbench's namespaces (and no cluster-scoped objects). */
    only?: string[];
  } = {},
): Promise<CleanupReport> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const log = options.log ?? (() => {});
  const report: CleanupReport = { namespaces: [], clusterObjects: [], dryRun: !!options.dryRun };
  const pick = (items: k8s.V1Namespace[]) =>
    options.only ? items.filter((n) => options.only!.includes(n.metadata?.name ?? "")) : items;
  const list = await kube.core.listNamespace({ labelSelector: MANAGED_SELECTOR });
  for (const ns of pick(list.items)) {
    const name = ns.metadata!.name!;
    report.namespaces.push(name);
    if (options.dryRun) continue;
    try {
      await kube.core.deleteNamespace({ name, propagationPolicy: "Background" });
      log(`cleanup: deleting namespace "${name}"`);
    } catch (e) {
      if (!isNotFound(e)) {
        throw new ClusterStageError("cleanup", `Namespace "${name}"`, apiReason(e));
      }
    }
  }
  for (const { apiVersion, kind } of options.only ? [] : CLUSTER_SCOPED_KINDS) {
    let items: k8s.KubernetesObject[] = [];
    try {
      const res = await kube.objects.list(
        apiVersion,
        kind,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        MANAGED_SELECTOR,
      );
      items = res.items;
    } catch (e) {
      // The kind is not installed on this cluster: nothing of it to delete.
      if (isNotFound(e) || /Unrecognized API version and kind/.test(String(e))) continue;
      throw new ClusterStageError("cleanup", `${kind} objects`, apiReason(e));
    }
    for (const o of items) {
      report.clusterObjects.push(
        describe({ kind, metadata: o.metadata as KubeObject["metadata"] }),
      );
      if (!options.dryRun) {
        await kube.objects.delete({ apiVersion, kind, metadata: { name: o.metadata!.name! } })
          .catch((e) => {
            if (!isNotFound(e)) throw e;
          });
      }
    }
  }
  if (options.dryRun) return report;
  const started = Date.now();
  while (true) {
    const left = {
      items: pick((await kube.core.listNamespace({ labelSelector: MANAGED_SELECTOR })).items),
    };
    if (left.items.length === 0) break;
    if (Date.now() - started > timeoutMs) {
      const names = left.items.map((n) => `"${n.metadata?.name}"`).join(", ");
      const conds = left.items.flatMap((n) =>
        (n.status?.conditions ?? []).filter((c) => c.status === "True").map((c) =>
          `${n.metadata?.name}: ${c.type}: ${c.message ?? ""}`
        )
      );
      throw new ClusterStageError(
        "cleanup",
        `namespaces ${names}`,
        `still terminating after ${timeoutMs} ms` + (conds.length ? `\n${conds.join("\n")}` : ""),
      );
    }
    await sleep(options.pollMs ?? 1_000);
  }
  log(`cleanup: removed ${report.namespaces.length} namespaces in ${Date.now() - started} ms`);
  return report;
}
