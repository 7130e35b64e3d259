/**
 * The seam between the pipeline and where it runs. `local`, `cluster` and `oci`
 * implement one interface, so a workload, mesh or load tool is added once.
 *
 * @module
 */
import type { Runner } from "./command.ts";
import type { Requirement, ToolSpec } from "./binaries.ts";
import type {
  LoadResult,
  MeshRef,
  ProxyCounters,
  ResourceUse,
  RunSpec,
  Site,
  TargetName,
} from "./types.ts";

/** Raised when required tools are missing and cannot be installed: nothing started. */
export class MissingToolsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingToolsError";
  }
}

/** Progress sink: one line per event, safe without a TTY. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Progress of long work: `done` of `total` units. */
  progress(label: string, done: number, total: number): void;
}

/** What every stage gets: the run directory, and effects passed in so stages test without them. */
export interface StageContext {
  runDir: string;
  /** Validated effective config (see `config.ts`). */
  config: import("./config.ts").BenchConfig;
  runner: Runner;
  log: Logger;
  /** Aborted on Ctrl-C or when a component dies. */
  signal: AbortSignal;
}

/** What one measured load run produced. */
export interface LoadOutcome {
  load: LoadResult;
  resources: ResourceUse[];
  /** The proxies' own counters over the window, where the proxies serve them. */
  proxies?: ProxyCounters[];
  /** Raw tool output files written, relative to the run directory. */
  raw: string[];
  /** Load window, ISO timestamps (warm-up excluded). */
  window: { start: string; end: string };
}

/**
 * A place where meshes and workloads run. A target supplies how to start things and where
 * to run a command; what a workload is and how its load is driven come from its definition
 * (`workload.ts`), of which the target reads its `site`'s side.
 */
export interface Target {
  readonly name: TargetName;
  /** Which side of each workload definition it runs: processes or pods. */
  readonly site: Site;
  /** Plan order: every mesh up at once (`interleaved`) or one mesh at a time (`per-mesh`). */
  readonly grouping: "interleaved" | "per-mesh";
  /** Of `workloads`, those whose baseline runs must come before any mesh is installed. */
  baselineFirst(workloads: string[]): string[];
  /**
   * Groups the workloads into blocks deployed one after the other (deploy a block, measure
   * it under every mesh and the baseline, remove it, deploy the next), when the system under
   * test cannot hold them all at once. Absent: one block of every workload.
   */
  planBlocks?(config: StageContext["config"], log: Logger): Promise<string[][]>;
  /** Binaries it needs on this machine, which meshbench can install (absent: none). */
  tools?(config: StageContext["config"]): ToolSpec[];
  /**
   * Claims what a new run needs exclusively on this machine, before its run directory
   * exists (the local target locks and probes every port of the plan); returns how to
   * release it. Absent: nothing to claim. Throws (a `ConfigError` for a config problem)
   * when it cannot, and then nothing is held.
   */
  reserve?(
    config: StageContext["config"],
    run: { runId: string; runDir: string },
  ): Promise<() => void>;
  /** Releases what it holds open (API connections); called before the process exits. */
  close?(): Promise<void>;
  /** Prerequisites that are missing (empty when ready). */
  requirements(config: StageContext["config"]): Promise<Requirement[]>;
  /** Brings up servers, meshes and load clients; records what it started in the run dir. */
  deploy(ctx: StageContext): Promise<void>;
  /** Waits (bounded) until every endpoint answers through every mesh. */
  health(ctx: StageContext): Promise<void>;
  /** Light load through every mesh path; not recorded as a result. */
  warmup(ctx: StageContext, seconds: number): Promise<void>;
  /** The mesh as deployed (kind, version, settings), recorded in every result. */
  describeMesh(ctx: StageContext, mesh: string): Promise<MeshRef>;
  /** Tool versions for provenance. */
  toolVersions(ctx: StageContext): Promise<Record<string, string>>;
  /** Runs one planned measurement. Throws on failure; the caller records it as failed. */
  runLoad(ctx: StageContext, spec: RunSpec): Promise<LoadOutcome>;
  /** Stops and removes exactly what `deploy` created, from what it recorded. */
  cleanup(ctx: StageContext): Promise<void>;
  /**
   * Removes everything meshbench left on the target, without a run directory (`deno task
   * cleanup` without `--run`), and says what it removed. Absent: the target keeps nothing
   * outside run directories, and cleanup works on a run.
   */
  cleanupAll?(config: StageContext["config"], log: Logger): Promise<string>;
}
