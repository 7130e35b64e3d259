/**
 * The real meshes of the cluster target, as data (STYLE principle 12): kind, pinned
 * version, Helm install and uninstall steps, how a namespace is enabled, how a pod is
 * verified as meshed, which pods and containers are the control and data planes, and the
 * mesh resources meshbench applies (mTLS policies), which the API server validates.
 *
 * Helm values were taken from each project's chart documentation for the pinned version.
 *
 * @module
 */

import type { MeshKind } from "../types.ts";
import { type KubeObject, MANAGED_LABELS } from "./manifests.ts";
import { cpuCores } from "./environment.ts";

/** One `helm` invocation (the binary is prepended by the installer). */
export interface HelmStep {
  release: string;
  /** Chart name in `repo`, or a local chart directory when `repo` is empty. */
  chart: string;
  repo: string;
  namespace: string;
  /** `--set` values, in order. */
  values: Record<string, string | number | boolean>;
  /** `--set-file` values: key to a file the installer generates (e.g. Linkerd's trust anchor). */
  files?: Record<string, "trust-anchor-crt" | "issuer-crt" | "issuer-key">;
  /** Seconds `helm --wait` may take. */
  timeoutS: number;
}

/** Where a mesh's pods are and which containers belong to it. */
export interface PodSelector {
  namespace: string;
  labelSelector: string;
}

/** A pod as the mesh checks see it (a subset of V1Pod). */
export interface PodView {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: {
    containers?: Array<{ name: string }>;
    initContainers?: Array<{ name: string; restartPolicy?: string }>;
  };
}

/** One real mesh. */
export interface ClusterMesh {
  name: string;
  kind: MeshKind;
  /** Pinned version, recorded in results. */
  version: string;
  description: string;
  /** Settings that change the answer (METHODOLOGY rule 11), recorded in results. */
  settings: Record<string, string | number | boolean>;
  install: HelmStep[];
  /**
   * Namespaces the mesh installs into that its charts do not create: meshbench creates
   * them labelled (and deletes them on uninstall), except kube-system and default.
   */
  systemNamespaces: string[];
  /** Labels and annotations that enable the mesh for a benchmark namespace. */
  enable: { labels: Record<string, string>; annotations: Record<string, string> };
  /** Why a pod is not meshed, or null when it is. */
  unmeshedReason(pod: PodView): string | null;
  controlPlane: PodSelector[];
  /** Data-plane pods that are not application pods (node proxies, agents). */
  nodeProxies: PodSelector[];
  /** Container names inside application pods that are the mesh's proxy. */
  sidecarContainers: string[];
  /** meshbench's mesh resources for one benchmark namespace (mTLS policy and the like). */
  resources(namespace: string): KubeObject[];
  /** CRD files under `meshes/crds/` that `resources` needs (for tests without the mesh). */
  crdFiles: string[];
  /**
   * API group suffixes of the CRDs the mesh's operators create at run time (not through
   * Helm): with the Helm release annotations, what marks a new CRD as the mesh's own.
   */
  crdGroups: string[];
  /**
   * For Guaranteed QoS (config `cluster.qos`): pod annotations that size the injected
   * sidecar with requests equal to limits, and Helm values (by release) that do the same for
   * containers the mesh injects beside it (init containers). Absent for meshes that inject
   * nothing into application pods.
   */
  guaranteedProxy?: {
    annotations(cpu: string, memory: string): Record<string, string>;
    /**
     * Other per-pod proxy settings that follow the size (e.g. Envoy's worker threads), with
     * the settings they amount to, recorded in results.
     */
    tuning?(cpu: string): {
      annotations: Record<string, string>;
      settings: Record<string, string | number | boolean>;
    };
    values?: Record<string, Record<string, string>>;
  };
}

const ISTIO_VERSION = "1.27.3";
const LINKERD_VERSION = "2025.10.2"; // Linkerd edge release (open-source charts)
const CILIUM_VERSION = "1.18.3";

const ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts";
const LINKERD_REPO = "https://helm.linkerd.io/edge";
const CILIUM_REPO = "https://helm.cilium.io/";

function managed(): Record<string, string> {
  return { ...MANAGED_LABELS };
}

function sidecarPresent(pod: PodView, name: string): boolean {
  return [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]
    .some((c) => c.name === name);
}

function nativeSidecar(pod: PodView, name: string): boolean {
  return (pod.spec?.initContainers ?? []).some((c) =>
    c.name === name && c.restartPolicy === "Always"
  );
}

function peerAuthentication(namespace: string): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "PeerAuthentication",
    metadata: { name: "meshbench-strict-mtls", namespace, labels: managed() },
    spec: { mtls: { mode: "STRICT" } },
  };
}

const istioSidecar: ClusterMesh = {
  name: "istio",
  kind: "sidecar",
  version: ISTIO_VERSION,
  description: "Istio sidecar mode: Envoy sidecars (native sidecars), STRICT mTLS",
  settings: {
    mtls: "STRICT",
    mode: "sidecar",
    nativeSidecars: true,
    proxyConcurrency: 2,
    telemetry: "default",
  },
  install: [
    {
      release: "istio-base",
      chart: "base",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { defaultRevision: "default" },
      timeoutS: 300,
    },
    {
      release: "istiod",
      chart: "istiod",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: {
        // Jobs complete under the mesh: the proxy is an init container with restartPolicy
        // Always, which Kubernetes stops after the main container exits.
        "pilot.env.ENABLE_NATIVE_SIDECARS": true,
        "meshConfig.defaultConfig.concurrency": 2,
        "global.proxy.resources.requests.cpu": "10m",
        "global.proxy.resources.requests.memory": "40Mi",
        "global.proxy.resources.limits.cpu": "2",
        "global.proxy.resources.limits.memory": "1Gi",
      },
      timeoutS: 600,
    },
  ],
  systemNamespaces: ["istio-system"],
  enable: { labels: { "istio-injection": "enabled" }, annotations: {} },
  unmeshedReason(pod) {
    if (!sidecarPresent(pod, "istio-proxy")) return 'no "istio-proxy" container';
    if (!nativeSidecar(pod, "istio-proxy")) {
      return '"istio-proxy" is not a native sidecar (init container with restartPolicy Always)';
    }
    if (!pod.metadata?.annotations?.["sidecar.istio.io/status"]) {
      return 'no "sidecar.istio.io/status" annotation';
    }
    return null;
  },
  controlPlane: [{ namespace: "istio-system", labelSelector: "app=istiod" }],
  nodeProxies: [],
  sidecarContainers: ["istio-proxy"],
  resources: (ns) => [peerAuthentication(ns)],
  crdFiles: ["istio-security.yaml"],
  crdGroups: ["istio.io"],
  guaranteedProxy: {
    // The injection template sizes istio-proxy and its istio-init from these annotations.
    annotations: (cpu, memory) => ({
      "sidecar.istio.io/proxyCPU": cpu,
      "sidecar.istio.io/proxyCPULimit": cpu,
      "sidecar.istio.io/proxyMemory": memory,
      "sidecar.istio.io/proxyMemoryLimit": memory,
    }),
    // Envoy's workers follow the CPU it is given (the mesh-wide default is 2): more workers
    // than cores would be throttled, fewer would leave the size unused. Linkerd's proxy
    // sizes its own runtime from its CPU limit.
    tuning: (cpu) => {
      const concurrency = Math.max(1, Math.ceil(cpuCores(cpu)));
      return {
        annotations: { "proxy.istio.io/config": JSON.stringify({ concurrency }) },
        settings: { proxyConcurrency: concurrency },
      };
    },
  },
};

const istioAmbient: ClusterMesh = {
  name: "istio-ambient",
  kind: "node-proxy",
  version: ISTIO_VERSION,
  description: "Istio ambient mode: ztunnel node proxies (L4, no waypoint), STRICT mTLS",
  settings: { mtls: "STRICT", mode: "ambient", waypoint: false, telemetry: "default" },
  install: [
    {
      release: "istio-base",
      chart: "base",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { defaultRevision: "default" },
      timeoutS: 300,
    },
    {
      release: "istiod",
      chart: "istiod",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { profile: "ambient" },
      timeoutS: 600,
    },
    {
      release: "istio-cni",
      chart: "cni",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { profile: "ambient" },
      timeoutS: 600,
    },
    {
      release: "ztunnel",
      chart: "ztunnel",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: {},
      timeoutS: 600,
    },
  ],
  systemNamespaces: ["istio-system"],
  enable: { labels: { "istio.io/dataplane-mode": "ambient" }, annotations: {} },
  unmeshedReason(pod) {
    const redirection = pod.metadata?.annotations?.["ambient.istio.io/redirection"];
    if (redirection !== "enabled") {
      return `annotation "ambient.istio.io/redirection" is ${
        redirection === undefined ? "absent" : `"${redirection}"`
      }, not "enabled"`;
    }
    if (sidecarPresent(pod, "istio-proxy")) return 'has an "istio-proxy" sidecar in ambient mode';
    return null;
  },
  controlPlane: [{ namespace: "istio-system", labelSelector: "app=istiod" }],
  nodeProxies: [
    { namespace: "istio-system", labelSelector: "app=ztunnel" },
    { namespace: "istio-system", labelSelector: "k8s-app=istio-cni-node" },
  ],
  sidecarContainers: [],
  resources: (ns) => [peerAuthentication(ns)],
  crdFiles: ["istio-security.yaml"],
  crdGroups: ["istio.io"],
};

const linkerd: ClusterMesh = {
  name: "linkerd",
  kind: "sidecar",
  version: LINKERD_VERSION,
  description:
    "Linkerd: linkerd2-proxy sidecars (native sidecars), mTLS on by default, inbound policy all-authenticated",
  settings: {
    mtls: "on (default), inbound policy all-authenticated",
    mode: "sidecar",
    nativeSidecars: true,
    opaquePorts: "default (includes 6379)",
  },
  install: [
    {
      release: "linkerd-crds",
      chart: "linkerd-crds",
      repo: LINKERD_REPO,
      namespace: "linkerd",
      values: {},
      timeoutS: 300,
    },
    {
      release: "linkerd-control-plane",
      chart: "linkerd-control-plane",
      repo: LINKERD_REPO,
      namespace: "linkerd",
      values: { "proxy.nativeSidecar": true },
      files: {
        identityTrustAnchorsPEM: "trust-anchor-crt",
        "identity.issuer.tls.crtPEM": "issuer-crt",
        "identity.issuer.tls.keyPEM": "issuer-key",
      },
      timeoutS: 600,
    },
  ],
  systemNamespaces: ["linkerd"],
  enable: {
    labels: {},
    annotations: {
      "linkerd.io/inject": "enabled",
      // Inbound traffic must be mTLS from meshed clients: mTLS enforced, not just offered.
      "config.linkerd.io/default-inbound-policy": "all-authenticated",
    },
  },
  unmeshedReason(pod) {
    if (!sidecarPresent(pod, "linkerd-proxy")) return 'no "linkerd-proxy" container';
    if (!nativeSidecar(pod, "linkerd-proxy")) {
      return '"linkerd-proxy" is not a native sidecar (init container with restartPolicy Always)';
    }
    return null;
  },
  controlPlane: [{ namespace: "linkerd", labelSelector: "linkerd.io/control-plane-ns=linkerd" }],
  nodeProxies: [],
  sidecarContainers: ["linkerd-proxy"],
  resources: () => [],
  crdFiles: [],
  crdGroups: ["linkerd.io"],
  guaranteedProxy: {
    annotations: (cpu, memory) => ({
      "config.linkerd.io/proxy-cpu-request": cpu,
      "config.linkerd.io/proxy-cpu-limit": cpu,
      "config.linkerd.io/proxy-memory-request": memory,
      "config.linkerd.io/proxy-memory-limit": memory,
    }),
    // linkerd-init is sized by the chart, not by pod annotations.
    values: {
      "linkerd-control-plane": {
        "proxyInit.resources.cpu.request": "100m",
        "proxyInit.resources.cpu.limit": "100m",
        "proxyInit.resources.memory.request": "20Mi",
        "proxyInit.resources.memory.limit": "20Mi",
      },
    },
  },
};

const cilium: ClusterMesh = {
  name: "cilium",
  kind: "ebpf",
  version: CILIUM_VERSION,
  description:
    "Cilium service mesh: eBPF datapath, mutual authentication (SPIRE) required by policy",
  settings: {
    mtls: "mutual authentication via SPIRE, required by CiliumNetworkPolicy",
    l7: false,
    kubeProxyReplacement: false,
  },
  install: [
    {
      release: "cilium",
      chart: "cilium",
      repo: CILIUM_REPO,
      namespace: "kube-system",
      values: {
        "authentication.mutual.spire.enabled": true,
        "authentication.mutual.spire.install.enabled": true,
        "operator.replicas": 1,
      },
      timeoutS: 900,
    },
  ],
  // The chart creates (and helm uninstall deletes) the cilium-spire Namespace itself, so
  // meshbench must not create it first; the release lives in kube-system, never deleted.
  systemNamespaces: ["kube-system"],
  enable: { labels: {}, annotations: {} },
  unmeshedReason(pod) {
    // Cilium manages every pod on a node it runs on; the CiliumEndpoint check is done by
    // the verifier (see mesh.ts), which needs the API.
    return pod.metadata?.name ? null : "pod has no name";
  },
  controlPlane: [{ namespace: "kube-system", labelSelector: "io.cilium/app=operator" }],
  nodeProxies: [
    { namespace: "kube-system", labelSelector: "k8s-app=cilium" },
    { namespace: "kube-system", labelSelector: "k8s-app=cilium-envoy" },
  ],
  sidecarContainers: [],
  resources: (ns) => [{
    apiVersion: "cilium.io/v2",
    kind: "CiliumNetworkPolicy",
    metadata: { name: "meshbench-require-mutual-auth", namespace: ns, labels: managed() },
    spec: {
      endpointSelector: {},
      ingress: [{
        fromEndpoints: [{ matchLabels: { "app.kubernetes.io/part-of": "meshbench" } }],
        authentication: { mode: "required" },
      }],
    },
  }],
  crdFiles: ["cilium.yaml"],
  crdGroups: ["cilium.io"],
};

const baseline: ClusterMesh = {
  name: "baseline",
  kind: "none",
  version: "none",
  description: "no mesh: the baseline-* namespaces, never enabled",
  settings: {},
  install: [],
  systemNamespaces: [],
  enable: { labels: {}, annotations: {} },
  unmeshedReason: () => null,
  controlPlane: [],
  nodeProxies: [],
  sidecarContainers: [],
  resources: () => [],
  crdFiles: [],
  crdGroups: [],
};

/** Every cluster mesh by name. */
export const CLUSTER_MESHES: Record<string, ClusterMesh> = {
  baseline,
  istio: istioSidecar,
  "istio-ambient": istioAmbient,
  linkerd,
  cilium,
};

/** Looks a mesh up; an unknown name is an error listing the known ones. */
export function clusterMesh(name: string): ClusterMesh {
  const m = CLUSTER_MESHES[name];
  if (!m) {
    throw new Error(
      `Unknown cluster mesh "${name}" (known: ${Object.keys(CLUSTER_MESHES).join(", ")})`,
    );
  }
  return m;
}

/** The Namespace object with the mesh's enablement labels and annotations merged in. */
export function enableNamespace(ns: KubeObject, mesh: ClusterMesh): KubeObject {
  const out = structuredClone(ns);
  out.metadata.labels = { ...out.metadata.labels, ...mesh.enable.labels };
  out.metadata.annotations = { ...out.metadata.annotations, ...mesh.enable.annotations };
  return out;
}

/** The `helm upgrade --install` argv of one step (files resolved by `fileFor`). */
export function helmArgs(
  step: HelmStep,
  version: string,
  context: string,
  kubeconfig: string,
  fileFor: (kind: NonNullable<HelmStep["files"]>[string]) => string,
): string[] {
  const args = [
    "upgrade",
    "--install",
    step.release,
    step.chart,
    ...(step.repo ? ["--repo", step.repo, "--version", version] : []),
    "--namespace",
    step.namespace,
    "--create-namespace",
    "--kube-context",
    context,
    "--kubeconfig",
    kubeconfig,
    "--wait",
    "--timeout",
    `${step.timeoutS}s`,
  ];
  for (const [k, v] of Object.entries(step.values)) args.push("--set", `${k}=${v}`);
  for (const [k, f] of Object.entries(step.files ?? {})) {
    args.push("--set-file", `${k}=${fileFor(f)}`);
  }
  return args;
}
