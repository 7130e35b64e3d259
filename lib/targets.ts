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
import { ClusterTarget } from "./cluster/target.ts";
import { CLUSTER_NAMESPACES } from "./cluster/manifests.ts";

/** Workloads whose load the cluster target can drive today, and how. */
const CLUSTER_LOAD: Record<string, "fortio" | "job"> = {
  http: "fortio",
  grpc: "fortio",
  ml: "job",
};

/** The cluster target (also used for `oci`, once its cluster exists). */
export function remoteTarget(name: TargetName): Promise<Target> {
  if (name === "cluster" || name === "oci") return Promise.resolve(new ClusterTarget());
  return Promise.reject(new Error(`Unknown target "${name}"`));
}

/** Load points per workload on a cluster: fortio in the client pods, or the ML Job. */
export function remotePoints(config: BenchConfig): Array<{ name: string; points: LoadPoint[] }> {
  return config.workloads.map((name) => {
    const how = CLUSTER_LOAD[name];
    if (!how) {
      throw new Error(
        `Workload "${name}" has no in-cluster load generator yet on the ${config.target} target ` +
          `(supported: ${Object.keys(CLUSTER_LOAD).join(", ")}); drop it with --workloads`,
      );
    }
    if (how === "job") {
      // Completion time is the measure; durationS bounds the wait for the Job.
      return {
        name,
        points: [{
          mode: "batch",
          tool: "kubernetes-job",
          rate: null,
          connections: 1,
          durationS: 900,
        }],
      };
    }
    const points: LoadPoint[] = config.load.rates.map((rate) => ({
      mode: "fixed-rate",
      tool: "fortio",
      rate,
      connections: config.load.connections,
      durationS: config.load.durationS,
    }));
    if (config.load.throughput.enabled) {
      points.push({
        mode: "max-throughput",
        tool: "fortio",
        rate: null,
        connections: config.load.throughput.connections,
        durationS: config.load.throughput.durationS,
      });
    }
    return { name, points };
  });
}

/** Workloads without a baseline namespace of their own: their baseline runs go first. */
export function baselineFirst(workloads: string[]): string[] {
  return workloads.filter((w) => !CLUSTER_NAMESPACES.some((s) => s.workload === w && !s.meshed));
}
