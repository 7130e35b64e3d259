/**
 * The cluster target's `envoy-sidecar` mesh: an EMULATION of a sidecar mesh that meshbench
 * injects itself (no control plane, no webhook). Into every pod template of a meshed
 * namespace it adds:
 * - `meshbench-envoy-init`, an init container that redirects the pod's TCP to Envoy with
 *   iptables, as istio-init does (inbound to 15006, outbound to 15001; Envoy's own uid 1337,
 *   loopback and the sidecar's health and stats ports are left alone);
 * - `meshbench-envoy`, a native sidecar (init container with `restartPolicy: Always`, so a
 *   Job completes when its main container does) running the upstream Envoy with the
 *   bootstrap of `../envoy.ts` ({@linkcode podSidecar}), the same module the local target's
 *   `sidecar-emu` uses; mTLS between sidecars with the run's certificates (a Secret in each
 *   meshed namespace, labelled as meshbench's);
 * - httpGet probes rewritten to the sidecar's health listener, which proxies them to the app
 *   (the kubelet's probe goes through Envoy, as Istio's rewritten probes go through its agent).
 *
 * "Installing" the mesh is this injection on (re)deploy; "uninstalling" is redeploying the
 * workloads without it (see `target.ts`, the mesh switch).
 *
 * @module
 */

import {
  type EnvoyProtocol,
  type MeshPort,
  POD_SIDECAR,
  podSidecar,
  type ProbeRoute,
} from "../envoy.ts";
import { TRUST_DOMAIN } from "../envoy.ts";
import { type KubeObject, MANAGED_LABELS, podTemplateOf } from "./manifests.ts";
import { cpuCores } from "../quantity.ts";

/** The Envoy version of the sidecar image (`.ci/install_envoy.sh`). */
export const ENVOY_VERSION = "1.40.0";
/** The images `.ci/install_realnode.sh` assembles (stand-ins, no registry). */
export const ENVOY_IMAGE = `meshbench.local/envoy:${ENVOY_VERSION}`;
export const IPTABLES_INIT_IMAGE = "meshbench.local/iptables-init:1.8.9";

/** Container names of the injected sidecar and its init container. */
export const SIDECAR_CONTAINER = "meshbench-envoy";
export const INIT_CONTAINER = "meshbench-envoy-init";
/** The Secret holding the run's CA and the sidecars' identity, per meshed namespace. */
export const IDENTITY_SECRET = "meshbench-envoy-sidecar-identity";
/** Annotation on injected pod templates. */
export const INJECTED_ANNOTATION = "meshbench.io/injected";
/** Pod template annotations that size the sidecar Guaranteed (requests = limits). */
export const PROXY_CPU_ANNOTATION = "meshbench.io/proxy-cpu";
export const PROXY_MEMORY_ANNOTATION = "meshbench.io/proxy-memory";

/** The sidecar's size when no Guaranteed size is asked (Burstable pods). */
export const SIDECAR_REQUESTS = { cpu: "50m", memory: "64Mi" } as const;
const SIDECAR_LIMITS = { cpu: "1", memory: "256Mi" } as const;
/** Envoy's workers in a Burstable pod (Istio's default concurrency). */
export const DEFAULT_CONCURRENCY = 2;
/** The init container runs a few iptables commands: small, requests = limits. */
export const INIT_RESOURCES = { cpu: "10m", memory: "32Mi" } as const;

/** The identity every sidecar presents (one per run) and the prefix peers must carry. */
export const SIDECAR_URI = `spiffe://${TRUST_DOMAIN}/envoy-sidecar`;

const IDENTITY_DIR = "/etc/meshbench/envoy-identity";

/** The PEM texts of the run's identity. */
export interface SidecarIdentity {
  ca: string;
  cert: string;
  key: string;
}

/**
 * The identity Secret of one meshed namespace; without `identity`, the Secret's name and
 * labels only (to find and delete it).
 */
export function identitySecret(namespace: string, identity?: SidecarIdentity): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: IDENTITY_SECRET,
      namespace,
      labels: { ...MANAGED_LABELS, "meshbench.io/mesh": "envoy-sidecar" },
    },
    type: "Opaque",
    ...(identity
      ? {
        stringData: { "ca.pem": identity.ca, "cert.pem": identity.cert, "key.pem": identity.key },
      }
      : {}),
  };
}

/**
 * The iptables rules of the init container, as istio-init sets them: TCP arriving at the
 * pod goes to Envoy's inbound port except the sidecar's own health and stats ports; TCP the
 * pod sends goes to Envoy's outbound port except Envoy's own (uid 1337) and loopback.
 */
export function iptablesScript(): string {
  const P = POD_SIDECAR;
  return [
    "set -eu",
    "iptables -t nat -N MESHBENCH_INBOUND",
    `iptables -t nat -A MESHBENCH_INBOUND -p tcp --dport ${P.health} -j RETURN`,
    `iptables -t nat -A MESHBENCH_INBOUND -p tcp --dport ${P.stats} -j RETURN`,
    `iptables -t nat -A MESHBENCH_INBOUND -p tcp -j REDIRECT --to-ports ${P.inbound}`,
    "iptables -t nat -A PREROUTING -p tcp -j MESHBENCH_INBOUND",
    "iptables -t nat -N MESHBENCH_OUTBOUND",
    `iptables -t nat -A MESHBENCH_OUTBOUND -m owner --uid-owner ${P.uid} -j RETURN`,
    "iptables -t nat -A MESHBENCH_OUTBOUND -o lo -j RETURN",
    `iptables -t nat -A MESHBENCH_OUTBOUND -p tcp -j REDIRECT --to-ports ${P.outbound}`,
    "iptables -t nat -A OUTPUT -p tcp -j MESHBENCH_OUTBOUND",
    // The rules in the container's log, for whoever debugs a pod.
    "iptables -t nat -S",
  ].join("\n");
}

/** How the sidecars carry a Service port: by its appProtocol (HTTP, gRPC), else opaque TCP. */
export function portProtocol(appProtocol: string | undefined): EnvoyProtocol {
  const p = (appProtocol ?? "").toLowerCase();
  if (p === "grpc" || p === "http2" || p === "h2c" || p === "kubernetes.io/h2c") return "http2";
  if (p === "http" || p === "kubernetes.io/ws" || p === "ws") return "http1";
  return "tcp";
}

interface ServicePort {
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
}

/**
 * The mesh ports of a namespace's objects: each Service port (what clients dial: outbound)
 * and its target port (what arrives at the pod: inbound), with the port's protocol. A
 * named target port is resolved by the pods' container ports.
 */
export function meshPorts(objs: readonly KubeObject[]): MeshPort[] {
  const named = new Map<string, number>();
  for (const o of objs) {
    const spec = (podTemplateOf(o) as { spec?: PodSpec } | undefined)?.spec;
    for (const c of spec?.containers ?? []) {
      for (const p of c.ports ?? []) if (p.name) named.set(p.name, p.containerPort);
    }
  }
  // A port without appProtocol (a NodePort Service beside the ClusterIP one) takes the
  // protocol another Service gives it; two different appProtocols are an error.
  const explicit = new Map<number, EnvoyProtocol>();
  const ports = new Set<number>();
  const add = (port: number, appProtocol: string | undefined) => {
    ports.add(port);
    if (appProtocol === undefined) return;
    const protocol = portProtocol(appProtocol);
    const had = explicit.get(port);
    if (had && had !== protocol) {
      throw new Error(
        `Cannot mesh port ${port} with envoy-sidecar: Services give it two protocols ` +
          `(${had}, ${protocol})`,
      );
    }
    explicit.set(port, protocol);
  };
  for (const o of objs) {
    if (o.kind !== "Service") continue;
    for (const p of (o.spec as { ports?: ServicePort[] })?.ports ?? []) {
      add(p.port, p.appProtocol);
      const target = typeof p.targetPort === "string" ? named.get(p.targetPort) : p.targetPort;
      if (target !== undefined) add(target, p.appProtocol);
    }
  }
  const out = new Map([...ports].map((p) => [p, explicit.get(p) ?? "tcp" as EnvoyProtocol]));
  return [...out].map(([port, protocol]) => ({ port, protocol })).sort((a, b) => a.port - b.port);
}

interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: string };
  [k: string]: unknown;
}

interface Container {
  name: string;
  image?: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  restartPolicy?: string;
  [k: string]: unknown;
}

interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: unknown[];
  [k: string]: unknown;
}

const PROBES = ["readinessProbe", "livenessProbe", "startupProbe"] as const;

/**
 * Rewrites the httpGet probes of `spec`'s containers to the sidecar's health port (in
 * place) and returns the routes Envoy needs to proxy them to the app. Other probe kinds:
 * exec runs in the container and passes; tcpSocket and grpc would be redirected into the
 * inbound mTLS listener and fail, so they are refused here.
 */
function rewriteProbes(spec: PodSpec, where: string): ProbeRoute[] {
  const routes: ProbeRoute[] = [];
  for (const c of spec.containers ?? []) {
    const ports = new Map(
      (c.ports ?? []).flatMap((p) => p.name ? [[p.name, p.containerPort]] : []),
    );
    for (const kind of PROBES) {
      const probe = c[kind];
      if (!probe) continue;
      if (probe.tcpSocket || probe.grpc) {
        throw new Error(
          `Cannot inject envoy-sidecar into ${where}: container "${c.name}" has a ` +
            `${
              probe.tcpSocket ? "tcpSocket" : "grpc"
            } ${kind}, which the emulation does not rewrite`,
        );
      }
      const get = probe.httpGet;
      if (!get) continue;
      if ((get.scheme ?? "HTTP") !== "HTTP") {
        throw new Error(
          `Cannot inject envoy-sidecar into ${where}: container "${c.name}" ${kind} uses ` +
            `scheme ${get.scheme}`,
        );
      }
      const port = typeof get.port === "number" ? get.port : ports.get(get.port);
      if (port === undefined) {
        throw new Error(
          `Cannot inject envoy-sidecar into ${where}: container "${c.name}" ${kind} names ` +
            `port "${get.port}", which the container does not declare`,
        );
      }
      const path = `/app-health/${c.name}/${kind.replace("Probe", "")}`;
      routes.push({ path, port, rewrite: get.path ?? "/" });
      probe.httpGet = { ...get, path, port: POD_SIDECAR.health };
    }
  }
  return routes;
}

/** The sidecar's resources and Envoy's worker count from the pod template's annotations. */
export function sidecarSize(annotations: Record<string, string> | undefined): {
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  concurrency: number;
} {
  const cpu = annotations?.[PROXY_CPU_ANNOTATION];
  const memory = annotations?.[PROXY_MEMORY_ANNOTATION];
  if (cpu && memory) {
    return {
      resources: { requests: { cpu, memory }, limits: { cpu, memory } },
      concurrency: Math.max(1, Math.ceil(cpuCores(cpu))),
    };
  }
  return {
    resources: { requests: { ...SIDECAR_REQUESTS }, limits: { ...SIDECAR_LIMITS } },
    concurrency: DEFAULT_CONCURRENCY,
  };
}

/** Whether a pod template is a benchmark pod the mesh takes in (not the image pre-pull). */
function injectable(o: KubeObject): boolean {
  const t = podTemplateOf(o);
  return t !== undefined && o.kind !== "DaemonSet" &&
    t.metadata?.labels?.["meshbench.io/tier"] !== "prepull";
}

/**
 * The objects of one meshed namespace with the sidecar injected into every benchmark pod
 * template (Deployments, StatefulSets, Jobs; not the image pre-pull DaemonSet). Pure: the
 * input is not changed. The mesh ports come from the namespace's Services in `objs`.
 */
export function injectEnvoySidecar(objs: readonly KubeObject[]): KubeObject[] {
  const ports = meshPorts(objs);
  return objs.map((o) => {
    if (!injectable(o)) return o;
    const copy = structuredClone(o);
    const t = podTemplateOf(copy) as { metadata?: KubeObject["metadata"]; spec: PodSpec };
    const where = `${o.kind} "${o.metadata.namespace ?? ""}/${o.metadata.name}"`;
    if ((t.spec.initContainers ?? []).some((c) => c.name === SIDECAR_CONTAINER)) {
      throw new Error(`Cannot inject envoy-sidecar into ${where}: it is injected already`);
    }
    const probes = rewriteProbes(t.spec, where);
    const size = sidecarSize(t.metadata?.annotations);
    const bootstrap = podSidecar({
      ports,
      probes,
      tls: {
        ca: `${IDENTITY_DIR}/ca.pem`,
        cert: `${IDENTITY_DIR}/cert.pem`,
        key: `${IDENTITY_DIR}/key.pem`,
        peer: { uriPrefix: `spiffe://${TRUST_DOMAIN}/` },
      },
    });
    const health = { path: "/healthz/ready", port: POD_SIDECAR.health };
    const init: Container = {
      name: INIT_CONTAINER,
      image: IPTABLES_INIT_IMAGE,
      command: ["/bin/sh", "-c", iptablesScript()],
      securityContext: {
        runAsUser: 0,
        runAsNonRoot: false,
        allowPrivilegeEscalation: false,
        capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
      },
      resources: { requests: { ...INIT_RESOURCES }, limits: { ...INIT_RESOURCES } },
    };
    const sidecar: Container = {
      name: SIDECAR_CONTAINER,
      image: ENVOY_IMAGE,
      restartPolicy: "Always",
      command: ["/usr/local/bin/envoy"],
      args: [
        "--config-yaml",
        JSON.stringify(bootstrap),
        "--concurrency",
        String(size.concurrency),
        "--disable-hot-restart",
        "--log-level",
        "warn",
      ],
      ports: [
        { name: "envoy-health", containerPort: POD_SIDECAR.health },
        { name: "envoy-stats", containerPort: POD_SIDECAR.stats },
      ],
      // The app starts only once Envoy is ready (native sidecars: after the startup probe).
      startupProbe: { httpGet: health, periodSeconds: 1, failureThreshold: 120 },
      readinessProbe: { httpGet: health, periodSeconds: 2 },
      securityContext: {
        runAsUser: POD_SIDECAR.uid,
        runAsGroup: POD_SIDECAR.uid,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      },
      volumeMounts: [{ name: "meshbench-envoy-identity", mountPath: IDENTITY_DIR, readOnly: true }],
      resources: size.resources,
    };
    t.spec.initContainers = [init, sidecar, ...(t.spec.initContainers ?? [])];
    t.spec.volumes = [
      ...(t.spec.volumes ?? []),
      { name: "meshbench-envoy-identity", secret: { secretName: IDENTITY_SECRET } },
    ];
    t.metadata ??= {} as KubeObject["metadata"];
    t.metadata.annotations = {
      ...t.metadata.annotations,
      [INJECTED_ANNOTATION]: "envoy-sidecar",
      "meshbench.io/emulated": "true",
    };
    return copy;
  });
}

/** A pod as the checks see it. */
export interface InjectedPodView {
  metadata?: { annotations?: Record<string, string> };
  spec?: {
    initContainers?: Array<{ name: string; restartPolicy?: string; image?: string }>;
  };
}

/** Why a pod is not meshed by envoy-sidecar, or null when it is. */
export function envoyUnmeshedReason(pod: InjectedPodView): string | null {
  const inits = pod.spec?.initContainers ?? [];
  const sidecar = inits.find((c) => c.name === SIDECAR_CONTAINER);
  if (!sidecar) return `no "${SIDECAR_CONTAINER}" sidecar`;
  if (sidecar.restartPolicy !== "Always") {
    return `"${SIDECAR_CONTAINER}" is not a native sidecar (restartPolicy Always)`;
  }
  if (!inits.some((c) => c.name === INIT_CONTAINER)) {
    return `no "${INIT_CONTAINER}" (iptables redirection) init container`;
  }
  return null;
}
