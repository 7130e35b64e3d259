/**
 * The real meshes of the cluster target, as data rather than branches: kind, pinned
 * version, Helm install and uninstall steps, how a namespace is enabled, how a pod is
 * verified as meshed, which pods and containers are the control and data planes, and the
 * mesh resources meshbench applies (mTLS policies), which the API server validates.
 *
 * Helm values were taken from each project's chart documentation for the pinned version.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import type { MeshKind } from "../types.ts";
import { type KubeObject, MANAGED_LABELS } from "./manifests.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";
import type { Runner } from "../command.ts";
import { generateMeshIdentity } from "../local/certs.ts";
import {
  ENVOY_VERSION,
  envoyUnmeshedReason,
  identitySecret,
  INIT_RESOURCES,
  injectEnvoySidecar,
  PROXY_CPU_ANNOTATION,
  PROXY_MEMORY_ANNOTATION,
  SIDECAR_CONTAINER,
  SIDECAR_REQUESTS,
  SIDECAR_URI,
  type SidecarIdentity,
} from "./envoy_sidecar.ts";

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
  /** `--set-json` values (lists and maps: tolerations, node selectors). */
  json?: Record<string, unknown>;
  /** Seconds `helm --wait` may take. */
  timeoutS: number;
  /**
   * The step changes a release the cluster already runs instead of installing its own (the
   * Cilium CNI that `cluster:setup` installed): `helm upgrade --reset-then-reuse-values`
   * without `--install`, on a release labelled `owner` (see {@linkcode RELEASE_LABELS}), and
   * "uninstalling" it sets `revert` (with the same reuse), never `helm uninstall`.
   */
  reuse?: { owner: Record<string, string>; revert: Record<string, string | number | boolean> };
}

/**
 * Labels meshbench puts on every Helm release it installs (`helm --labels`, stored on the
 * release's storage Secret): an existing release without them was not made by meshbench,
 * and meshbench refuses to upgrade or uninstall it.
 */
export const RELEASE_LABELS: Record<string, string> = { "meshbench.io/managed": "true" };

/** Labels `cluster:setup` puts on the cluster's Cilium CNI release (ansible/roles/cni). */
export const CNI_RELEASE_LABELS: Record<string, string> = {
  "meshbench.io/managed": "true",
  "meshbench.io/cni": "cilium",
};

/** Requests of a group of pods, in cores and MiB. */
export interface Requests {
  cpu: number;
  memoryMiB: number;
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

/** A pod toleration. */
export interface Toleration {
  key: string;
  operator: "Exists" | "Equal";
  effect: string;
}

/**
 * A mesh meshbench injects itself, without a control plane or webhook (`envoy-sidecar`):
 * "installing" it is rendering the workloads with the sidecar and redeploying them,
 * "uninstalling" it is redeploying them without.
 */
export interface SelfInjection {
  /** Generates the run's mTLS identity (CA, certificate, key) under `dir`. */
  identity(runner: Runner, dir: string): Promise<SidecarIdentity>;
  /** One meshed namespace's objects with the sidecar injected into its pod templates. */
  inject(objs: readonly KubeObject[]): KubeObject[];
}

/** One mesh of the cluster target (real, or an emulation meshbench injects itself). */
export interface ClusterMesh {
  name: string;
  kind: MeshKind;
  /** True for an emulation (`envoy-sidecar`): labelled so in every result. */
  emulated?: boolean;
  /** Present for a mesh meshbench injects itself (no Helm install, no webhook). */
  injection?: SelfInjection;
  /** Pinned version, recorded in results. */
  version: string;
  description: string;
  /** Settings that change the answer (METHODOLOGY rule 11), recorded in results. */
  settings: Record<string, string | number | boolean>;
  install: HelmStep[];
  /**
   * What the mesh's own pods request with meshbench's values (checked against the rendered
   * charts in charts_test.ts), for the capacity check before deploy: its control plane
   * (placed on a tainted control-plane node when the cluster has one), its DaemonSets per
   * node, and the sidecar it injects into each meshed pod (Burstable QoS; Guaranteed uses
   * `cluster.proxyResources`).
   */
  footprint: { controlPlane: Requests; perNode: Requests; sidecar: Requests };
  /**
   * Helm values (by release) that put the control plane on a tainted control-plane node:
   * a node selector and a toleration, added at install when the cluster has such a node.
   */
  controlPlanePlacement?(selector: Record<string, string>, toleration: Toleration): Record<
    string,
    Record<string, unknown>
  >;
  /** The CNI the mesh needs the cluster to run (Cilium's meshes change the CNI's release). */
  requiresCni?: string;
  /**
   * Kubelet probe kinds that reach a pod under the mesh's policy. Linkerd's
   * all-authenticated inbound policy admits only HTTP probes (it authorizes the probe
   * paths of httpGet probes; linkerd/linkerd2#9595); exec runs inside the container.
   */
  admitsProbes: Array<"httpGet" | "grpc" | "tcpSocket" | "exec">;
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
  /**
   * meshbench's mesh resources for one benchmark namespace (mTLS policy and the like). For a
   * mesh meshbench injects itself, its identity Secret: with the run's `identity` to apply,
   * without it (names only) to find and delete.
   */
  resources(namespace: string, identity?: SidecarIdentity): KubeObject[];
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

const ISTIO_VERSION = "1.27.9";
const LINKERD_VERSION = "2025.10.2"; // Linkerd edge release (open-source charts)
/** One Cilium version for the cluster's CNI (ansible/group_vars/all.yml) and the meshes. */
export const CILIUM_VERSION = "1.18.11";

const ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts";
const LINKERD_REPO = "https://helm.linkerd.io/edge";
/** The Cilium chart repository (the CNI's release is installed from it too). */
export const CILIUM_REPO = "https://helm.cilium.io/";

/** The values file of the cluster's Cilium CNI release (`meshes/cilium/cni-values.yaml`). */
export const CILIUM_CNI_VALUES_FILE =
  new URL("../../meshes/cilium/cni-values.yaml", import.meta.url).pathname;

/** A nested values object as Helm `--set` paths (`a.b.c`), leaves only. */
export function flattenValues(
  values: Record<string, unknown>,
  prefix = "",
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(values)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      Object.assign(out, flattenValues(v as Record<string, unknown>, key));
    } else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
      out[key] = v;
    } else {
      throw new Error(`Cannot use Helm value "${key}" of ${CILIUM_CNI_VALUES_FILE}: not a scalar`);
    }
  }
  return out;
}

/** The Cilium CNI's values as `--set` paths (read once from {@linkcode CILIUM_CNI_VALUES_FILE}). */
export const CILIUM_CNI_VALUES: Record<string, string | number | boolean> = flattenValues(
  parseYaml(Deno.readTextFileSync(CILIUM_CNI_VALUES_FILE)) as Record<string, unknown>,
);

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

const NONE: Requests = { cpu: 0, memoryMiB: 0 };
const ALL_PROBES: ClusterMesh["admitsProbes"] = ["httpGet", "grpc", "tcpSocket", "exec"];

/** istiod sized for a small cluster (the chart asks 500m / 2Gi), one replica, no autoscaler. */
const ISTIOD_SIZE = {
  "pilot.resources.requests.cpu": "100m",
  "pilot.resources.requests.memory": "256Mi",
  "pilot.autoscaleEnabled": false,
};

const istioBase: HelmStep = {
  release: "istio-base",
  chart: "base",
  repo: ISTIO_REPO,
  namespace: "istio-system",
  values: { defaultRevision: "default" },
  timeoutS: 300,
};

function istiodPlacement(selector: Record<string, string>, toleration: Toleration) {
  return { istiod: { "pilot.nodeSelector": selector, "pilot.tolerations": [toleration] } };
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
    istiodRequests: "100m / 256Mi",
  },
  install: [
    istioBase,
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
        ...ISTIOD_SIZE,
      },
      timeoutS: 600,
    },
  ],
  footprint: {
    controlPlane: { cpu: 0.1, memoryMiB: 256 },
    perNode: NONE,
    sidecar: { cpu: 0.01, memoryMiB: 40 },
  },
  controlPlanePlacement: istiodPlacement,
  admitsProbes: ALL_PROBES,
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
  settings: {
    mtls: "STRICT",
    mode: "ambient",
    waypoint: false,
    telemetry: "default",
    istiodRequests: "100m / 256Mi",
    ztunnelRequests: "50m / 128Mi",
    istioCniRequests: "20m / 64Mi",
  },
  install: [
    istioBase,
    {
      release: "istiod",
      chart: "istiod",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { profile: "ambient", ...ISTIOD_SIZE },
      timeoutS: 600,
    },
    {
      release: "istio-cni",
      chart: "cni",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: {
        profile: "ambient",
        "resources.requests.cpu": "20m",
        "resources.requests.memory": "64Mi",
      },
      timeoutS: 600,
    },
    {
      release: "ztunnel",
      chart: "ztunnel",
      repo: ISTIO_REPO,
      namespace: "istio-system",
      values: { "resources.requests.cpu": "50m", "resources.requests.memory": "128Mi" },
      timeoutS: 600,
    },
  ],
  footprint: {
    controlPlane: { cpu: 0.1, memoryMiB: 256 },
    perNode: { cpu: 0.07, memoryMiB: 192 },
    sidecar: NONE,
  },
  controlPlanePlacement: istiodPlacement,
  admitsProbes: ALL_PROBES,
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
    proxyRequests: "10m / 20Mi",
    controlPlaneRequests: "destination 50m / 64Mi, policy 20m / 32Mi, identity 10m / 32Mi, " +
      "proxy-injector 20m / 32Mi",
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
      values: {
        "proxy.nativeSidecar": true,
        // The chart requests nothing by default: sized explicitly (and so recorded). The
        // proxy's requests apply to every injected proxy and to linkerd-init, which the
        // chart sizes from proxy.resources too.
        "proxy.resources.cpu.request": "10m",
        "proxy.resources.memory.request": "20Mi",
        "destinationResources.cpu.request": "50m",
        "destinationResources.memory.request": "64Mi",
        "policyController.resources.cpu.request": "20m",
        "policyController.resources.memory.request": "32Mi",
        "identityResources.cpu.request": "10m",
        "identityResources.memory.request": "32Mi",
        "proxyInjectorResources.cpu.request": "20m",
        "proxyInjectorResources.memory.request": "32Mi",
      },
      files: {
        identityTrustAnchorsPEM: "trust-anchor-crt",
        "identity.issuer.tls.crtPEM": "issuer-crt",
        "identity.issuer.tls.keyPEM": "issuer-key",
      },
      timeoutS: 600,
    },
  ],
  // destination (destination, sp-validator without requests, policy, proxy), identity
  // (+ proxy), proxy-injector (+ proxy): 50+20+10+20 m plus three proxies of 10m.
  footprint: {
    controlPlane: { cpu: 0.13, memoryMiB: 220 },
    perNode: NONE,
    sidecar: { cpu: 0.01, memoryMiB: 20 },
  },
  controlPlanePlacement: (selector, toleration) => ({
    "linkerd-control-plane": {
      nodeSelector: { "kubernetes.io/os": "linux", ...selector },
      tolerations: [toleration],
    },
  }),
  // all-authenticated admits the kubelet only on the paths of httpGet probes.
  admitsProbes: ["httpGet", "exec"],
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
    // The injector sizes linkerd-proxy, and linkerd-init with it (the chart's proxy-init
    // template reads proxy.resources), from these annotations.
    annotations: (cpu, memory) => ({
      "config.linkerd.io/proxy-cpu-request": cpu,
      "config.linkerd.io/proxy-cpu-limit": cpu,
      "config.linkerd.io/proxy-memory-request": memory,
      "config.linkerd.io/proxy-memory-limit": memory,
    }),
  },
};

const SPIRE = "authentication.mutual.spire";

/**
 * The Cilium meshes change the cluster's own Cilium release (the CNI, never uninstalled):
 * every CNI value repeated, SPIRE mutual authentication on (no PersistentVolume: a
 * benchmark cluster has no StorageClass, and SPIRE's registrations are rebuilt by the
 * operator), WireGuard node-to-node encryption on (mutual authentication alone encrypts
 * nothing). Reverting turns both off again.
 */
const ciliumStep: HelmStep = {
  release: "cilium",
  chart: "cilium",
  repo: CILIUM_REPO,
  namespace: "kube-system",
  values: {
    ...CILIUM_CNI_VALUES,
    [`${SPIRE}.enabled`]: true,
    [`${SPIRE}.install.server.dataStorage.enabled`]: false,
    [`${SPIRE}.install.server.resources.requests.cpu`]: "50m",
    [`${SPIRE}.install.server.resources.requests.memory`]: "64Mi",
    [`${SPIRE}.install.agent.resources.requests.cpu`]: "20m",
    [`${SPIRE}.install.agent.resources.requests.memory`]: "32Mi",
    "encryption.enabled": true,
    "encryption.type": "wireguard",
  },
  reuse: {
    owner: CNI_RELEASE_LABELS,
    revert: { ...CILIUM_CNI_VALUES, [`${SPIRE}.enabled`]: false, "encryption.enabled": false },
  },
  timeoutS: 900,
};

function ciliumMesh(l7: boolean): ClusterMesh {
  return {
    name: l7 ? "cilium-l7" : "cilium",
    kind: "ebpf",
    version: CILIUM_VERSION,
    description:
      `Cilium ${
        l7 ? "with L7 (HTTP) policy: cilium-envoy in the path of HTTP and gRPC" : "L3/L4"
      }: ` +
      "eBPF datapath, SPIRE mutual authentication (beta) required by policy, WireGuard encryption",
    settings: {
      mtls: "Cilium mutual authentication (beta): SPIRE identities checked per identity pair, " +
        "out of band of the connection; the traffic itself is encrypted by WireGuard between nodes",
      encryption: "wireguard (node to node)",
      l7,
      kubeProxyReplacement: false,
      spireRequests: "server 50m / 64Mi, agent 20m / 32Mi",
    },
    install: [ciliumStep],
    requiresCni: "cilium",
    footprint: {
      controlPlane: { cpu: 0.05, memoryMiB: 64 },
      perNode: { cpu: 0.02, memoryMiB: 32 },
      sidecar: NONE,
    },
    controlPlanePlacement: (selector, toleration) => ({
      cilium: {
        [`${SPIRE}.install.server.nodeSelector`]: selector,
        [`${SPIRE}.install.server.tolerations`]: [toleration],
      },
    }),
    // Cilium admits traffic from the local node (kubelet probes) whatever the policy.
    admitsProbes: ALL_PROBES,
    // The chart creates (and the revert deletes) the cilium-spire Namespace itself.
    systemNamespaces: ["kube-system"],
    enable: { labels: {}, annotations: {} },
    unmeshedReason(pod) {
      // Cilium manages every pod on a node it runs on; the CiliumEndpoint check is done by
      // the verifier (see mesh.ts), which needs the API.
      return pod.metadata?.name ? null : "pod has no name";
    },
    // SPIRE issues the identities: control plane, like istiod's CA.
    controlPlane: [
      { namespace: "kube-system", labelSelector: "io.cilium/app=operator" },
      { namespace: "cilium-spire", labelSelector: "app=spire-server" },
      { namespace: "cilium-spire", labelSelector: "app=spire-agent" },
    ],
    nodeProxies: [
      { namespace: "kube-system", labelSelector: "k8s-app=cilium" },
      { namespace: "kube-system", labelSelector: "k8s-app=cilium-envoy" },
    ],
    sidecarContainers: [],
    resources: (ns) => [{
      apiVersion: "cilium.io/v2",
      kind: "CiliumNetworkPolicy",
      metadata: {
        name: l7 ? "meshbench-require-mutual-auth-l7" : "meshbench-require-mutual-auth",
        namespace: ns,
        labels: managed(),
      },
      spec: {
        endpointSelector: {},
        ingress: l7
          ? [
            {
              // HTTP rules send HTTP (80; the inference model server's 8501) and gRPC (9000)
              // through cilium-envoy.
              fromEndpoints: [{ matchLabels: { "app.kubernetes.io/part-of": "meshbench" } }],
              authentication: { mode: "required" },
              toPorts: [{
                ports: [
                  { port: "80", protocol: "TCP" },
                  { port: "8501", protocol: "TCP" },
                  { port: "9000", protocol: "TCP" },
                ],
                rules: { http: [{}] },
              }],
            },
            {
              // WebSocket and Redis stay L4.
              fromEndpoints: [{ matchLabels: { "app.kubernetes.io/part-of": "meshbench" } }],
              authentication: { mode: "required" },
              toPorts: [{
                ports: [{ port: "8080", protocol: "TCP" }, { port: "6379", protocol: "TCP" }],
              }],
            },
          ]
          : [{
            fromEndpoints: [{ matchLabels: { "app.kubernetes.io/part-of": "meshbench" } }],
            authentication: { mode: "required" },
          }],
      },
    }],
    crdFiles: ["cilium.yaml"],
    crdGroups: ["cilium.io"],
  };
}

const cilium = ciliumMesh(false);
const ciliumL7 = ciliumMesh(true);

const baseline: ClusterMesh = {
  name: "baseline",
  kind: "none",
  version: "none",
  description: "no mesh: the baseline-* namespaces, never enabled",
  settings: {},
  install: [],
  footprint: { controlPlane: NONE, perNode: NONE, sidecar: NONE },
  admitsProbes: ALL_PROBES,
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

/**
 * EMULATED sidecar mesh: meshbench injects the upstream Envoy as a native sidecar with an
 * iptables init container and per-run mTLS (`./envoy_sidecar.ts`); no control plane. The
 * same Envoy and bootstrap module as the local target's `sidecar-emu`.
 */
const envoySidecar: ClusterMesh = {
  name: "envoy-sidecar",
  kind: "sidecar",
  emulated: true,
  version: ENVOY_VERSION,
  description: "EMULATED sidecar mesh: upstream Envoy injected by meshbench as a native sidecar, " +
    "iptables redirection by an init container, mTLS with per-run certificates; static " +
    "bootstrap, no control plane (not Istio's config)",
  settings: {
    mtls: "strict (client certificate required, peer URI checked), ECDSA P-256, TLS 1.2+",
    mode: "sidecar",
    nativeSidecars: true,
    controlPlane: "none (static bootstrap written by meshbench, no xDS)",
    proxyConcurrency: 2,
    proxyRequests: `${SIDECAR_REQUESTS.cpu} / ${SIDECAR_REQUESTS.memory}`,
    initRequests: `${INIT_RESOURCES.cpu} / ${INIT_RESOURCES.memory}`,
    probes: "httpGet rewritten to the sidecar's health port, proxied by Envoy to the app",
  },
  install: [],
  // The init container's 10m runs before the others and is less than the sidecar's, so the
  // pod's effective request grows by the sidecar's.
  footprint: {
    controlPlane: NONE,
    perNode: NONE,
    sidecar: { cpu: cpuCores(SIDECAR_REQUESTS.cpu), memoryMiB: memoryMiB(SIDECAR_REQUESTS.memory) },
  },
  // httpGet probes are rewritten through the sidecar; exec runs in the container; tcpSocket
  // and grpc probes would meet the inbound mTLS listener (injection refuses them).
  admitsProbes: ["httpGet", "exec"],
  systemNamespaces: [],
  enable: { labels: { "meshbench.io/injection": "envoy-sidecar" }, annotations: {} },
  unmeshedReason: envoyUnmeshedReason,
  controlPlane: [],
  nodeProxies: [],
  sidecarContainers: [SIDECAR_CONTAINER],
  resources: (ns, identity) => [identitySecret(ns, identity)],
  crdFiles: [],
  crdGroups: [],
  injection: {
    identity: (runner, dir) => generateMeshIdentity(runner, dir, SIDECAR_URI),
    inject: injectEnvoySidecar,
  },
  guaranteedProxy: {
    // injectEnvoySidecar sizes the sidecar (requests = limits) from these annotations.
    annotations: (cpu, memory) => ({
      [PROXY_CPU_ANNOTATION]: cpu,
      [PROXY_MEMORY_ANNOTATION]: memory,
    }),
    tuning: (cpu) => ({
      annotations: {},
      settings: { proxyConcurrency: Math.max(1, Math.ceil(cpuCores(cpu))) },
    }),
  },
};

/** Every cluster mesh by name. */
export const CLUSTER_MESHES: Record<string, ClusterMesh> = {
  baseline,
  "envoy-sidecar": envoySidecar,
  istio: istioSidecar,
  "istio-ambient": istioAmbient,
  linkerd,
  cilium,
  "cilium-l7": ciliumL7,
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

/**
 * `objs` with a self-injected mesh's sidecar in the pod templates of the meshed namespaces
 * of `specs` (each namespace injected on its own: its Services give the mesh ports).
 */
export function injectMeshed(
  objs: readonly KubeObject[],
  specs: readonly { namespace: string; meshed: boolean }[],
  injection: SelfInjection,
): KubeObject[] {
  const out = [...objs];
  for (const s of specs.filter((s) => s.meshed)) {
    const at = out.flatMap((o, i) =>
      o.metadata.namespace === s.namespace && o.kind !== "Namespace" ? [i] : []
    );
    const injected = injection.inject(at.map((i) => out[i]));
    at.forEach((i, k) => out[i] = injected[k]);
  }
  return out;
}

/** The Namespace object with the mesh's enablement labels and annotations merged in. */
export function enableNamespace(ns: KubeObject, mesh: ClusterMesh): KubeObject {
  const out = structuredClone(ns);
  out.metadata.labels = { ...out.metadata.labels, ...mesh.enable.labels };
  out.metadata.annotations = { ...out.metadata.annotations, ...mesh.enable.annotations };
  return out;
}

/**
 * The `helm upgrade` argv of one step: `--install` with meshbench's release labels, or for
 * a step that changes an existing release ({@linkcode HelmStep.reuse}) `--reset-then-reuse-values`
 * without `--install` (with `revert`, its revert values instead of its values).
 */
export function helmArgs(
  step: HelmStep,
  version: string,
  context: string,
  kubeconfig: string,
  fileFor: (kind: NonNullable<HelmStep["files"]>[string]) => string,
  options: { revert?: boolean } = {},
): string[] {
  if (options.revert && !step.reuse) {
    throw new Error(`Cannot revert Helm release "${step.release}": meshbench installed it`);
  }
  const args = [
    "upgrade",
    ...(step.reuse ? [] : ["--install"]),
    step.release,
    step.chart,
    ...(step.repo ? ["--repo", step.repo, "--version", version] : []),
    "--namespace",
    step.namespace,
    ...(step.reuse ? ["--reset-then-reuse-values"] : [
      "--create-namespace",
      "--labels",
      Object.entries(RELEASE_LABELS).map(([k, v]) => `${k}=${v}`).join(","),
    ]),
    "--kube-context",
    context,
    "--kubeconfig",
    kubeconfig,
    "--wait",
    "--timeout",
    `${step.timeoutS}s`,
  ];
  const values = options.revert ? step.reuse!.revert : step.values;
  for (const [k, v] of Object.entries(values)) args.push("--set", `${k}=${v}`);
  if (!options.revert) {
    for (const [k, v] of Object.entries(step.json ?? {})) {
      args.push("--set-json", `${k}=${JSON.stringify(v)}`);
    }
    for (const [k, f] of Object.entries(step.files ?? {})) {
      args.push("--set-file", `${k}=${fileFor(f)}`);
    }
  }
  return args;
}
