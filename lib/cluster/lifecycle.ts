/**
 * The installed mesh's lifecycle in a cluster run: one mesh at a time, switched by unmeshing
 * and verifying the benchmark pods before the old mesh is uninstalled, then installing the
 * next (with its Guaranteed-QoS values and control-plane placement), enabling and
 * restarting the meshed namespaces and verifying every pod is meshed. The pods' QoS classes
 * are read into the state after every change, and checked under `cluster.qos: guaranteed`.
 *
 * @module
 */
import type { StageContext } from "../target.ts";
import type { Runner } from "../command.ts";
import type { Kube } from "./kube.ts";
import {
  clusterNamespaces,
  type KubeObject,
  MANAGED_SELECTOR,
  type NamespaceSpec,
  renderNamespaces,
} from "./manifests.ts";
import { qosByApp, qosProblems } from "./qos.ts";
import { CONTROL_PLANE_LABEL } from "./capacity.ts";
import { applyObjects, ClusterStageError, restartWorkloads, waitHealthy } from "./deploy.ts";
import { type ClusterMesh, enableNamespace } from "./meshes.ts";
import {
  applyMeshResources,
  installMesh,
  removeMeshResources,
  uninstallMesh,
  verifyMeshed,
  verifyUnmeshed,
} from "./mesh.ts";
import { type ClusterState, writeState } from "./state.ts";

/** What the lifecycle needs of the target: its meshes and how it runs helm. */
export interface LifecycleOptions {
  /** The mesh of a name (the target's table, with any test meshes). */
  mesh: (name: string) => ClusterMesh;
  /** Runs helm and openssl (default: the stage's runner). */
  runner?: Runner;
  /** The helm binary. */
  helm?: string;
  /** How long the benchmark pods may take to become healthy again (default 5 min). */
  healthTimeoutMs?: number;
  /**
   * The run's objects of `specs` under `mesh` (with its sidecar injected when meshbench
   * injects it): what a self-injected mesh's install and uninstall redeploy.
   */
  render?: (specs: readonly NamespaceSpec[], mesh: string) => KubeObject[];
}

/**
 * A Deployment whose rollout replaces its pods at once (no surge). A mesh switch runs no
 * load, and the default rollout (one extra pod per Deployment) needs room the capacity check
 * does not count (it counts the steady state): on a node sized for the benchmark the surge
 * pod stays Pending, the rollout never ends, and the old pods, without the sidecar, are
 * refused by the servers that already have it. Other objects are returned unchanged.
 */
export function replaceAtOnce(o: KubeObject): KubeObject {
  if (o.kind !== "Deployment") return o;
  const copy = structuredClone(o);
  (copy.spec as Record<string, unknown>).strategy = {
    type: "RollingUpdate",
    rollingUpdate: { maxSurge: 0, maxUnavailable: "100%" },
  };
  return copy;
}

/**
 * Redeploys the workloads of `specs` as rendered under `mesh` (Jobs excluded: they are
 * created per run): how a mesh meshbench injects itself is installed (its mesh) and removed
 * ("baseline"). Changed pod templates roll their pods.
 */
async function redeploy(
  kube: Kube,
  specs: readonly NamespaceSpec[],
  mesh: string,
  options: LifecycleOptions,
  log: (m: string) => void,
): Promise<void> {
  if (!options.render) {
    throw new Error(`Cannot redeploy the workloads under "${mesh}": the target gave no render`);
  }
  const objs = options.render(specs, mesh).filter((o) => o.kind !== "Job" && o.kind !== "Namespace")
    .map(replaceAtOnce);
  await applyObjects(kube, objs);
  log(
    `mesh: redeployed ${objs.length} objects of ${specs.length} namespace(s) ${
      mesh === "baseline" ? "without a sidecar" : `with the ${mesh} sidecar`
    }`,
  );
}

/**
 * Reads the QoS class of every live benchmark pod in `namespaces` into the state; under
 * `cluster.qos: guaranteed` any pod that is not Guaranteed is a `stage` error naming the
 * pods and containers at fault.
 */
export async function checkQos(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  namespaces: string[],
  stage: string,
): Promise<void> {
  const lists = await Promise.all(
    namespaces.map((namespace) =>
      kube.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR })
    ),
  );
  const pods = lists.flatMap((l) => l.items).filter((p) =>
    !p.metadata?.deletionTimestamp && p.status?.phase !== "Succeeded" &&
    p.status?.phase !== "Failed"
  );
  const mode = ctx.config.cluster.qos;
  state.qos = {
    mode,
    // By mesh: injection changes each pod's class.
    pods: {
      ...state.qos?.pods,
      [state.mesh]: { ...state.qos?.pods[state.mesh], ...qosByApp(pods) },
    },
    meshPods: state.qos?.meshPods ?? {},
  };
  await writeState(ctx.runDir, state);
  if (mode !== "guaranteed") return;
  const problems = qosProblems(pods);
  if (problems.length > 0) {
    throw new ClusterStageError(
      stage,
      `namespaces ${namespaces.join(", ")}`,
      `cluster.qos is guaranteed but ${problems.length} pod(s) are not: ` +
        problems.slice(0, 5).join("; ") + (problems.length > 5 ? "; ..." : ""),
    );
  }
}

/** Records the QoS classes of a mesh's own pods (control plane, node proxies). */
async function recordMeshQos(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
) {
  const lists = await Promise.all(
    [...mesh.controlPlane, ...mesh.nodeProxies].map((s) =>
      kube.core.listNamespacedPod({ namespace: s.namespace, labelSelector: s.labelSelector })
    ),
  );
  const classes = qosByApp(lists.flatMap((l) => l.items));
  if (state.qos) state.qos.meshPods[mesh.name] = classes;
  await writeState(ctx.runDir, state);
  const loose = Object.entries(classes).filter(([, c]) => c !== "Guaranteed");
  if (ctx.config.cluster.qos === "guaranteed" && loose.length > 0) {
    ctx.log.warn(
      `qos: ${mesh.name}'s own pods are not Guaranteed (their sizes come from the mesh's ` +
        `install): ${loose.map(([k, c]) => `${k} ${c}`).join(", ")}`,
    );
  }
}

/** Makes `mesh` the installed mesh: full uninstall of the previous one, install, verify. */
export async function ensureMesh(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  meshName: string,
  options: LifecycleOptions,
): Promise<void> {
  if (meshName === "baseline") return;
  if (state.mesh === meshName && !state.meshSwitchFailed) return;
  // A switch to this very mesh that did not finish: this is its second attempt.
  const retry = state.mesh === meshName ? state.meshSwitchFailed : undefined;
  if (retry) {
    ctx.log.warn(
      `mesh: the switch to ${meshName} did not finish (${retry}); ` +
        `removing it and switching again`,
    );
  }
  const opts = {
    runner: options.runner ?? ctx.runner,
    helm: options.helm,
    kubeconfig: ctx.config.cluster.kubeconfig || undefined,
    workDir: `${ctx.runDir}/cluster`,
    log: (m: string) => ctx.log.info(m),
    signal: ctx.signal,
  };
  const meshedSpecs = clusterNamespaces().filter((s) =>
    s.meshed && state.namespaces.includes(s.namespace)
  );
  const meshed = meshedSpecs.map((s) => s.namespace);
  if (state.mesh !== "baseline") {
    // Unmesh, restart, verify unmeshed, and only then uninstall: removing a mesh's node
    // agents (istio-cni) or policies' backing (SPIRE) under meshed pods leaves them stuck
    // Terminating or denied.
    const old = options.mesh(state.mesh);
    await applyObjects(kube, renderNamespaces(meshedSpecs)); // drop enablement (SSA owns labels)
    // A self-injected mesh is removed by redeploying without its sidecar (the new templates
    // roll the pods); the others by restarting the pods without their injector's label.
    if (old.injection) await redeploy(kube, meshedSpecs, "baseline", options, opts.log);
    else await restartWorkloads(kube, meshed);
    await removeMeshResources(kube, old, meshed);
    await waitHealthy(kube, meshed, {
      timeoutMs: options.healthTimeoutMs ?? 300_000,
      signal: ctx.signal,
    });
    await verifyUnmeshed(kube, old, meshed);
    ctx.log.info(`mesh: benchmark pods unmeshed from ${old.name}; uninstalling it`);
    await uninstallMesh(kube, old, opts);
    state.mesh = "baseline";
    state.meshVersion = "none";
    delete state.meshSwitchFailed;
    await writeState(ctx.runDir, state);
  }
  const mesh = options.mesh(meshName);
  delete state.meshSwitchFailed;
  const failed = state.failedMeshes?.[meshName];
  if (failed) {
    throw new ClusterStageError(
      "mesh",
      `mesh "${meshName}"`,
      `install failed earlier in this run: ${failed}`,
    );
  }
  try {
    await installMesh(kube, installable(ctx, state, mesh), opts);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    state.failedMeshes = { ...state.failedMeshes, [meshName]: reason };
    await writeState(ctx.runDir, state);
    // Remove what the failed install left (releases, namespaces meshbench created).
    await uninstallMesh(kube, mesh, opts).then(
      () => ctx.log.warn(`mesh: removed what the failed ${meshName} install left`),
      (u) => ctx.log.warn(`mesh: cleanup after the failed ${meshName} install failed too: ${u}`),
    );
    throw e;
  }
  state.mesh = mesh.name;
  state.meshVersion = mesh.version;
  await writeState(ctx.runDir, state);
  try {
    await switchPods(kube, ctx, state, mesh, meshedSpecs, options, opts);
  } catch (e) {
    // The mesh stays recorded as installed (cleanup and the next switch remove it), and
    // the next run under it does not measure pods left half-switched.
    const reason = e instanceof Error ? e.message : String(e);
    state.meshSwitchFailed = reason;
    if (retry) {
      state.failedMeshes = {
        ...state.failedMeshes,
        [meshName]: `switching the benchmark pods to it failed twice: ${retry}; then ${reason}`,
      };
    }
    await writeState(ctx.runDir, state);
    throw e;
  }
}

/**
 * Switches the installed `mesh`'s benchmark pods to it: enables the namespaces, applies
 * its resources, redeploys (meshbench's own sidecar) or restarts (a mesh's injector) the
 * workloads, waits until they are healthy and verifies each pod is meshed.
 */
async function switchPods(
  kube: Kube,
  ctx: StageContext,
  state: ClusterState,
  mesh: ClusterMesh,
  meshedSpecs: NamespaceSpec[],
  options: LifecycleOptions,
  opts: { runner: Runner; workDir: string; log: (m: string) => void },
): Promise<void> {
  const meshed = meshedSpecs.map((s) => s.namespace);
  await applyObjects(kube, renderNamespaces(meshedSpecs).map((n) => enableNamespace(n, mesh)));
  if (mesh.injection) {
    // meshbench's own injection: the run's identity into each meshed namespace, then the
    // workloads redeployed with the sidecar (their new templates roll the pods).
    const identity = await mesh.injection.identity(
      opts.runner,
      `${opts.workDir}/${mesh.name}-identity`,
    );
    await applyMeshResources(kube, mesh, meshed, { identity });
    await redeploy(kube, meshedSpecs, mesh.name, options, opts.log);
  } else {
    await applyMeshResources(kube, mesh, meshed);
    // Injection happens at pod creation: restart every benchmark workload.
    await restartWorkloads(kube, meshed);
  }
  await waitHealthy(kube, meshed, {
    timeoutMs: options.healthTimeoutMs ?? 300_000,
    signal: ctx.signal,
  });
  const n = await verifyMeshed(kube, mesh, meshed);
  ctx.log.info(`mesh: ${n} pods verified meshed by ${mesh.name} ${mesh.version}`);
  await checkQos(kube, ctx, state, meshed, "mesh");
  await recordMeshQos(kube, ctx, state, mesh);
}

/** `mesh` with its Guaranteed-QoS Helm values merged in when `cluster.qos` asks for it. */
function installable(ctx: StageContext, state: ClusterState, mesh: ClusterMesh): ClusterMesh {
  const extra = ctx.config.cluster.qos === "guaranteed" ? mesh.guaranteedProxy?.values : undefined;
  // Control planes tolerate onto kubeadm's tainted control-plane node, off the measured
  // workers.
  const placed = state.controlPlaneNode
    ? mesh.controlPlanePlacement?.({ [CONTROL_PLANE_LABEL]: "" }, {
      key: CONTROL_PLANE_LABEL,
      operator: "Exists",
      effect: "NoSchedule",
    })
    : undefined;
  if (!extra && !placed) return mesh;
  return {
    ...mesh,
    install: mesh.install.map((step) => ({
      ...step,
      values: { ...step.values, ...extra?.[step.release] },
      json: { ...step.json, ...placed?.[step.release] },
    })),
  };
}
