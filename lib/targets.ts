/**
 * Targets beyond the local machine, loaded lazily so the local target does not
 * pull in the Kubernetes client. `oci` is the cluster target on a cluster that
 * `benchAllOci` builds first (see `pipeline.ts`).
 *
 * @module
 */
import type { BenchConfig } from "./config.ts";
import type { Target } from "./target.ts";
import type { LoadPoint, TargetName } from "./types.ts";
import { baselineFirstWorkloads, clusterLoadPoints, ClusterTarget } from "./cluster/target.ts";

/** The cluster target (also used for `oci`, once its cluster exists). */
export function remoteTarget(name: TargetName): Promise<Target & { close(): Promise<void> }> {
  if (name === "cluster" || name === "oci") return Promise.resolve(new ClusterTarget());
  return Promise.reject(new Error(`Unknown target "${name}"`));
}

/** Load points per workload on a cluster: load by exec in the client pods, or the ML Job. */
export function remotePoints(config: BenchConfig): Array<{ name: string; points: LoadPoint[] }> {
  return clusterLoadPoints(config);
}

/** Workloads without a baseline namespace of their own: their baseline runs go first. */
export function baselineFirst(workloads: string[]): string[] {
  return baselineFirstWorkloads(workloads);
}
