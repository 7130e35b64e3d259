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
 * The target is the seam between the pipeline's stages and the cluster; the work is done by
 * its concerns: the run's state file (`state.ts`), where things are (`addresses.ts`), the
 * load drivers (`drivers.ts`), the mesh lifecycle (`lifecycle.ts`) and what a run measures
 * besides load (`measure.ts`).
 *
 * @module
 */

import type { PodLoad } from "../workload.ts";
import { workloadsByName } from "../workloads/mod.ts";
import { baselineFirstWorkloads, namespaceFor, podDriver } from "./addresses.ts";
import type { Logger, StageContext, Target } from "../target.ts";
import type { Requirement } from "../binaries.ts";
import type { LoadPoint, LoadResult, MeshRef, RunSpec } from "../types.ts";
import { realRunner, type Runner } from "../command.ts";
import { connect, disconnect, type Kube, kubeconfigPath } from "./kube.ts";
import {
  clusterNamespaces,
  fillParameters,
  type KubeObject,
  type NamespaceSpec,
  renderAll,
  requirePlacement,
  ROLE_LABEL,
} from "./manifests.ts";
import { guaranteeObjects } from "./qos.ts";
import {
  capacityProblems,
  controlPlaneNode,
  demandOf,
  nodeCapacities,
  type NodeCapacity,
} from "./capacity.ts";
import { readManifest } from "../run_dir.ts";
import { describeCluster } from "./environment.ts";
import { cpuCores, memoryMiB } from "../quantity.ts";
import { applyObjects, cleanupCluster, ClusterStageError, waitHealthy } from "./deploy.ts";
import { type ClusterMesh, clusterMesh, injectMeshed } from "./meshes.ts";
import { helmBinary, removeMeshResources, uninstallMesh } from "./mesh.ts";
import { checkMetricsApi, MetricsUnavailableError, startSampler } from "./metrics.ts";
import { WS_CLIENT_VERSION } from "../tools/ws_client.ts";
import { type ClusterState, readState, requireState, writeState } from "./state.ts";
import {
  DENO_IMAGE,
  type DriverOutcome,
  FORTIO_IMAGE,
  fortioExec,
  fortioLoad,
  jobLoad,
  type LoadAddresses,
  rawStem,
  redisLoad,
  wsLoad,
} from "./drivers.ts";
import { checkQos, ensureMesh, type LifecycleOptions } from "./lifecycle.ts";
import {
  countersBefore,
  runPlacement,
  runResources,
  sidecarCounters,
  sidecarWindows,
} from "./measure.ts";

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
    private readonly options: LoadAddresses & {
      runner?: Runner;
      helm?: string;
      healthTimeoutMs?: number;
      /** Extra or replacement meshes by name (tests use a fixture chart as a mesh). */
      meshes?: Record<string, ClusterMesh>;
    } = {},
  ) {}

  #mesh(name: string): ClusterMesh {
    return this.options.meshes?.[name] ?? clusterMesh(name);
  }

  /** What the mesh lifecycle needs of this target ({@linkcode ensureMesh}). */
  #lifecycle(config: StageContext["config"], state: ClusterState): LifecycleOptions {
    return {
      mesh: (name) => this.#mesh(name),
      runner: this.options.runner,
      helm: this.options.helm,
      healthTimeoutMs: this.options.healthTimeoutMs,
      render: (specs, mesh) => this.#render(config, specs, state.placement, mesh),
    };
  }

  #connect(ctx: Pick<StageContext, "config">): Kube {
    if (!this.#kube) {
      this.#kube = connect(ctx.config.cluster.context, {
        kubeconfig: ctx.config.cluster.kubeconfig || undefined,
      });
    }
    return this.#kube;
  }

  /**
   * Blocks of workloads that fit the schedulable nodes together under every configured mesh
   * (greedy, in the configured order: a workload joins the current block while the block
   * with it still fits, else it starts the next). A workload that does not fit even alone
   * gets a block of its own, which deploy then refuses, naming it. A cluster that cannot be
   * read now is planned as one block (said; deploy reads it again and checks every block).
   */
  async planBlocks(config: StageContext["config"], log: StageContext["log"]): Promise<string[][]> {
    let capacity: NodeCapacity[];
    try {
      capacity = await this.#capacity(this.#connect({ config }));
    } catch (e) {
      log.warn(
        `capacity: cannot read the cluster's nodes to plan deploy blocks (${
          (e as Error).message
        }); planning one block`,
      );
      return [[...config.workloads]];
    }
    const blocks: string[][] = [];
    for (const w of config.workloads) {
      const current = blocks.at(-1);
      if (current && this.#blockProblems(config, capacity, [...current, w]).length === 0) {
        current.push(w);
      } else blocks.push([w]);
    }
    return blocks;
  }

  /** Nodes with their allocatable resources and what is already bound there. */
  async #capacity(kube: Kube): Promise<NodeCapacity[]> {
    const [nodes, pods] = await Promise.all([
      kube.core.listNode(),
      kube.core.listPodForAllNamespaces(),
    ]);
    return nodeCapacities(nodes.items, pods.items);
  }

  /** Why `workloads` deployed together do not fit `capacity` ({@linkcode capacityProblems}). */
  #blockProblems(
    config: StageContext["config"],
    capacity: NodeCapacity[],
    workloads: readonly string[],
  ): string[] {
    const specs = specsOf(workloads);
    const p = config.cluster.proxyResources;
    const demand = demandOf(
      this.#render(config, specs, "preferred"),
      specs.filter((s) => s.meshed).map((s) => s.namespace),
      config.meshes.filter((m) => m !== "baseline").map((m) => this.#mesh(m)),
      config.cluster.qos === "guaranteed"
        ? { cpu: cpuCores(p.cpu), memoryMiB: memoryMiB(p.memory) }
        : undefined,
    );
    return capacityProblems(capacity, demand);
  }

  /** Every namespace and cluster object on the context carrying meshbench's labels. */
  async cleanupAll(config: StageContext["config"], log: Logger): Promise<string> {
    const kube = connect(config.cluster.context, {
      kubeconfig: config.cluster.kubeconfig || undefined,
    });
    try {
      const report = await cleanupCluster(kube, { log: (m) => log.info(m) });
      return `Removed from context "${config.cluster.context}": namespaces ${
        report.namespaces.join(", ") || "(none)"
      }${report.clusterObjects.length ? `; ${report.clusterObjects.join(", ")}` : ""}`;
    } finally {
      await disconnect(kube);
    }
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
    const blocks = await planned(ctx);
    const specs = specsOf(blocks[0]);
    const roles = new Set(environment.nodes.flatMap((n) => n.roles));
    const placement = roles.has("server") && roles.has("client") ? "required" : "preferred";
    const rendered = this.#render(ctx.config, specs, placement);
    const cpNode = await this.#checkCapacity(ctx, kube, blocks);
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
      blocks,
      block: 0,
      blockLog: [{ workloads: blocks[0], deployed: new Date().toISOString() }],
    });
    if (blocks.length > 1) {
      ctx.log.info(
        `blocks: deployed ${blocks[0].join("+")}, the first of ${blocks.length} ` +
          `(${blocks.map((b) => b.join("+")).join(", ")}); each is removed before the next`,
      );
    }
  }

  /**
   * Makes the block holding `workload` the deployed one: removes the deployed block (its
   * benchmark namespaces first, then the installed mesh, as cleanup does), checks the next
   * block against the cluster again, applies it, waits until it is healthy and warms it up.
   * Every block begins without a mesh: its baseline-only runs come first in the plan.
   */
  async #enterBlock(kube: Kube, ctx: StageContext, state: ClusterState, workload: string) {
    const blocks = state.blocks ?? [ctx.config.workloads];
    const next = blocks.findIndex((b) => b.includes(workload));
    if (next < 0 || next === (state.block ?? 0)) return;
    const current = blocks[state.block ?? 0];
    ctx.log.info(`blocks: removing ${current.join("+")} to deploy ${blocks[next].join("+")}`);
    await this.#removeDeployed(kube, ctx, state);
    await cleanupCluster(kube, { only: state.namespaces, log: (m) => ctx.log.info(m) });
    const log = state.blockLog?.at(-1);
    if (log && !log.removed) log.removed = new Date().toISOString();
    state.namespaces = [];
    await writeState(ctx.runDir, state);
    await this.#checkCapacity(ctx, kube, [blocks[next]]);
    const specs = specsOf(blocks[next]);
    const objs = this.#render(ctx.config, specs, state.placement).filter((o) => o.kind !== "Job");
    await applyObjects(kube, objs, { log: (m) => ctx.log.info(m) });
    state.block = next;
    state.namespaces = specs.map((s) => s.namespace);
    state.blockLog = [
      ...(state.blockLog ?? []),
      { workloads: blocks[next], deployed: new Date().toISOString() },
    ];
    await writeState(ctx.runDir, state);
    await this.health(ctx);
    await this.warmup(ctx, ctx.config.warmupS);
  }

  /**
   * Removes the installed mesh, if any: the benchmark pods' mesh resources and namespaces
   * first, while the mesh (its CNI plugin, its node agents) can still tear their networking
   * down; then the mesh. The state then says no mesh is installed.
   */
  async #removeDeployed(kube: Kube, ctx: StageContext, state: ClusterState) {
    if (state.mesh === "baseline") return;
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
    state.meshVersion = "none";
    delete state.meshSwitchFailed;
    await writeState(ctx.runDir, state);
  }

  /**
   * The objects of `specs`; under `cluster.qos: guaranteed` with requests equal to limits
   * and the configured meshes' proxy sizing annotations on every pod template; under a mesh
   * meshbench injects itself (`mesh`), with its sidecar in the meshed namespaces' pods.
   */
  #render(
    config: StageContext["config"],
    specs: readonly NamespaceSpec[],
    placement: ClusterState["placement"],
    mesh = "baseline",
  ): KubeObject[] {
    const injection = this.#mesh(mesh).injection;
    const objs = this.#renderSized(config, specs, placement);
    return injection ? injectMeshed(objs, specs, injection) : objs;
  }

  #renderSized(
    config: StageContext["config"],
    specs: readonly NamespaceSpec[],
    placement: ClusterState["placement"],
  ): KubeObject[] {
    // The run's values (sizes, seeds, payloads) into the ConfigMaps the workloads' pods read.
    const all = fillParameters(renderAll(specs), (namespace) => {
      const spec = specs.find((s) => s.namespace === namespace);
      if (!spec) return undefined;
      return workloadsByName([spec.workload])[0].pod?.parameters?.(config);
    });
    const objs = placement === "required" ? requirePlacement(all) : all;
    const cluster = config.cluster;
    if (cluster.qos !== "guaranteed") return objs;
    const annotations: Record<string, string> = {};
    for (const m of config.meshes) {
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
   * Refuses, before anything is applied, blocks that do not fit the schedulable nodes
   * ({@linkcode capacityProblems}: what is already bound there, the block's pods with each
   * mesh's sidecar, the DaemonSets, each mesh's control plane); the scheduler would only
   * leave pods Pending until the health timeout. Every block is checked on its own, since
   * only one is deployed at a time. Returns the control-plane node mesh control planes
   * tolerate onto, if the cluster has one.
   */
  async #checkCapacity(
    ctx: StageContext,
    kube: Kube,
    blocks: readonly string[][],
  ): Promise<string | undefined> {
    const capacity = await this.#capacity(kube);
    const cluster = ctx.config.cluster;
    const refused = blocks.flatMap((b) => {
      const problems = this.#blockProblems(ctx.config, capacity, b);
      return problems.length ? [`${b.join("+")}:\n  ${problems.join("\n  ")}`] : [];
    });
    if (refused.length > 0) {
      throw new ClusterStageError(
        "deploy",
        `context "${cluster.context}"`,
        (blocks.length > 1
          ? `${refused.length} of ${blocks.length} deploy blocks do not fit the cluster even ` +
            `deployed alone`
          : "the benchmark does not fit the cluster") +
          ` (qos ${cluster.qos}):\n${refused.join("\n")}\n` +
          `a bigger cluster, fewer --meshes` +
          (cluster.qos === "guaranteed" ? ", or --qos burstable" : ""),
      );
    }
    const workers = capacity.filter((n) => n.taints.length === 0);
    const free = workers.reduce((a, n) => a + n.allocatable.cpu - n.committed.cpu, 0);
    ctx.log.info(
      `capacity: ${
        blocks.length > 1 ? `each of ${blocks.length} deploy blocks` : "the benchmark"
      } fits ${workers.length} schedulable node(s) with ${
        free.toFixed(2)
      } CPU free, every configured mesh included`,
    );
    return controlPlaneNode(capacity)?.name;
  }

  async health(ctx: StageContext): Promise<void> {
    const kube = this.#connect(ctx);
    const state = await requireState(ctx.runDir);
    await waitHealthy(kube, state.namespaces, {
      timeoutMs: this.options.healthTimeoutMs ?? 300_000,
      log: (m) => ctx.log.info(m),
      signal: ctx.signal,
    });
    await checkQos(kube, ctx, state, state.namespaces, "health");
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
    const state = await requireState(ctx.runDir);
    // Only the deployed block's workloads.
    const deployed = state.blocks?.[state.block ?? 0] ?? ctx.config.workloads;
    const driven = (driver: PodLoad["driver"]) =>
      workloadsByName(deployed).filter((w) => w.pod?.driver === driver).map((w) => w.name);
    for (const w of driven("fortio")) {
      const point: LoadPoint = {
        mode: "fixed-rate",
        tool: "fortio",
        rate: Math.min(...ctx.config.load.rates),
        connections: 2,
        durationS: seconds,
      };
      for (const mesh of new Set(["baseline", state.mesh])) {
        const ns = namespaceFor(w, mesh);
        await untilServiceAnswers(
          () => fortioExec(this.#connect(ctx), ctx, ns, point, this.options.loadTarget),
          `${w} in "${ns.namespace}"`,
          (m) => ctx.log.info(m),
        );
      }
    }
    for (const w of seconds > 0 ? driven("ws-client") : []) {
      const ns = namespaceFor(w, state.mesh);
      await untilServiceAnswers(
        async () => {
          const { load } = await wsLoad(
            this.#connect(ctx),
            ctx,
            ns,
            { rate: 100, connections: 10, durationS: seconds },
            this.options.wsTarget,
          );
          if (load.errors === 0) return;
          const reason = `WebSocket warm-up: ${load.errors} of ${load.operations} messages ` +
            `failed: ${JSON.stringify(load.errorKinds)}`;
          // The client counts a connection the Service did not accept instead of throwing:
          // every failure of that kind is the refusal untilServiceAnswers waits out.
          const kinds = Object.keys(load.errorKinds ?? {});
          const refused = kinds.length > 0 && kinds.every((k) => k === "not-sent:connect-failed");
          throw new (refused ? ServiceRefusedError : ClusterStageError)(
            "warmup",
            `namespace "${ns.namespace}"`,
            reason,
          );
        },
        `${w} in "${ns.namespace}"`,
        (m) => ctx.log.info(m),
      );
    }
  }

  describeMesh(ctx: StageContext, meshName: string): Promise<MeshRef> {
    const mesh = this.#mesh(meshName);
    const cluster = ctx.config.cluster;
    return Promise.resolve({
      name: mesh.name,
      kind: mesh.kind,
      emulated: mesh.emulated ?? false,
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

  async runLoad(ctx: StageContext, spec: RunSpec) {
    const kube = this.#connect(ctx);
    const state = await requireState(ctx.runDir);
    await this.#enterBlock(kube, ctx, state, spec.workload);
    await ensureMesh(kube, ctx, state, spec.mesh, this.#lifecycle(ctx.config, state));
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
    const before = await countersBefore(kube, ctx, state, mesh, ns.namespace);
    const start = new Date().toISOString();
    let out: DriverOutcome;
    let samples: Awaited<ReturnType<NonNullable<typeof sampler>["stop"]>> = [];
    try {
      if (driver === "kubernetes-job") {
        const job = this.#render(ctx.config, [ns], state.placement, state.mesh)
          .find((o) => o.kind === "Job")!;
        out = await jobLoad(kube, ctx, job, state.serverVersion);
      } else if (driver === "ws-client") {
        out = await wsLoad(
          kube,
          ctx,
          ns,
          {
            rate: spec.point.rate!,
            connections: spec.point.connections,
            durationS: spec.point.durationS,
          },
          this.options.wsTarget,
          rawStem(spec),
        );
      } else if (driver === "redis-benchmark") {
        out = await redisLoad(kube, ctx, ns, spec, this.options.redisTarget);
      } else {
        out = await fortioLoad(kube, ctx, ns, spec, this.options.loadTarget);
      }
    } finally {
      // The sampler stops even when the load failed, so nothing keeps polling.
      samples = sampler ? await sampler.stop() : [];
    }
    const end = new Date().toISOString();
    const raw = out.raw;
    // Where the run's pods were (METHODOLOGY rule 10): recorded with every run.
    const placement = await runPlacement(kube, ns.namespace);
    const load = { ...out.load, extra: { ...out.load.extra, placement } } as LoadResult;
    const shared = placement.clientNodes.filter((n) => placement.serverNodes.includes(n));
    if (shared.length > 0 && driver !== "kubernetes-job") {
      ctx.log.warn(
        `run ${spec.seq}: load clients and servers share node(s) ${shared.join(", ")}: ` +
          `the cross-node path is not all that was measured`,
      );
    }
    if (sampler?.errors.length) ctx.log.warn(`metrics: ${sampler.errors.at(-1)}`);
    // The sidecars' counters after the window (read before it in `countersBefore`).
    const sidecarsAfter = before.sidecars?.size
      ? await sidecarCounters(kube, ctx, state, mesh, ns.namespace)
      : undefined;
    const resources = await runResources(
      kube,
      ctx,
      state,
      mesh,
      ns.namespace,
      spec.seq,
      samples,
      { start, end },
      before,
    );
    const proxies = before.sidecars && sidecarsAfter
      ? sidecarWindows(before.sidecars, sidecarsAfter)
      : [];
    return {
      load,
      resources,
      ...(proxies.length ? { proxies } : {}),
      raw,
      window: { start, end },
    };
  }

  async cleanup(ctx: StageContext): Promise<void> {
    const kube = this.#connect(ctx);
    const state = await readState(ctx.runDir);
    if (state) await this.#removeDeployed(kube, ctx, state);
    const report = await cleanupCluster(kube, { log: (m) => ctx.log.info(m) });
    ctx.log.info(
      `cleanup: removed namespaces ${report.namespaces.join(", ") || "(none)"}` +
        (report.clusterObjects.length ? `; ${report.clusterObjects.join(", ")}` : ""),
    );
  }
}

/**
 * A warm-up whose every failure was a connection the Service did not open (the WebSocket
 * client counts these instead of throwing): {@linkcode untilServiceAnswers} retries it as a
 * refusal, and past its bound it fails the stage with this error.
 */
export class ServiceRefusedError extends ClusterStageError {}

/** How long the warm-up waits for a Service the cluster still refuses (see below). */
export const SERVICE_ANSWER_BOUND_MS = 30_000;

/**
 * Runs a warm-up `fn`, again (every 2 s, for at most {@linkcode SERVICE_ANSWER_BOUND_MS})
 * while it fails only because the connection to the Service was refused. Health waits
 * until the Service's EndpointSlices list every Ready pod, but the node's kube-proxy writes
 * its ClusterIP rules after it reads them (at least a second later, `minSyncPeriod`), and
 * until then rejects the connection: the real test node's first gRPC warm-up after a block
 * was deployed failed so. The warm-up is not recorded; any other failure, or a refusal that
 * lasts past the bound, fails it as before.
 */
export async function untilServiceAnswers<T>(
  fn: () => Promise<T>,
  what: string,
  log: (m: string) => void,
  boundMs = SERVICE_ANSWER_BOUND_MS,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const refused = e instanceof ServiceRefusedError ||
        /connection refused/i.test(e instanceof Error ? e.message : String(e));
      if (!refused || Date.now() >= deadline) throw e;
      log(
        `warmup: ${what}: connection refused (attempt ${attempt}); the Service's rules may ` +
          `not be written yet, retrying in 2 s`,
      );
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

/** The namespaces of `workloads`, in the design's order. */
function specsOf(workloads: readonly string[]): NamespaceSpec[] {
  return clusterNamespaces().filter((s) => workloads.includes(s.workload));
}

/** The deploy blocks the run's plan was made with (one block when it has none). */
async function planned(ctx: StageContext): Promise<string[][]> {
  const manifest = await readManifest(ctx.runDir).catch(() => null);
  return manifest?.blocks ?? [[...ctx.config.workloads]];
}
