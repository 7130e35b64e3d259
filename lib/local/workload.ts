/**
 * What a workload of the local target is: servers to start, a protocol the
 * emulated proxies must carry, load points, and how to drive load. Workloads are
 * registered in `workloads.ts`; adding one there makes it run through every mesh.
 *
 * @module
 */
import type { Runner } from "../command.ts";
import type { BenchConfig } from "../config.ts";
import type { Logger } from "../target.ts";
import type { LoadPoint, LoadResult, RunSpec } from "../types.ts";
import type { Protocol } from "./meshes.ts";
import type { ToolSpec } from "../binaries.ts";

/** Effects and paths a workload gets. */
export interface WorkloadEnv {
  runDir: string;
  /** Directory for this workload's generated files (configs, data). */
  workDir: string;
  runner: Runner;
  config: BenchConfig;
  log: Logger;
  signal: AbortSignal;
  /** Absolute paths of tools by name (from {@linkcode LocalWorkload.tools} and the base tools). */
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

/** A workload family of the design, runnable on the local target. */
export interface LocalWorkload {
  name: string;
  /** Design namespace it stands for (e.g. "http-benchmark"). */
  namespace: string;
  protocol: Protocol;
  replicas: number;
  /** Extra tools this workload needs. */
  tools: ToolSpec[];
  /** Load points for this config (fixed-rate points first). */
  points(config: BenchConfig): LoadPoint[];
  /** Command that runs replica `index` listening on `port` (foreground). */
  server(env: WorkloadEnv, index: number, port: number): Promise<ServerCommand>;
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
