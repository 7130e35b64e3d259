/**
 * The workload registry of the local target: one entry per design family.
 *
 * @module
 */
import type { LocalWorkload } from "../local/workload.ts";
import { grpcWorkload } from "./grpc.ts";
import { httpWorkload } from "./http.ts";
import { mlWorkload } from "./ml.ts";
import { redisWorkload } from "./redis.ts";
import { websocketWorkload } from "./websocket.ts";

export const WORKLOADS: Record<string, LocalWorkload> = {
  http: httpWorkload,
  grpc: grpcWorkload,
  websocket: websocketWorkload,
  db: redisWorkload,
  ml: mlWorkload,
};

/** Looks up workloads by name; an unknown name is an error listing the known ones. */
export function workloadsByName(names: string[]): LocalWorkload[] {
  return names.map((n) => {
    const w = WORKLOADS[n];
    if (!w) {
      throw new Error(
        `Unknown workload "${n}" in "workloads" (known: ${Object.keys(WORKLOADS).join(", ")})`,
      );
    }
    return w;
  });
}
