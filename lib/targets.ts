/**
 * The target registry: one line per target. A target is loaded when a run asks for it, so
 * the local target never loads the Kubernetes client. `oci` is the cluster target on a
 * cluster that `benchAllOci` builds first (see `pipeline.ts`).
 *
 * @module
 */
import type { Target } from "./target.ts";

/** How to make a target when a run first asks for it, and the meshes it offers. */
export interface TargetEntry {
  make(): Promise<Target>;
  /** Mesh names a config may use on it, the baseline included. */
  meshes(): Promise<string[]>;
}

const registry = new Map<string, TargetEntry>();

/** Adds a target under `name`; a second one of the same name is an error. */
export function registerTarget(name: string, entry: TargetEntry): void {
  if (registry.has(name)) throw new Error(`Target "${name}" is registered twice`);
  registry.set(name, entry);
}

const cluster: TargetEntry = {
  make: async () => new (await import("./cluster/target.ts")).ClusterTarget(),
  meshes: async () => Object.keys((await import("./cluster/meshes.ts")).CLUSTER_MESHES),
};

registerTarget("local", {
  make: async () => new (await import("./local/target.ts")).LocalTarget(),
  meshes: async () => Object.keys((await import("./local/meshes.ts")).LOCAL_MESHES),
});
registerTarget("cluster", cluster);
registerTarget("oci", cluster);

/** Names of the registered targets. */
export function targetNames(): string[] {
  return [...registry.keys()];
}

/** A new instance of target `name`; an unknown name is an error listing the known ones. */
export function makeTarget(name: string): Promise<Target> {
  return entry(name).then((e) => e.make());
}

/** The meshes target `name` offers, the baseline included. */
export function targetMeshes(name: string): Promise<string[]> {
  return entry(name).then((e) => e.meshes());
}

function entry(name: string): Promise<TargetEntry> {
  const e = registry.get(name);
  if (!e) {
    return Promise.reject(
      new Error(`Unknown target "${name}" (known: ${targetNames().join(", ")})`),
    );
  }
  return Promise.resolve(e);
}
