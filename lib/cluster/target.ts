/**
 * The cluster target: real meshes and the design's workloads on any Kubernetes cluster,
 * reached through a kubeconfig context named explicitly. Implements the pipeline's
 * {@linkcode Target}; load runs by exec in the client pods of the meshed (or baseline)
 * namespace, so the client-side proxy is in the path.
 *
 * One mesh is installed at a time: a run whose mesh differs from the installed one
 * uninstalls it fully, installs the next, enables and restarts the benchmark namespaces and
 * verifies every pod is meshed before load. Plans for this target should group runs by
 * mesh (baseline runs interleave with each mesh: the baseline-* namespaces never change).
 *
 * @module
 */

import type { PodLoad } from "../workload.ts";
import { workloadsByName } from "../workloads/mod.ts";
import {
  baselineFirstWorkloads,
  fortioTargetFor,
  namespaceFor,
  podDriver,
  wsUrlsFor,
} from "./addresses.ts";
import type { StageContext, Target } from "../target.ts";
import type { Requirement } from "../binaries.ts";
import type { LoadPoint, LoadResult, MeshRef, ResourceUse, RunSpec } from "../types.ts";
import { realRunner, type Runner } from "../command.ts";
import { connect, disconnect, type Kube, kubeconfigPath } from "./kube.ts";
import {
  CLUSTER_NAMESPACES,
  type KubeObject,
  MANAGED_SELECTOR,
  type NamespaceSpec,
  renderAll,
  renderNamespaces,
  requirePlacement,
  ROLE_LABEL,
} from "./manifests.ts";
import { guaranteeObjects, qosByApp, qosProblems } from "./qos.ts";
import {
  capacityProblems,
  CONTROL_PLANE_LABEL,
  controlPlaneNode,
  demandOf,
  nodeCapacities,
} from "./capacity.ts";
import { type ClusterEnvironment, describeCluster } from "./environment.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";
import { attachThrottling, type CfsCounters, scrapeCfs, throttlingBetween } from "./throttling.ts";
import { attachCpu, cpuBetween, type CpuCounters, scrapeCpuCounters } from "./cpu_counters.ts";
import {
  applyObjects,
  cleanupCluster,
  ClusterStageError,
  restartWorkloads,
  waitHealthy,
} from "./deploy.ts";
import { type ClusterMesh, clusterMesh, enableNamespace } from "./meshes.ts";
import {
  applyMeshResources,
  helmBinary,
  installMesh,
  removeMeshResources,
  uninstallMesh,
  verifyMeshed,
  verifyUnmeshed,
} from "./mesh.ts";
import { execInPod, readyPods } from "./exec.ts";
import { fortioCommand, parseFortioJson } from "./fortio.ts";
import { runJob } from "./job.ts";
import {
  checkMetricsApi,
  listPodInfo,
  MetricsUnavailableError,
  reduceSamples,
  sampledNamespaces,
  startSampler,
} from "./metrics.ts";
import { HistogramRecorder } from "../histogram.ts";
import {
  combineRedisResults,
  parseRedisBenchmark,
  redisBenchmarkCommand,
  redisBenchmarkError,
} from "../tools/redis_benchmark.ts";
import {
  REDIS_CLIENTS,
  REDIS_TESTS,
  REDIS_VALUE_BYTES,
  redisRequestsPerTest,
} from "../workloads/redis.ts";
import {
  combineWsResults,
  parseWsClientOutput,
  WS_CLIENT_FILES,
  WS_CLIENT_VERSION,
  wsClientCommand,
  type WsLoadOptions,
} from "../tools/ws_client.ts";
import { WS_MESSAGE_BYTES } from "../workloads/websocket.ts";

/** What the cluster target records in `<runDir>/cluster.json`. */
export interface ClusterState {
  context: string;
  kubeconfig: string;
  server: string;
  serverVersion: string;
  /** Nodes (shape, kernel, runtime), CNI and version, read at deploy. */
  environment?: ClusterEnvironment;
  /** The mesh installed now ("baseline" when none). */
  mesh: string;
  meshVersion: string;
  /** Namespaces meshbench created in this run. */
  namespaces: string[];
  /** False when metrics.k8s.io is missing: resources are then not collected. */
  metrics: boolean;
  metricsNote?: string;
  /** Why CPU throttling (cAdvisor through the node proxy) is not read, once it failed. */
  throttlingNote?: string;
  /**
   * Why CPU is not read from the kubelets' cumulative counters, once that failed (CPU then
   * comes from metrics-server's window-averaged rate, marked `cpuSource` in each result).
   */
  cpuCountersNote?: string;
  /** Meshes whose install failed in this run, with the reason (not retried for each run). */
  failedMeshes?: Record<string, string>;
  /**
   * "required" when the nodes carry `meshbench.io/role` server and client labels (set by
   * `cluster:setup`): servers and clients are then pinned to them, not merely preferred.
   */
  placement?: "required" | "preferred";
  /** The tainted control-plane node that mesh control planes tolerate onto, if any. */
  controlPlaneNode?: string;
  /**
   * QoS asked for (`cluster.qos`) and what the API server gave: benchmark pods by
   * `namespace/app`, and each installed mesh's control-plane and node-proxy pods.
   */
  qos?: {
    mode: string;
    /** By mesh installed when read, then by namespace/app. */
    pods: Record<string, Record<string, string>>;
    meshPods: Record<string, Record<string, string>>;
  };
}

const STATE = "cluster.json";

/** The load generator image of the client pods (see manifests/workloads/http.yaml). */
export const FORTIO_IMAGE = "fortio/fortio:1.66.5";
/** The image of the WebSocket servers and clients (manifests/workloads/websocket.yaml). */
export const DENO_IMAGE = "denoland/deno:debian-2.1.4";

async function readState(runDir: string): Promise<ClusterState | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${runDir}/${STATE}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function writeState(runDir: string, s: ClusterState): Promise<void> {
  const tmp = `${runDir}/${STATE}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(s, null, 2));
  await Deno.rename(tmp, `${runDir}/${STATE}`);
}

/**
 * Splits a WebSocket load point over `pods` client pods: connections as evenly as possible,
 * each pod's rate in proportion to its connections (every connection sends at the same
 * rate). Pods left without a connection get no share.
 */
export function splitWsLoad(
  point: { rate: number; connections: number },
  pods: number,
): Array<{ rate: number; connections: number }> {
  const n = Math.min(pods, point.connections);
  return Array.from({ length: n }, (_, i) => {
    const connections = Math.floor(point.connections / n) +
      (i < point.connections % n ? 1 : 0);
    return { connections, rate: point.rate * connections / point.connections };
  });
}

/** Where the client's files are in a ws-client pod (its working directory is /meshbench). */
const WS_CLIENT_SCRIPT = WS_CLIENT_FILES[0];

/** The cluster target. `runner` runs helm and openssl; `helm` is the helm binary. */
export class ClusterTarget implements Target {
  readonly name = "cluster" as const;
  /** Workloads run as pods; load runs by exec in their client pods (each workload's pod side). */
  readonly site = "pod" as const;
  /** One mesh is installed at a time: runs are grouped by mesh. */
  readonly grouping = "per-mesh" as const;

  baselineFirst(workloads: string[]): string[] {
    return baselineFirstWorkloads(workloads);
  }
  #kube?: Kube;
  constructor(
    private readonly options: {
      runner?: Runner;
      helm?: string;
      healthTimeoutMs?: number;
      /** Where load goes (default: the workload's Service DNS name, {@linkcode fortioTargetFor}). */
      loadTarget?: (ns: NamespaceSpec) => { address: string; protocol: "http" | "grpc" };
      /** Extra or replacement meshes by name (tests use a fixture chart as a mesh). */
      meshes?: Record<string, ClusterMesh>;
      /** Redis instance of client `i` (default: `redis-<i % 3>` of the headless service). */
      redisTarget?: (ns: NamespaceSpec, i: number) => { host: string; port: number };
      /** WebSocket echo URLs (default: the ws-server Service, {@linkcode wsUrlsFor}). */
      wsTarget?: (ns: NamespaceSpec) => string[];
    } = {},
  ) {}

  #mesh(name: string): ClusterMesh {
    return this.options.meshes?.[name] ?? clusterMesh(name);
  }

  #connect(ctx: StageContext): Kube {
    if (!this.#kube) {
      this.#kube = connect(ctx.config.cluster.context, {
        kubeconfig: ctx.config.cluster.kubeconfig || undefined,
      });
    }
    return this.#kube;
  }

  /** Releases the API connections (call at the end of a process). */
  async close(): Promise<void> {
    if (this.#kube) await disconnect(this.#kube);
    this.#kube = undefined;
  }

  async requirements(config: StageContext["config"]): Promise<Requirement[]> {
    const missing: Requirement[] = [];
    if (!config.cluster.context) {
      missing.push({
        name: "kubeconfig context",
        purpose: "the cluster to benchmark, named explicitly",
        install: "pass --context NAME (see kubectl config get-contexts)",
        autoInstallable: false,
      });
      return missing;
    }
    const needsHelm = config.meshes.some((m) => this.#mesh(m).install.length > 0);
    if (needsHelm) {
      try {
        await (this.options.runner ?? realRunner).run([
          this.options.helm ?? helmBinary(),
          "version",
        ], {
          timeoutMs: 10_000,
        });
      } catch {
        missing.push({
          name: "helm",
          purpose: "installing the meshes' pinned Helm charts",
          install: "go install helm.sh/helm/v3/cmd/helm@v3.19.5",
          autoInstallable: true,
        });
      }
    }
    return missing;
  }

  async deploy(ctx: StageContext): Promise<void> {
    const kube = this.#connect(ctx);
    const environment = await describeCluster(kube);
    const serverVersion = environment.serverVersion;
    ctx.log.info(`cluster: context "${kube.context}" at ${kube.server} (${serverVersion})`);
    ctx.log.info(
      `cluster: ${environment.nodes.length} nodes (${
        [...new Set(environment.nodes.map((n) => `${n.arch}, ${n.cpu} CPU, ${n.memoryMiB} MiB`))]
          .join("; ")
      }), CNI ${environment.cni}`,
    );
    for (const m of ctx.config.meshes) {
      const mesh = this.#mesh(m);
      // Cilium's meshes change the cluster's own Cilium release: refuse before anything is
      // applied on a cluster whose CNI is something else.
      if (mesh.requiresCni && environment.cni !== mesh.requiresCni) {
        throw new ClusterStageError(
          "deploy",
          `mesh "${m}"`,
          `needs the cluster's CNI to be ${mesh.requiresCni} (installed by "deno task ` +
            `cluster:setup --cni ${mesh.requiresCni}"), but the cluster runs ${environment.cni}`,
        );
      }
    }
    const specs = this.#specs(ctx);
    const roles = new Set(environment.nodes.flatMap((n) => n.roles));
    const placement = roles.has("server") && roles.has("client") ? "required" : "preferred";
    const rendered = this.#render(ctx, specs, placement);
    const cpNode = await this.#checkCapacity(ctx, kube, rendered, specs);
    ctx.log.info(
      `placement: servers and clients ${placement} on nodes labelled ${ROLE_LABEL}` +
        (cpNode ? `; mesh control planes on the control-plane node ${cpNode}` : ""),
    );
    const objs = rendered.filter((o) => o.kind !== "Job");
    await applyObjects(kube, objs, { log: (m) => ctx.log.info(m) });
    let metrics = true;
    let metricsNote: string | undefined;
    try {
      await checkMetricsApi(kube);
    } catch (e) {
      if (!(e instanceof MetricsUnavailableError)) throw e;
      metrics = false;
      metricsNote = e.message;
      ctx.log.warn(e.message);
    }
    await writeState(ctx.runDir, {
      context: kube.context,
      kubeconfig: kubeconfigPath(ctx.config.cluster.kubeconfig || undefined),
      server: kube.server,
      serverVersion,
      environment,
      mesh: "baseline",
      meshVersion: "none",
      namespaces: specs.map((s) => s.namespace),
      metrics,
      metricsNote,
      placement,
      controlPlaneNode: cpNode,
    });
  }

  /**
   * The objects of `specs`; under `cluster.qos: guaranteed` with requests equal to limits
   * and the configured meshes' proxy sizing annotations on every pod template.
   */
  #render(
    ctx: StageContext,
    specs: readonly NamespaceSpec[],
    placement: ClusterState["placement"],
  ): KubeObject[] {
    const all = renderAll(specs);
    const objs = placement === "required" ? requirePlacement(all) : all;
    const cluster = ctx.config.cluster;
    if (cluster.qos !== "guaranteed") return objs;
    const annotations: Record<string, string> = {};
    for (const m of ctx.config.meshes) {
      const g = this.#mesh(m).guaranteedProxy;
      Object.assign(
        annotations,
        g?.annotations(cluster.proxyResources.cpu, cluster.proxyResources.memory),
        g?.tuning?.(cluster.proxyResources.cpu).annotations,
      );
    }
    return guaranteeObjects(objs, annotations);
  }

  /**
   * Refuses, before anything is applied, a benchmark that does not fit the schedulable
   * nodes ({@linkcode capacityProblems}: what is already bound there, the benchmark's pods
   * with each mesh's sidecar, the DaemonSets, each mesh's control plane); the scheduler
   * would only leave pods Pending until the health timeout. Returns the control-plane node
   * mesh control planes tolerate onto, if the cluster has one.
   */
  async #checkCapacity(
    ctx: StageContext,
    kube: Kube,
    objs: KubeObject[],
    specs: NamespaceSpec[],
  ): Promise<string | undefined> {
    const [nodes, pods] = await Promise.all([
      kube.core.listNode(),
      kube.core.listPodForAllNamespaces(),
    ]);
    const capacity = nodeCapacities(nodes.items, pods.items);
    const cluster = ctx.config.cluster;
    const p = cluster.proxyResources;
    const demand = demandOf(
      objs,
      specs.filter((s) => s.meshed).map((s) => s.namespace),
      ctx.config.meshes.filter((m) => m !== "baseline").map((m) => this.#mesh(m)),
      cluster.qos === "guaranteed"
        ? { cpu: cpuCores(p.cpu), memoryMiB: memoryMiB(p.memory) }
        : undefined,
    );
    const problems = capacityProblems(capacity, demand);
    if (problems.length > 0) {
      throw new ClusterStageError(
        "deploy",
        `context "${cluster.context}"`,
        `the benchmark does not fit the cluster (qos ${cluster.qos}):\n${problems.join("\n")}\n` +
          `fewer --workloads or --meshes, a bigger cluster` +
          (cluster.qos === "guaranteed" ? ", or --qos burstable" : ""),
      );
    }
    const workers = capacity.filter((n) => n.taints.length === 0);
    const free = workers.reduce((a, n) => a + n.allocatable.cpu - n.committed.cpu, 0);
    ctx.log.info(
      `capacity: the benchmark fits ${workers.length} schedulable node(s) with ${
        free.toFixed(2)
      } CPU free, every configured mesh included`,
    );
    return controlPlaneNode(capacity)?.name;
  }

  /**
   * Reads the QoS class of every live benchmark pod in `namespaces` into the state; under
   * `cluster.qos: guaranteed` any pod that is not Guaranteed is a `stage` error naming the
   * pods and containers at fault.
   */
  async #checkQos(
    ctx: StageContext,
    state: ClusterState,
    namespaces: string[],
    stage: string,
  ): Promise<void> {
    const kube = this.#connect(ctx);
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
  async #recordMeshQos(ctx: StageContext, state: ClusterState, mesh: ClusterMesh) {
    const kube = this.#connect(ctx);
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

  #specs(ctx: StageContext): NamespaceSpec[] {
    const wanted = new Set(ctx.config.workloads);
    return CLUSTER_NAMESPACES.filter((s) => wanted.has(s.workload));
  }

  async health(ctx: StageContext): Promise<void> {
    const kube = this.#connect(ctx);
    const state = await this.#state(ctx);
    await waitHealthy(kube, state.namespaces, {
      timeoutMs: this.options.healthTimeoutMs ?? 300_000,
      log: (m) => ctx.log.info(m),
      signal: ctx.signal,
    });
    await this.#checkQos(ctx, state, state.namespaces, "health");
    if (ctx.config.cluster.qos === "guaranteed") {
      ctx.log.info("qos: every benchmark pod is Guaranteed");
    } else {
      ctx.log.warn(
        "qos: benchmark pods are Burstable (cluster.qos: burstable, sized for the free tier): " +
          "load generators and proxies may be squeezed by neighbours; use --qos guaranteed " +
          "on a cluster with room (METHODOLOGY rule 10)",
      );
    }
  }

  async #state(ctx: StageContext): Promise<ClusterState> {
    const s = await readState(ctx.runDir);
    if (!s) {
      throw new ClusterStageError(
        "health",
        `run directory "${ctx.runDir}"`,
        `no ${STATE}: run deploy first`,
      );
    }
    return s;
  }

  /** Makes `mesh` the installed mesh: full uninstall of the previous one, install, verify. */
  async #ensureMesh(ctx: StageContext, state: ClusterState, meshName: string): Promise<void> {
    if (meshName === "baseline" || state.mesh === meshName) return;
    const kube = this.#connect(ctx);
    const opts = {
      runner: this.options.runner ?? ctx.runner,
      helm: this.options.helm,
      kubeconfig: ctx.config.cluster.kubeconfig || undefined,
      workDir: `${ctx.runDir}/cluster`,
      log: (m: string) => ctx.log.info(m),
      signal: ctx.signal,
    };
    const meshedSpecs = CLUSTER_NAMESPACES.filter((s) =>
      s.meshed && state.namespaces.includes(s.namespace)
    );
    const meshed = meshedSpecs.map((s) => s.namespace);
    if (state.mesh !== "baseline") {
      // Unmesh, restart, verify unmeshed, and only then uninstall: removing a mesh's node
      // agents (istio-cni) or policies' backing (SPIRE) under meshed pods leaves them stuck
      // Terminating or denied.
      const old = this.#mesh(state.mesh);
      await applyObjects(kube, renderNamespaces(meshedSpecs)); // drop enablement (SSA owns labels)
      await removeMeshResources(kube, old, meshed);
      await restartWorkloads(kube, meshed);
      await waitHealthy(kube, meshed, {
        timeoutMs: this.options.healthTimeoutMs ?? 300_000,
        signal: ctx.signal,
      });
      await verifyUnmeshed(kube, old, meshed);
      ctx.log.info(`mesh: benchmark pods unmeshed from ${old.name}; uninstalling it`);
      await uninstallMesh(kube, old, opts);
      state.mesh = "baseline";
      state.meshVersion = "none";
      await writeState(ctx.runDir, state);
    }
    const mesh = this.#mesh(meshName);
    const failed = state.failedMeshes?.[meshName];
    if (failed) {
      throw new ClusterStageError(
        "mesh",
        `mesh "${meshName}"`,
        `install failed earlier in this run: ${failed}`,
      );
    }
    try {
      await installMesh(kube, this.#installable(ctx, state, mesh), opts);
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
    await applyObjects(kube, renderNamespaces(meshedSpecs).map((n) => enableNamespace(n, mesh)));
    await applyMeshResources(kube, mesh, meshed);
    // Injection happens at pod creation: restart every benchmark workload.
    await restartWorkloads(kube, meshed);
    await waitHealthy(kube, meshed, {
      timeoutMs: this.options.healthTimeoutMs ?? 300_000,
      signal: ctx.signal,
    });
    const n = await verifyMeshed(kube, mesh, meshed);
    ctx.log.info(`mesh: ${n} pods verified meshed by ${mesh.name} ${mesh.version}`);
    await this.#checkQos(ctx, state, meshed, "mesh");
    await this.#recordMeshQos(ctx, state, mesh);
  }

  /** `mesh` with its Guaranteed-QoS Helm values merged in when `cluster.qos` asks for it. */
  #installable(ctx: StageContext, state: ClusterState, mesh: ClusterMesh): ClusterMesh {
    const extra = ctx.config.cluster.qos === "guaranteed"
      ? mesh.guaranteedProxy?.values
      : undefined;
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

  async warmup(ctx: StageContext, seconds: number): Promise<void> {
    try {
      await this.#warmup(ctx, seconds);
    } catch (e) {
      // The load helpers name their stage "load"; here they warm up.
      if (e instanceof ClusterStageError && e.stage === "load") {
        throw new ClusterStageError("warmup", e.object, e.reason);
      }
      throw e;
    }
  }

  async #warmup(ctx: StageContext, seconds: number): Promise<void> {
    const state = await this.#state(ctx);
    const driven = (driver: PodLoad["driver"]) =>
      workloadsByName(ctx.config.workloads).filter((w) => w.pod?.driver === driver)
        .map((w) => w.name);
    for (const w of driven("fortio")) {
      const point: LoadPoint = {
        mode: "fixed-rate",
        tool: "fortio",
        rate: Math.min(...ctx.config.load.rates),
        connections: 2,
        durationS: seconds,
      };
      for (const mesh of new Set(["baseline", state.mesh])) {
        await this.#fortio(ctx, namespaceFor(w, mesh), point);
      }
    }
    for (const w of seconds > 0 ? driven("ws-client") : []) {
      const ns = namespaceFor(w, state.mesh);
      const { load } = await this.#ws(ctx, ns, { rate: 100, connections: 10, durationS: seconds });
      if (load.errors > 0) {
        throw new ClusterStageError(
          "warmup",
          `namespace "${ns.namespace}"`,
          `WebSocket warm-up: ${load.errors} of ${load.operations} messages failed: ` +
            JSON.stringify(load.errorKinds),
        );
      }
    }
  }

  /**
   * meshbench's WebSocket client in every ready ws-client pod at once (the point split
   * between them, {@linkcode splitWsLoad}); their results combined. Raw outputs are written
   * under `raw/` when `rawStem` is given.
   */
  async #ws(
    ctx: StageContext,
    ns: NamespaceSpec,
    point: { rate: number; connections: number; durationS: number },
    rawStem?: string,
  ) {
    const kube = this.#connect(ctx);
    const pods = await readyPods(kube, ns.namespace, "ws-client");
    if (pods.length === 0) {
      throw new ClusterStageError(
        "load",
        `Deployment "${ns.namespace}/ws-client"`,
        "no ready client pod",
      );
    }
    const urls = (this.options.wsTarget ?? wsUrlsFor)(ns);
    const shares = splitWsLoad(point, pods.length);
    const settled = await Promise.allSettled(shares.map(async (share, i) => {
      const options: WsLoadOptions = {
        urls,
        connections: share.connections,
        rate: share.rate,
        durationS: point.durationS,
        messageBytes: WS_MESSAGE_BYTES,
      };
      // The client is killed in its pod if it outlives its window (connect + send + drain
      // + margin), so a failed run never leaves load running into the next one.
      const res = await execInPod(
        kube,
        { namespace: ns.namespace, pod: pods[i], container: "deno" },
        [
          "timeout",
          "-s",
          "KILL",
          String(Math.ceil(point.durationS + 60)),
          ...wsClientCommand(options, { deno: "deno", script: WS_CLIENT_SCRIPT }),
        ],
        { timeoutMs: (point.durationS + 90) * 1000, signal: ctx.signal },
      );
      let rawName: string | undefined;
      if (rawStem) {
        rawName = `${rawStem}_client${i}.json`;
        await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
        await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
      }
      try {
        return { rawName, result: parseWsClientOutput(res.stdout) };
      } catch (e) {
        throw new ClusterStageError(
          "load",
          `pod "${ns.namespace}/${pods[i]}"`,
          `${(e as Error).message}${res.stderr ? `; stderr: ${res.stderr.slice(-400)}` : ""}`,
        );
      }
    }));
    // Every client has ended (or been killed) before a failure is reported.
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) {
      if (failed.length === 1) throw failed[0].reason;
      throw new ClusterStageError(
        "load",
        `Deployment "${ns.namespace}/ws-client"`,
        failed.map((f) => (f.reason as Error).message).join("; "),
      );
    }
    const runs = settled.map((r) =>
      (r as PromiseFulfilledResult<{ rawName?: string; result: LoadResult }>).value
    );
    return {
      load: combineWsResults(runs.map((r) => r.result)),
      raw: runs.flatMap((r) => (r.rawName ? [r.rawName] : [])),
    };
  }

  async #fortio(ctx: StageContext, ns: NamespaceSpec, point: LoadPoint) {
    const kube = this.#connect(ctx);
    const target = (this.options.loadTarget ?? fortioTargetFor)(ns);
    const app = `${ns.workload}-client`;
    const pods = await readyPods(kube, ns.namespace, app);
    if (pods.length === 0) {
      throw new ClusterStageError(
        "load",
        `Deployment "${ns.namespace}/${app}"`,
        "no ready client pod",
      );
    }
    const res = await execInPod(
      kube,
      { namespace: ns.namespace, pod: pods[0], container: "fortio" },
      fortioCommand(point, target),
      { timeoutMs: (point.durationS + 60) * 1000, signal: ctx.signal },
    );
    return { res, target };
  }

  describeMesh(ctx: StageContext, meshName: string): Promise<MeshRef> {
    const mesh = this.#mesh(meshName);
    const cluster = ctx.config.cluster;
    return Promise.resolve({
      name: mesh.name,
      kind: mesh.kind,
      emulated: false,
      version: mesh.version,
      settings: {
        ...mesh.settings,
        podQos: cluster.qos,
        ...(cluster.qos === "guaranteed" && mesh.guaranteedProxy
          ? {
            proxyCpu: cluster.proxyResources.cpu,
            proxyMemory: cluster.proxyResources.memory,
            ...mesh.guaranteedProxy.tuning?.(cluster.proxyResources.cpu).settings,
          }
          : {}),
      },
    });
  }

  async toolVersions(ctx: StageContext): Promise<Record<string, string>> {
    const state = await readState(ctx.runDir);
    const out: Record<string, string> = {
      fortio: FORTIO_IMAGE,
      "ws-client": `${WS_CLIENT_VERSION} on ${DENO_IMAGE}`,
    };
    // Before deploy (a new run's provenance) the cluster is asked directly.
    const env = state?.environment ?? await describeCluster(this.#connect(ctx));
    out.kubernetes = env.serverVersion;
    out.cni = env.cni;
    const shapes = new Map<string, number>();
    for (const n of env.nodes) {
      const shape = `${n.instanceType ?? "?"} ${n.arch} ${n.cpu} CPU ${n.memoryMiB} MiB, ` +
        `kernel ${n.kernel}, ${n.containerRuntime}, kubelet ${n.kubelet}`;
      shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
    }
    out.nodes = [...shapes].map(([shape, count]) => `${count} x ${shape}`).join("; ");
    try {
      const r = await (this.options.runner ?? ctx.runner).run(
        [this.options.helm ?? helmBinary(), "version", "--short"],
        { timeoutMs: 10_000 },
      );
      out.helm = r.stdout.trim();
    } catch { /* recorded as absent: requirements() reports it when a mesh needs it */ }
    return out;
  }

  /** redis-benchmark in each redis-client pod at once, each against its own instance. */
  async #redis(ctx: StageContext, ns: NamespaceSpec, spec: RunSpec) {
    const kube = this.#connect(ctx);
    const pods = (await readyPods(kube, ns.namespace, "redis-client")).slice(0, REDIS_CLIENTS);
    if (pods.length === 0) {
      throw new ClusterStageError(
        "load",
        `Deployment "${ns.namespace}/redis-client"`,
        "no ready client pod",
      );
    }
    const where = { namespace: ns.namespace, container: "redis-benchmark" };
    const version = (await execInPod(kube, { ...where, pod: pods[0] }, [
      "redis-benchmark",
      "--version",
    ], { timeoutMs: 30_000 })).stdout.trim();
    const requestsPerTest = redisRequestsPerTest(spec.point.durationS);
    const target = this.options.redisTarget ??
      ((n: NamespaceSpec, i: number) => ({
        host: `redis-${i % 3}.redis-cluster.${n.namespace}.svc.cluster.local`,
        port: 6379,
      }));
    const runs = await Promise.all(pods.map(async (pod, i) => {
      const { host, port } = target(ns, i);
      const cmd = redisBenchmarkCommand(spec.point, {
        host,
        port,
        tests: REDIS_TESTS,
        requestsPerTest,
        dataSize: REDIS_VALUE_BYTES,
      });
      const res = await execInPod(kube, { ...where, pod }, cmd, {
        timeoutMs: (spec.point.durationS * 10 + 120) * 1000,
        signal: ctx.signal,
      });
      const rawName = `raw/cluster_${spec.seq}_${spec.workload}_${spec.mesh}_client${i}.txt`;
      await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
      await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
      const failed = redisBenchmarkError(res.stdout, res.stderr);
      if (failed) {
        throw new ClusterStageError(
          "load",
          `pod "${ns.namespace}/${pod}"`,
          `redis-benchmark: ${failed}`,
        );
      }
      return {
        rawName,
        result: parseRedisBenchmark(res.stdout, {
          requestsPerTest,
          connections: spec.point.connections,
          toolVersion: version,
        }),
      };
    }));
    return {
      load: combineRedisResults(runs.map((r) => r.result)),
      raw: runs.map((r) => r.rawName),
    };
  }

  async runLoad(ctx: StageContext, spec: RunSpec) {
    const kube = this.#connect(ctx);
    const state = await this.#state(ctx);
    await this.#ensureMesh(ctx, state, spec.mesh);
    const ns = namespaceFor(spec.workload, spec.mesh);
    const driver = podDriver(spec.workload);
    if (spec.mesh === "baseline" && ns.meshed && state.mesh !== "baseline") {
      throw new ClusterStageError(
        "load",
        `workload "${spec.workload}"`,
        `the design has no baseline namespace for it and mesh "${state.mesh}" is installed; ` +
          `plan its baseline runs before any mesh`,
      );
    }
    const mesh = this.#mesh(state.mesh);
    const sampler = state.metrics ? startSampler(kube, mesh, [ns.namespace]) : undefined;
    const cfsBefore = await this.#cfs(ctx, state, mesh, ns.namespace);
    const cpuBefore = await this.#cpuCounters(ctx, state);
    const start = new Date().toISOString();
    let load;
    const raw: string[] = [];
    let samples: Awaited<ReturnType<NonNullable<typeof sampler>["stop"]>> = [];
    try {
      if (driver === "kubernetes-job") {
        const job = this.#render(ctx, [ns], state.placement).find((o) => o.kind === "Job")!;
        const out = await runJob(kube, job, { log: (m) => ctx.log.info(m), signal: ctx.signal });
        const rec = new HistogramRecorder();
        rec.record(out.durationS * 1e6);
        load = {
          tool: "kubernetes-job",
          toolVersion: state.serverVersion,
          timing: "closed-loop" as const,
          requestedRate: null,
          achievedRate: out.completions / Math.max(out.durationS, 1e-9),
          durationS: out.durationS,
          connections: 1,
          operations: out.completions,
          errors: 0,
          errorKinds: {},
          bytesIn: 0,
          bytesOut: 0,
          latency: rec.toHistogram(),
          extra: { job: out },
        };
      } else if (driver === "ws-client") {
        const out = await this.#ws(ctx, ns, {
          rate: spec.point.rate!,
          connections: spec.point.connections,
          durationS: spec.point.durationS,
        }, `raw/cluster_${spec.seq}_${spec.workload}_${spec.mesh}`);
        load = out.load;
        raw.push(...out.raw);
      } else if (driver === "redis-benchmark") {
        const out = await this.#redis(ctx, ns, spec);
        load = out.load;
        raw.push(...out.raw);
      } else {
        const { res, target } = await this.#fortio(ctx, ns, spec.point);
        const rawName = `raw/cluster_${spec.seq}_${spec.workload}_${spec.mesh}.json`;
        await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
        await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
        raw.push(rawName);
        load = parseFortioJson(res.stdout, spec.point, target.protocol);
      }
    } finally {
      // The sampler stops even when the load failed, so nothing keeps polling.
      samples = sampler ? await sampler.stop() : [];
    }
    const end = new Date().toISOString();
    // Where the run's pods were (METHODOLOGY rule 10): recorded with every run.
    const placement = await runPlacement(kube, ns.namespace);
    load = { ...load, extra: { ...load.extra, placement } } as LoadResult;
    const shared = placement.clientNodes.filter((n) => placement.serverNodes.includes(n));
    if (shared.length > 0 && driver !== "kubernetes-job") {
      ctx.log.warn(
        `run ${spec.seq}: load clients and servers share node(s) ${shared.join(", ")}: ` +
          `the cross-node path is not all that was measured`,
      );
    }
    let resources: ResourceUse[] = reduceSamples(samples, { start, end });
    if (sampler?.errors.length) ctx.log.warn(`metrics: ${sampler.errors.at(-1)}`);
    const cpuAfter = cpuBefore && await this.#cpuCounters(ctx, state);
    if (cpuBefore && cpuAfter) {
      const namespaces = sampledNamespaces(mesh, [ns.namespace]);
      resources = attachCpu(
        resources,
        cpuBetween(cpuBefore, cpuAfter, mesh, await listPodInfo(kube, namespaces), [ns.namespace]),
      );
    } else {
      resources = resources.map((r) => ({ ...r, cpuSource: "metrics-server" as const }));
    }
    const cfsAfter = cfsBefore && await this.#cfs(ctx, state, mesh, ns.namespace);
    if (cfsBefore && cfsAfter) {
      const namespaces = sampledNamespaces(mesh, [ns.namespace]);
      const throttling = throttlingBetween(
        cfsBefore,
        cfsAfter,
        mesh,
        await listPodInfo(kube, namespaces),
        [ns.namespace],
      );
      resources = attachThrottling(resources, throttling);
      for (const t of throttling.values()) {
        const pct = (t.throttled / t.periods) * 100;
        if (pct > 5 && (t.component === "loadgen" || t.component === "data-plane")) {
          ctx.log.warn(
            `run ${spec.seq}: ${t.component} ${t.name} was CPU-throttled in ${
              pct.toFixed(1)
            } % of periods: its latency includes its own CPU limit`,
          );
        }
      }
    }
    return { load, resources, raw, window: { start, end } };
  }

  /**
   * The kubelets' cumulative CPU counters of every node; undefined (said once, then not
   * tried again in this run) when they cannot be read.
   */
  async #cpuCounters(ctx: StageContext, state: ClusterState): Promise<CpuCounters | undefined> {
    if (state.cpuCountersNote) return undefined;
    const kube = this.#connect(ctx);
    try {
      const nodes = (await kube.core.listNode()).items.map((n) => n.metadata?.name ?? "");
      return await scrapeCpuCounters(kube, nodes.filter((n) => n));
    } catch (e) {
      state.cpuCountersNote = `CPU comes from metrics-server's window-averaged rate, which ` +
        `understates short runs: the kubelets' counters cannot be read: ${(e as Error).message}`;
      await writeState(ctx.runDir, state);
      ctx.log.warn(state.cpuCountersNote);
      return undefined;
    }
  }

  /**
   * CFS counters of the containers on the nodes that run the pods of `namespace` and of the
   * mesh; undefined (said once, then not tried again in this run) when the node proxy or
   * cAdvisor cannot be read.
   */
  async #cfs(
    ctx: StageContext,
    state: ClusterState,
    mesh: ClusterMesh,
    namespace: string,
  ): Promise<Map<string, CfsCounters> | undefined> {
    if (state.throttlingNote) return undefined;
    const kube = this.#connect(ctx);
    try {
      const lists = await Promise.all(
        sampledNamespaces(mesh, [namespace]).map((n) =>
          kube.core.listNamespacedPod({ namespace: n })
        ),
      );
      const nodes = [
        ...new Set(
          lists.flatMap((l) => l.items.map((p) => p.spec?.nodeName ?? "")).filter((n) => n),
        ),
      ].sort();
      return await scrapeCfs(kube, nodes);
    } catch (e) {
      state.throttlingNote = `CPU throttling is not recorded: ${(e as Error).message}`;
      await writeState(ctx.runDir, state);
      ctx.log.warn(state.throttlingNote);
      return undefined;
    }
  }

  async cleanup(ctx: StageContext): Promise<void> {
    const kube = this.#connect(ctx);
    const state = await readState(ctx.runDir);
    if (state && state.mesh !== "baseline") {
      // The benchmark pods go first, while the mesh (its CNI plugin, its node agents) can
      // still tear their networking down; then the mesh.
      const mesh = this.#mesh(state.mesh);
      await removeMeshResources(kube, mesh, state.namespaces);
      await cleanupCluster(kube, { only: state.namespaces, log: (m) => ctx.log.info(m) });
      await uninstallMesh(kube, mesh, {
        runner: this.options.runner ?? ctx.runner,
        helm: this.options.helm,
        kubeconfig: ctx.config.cluster.kubeconfig || undefined,
        workDir: `${ctx.runDir}/cluster`,
        log: (m) => ctx.log.info(m),
      });
      state.mesh = "baseline";
      await writeState(ctx.runDir, state);
    }
    const report = await cleanupCluster(kube, { log: (m) => ctx.log.info(m) });
    ctx.log.info(
      `cleanup: removed namespaces ${report.namespaces.join(", ") || "(none)"}` +
        (report.clusterObjects.length ? `; ${report.clusterObjects.join(", ")}` : ""),
    );
  }
}

/** The nodes of a namespace's load clients and servers, by pod, as a run records them. */
export async function runPlacement(kube: Kube, namespace: string): Promise<{
  clients: Record<string, string>;
  servers: Record<string, string>;
  clientNodes: string[];
  serverNodes: string[];
}> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR });
  const clients: Record<string, string> = {};
  const servers: Record<string, string> = {};
  for (const p of pods.items) {
    if (p.metadata?.deletionTimestamp || p.status?.phase !== "Running") continue;
    const tier = p.metadata?.labels?.["meshbench.io/tier"];
    const where = tier === "client" ? clients : tier === "server" ? servers : undefined;
    if (where) where[p.metadata!.name!] = p.spec?.nodeName ?? "";
  }
  const nodes = (m: Record<string, string>) => [...new Set(Object.values(m))].sort();
  return { clients, servers, clientNodes: nodes(clients), serverNodes: nodes(servers) };
}
