/**
 * Where things are on the cluster for each workload: the namespace of a run (the meshed one,
 * or its baseline-* twin), the Service addresses its clients load, its pod-side driver, and
 * which workloads must run their baseline before any mesh.
 *
 * @module
 */
import type { PodLoad } from "../workload.ts";
import { workloadsByName } from "../workloads/mod.ts";
import type { FortioTarget } from "./fortio.ts";
import { clusterNamespaces, type NamespaceSpec } from "./manifests.ts";

/** The namespace a run uses: the baseline-* twin for the baseline, else the meshed one. */
export function namespaceFor(workload: string, mesh: string): NamespaceSpec {
  const meshed = clusterNamespaces().find((s) => s.workload === workload && s.meshed);
  if (!meshed) {
    throw new Error(
      `Unknown cluster workload "${workload}" (known: ${
        [...new Set(clusterNamespaces().map((s) => s.workload))].join(", ")
      })`,
    );
  }
  if (mesh !== "baseline") return meshed;
  const base = clusterNamespaces().find((s) => s.workload === workload && !s.meshed);
  // Workloads without a baseline twin in the design measure the baseline in their own
  // namespace while no mesh is installed (checked by the caller).
  return base ?? meshed;
}

/** Where fortio's load goes from the client pods of `ns`, as the workload defines it. */
export function fortioTargetFor(ns: NamespaceSpec): FortioTarget {
  const [w] = workloadsByName([ns.workload]);
  if (!w.pod?.fortio) {
    throw new Error(
      `Cannot run fortio for workload "${ns.workload}" on the cluster target: its pod load ` +
        `is driven by ${w.pod?.driver ?? "nothing"}`,
    );
  }
  return w.pod.fortio(ns.namespace);
}

/** The WebSocket echo service of a namespace, as the clients in it reach it. */
export function wsUrlsFor(ns: NamespaceSpec): string[] {
  return [`ws://ws-server.${ns.namespace}.svc.cluster.local:8080/`];
}

/** The pod-side load driver of a workload; an error names a workload without one. */
export function podDriver(workload: string): PodLoad["driver"] {
  const [w] = workloadsByName([workload]);
  if (!w.pod) throw new Error(`Workload "${workload}" has no pod side: it cannot run on a cluster`);
  return w.pod.driver;
}

/** Workloads whose baseline must run before any mesh is installed (no baseline namespace). */
export function baselineFirstWorkloads(workloads: string[]): string[] {
  return workloads.filter((w) => !clusterNamespaces().some((s) => s.workload === w && !s.meshed));
}
