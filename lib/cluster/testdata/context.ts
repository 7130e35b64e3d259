// Test fixture: a StageContext for the cluster target (config fields it reads, real runner).
import type { BenchConfig } from "../../config.ts";
import type { StageContext } from "../../target.ts";
import { realRunner } from "../../command.ts";

/** A StageContext with the given cluster, run directory and workloads; logs to `lines`. */
export function makeContext(o: {
  kubeconfig: string;
  context: string;
  runDir: string;
  workloads: string[];
  meshes?: string[];
  lines?: string[];
  qos?: "burstable" | "guaranteed";
}): StageContext {
  const lines = o.lines ?? [];
  const config = {
    target: "cluster",
    workloads: o.workloads,
    meshes: o.meshes ?? ["baseline"],
    baseline: "baseline",
    load: { rates: [100], durationS: 2, connections: 2 },
    cluster: {
      context: o.context,
      kubeconfig: o.kubeconfig,
      qos: o.qos ?? "burstable",
      proxyResources: { cpu: "500m", memory: "256Mi" },
    },
  } as unknown as BenchConfig;
  return {
    runDir: o.runDir,
    config,
    runner: realRunner,
    signal: new AbortController().signal,
    log: {
      info: (m) => lines.push(m),
      warn: (m) => lines.push(`WARN ${m}`),
      progress: () => {},
    },
  };
}

/**
 * Writes a ConfigMap's files under `dir` as a pod mounts them: each volume item's key at its
 * path (kwok runs exec'd commands on this machine, so tests lay out what the pod would see).
 */
export async function layOutConfigMap(
  dir: string,
  items: ReadonlyArray<{ key: string; path: string }>,
  data: Record<string, string>,
): Promise<void> {
  for (const { key, path } of items) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, data[key]);
  }
}
