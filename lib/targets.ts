/**
 * The target registry: one line per target. A target is loaded when a run asks for it, so
 * the local target never loads the Kubernetes client. `oci` is the cluster target on a
 * cluster that `benchAllOci` builds first (see `pipeline.ts`).
 *
 * @module
 */
import type { Target } from "./target.ts";

const registry = new Map<string, () => Promise<Target>>();

/** Adds a target under `name`, made by `make` when first used; a second one is an error. */
export function registerTarget(name: string, make: () => Promise<Target>): void {
  if (registry.has(name)) throw new Error(`Target "${name}" is registered twice`);
  registry.set(name, make);
}

registerTarget("local", async () => new (await import("./local/target.ts")).LocalTarget());
registerTarget("cluster", async () => new (await import("./cluster/target.ts")).ClusterTarget());
registerTarget("oci", async () => new (await import("./cluster/target.ts")).ClusterTarget());

/** Names of the registered targets. */
export function targetNames(): string[] {
  return [...registry.keys()];
}

/** A new instance of target `name`; an unknown name is an error listing the known ones. */
export function makeTarget(name: string): Promise<Target> {
  const make = registry.get(name);
  if (!make) {
    return Promise.reject(
      new Error(`Unknown target "${name}" (known: ${targetNames().join(", ")})`),
    );
  }
  return make();
}
