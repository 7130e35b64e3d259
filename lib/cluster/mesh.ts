/**
 * Mesh lifecycle on a cluster: install with Helm (pinned chart versions), apply meshbench's
 * mesh resources, verify that every benchmark pod is meshed before load, and uninstall
 * fully before the next mesh.
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { CommandError, type Runner } from "../command.ts";
import { isExecutable } from "../binaries.ts";
import {
  applyObjects,
  checkNamespaceOwnership,
  ClusterStageError,
  describe,
  OwnershipError,
} from "./deploy.ts";
import { apiReason, isNotFound, type Kube, kubeconfigPath } from "./kube.ts";
import { type KubeObject, MANAGED_LABELS, MANAGED_SELECTOR, parseManifests } from "./manifests.ts";
import { type ClusterMesh, helmArgs, type HelmStep, RELEASE_LABELS } from "./meshes.ts";
import type { SidecarIdentity } from "./envoy_sidecar.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The repository's `meshes/crds/` directory. */
export const CRD_DIR = new URL("../../meshes/crds/", import.meta.url).pathname;

/** The helm binary: `$MESHBENCH_HELM`, else `.testenv/bin/helm` in the repo, else `helm`. */
export function helmBinary(): string {
  const env = Deno.env.get("MESHBENCH_HELM");
  if (env) return env;
  const local = new URL("../../.testenv/bin/helm", import.meta.url).pathname;
  return isExecutable(local) ? local : "helm";
}

/** Options for mesh install and uninstall. */
export interface MeshOptions {
  runner: Runner;
  kubeconfig?: string;
  /** Path or name of the helm binary (default {@linkcode helmBinary}). */
  helm?: string;
  /** Scratch directory for generated certificates. */
  workDir: string;
  log?: (message: string) => void;
  /** Aborts a running helm command (Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * Generates Linkerd's trust anchor and issuer (ECDSA P-256, with openssl) in `dir`: the files
 * the linkerd-control-plane step passes with `--set-file`, by kind.
 */
export async function linkerdCerts(
  runner: Runner,
  dir: string,
): Promise<Record<string, string>> {
  await Deno.mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runner.run([
    "openssl",
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.crt`,
    "-days",
    "365",
    "-subj",
    "/CN=root.linkerd.cluster.local",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], { timeoutMs: 30_000 });
  await runner.run([
    "openssl",
    "req",
    ...ec,
    "-keyout",
    `${dir}/issuer.key`,
    "-out",
    `${dir}/issuer.csr`,
    "-subj",
    "/CN=identity.linkerd.cluster.local",
  ], { timeoutMs: 30_000 });
  await Deno.writeTextFile(
    `${dir}/issuer.ext`,
    "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
  );
  await runner.run([
    "openssl",
    "x509",
    "-req",
    "-in",
    `${dir}/issuer.csr`,
    "-CA",
    `${dir}/ca.crt`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "365",
    "-out",
    `${dir}/issuer.crt`,
    "-extfile",
    `${dir}/issuer.ext`,
  ], { timeoutMs: 30_000 });
  return {
    "trust-anchor-crt": `${dir}/ca.crt`,
    "issuer-crt": `${dir}/issuer.crt`,
    "issuer-key": `${dir}/issuer.key`,
  };
}

/**
 * Whether the Helm release of `step` exists and carries `labels` (read from the release's
 * storage Secrets, where `helm --labels` puts them): "absent", "owned", or an
 * {@linkcode OwnershipError} for a release meshbench did not create (another team's
 * `istiod`, a Cilium CNI not installed by `cluster:setup`), which is never upgraded or
 * uninstalled.
 */
export async function checkReleaseOwnership(
  kube: Kube,
  step: Pick<HelmStep, "release" | "namespace">,
  labels: Record<string, string> = RELEASE_LABELS,
): Promise<"absent" | "owned"> {
  let secrets: k8s.V1SecretList;
  try {
    secrets = await kube.core.listNamespacedSecret({
      namespace: step.namespace,
      labelSelector: `owner=helm,name=${step.release}`,
    });
  } catch (e) {
    if (isNotFound(e)) return "absent";
    throw new Error(
      `Cannot read Helm release "${step.release}" in "${step.namespace}": ${apiReason(e)}`,
      { cause: e },
    );
  }
  if (secrets.items.length === 0) return "absent";
  const foreign = secrets.items.filter((s) =>
    Object.entries(labels).some(([k, v]) => s.metadata?.labels?.[k] !== v)
  );
  if (foreign.length) {
    const want = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
    throw new OwnershipError(
      `Refusing to touch Helm release "${step.release}" in "${step.namespace}": it exists ` +
        `without the release labels ${want}, so meshbench did not create it`,
    );
  }
  return "owned";
}

/** Namespaces of `mesh` that meshbench creates (labelled) and may therefore delete. */
export function ownedSystemNamespaces(mesh: ClusterMesh): string[] {
  return mesh.systemNamespaces.filter((n) => n !== "kube-system" && n !== "default");
}

/**
 * Installs `mesh` with Helm: creates its system namespaces labelled as meshbench's (so
 * uninstall may delete them), then runs each chart with `--wait`. A failed step is an error
 * naming the mesh, the release and helm's stderr tail.
 */
export async function installMesh(
  kube: Kube,
  mesh: ClusterMesh,
  options: MeshOptions,
): Promise<void> {
  const log = options.log ?? (() => {});
  if (mesh.install.length === 0) return;
  for (const ns of ownedSystemNamespaces(mesh)) {
    if (await checkNamespaceOwnership(kube, ns) === "absent") {
      await applyObjects(kube, [{
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
          name: ns,
          labels: {
            ...MANAGED_LABELS,
            "meshbench.io/role": "mesh-system",
            // Node agents (istio-cni, ztunnel) are privileged: said explicitly, not left to
            // whatever the cluster's default Pod Security level is.
            "pod-security.kubernetes.io/enforce": "privileged",
          },
        },
      }], { log });
    }
  }
  const files = mesh.install.some((s) => s.files)
    ? await linkerdCerts(options.runner, `${options.workDir}/${mesh.name}-identity`)
    : {};
  const crdsBefore = await crdNames(kube);
  let failure: unknown;
  try {
    await runInstallSteps(kube, mesh, options, files);
  } catch (e) {
    failure = e;
  }
  // CRDs the install created (even partly) are labelled as meshbench's, so uninstall can
  // remove them: charts often keep their CRDs on `helm uninstall` (Istio's carry
  // helm.sh/resource-policy: keep) and operators create theirs at run time (Cilium).
  try {
    const created: string[] = [];
    for (const crd of (await kube.apiext.listCustomResourceDefinition()).items) {
      const name = crd.metadata?.name ?? "";
      if (crdsBefore.has(name)) continue;
      if (crdOwnedBy(mesh, crd)) created.push(name);
      else {log(
          `mesh: CRD "${name}" appeared during the ${mesh.name} install but is not its own: left alone`,
        );}
    }
    for (const name of created) {
      await kube.apiext.patchCustomResourceDefinition(
        {
          name,
          body: { metadata: { labels: { ...MANAGED_LABELS, [MESH_LABEL]: mesh.name } } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    }
    if (created.length) log(`mesh: labelled ${created.length} CRDs ${mesh.name} created`);
  } catch (e) {
    if (failure === undefined) throw e;
    log(`mesh: could not label the CRDs the failed install created: ${apiReason(e)}`);
  }
  if (failure !== undefined) throw failure;
}

/**
 * Whether a CRD is the mesh's own: made by one of its Helm releases (Helm's release
 * annotations), or in one of its API groups (CRDs its operators create at run time).
 * Another team's CRD created while the install ran is neither, and is never touched.
 */
export function crdOwnedBy(mesh: ClusterMesh, crd: k8s.V1CustomResourceDefinition): boolean {
  const a = crd.metadata?.annotations ?? {};
  const byRelease = mesh.install.some((s) =>
    a["meta.helm.sh/release-name"] === s.release &&
    a["meta.helm.sh/release-namespace"] === s.namespace
  );
  const group = crd.spec?.group ?? "";
  const byGroup = mesh.crdGroups.some((g) => group === g || group.endsWith(`.${g}`));
  return byRelease || byGroup;
}

/** Label naming the mesh whose install created a cluster-scoped object. */
export const MESH_LABEL = "meshbench.io/mesh";

async function crdNames(kube: Kube): Promise<Set<string>> {
  const list = await kube.apiext.listCustomResourceDefinition();
  return new Set(list.items.map((c) => c.metadata?.name ?? ""));
}

async function runInstallSteps(
  kube: Kube,
  mesh: ClusterMesh,
  options: MeshOptions,
  files: Record<string, string>,
): Promise<void> {
  const log = options.log ?? (() => {});
  for (const step of mesh.install) {
    await stepOwnership(kube, mesh, step, "install");
    const args = helmArgs(
      step,
      mesh.version,
      kube.context,
      kubeconfigPath(options.kubeconfig),
      (k) => files[k],
    );
    log(`mesh: helm ${step.release} (${step.chart} ${mesh.version}) into "${step.namespace}"`);
    try {
      await options.runner.run([options.helm ?? helmBinary(), ...args], {
        timeoutMs: (step.timeoutS + 60) * 1000,
        signal: options.signal,
      });
    } catch (e) {
      throw new ClusterStageError(
        "mesh",
        `mesh "${mesh.name}" ${mesh.version}, Helm release "${step.release}"`,
        `install failed: ${e instanceof CommandError ? e.message : String(e)}`,
      );
    }
  }
}

/**
 * Checks that meshbench may run `step`: a release it installs must be absent or carry
 * {@linkcode RELEASE_LABELS}; a release it changes ({@linkcode HelmStep.reuse}) must exist
 * with the owner labels (the Cilium CNI `cluster:setup` installed).
 */
async function stepOwnership(
  kube: Kube,
  mesh: ClusterMesh,
  step: HelmStep,
  stage: "install" | "cleanup",
): Promise<"absent" | "owned"> {
  const where = `mesh "${mesh.name}" ${mesh.version}, Helm release "${step.release}"`;
  try {
    const state = await checkReleaseOwnership(kube, step, step.reuse?.owner ?? RELEASE_LABELS);
    if (state === "absent" && step.reuse) {
      throw new OwnershipError(
        `the mesh changes the values of the cluster's own release "${step.release}" in ` +
          `"${step.namespace}" (labelled ${
            Object.entries(step.reuse.owner).map(([k, v]) => `${k}=${v}`).join(",")
          } by cluster:setup), and there is none: set the cluster up with ` +
          `"deno task cluster:setup --cni ${mesh.requiresCni ?? step.release}"`,
      );
    }
    return state;
  } catch (e) {
    if (!(e instanceof OwnershipError)) throw e;
    throw new ClusterStageError(stage === "install" ? "mesh" : "cleanup", where, e.message);
  }
}

/**
 * Uninstalls `mesh`: Helm releases in reverse order (a release the mesh only changed is
 * reverted to its own values, never uninstalled; a release meshbench did not create is
 * refused), then the system namespaces meshbench created, waiting (bounded) until they
 * are gone, so the next mesh starts clean.
 */
export async function uninstallMesh(
  kube: Kube,
  mesh: ClusterMesh,
  options: MeshOptions & { timeoutMs?: number },
): Promise<void> {
  const log = options.log ?? (() => {});
  for (const step of [...mesh.install].reverse()) {
    if (await stepOwnership(kube, mesh, step, "cleanup") === "absent") continue;
    if (step.reuse) {
      log(`mesh: helm revert ${step.release} in "${step.namespace}" to the cluster's own values`);
      try {
        await options.runner.run([
          options.helm ?? helmBinary(),
          ...helmArgs(
            step,
            mesh.version,
            kube.context,
            kubeconfigPath(options.kubeconfig),
            () => "",
            { revert: true },
          ),
        ], { timeoutMs: (step.timeoutS + 60) * 1000 });
      } catch (e) {
        throw new ClusterStageError(
          "cleanup",
          `mesh "${mesh.name}", Helm release "${step.release}"`,
          `revert failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      continue;
    }
    log(`mesh: helm uninstall ${step.release} from "${step.namespace}"`);
    try {
      await options.runner.run([
        options.helm ?? helmBinary(),
        "uninstall",
        step.release,
        "--namespace",
        step.namespace,
        "--kube-context",
        kube.context,
        "--kubeconfig",
        kubeconfigPath(options.kubeconfig),
        "--wait",
        "--ignore-not-found",
        "--timeout",
        `${step.timeoutS}s`,
      ], { timeoutMs: (step.timeoutS + 60) * 1000 });
    } catch (e) {
      throw new ClusterStageError(
        "cleanup",
        `mesh "${mesh.name}", Helm release "${step.release}"`,
        `uninstall failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  // Namespaces the charts themselves created (Cilium's cilium-spire): helm deletes them, the
  // namespace controller finishes later; the next mesh starts only when they are gone.
  const chartNamespaces = [
    ...new Set([...mesh.controlPlane, ...mesh.nodeProxies].map((s) => s.namespace)),
  ].filter((n) => n !== "kube-system" && !ownedSystemNamespaces(mesh).includes(n));
  for (const ns of chartNamespaces) await waitNamespaceGone(kube, ns, deadline);
  // CRDs this mesh's install created (labelled by installMesh), and with them their objects.
  const crds = await kube.apiext.listCustomResourceDefinition({
    labelSelector: `${MANAGED_SELECTOR},${MESH_LABEL}=${mesh.name}`,
  });
  const crdList = crds.items.map((c) => c.metadata!.name!);
  if (crdList.length) {
    log(`mesh: removing ${crdList.length} CRDs ${mesh.name} created`);
    await removeCrds(kube, crdList, Math.max(1000, deadline - Date.now()));
  }
  for (const ns of ownedSystemNamespaces(mesh)) {
    let owned: "absent" | "owned";
    try {
      owned = await checkNamespaceOwnership(kube, ns);
    } catch {
      log(`mesh: leaving namespace "${ns}": meshbench did not create it`);
      continue;
    }
    if (owned === "absent") continue;
    await kube.core.deleteNamespace({ name: ns }).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
    await waitNamespaceGone(kube, ns, deadline);
  }
}

/** Waits until Namespace `ns` is gone; a `cleanup` error once `deadline` (epoch ms) passes. */
async function waitNamespaceGone(kube: Kube, ns: string, deadline: number): Promise<void> {
  while (true) {
    try {
      await kube.core.readNamespace({ name: ns });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (Date.now() > deadline) {
      throw new ClusterStageError("cleanup", `Namespace "${ns}"`, "still terminating");
    }
    await sleep(1000);
  }
}

/** Reads CRD files from `meshes/crds/`. */
export function readCrds(files: string[], dir = CRD_DIR): KubeObject[] {
  return files.flatMap((f) => parseManifests(Deno.readTextFileSync(`${dir}${f}`), `${dir}${f}`));
}

/**
 * Applies CRDs (labelled as meshbench's) and waits until each is Established. For test
 * clusters without the mesh; on a real cluster the mesh's charts install their own CRDs.
 */
export async function installCrds(
  kube: Kube,
  crds: KubeObject[],
  options: { timeoutMs?: number; log?: (m: string) => void } = {},
): Promise<void> {
  await applyObjects(kube, crds, { log: options.log });
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (const c of crds) {
    while (true) {
      const crd = await kube.apiext.readCustomResourceDefinition({ name: c.metadata.name });
      if (crd.status?.conditions?.some((x) => x.type === "Established" && x.status === "True")) {
        break;
      }
      if (Date.now() > deadline) {
        throw new ClusterStageError("mesh", describe(c), "CRD not Established in time");
      }
      await sleep(200);
    }
    // Established is not yet served: wait until the new kind can be listed (discovery and
    // storage catch up a moment later).
    const version = (c.spec as { versions: Array<{ name: string; storage?: boolean }> })
      .versions.find((v) => v.storage)?.name;
    const group = (c.spec as { group: string }).group;
    const kind = (c.spec as { names: { kind: string } }).names.kind;
    while (true) {
      try {
        await kube.objects.list(`${group}/${version}`, kind);
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new ClusterStageError("mesh", describe(c), `kind not served: ${apiReason(e)}`);
        }
        await sleep(200);
      }
    }
  }
}

/** Deletes CRDs meshbench installed (only those labelled as meshbench's). */
export async function removeCrds(
  kube: Kube,
  names: string[],
  timeoutMs = 60_000,
): Promise<void> {
  const checked: k8s.V1CustomResourceDefinition[] = [];
  for (const name of names) {
    let crd: k8s.V1CustomResourceDefinition;
    try {
      crd = await kube.apiext.readCustomResourceDefinition({ name });
    } catch (e) {
      if (isNotFound(e)) continue;
      throw e;
    }
    if (crd.metadata?.labels?.["meshbench.io/managed"] !== "true") {
      throw new ClusterStageError(
        "cleanup",
        `CustomResourceDefinition "${name}"`,
        "refusing to delete: not labelled meshbench.io/managed=true",
      );
    }
    checked.push(crd);
  }
  const deadline = Date.now() + timeoutMs;
  // The API server deletes a CRD only after listing its objects from its watch cache; a
  // kind nobody has listed yet may have no cache, and the finalizer then backs off for
  // minutes ("storage is (re)initializing"). Listing each kind first starts its cache.
  for (const crd of checked) {
    const spec = crd.spec;
    const version = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]?.name;
    while (true) {
      try {
        await kube.objects.list(`${spec.group}/${version}`, spec.names.kind);
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new ClusterStageError(
            "cleanup",
            `CustomResourceDefinition "${crd.metadata?.name}"`,
            `its objects cannot be listed: ${apiReason(e)}`,
          );
        }
        await sleep(200);
      }
    }
  }
  for (const crd of checked) {
    await kube.apiext.deleteCustomResourceDefinition({ name: crd.metadata!.name! });
  }
  for (const name of names) {
    while (true) {
      let crd: k8s.V1CustomResourceDefinition;
      try {
        crd = await kube.apiext.readCustomResourceDefinition({ name });
      } catch (e) {
        if (isNotFound(e)) break;
        throw e;
      }
      if (Date.now() > deadline) {
        const why = (crd.status?.conditions ?? [])
          .map((c) => `${c.type}=${c.status}${c.message ? ` (${c.message})` : ""}`).join("; ");
        throw new ClusterStageError(
          "cleanup",
          `CustomResourceDefinition "${name}"`,
          `still deleting after ${Math.round(timeoutMs / 1000)} s` +
            (why ? `: ${why}` : "") +
            (crd.metadata?.finalizers?.length
              ? `; finalizers ${crd.metadata.finalizers.join(", ")}`
              : ""),
        );
      }
      await sleep(200);
    }
  }
}

/**
 * Applies meshbench's mesh resources (mTLS policies; a self-injected mesh's identity Secret,
 * which needs the run's `identity`) into each meshed namespace.
 */
export async function applyMeshResources(
  kube: Kube,
  mesh: ClusterMesh,
  namespaces: string[],
  options: { dryRun?: boolean; log?: (m: string) => void; identity?: SidecarIdentity } = {},
): Promise<KubeObject[]> {
  if (mesh.injection && !options.identity) {
    throw new Error(`Cannot apply the resources of "${mesh.name}": the run's identity is missing`);
  }
  const objs = namespaces.flatMap((ns) => mesh.resources(ns, options.identity));
  if (objs.length === 0) return [];
  return await applyObjects(kube, objs, options);
}

/**
 * Deletes meshbench's mesh resources (mTLS policies) from `namespaces`: before a mesh is
 * uninstalled, so no policy of it outlives it (a CiliumNetworkPolicy requiring mutual
 * authentication would deny all traffic once SPIRE is off). Returns what was deleted.
 */
export async function removeMeshResources(
  kube: Kube,
  mesh: ClusterMesh,
  namespaces: string[],
): Promise<string[]> {
  const gone: string[] = [];
  for (const o of namespaces.flatMap((ns) => mesh.resources(ns))) {
    try {
      await kube.objects.delete({
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
      });
      gone.push(describe(o));
    } catch (e) {
      if (!isNotFound(e) && !/Unrecognized API version and kind/.test(String(e))) {
        throw new ClusterStageError("mesh", describe(o), `cannot delete: ${apiReason(e)}`);
      }
    }
  }
  return gone;
}

/**
 * Checks that no running meshbench pod in `namespaces` is still meshed by `mesh` (after
 * its enablement was removed and the workloads restarted), and that none of its mesh
 * resources is left; throws a `mesh` stage error naming them. Only then may the mesh be
 * uninstalled: removing a CNI agent or control plane under meshed pods leaves them stuck.
 */
export async function verifyUnmeshed(
  kube: Kube,
  mesh: ClusterMesh,
  namespaces: string[],
): Promise<void> {
  const problems: string[] = [];
  for (const namespace of namespaces) {
    if (mesh.kind === "sidecar" || mesh.kind === "node-proxy") {
      const pods = await kube.core.listNamespacedPod({
        namespace,
        labelSelector: MANAGED_SELECTOR,
      });
      for (const pod of pods.items) {
        const phase = pod.status?.phase;
        if (pod.metadata?.deletionTimestamp || phase === "Succeeded" || phase === "Failed") {
          continue;
        }
        if (mesh.unmeshedReason(pod) === null) {
          problems.push(`${describe({ kind: "Pod", metadata: pod.metadata })}: still meshed`);
        }
      }
    }
    for (const o of mesh.resources(namespace)) {
      try {
        await kube.objects.read({
          apiVersion: o.apiVersion,
          kind: o.kind,
          metadata: { name: o.metadata.name, namespace },
        });
        problems.push(`${describe(o)}: still present`);
      } catch (e) {
        if (!isNotFound(e) && !/Unrecognized API version and kind/.test(String(e))) throw e;
      }
    }
  }
  if (problems.length) {
    throw new ClusterStageError(
      "mesh",
      `mesh "${mesh.name}"`,
      `not unmeshed before its uninstall:\n${problems.slice(0, 10).join("\n")}`,
    );
  }
}

/**
 * Checks that every running meshbench pod in `namespaces` is meshed by `mesh`; throws a
 * `mesh` stage error listing each unmeshed pod and why. For Cilium a pod is meshed when its
 * CiliumEndpoint exists. Returns the number of pods verified.
 */
export async function verifyMeshed(
  kube: Kube,
  mesh: ClusterMesh,
  namespaces: string[],
): Promise<number> {
  if (mesh.kind === "none") return 0;
  const problems: string[] = [];
  let verified = 0;
  for (const namespace of namespaces) {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR });
    let endpoints: Set<string> | undefined;
    if (mesh.name === "cilium") {
      try {
        const list = await kube.objects.list("cilium.io/v2", "CiliumEndpoint", namespace);
        endpoints = new Set(list.items.map((e) => e.metadata?.name ?? ""));
      } catch (e) {
        throw new ClusterStageError(
          "mesh",
          `CiliumEndpoints in "${namespace}"`,
          `cannot list (is Cilium installed?): ${apiReason(e)}`,
        );
      }
    }
    for (const pod of pods.items) {
      const phase = pod.status?.phase;
      if (pod.metadata?.deletionTimestamp || phase === "Succeeded" || phase === "Failed") continue;
      // Image pre-pull pods opt out of every mesh: not benchmark pods.
      if (pod.metadata?.labels?.["meshbench.io/tier"] === "prepull") continue;
      const id = describe({ kind: "Pod", metadata: pod.metadata });
      const reason = mesh.unmeshedReason(pod) ??
        (endpoints && !endpoints.has(pod.metadata?.name ?? "")
          ? "no CiliumEndpoint (Cilium does not manage it)"
          : null);
      if (reason) problems.push(`${id}: ${reason}`);
      else verified++;
    }
  }
  if (problems.length) {
    throw new ClusterStageError(
      "mesh",
      `${problems.length} pod(s) under mesh "${mesh.name}"`,
      `not meshed:\n${problems.slice(0, 10).join("\n")}`,
    );
  }
  return verified;
}

export type { HelmStep };
