/**
 * Targets beyond the local machine. Loaded lazily so the local target does not
 * pull in the Kubernetes client.
 *
 * @module
 */
import type { BenchConfig } from "./config.ts";
import type { Target } from "./target.ts";
import type { LoadPoint, TargetName } from "./types.ts";

/** The cluster or OCI target. */
export function remoteTarget(name: TargetName): Promise<Target> {
  return Promise.reject(
    new Error(`Target "${name}" is not available in this build (use --target local)`),
  );
}

/** Load points per workload for a remote target. */
export function remotePoints(_config: BenchConfig): Array<{ name: string; points: LoadPoint[] }> {
  throw new Error("Remote targets are not available in this build");
}
