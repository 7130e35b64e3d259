/**
 * What a workload is, for every target: its name, design namespace, load points, the
 * tools its load needs, how it runs as processes (servers, probe, warm-up, one measured
 * load point) and how its load runs in client pods on a cluster. A target supplies only how
 * to start things and where to run a command: it reads the workload's `process` side
 * (the local target) or its `pod` side (the cluster target). Workloads are registered with
 * one line in `workloads/mod.ts`.
 *
 * @module
 */
import type { Runner } from "./command.ts";
import type { BenchConfig } from "./config.ts";
import type { Logger } from "./target.ts";
import type { LoadPoint, LoadResult, RunSpec, Site } from "./types.ts";
import type { ToolSpec } from "./binaries.ts";

/** What a proxy in front of the workload must carry. */
export type Protocol = "http" | "h2" | "ws" | "tcp";

/** Effects and paths a workload gets. */
export interface WorkloadEnv {
  runDir: string;
  /** Directory for this workload's generated files (configs, data). */
  workDir: string;
  runner: Runner;
  config: BenchConfig;
  log: Logger;
  signal: AbortSignal;
  /** Absolute paths of tools by name (from {@linkcode Workload.tools} and the base tools). */
  bin: Record<string, string>;
}

/** How to start one server replica. */
export interface ServerCommand {
  cmd: string[];
  cwd?: string;
  /** Files to write before starting (path -> content). */
  files?: Record<string, string>;
}

/** What one load run returned. */
export interface WorkloadLoad {
  load: LoadResult;
  /** Raw output files written, relative to the run dir. */
  raw: string[];
}

/**
 * How a workload's load runs in client pods: the driver the cluster target runs (fortio,
 * meshbench's WebSocket client, redis-benchmark, or the workload as a Kubernetes Job) and
 * its load points there.
 */
export interface PodLoad {
  driver: "fortio" | "ws-client" | "redis-benchmark" | "kubernetes-job";
  /** Load points in pods (the tool may differ from the process side's). */
  points(config: BenchConfig): LoadPoint[];
  /**
   * fortio: the address the client pods of `namespace` load, its protocol, for points
   * with a payload size the directory in the client pod that holds `payload-<bytes>.json`
   * (without it fortio sends that many random bytes), and the address of the servers' h2c
   * listener where the h2c points go.
   */
  fortio?: (
    namespace: string,
  ) => { address: string; protocol: "http" | "grpc"; payloadDir?: string; h2cAddress?: string };
  /**
   * Its objects: a multi-document YAML file, relative to the repository root, that carries
   * no namespace (default `manifests/workloads/<name>.yaml`). They are rendered into the
   * workload's `namespace` (enabled for the mesh under test) and into its `baseline` twin.
   */
  manifest?: string;
  /**
   * A namespace where the same objects run without a mesh, never enabled for one;
   * `nodePortOffset` is added to each of its NodePorts (NodePorts are cluster-wide). Without
   * it the workload's baseline runs in its own namespace before any mesh is installed.
   */
  baseline?: { namespace: string; nodePortOffset: number };
  /**
   * The run's values its pods read (environment names to values): the cluster target fills
   * the manifest's ConfigMap annotated `meshbench.io/parameters` with them, so the pods run
   * with the same sizes and seeds as the local target's processes.
   */
  parameters?: (config: BenchConfig) => Record<string, string>;
}

/** A workload family of the design. */
export interface Workload {
  name: string;
  /** Design namespace it stands for (e.g. "http-benchmark"). */
  namespace: string;
  protocol: Protocol;
  replicas: number;
  /** Extra tools this workload needs. */
  tools: ToolSpec[];
  /** Load points as processes, for this config (fixed-rate points first). */
  points(config: BenchConfig): LoadPoint[];
  /**
   * It takes the connection sweep, the payload points and the knee ramp (`load.sweep.*`,
   * `knee.*`) among its points; a config that asks for them without such a workload is refused.
   */
  sweeps?: boolean;
  /** How its load runs in client pods; absent when it has no cluster form. */
  pod?: PodLoad;
  /**
   * HTTP/2 in cleartext (h2c, prior knowledge) beside the workload's own HTTP/1.1, for its h2c
   * points (`point.httpProtocol`). When `enabled(config)`, each replica also listens on a
   * second port (given to `server`), the proxies carry that port's traffic as HTTP/2 on both
   * sides, and the h2c points are sent there; `probe` checks that an h2c request through
   * `ports` reaches the server as HTTP/2, or throws saying what arrived.
   */
  h2c?: {
    enabled(config: BenchConfig): boolean;
    probe(env: WorkloadEnv, ports: number[]): Promise<void>;
    /** Light, unrecorded h2c load through `ports`. */
    warmup(env: WorkloadEnv, ports: number[], seconds: number): Promise<void>;
  };
  /**
   * Command that runs replica `index` listening on `port` (foreground), and on `h2cPort` for
   * h2c when {@linkcode Workload.h2c} is enabled.
   */
  server(env: WorkloadEnv, index: number, port: number, h2cPort?: number): Promise<ServerCommand>;
  /** One request through `ports` succeeds, or it throws saying why. */
  probe(env: WorkloadEnv, ports: number[]): Promise<void>;
  /** Light, unrecorded load through `ports`. */
  warmup(env: WorkloadEnv, ports: number[], seconds: number): Promise<void>;
  /**
   * Runs one measured load point against `ports` (replica ports for the baseline,
   * the client-side proxy port under a mesh). `rawStem` is the path stem (relative
   * to the run dir) for raw output. `onLoadgen` receives load generator pids; a batch
   * workload whose processes are the application itself (the ML job) passes "app".
   */
  run(
    env: WorkloadEnv,
    spec: RunSpec,
    ports: number[],
    rawStem: string,
    onLoadgen: (pid: number, component?: "loadgen" | "app") => void,
  ): Promise<WorkloadLoad>;
}

/**
 * Throws when an unrecorded warm-up through `ports` had failed operations (`unit`: calls,
 * messages), naming the ports, the count and the error kinds.
 */
export function checkWarmup(
  what: string,
  unit: string,
  ports: readonly number[],
  result: Pick<LoadResult, "errors" | "operations" | "errorKinds">,
): void {
  if (result.errors === 0) return;
  throw new Error(
    `${what} warm-up through ports ${ports.join(",")}: ${result.errors} of ${result.operations} ` +
      `${unit} failed: ${JSON.stringify(result.errorKinds)}`,
  );
}

/** The load points of `workload` where a target runs it; an error names what is missing. */
export function pointsOn(workload: Workload, site: Site, config: BenchConfig): LoadPoint[] {
  if (site === "process") return workload.points(config);
  if (!workload.pod) {
    throw new Error(`Cannot plan workload "${workload.name}" in pods: it defines no pod load`);
  }
  return workload.pod.points(config);
}
