/**
 * The cluster target's record of a run, `<runDir>/cluster.json`: the cluster it reached,
 * the mesh installed now, the namespaces it created and what it could not measure. Every
 * stage reads it back, so a run resumes in a new process.
 *
 * @module
 */
import type { ClusterEnvironment } from "./environment.ts";
import { ClusterStageError } from "./deploy.ts";

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
  /**
   * Why context switches are not recorded, once found (the pods' cgroups are not on this
   * machine: only a node meshbench runs on, like the real test node, is read kubelet-side).
   */
  switchesNote?: string;
  /** Why the Envoy sidecars' own counters are not read, once that failed. */
  sidecarCountersNote?: string;
  /** Meshes whose install failed in this run, with the reason (not retried for each run). */
  failedMeshes?: Record<string, string>;
  /**
   * Why switching the benchmark pods to `mesh` did not finish (the mesh is installed, its
   * pods not all healthy or verified): the next run under it removes it and switches again,
   * instead of measuring half-rolled pods; a second failure marks it in `failedMeshes`.
   */
  meshSwitchFailed?: string;
  /**
   * "required" when the nodes carry `meshbench.io/role` server and client labels (set by
   * `cluster:setup`): servers and clients are then pinned to them, not merely preferred.
   */
  placement?: "required" | "preferred";
  /** The tainted control-plane node that mesh control planes tolerate onto, if any. */
  controlPlaneNode?: string;
  /** The plan's deploy blocks (workloads deployed together; the manifest's `blocks`). */
  blocks?: string[][];
  /** Index of the block deployed now (its namespaces are `namespaces`). */
  block?: number;
  /** Each block as it was deployed and removed, in order (ISO times). */
  blockLog?: Array<{ workloads: string[]; deployed: string; removed?: string }>;
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

/** The state file's name in the run directory. */
export const STATE = "cluster.json";

/** The run's state; null before deploy wrote it. */
export async function readState(runDir: string): Promise<ClusterState | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${runDir}/${STATE}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Writes the state atomically (a temporary file renamed over it). */
export async function writeState(runDir: string, s: ClusterState): Promise<void> {
  const tmp = `${runDir}/${STATE}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(s, null, 2));
  await Deno.rename(tmp, `${runDir}/${STATE}`);
}

/** The run's state; a `stage` error when deploy has not written it. */
export async function requireState(runDir: string): Promise<ClusterState> {
  const s = await readState(runDir);
  if (!s) {
    throw new ClusterStageError(
      "health",
      `run directory "${runDir}"`,
      `no ${STATE}: run deploy first`,
    );
  }
  return s;
}
