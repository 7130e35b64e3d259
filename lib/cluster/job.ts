/**
 * Batch Jobs on a cluster (the design's ML workload): create the Job, wait (bounded) until
 * it completes or fails, and measure its completion time from the API's own timestamps.
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import { applyObjects, ClusterStageError, describe, objectEvents } from "./deploy.ts";
import { apiReason, errorText, isNoAnswer, isNotFound, type Kube } from "./kube.ts";
import type { KubeObject } from "./manifests.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one Job run took. */
export interface JobOutcome {
  name: string;
  namespace: string;
  completions: number;
  /** From the Job's startTime to its completionTime, seconds (API timestamps, 1 s resolution). */
  durationS: number;
  /** Wall time measured here from create to observed completion, seconds. */
  observedS: number;
  startTime: string;
  completionTime: string;
}

/** Why a Job is finished: "Complete", "Failed: reason", or null while it runs. */
export function jobFinished(job: k8s.V1Job): string | null {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== "True") continue;
    if (c.type === "Complete") return "Complete";
    if (c.type === "Failed") return `Failed: ${c.reason ?? ""} ${c.message ?? ""}`.trim();
  }
  return null;
}

/**
 * Runs `job` (replacing a finished Job of the same name that meshbench created) and waits
 * up to `timeoutMs` (default 30 min) for it to complete. A failed or timed-out Job is a
 * `load` stage error naming the Job, its condition and its pods' events.
 */
export async function runJob(
  kube: Kube,
  job: KubeObject,
  options: {
    timeoutMs?: number;
    pollMs?: number;
    log?: (m: string) => void;
    signal?: AbortSignal;
  } = {},
): Promise<JobOutcome> {
  const namespace = job.metadata.namespace;
  const name = job.metadata.name;
  if (!namespace) throw new Error(`Cannot run ${describe(job)}: it has no namespace`);
  const log = options.log ?? (() => {});
  await deleteJob(kube, namespace, name, 60_000);
  const created = Date.now();
  await applyObjects(kube, [job], { log });
  const deadline = created + (options.timeoutMs ?? 1_800_000);
  while (true) {
    let current: k8s.V1Job;
    try {
      current = await kube.batch.readNamespacedJob({ name, namespace });
    } catch (e) {
      // No answer (not an HTTP status): asked again until the deadline, and said.
      if (!isNoAnswer(e) || Date.now() > deadline) throw e;
      log(`job: ${describe(job)}: the API server did not answer (${errorText(e)}); asking again`);
      await sleep(options.pollMs ?? 1_000);
      continue;
    }
    const done = jobFinished(current);
    if (done === "Complete") {
      const start = current.status?.startTime;
      const end = current.status?.completionTime;
      if (!start || !end) {
        throw new ClusterStageError(
          "load",
          describe(job),
          "complete without start/completion time",
        );
      }
      const startIso = new Date(start).toISOString();
      const endIso = new Date(end).toISOString();
      const outcome: JobOutcome = {
        name,
        namespace,
        completions: current.status?.succeeded ?? 0,
        durationS: (Date.parse(endIso) - Date.parse(startIso)) / 1000,
        observedS: (Date.now() - created) / 1000,
        startTime: startIso,
        completionTime: endIso,
      };
      log(
        `job: ${
          describe(job)
        } complete: ${outcome.completions} completions in ${outcome.durationS} s`,
      );
      return outcome;
    }
    if (options.signal?.aborted) {
      throw new ClusterStageError("load", describe(job), "interrupted while waiting");
    }
    if (done || Date.now() > deadline) {
      const pods = await kube.core.listNamespacedPod({
        namespace,
        labelSelector: `job-name=${name}`,
      });
      const lines: string[] = [];
      for (const p of pods.items.slice(0, 4)) {
        lines.push(`pod "${p.metadata?.name}": phase ${p.status?.phase}`);
        for (const e of await objectEvents(kube, namespace, p.metadata!.name!)) {
          lines.push(`    event: ${e}`);
        }
      }
      throw new ClusterStageError(
        "load",
        describe(job),
        `${done ?? `not complete after ${options.timeoutMs ?? 1_800_000} ms`} ` +
          `(succeeded ${current.status?.succeeded ?? 0}, active ${current.status?.active ?? 0})` +
          (lines.length ? `\n${lines.join("\n")}` : ""),
      );
    }
    await sleep(options.pollMs ?? 1_000);
  }
}

/** Deletes a Job and its pods, waiting (bounded) until it is gone. */
export async function deleteJob(
  kube: Kube,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<void> {
  try {
    await kube.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Foreground" });
  } catch (e) {
    if (isNotFound(e)) return;
    throw new Error(`Cannot delete Job "${namespace}/${name}": ${apiReason(e)}`, { cause: e });
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await kube.batch.readNamespacedJob({ name, namespace });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    await sleep(250);
  }
  throw new ClusterStageError("load", `Job "${namespace}/${name}"`, "still deleting");
}
