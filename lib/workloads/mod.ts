/**
 * The workload registry: one line per workload. Every target reads the same definitions
 * (`../workload.ts`); a workload added here runs through every mesh on every target whose
 * side it defines.
 *
 * @module
 */
import type { Workload } from "../workload.ts";
import { grpcWorkload } from "./grpc.ts";
import { httpWorkload } from "./http.ts";
import { inferenceWorkload } from "./inference.ts";
import { mlWorkload } from "./ml.ts";
import { redisWorkload } from "./redis.ts";
import { websocketWorkload } from "./websocket.ts";

const registry = new Map<string, Workload>();

/** Adds a workload under its name; a second one of the same name is an error. */
export function registerWorkload(workload: Workload): void {
  if (registry.has(workload.name)) {
    throw new Error(`Workload "${workload.name}" is registered twice`);
  }
  registry.set(workload.name, workload);
}

registerWorkload(httpWorkload);
registerWorkload(grpcWorkload);
registerWorkload(websocketWorkload);
registerWorkload(redisWorkload);
registerWorkload(mlWorkload);
registerWorkload(inferenceWorkload);

/** The registered workloads, in registration order. */
export function registeredWorkloads(): Workload[] {
  return [...registry.values()];
}

/** Names of the registered workloads, in registration order. */
export function workloadNames(): string[] {
  return [...registry.keys()];
}

/** Looks up workloads by name; an unknown name is an error listing the known ones. */
export function workloadsByName(names: string[]): Workload[] {
  return names.map((n) => {
    const w = registry.get(n);
    if (!w) {
      throw new Error(
        `Unknown workload "${n}" in "workloads" (known: ${workloadNames().join(", ")})`,
      );
    }
    return w;
  });
}
