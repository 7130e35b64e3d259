/**
 * The cluster target's load drivers, one per pod-side driver a workload names
 * (`PodLoad` in `workload.ts`): fortio, meshbench's WebSocket client and redis-benchmark by exec in
 * the client pods of a namespace, and a Kubernetes Job timed from the API's own timestamps.
 * Each returns the run's {@linkcode LoadResult} and the raw outputs it wrote under `raw/`.
 *
 * @module
 */
import type { StageContext } from "../target.ts";
import type { LoadPoint, LoadResult, RunSpec } from "../types.ts";
import { HistogramRecorder } from "../histogram.ts";
import { fortioTargetFor, wsUrlsFor } from "./addresses.ts";
import type { Kube } from "./kube.ts";
import type { KubeObject, NamespaceSpec } from "./manifests.ts";
import { ClusterStageError } from "./deploy.ts";
import { execInPod, readyPods } from "./exec.ts";
import { fortioCommand, type FortioTarget, parseFortioJson } from "./fortio.ts";
import { runJob } from "./job.ts";
import {
  combineRedisResults,
  parseRedisBenchmark,
  redisBenchmarkCommand,
  redisBenchmarkError,
} from "../tools/redis_benchmark.ts";
import {
  REDIS_CLIENTS,
  REDIS_TESTS,
  REDIS_VALUE_BYTES,
  redisRequestsPerTest,
} from "../workloads/redis.ts";
import {
  combineWsResults,
  parseWsClientOutput,
  WS_CLIENT_FILES,
  wsClientCommand,
  type WsLoadOptions,
} from "../tools/ws_client.ts";
import { WS_MESSAGE_BYTES } from "../workloads/websocket.ts";

/** The load generator image of the client pods (see manifests/workloads/http.yaml). */
export const FORTIO_IMAGE = "fortio/fortio:1.66.5";
/** The image of the WebSocket servers and clients (manifests/workloads/websocket.yaml). */
export const DENO_IMAGE = "denoland/deno:debian-2.9.6";

/** Where the drivers send load; each default is the workload's Service DNS name. */
export interface LoadAddresses {
  /** Where load goes (default: the workload's Service DNS name, {@linkcode fortioTargetFor}). */
  loadTarget?: (ns: NamespaceSpec) => FortioTarget;
  /** Redis instance of client `i` (default: `redis-<i % 3>` of the headless service). */
  redisTarget?: (ns: NamespaceSpec, i: number) => { host: string; port: number };
  /** WebSocket echo URLs (default: the ws-server Service, {@linkcode wsUrlsFor}). */
  wsTarget?: (ns: NamespaceSpec) => string[];
}

/** What a driver's run produced: the load result and the raw files written. */
export interface DriverOutcome {
  load: LoadResult;
  raw: string[];
}

/**
 * Splits a WebSocket load point over `pods` client pods: connections as evenly as possible,
 * each pod's rate in proportion to its connections (every connection sends at the same
 * rate). Pods left without a connection get no share.
 */
export function splitWsLoad(
  point: { rate: number; connections: number },
  pods: number,
): Array<{ rate: number; connections: number }> {
  const n = Math.min(pods, point.connections);
  return Array.from({ length: n }, (_, i) => {
    const connections = Math.floor(point.connections / n) +
      (i < point.connections % n ? 1 : 0);
    return { connections, rate: point.rate * connections / point.connections };
  });
}

/** Where the client's files are in a ws-client pod (its working directory is /meshbench). */
const WS_CLIENT_SCRIPT = WS_CLIENT_FILES[0];

/** The raw-file stem of a run: `raw/cluster_<seq>_<workload>_<mesh>`. */
export function rawStem(spec: RunSpec): string {
  return `raw/cluster_${spec.seq}_${spec.workload}_${spec.mesh}`;
}

/**
 * meshbench's WebSocket client in every ready ws-client pod at once (the point split
 * between them, {@linkcode splitWsLoad}); their results combined. Raw outputs are written
 * under `raw/` when `rawStem` is given.
 */
export async function wsLoad(
  kube: Kube,
  ctx: StageContext,
  ns: NamespaceSpec,
  point: { rate: number; connections: number; durationS: number },
  wsTarget: (ns: NamespaceSpec) => string[] = wsUrlsFor,
  rawStem?: string,
): Promise<DriverOutcome> {
  const pods = await readyPods(kube, ns.namespace, "ws-client");
  if (pods.length === 0) {
    throw new ClusterStageError(
      "load",
      `Deployment "${ns.namespace}/ws-client"`,
      "no ready client pod",
    );
  }
  const urls = wsTarget(ns);
  const shares = splitWsLoad(point, pods.length);
  const settled = await Promise.allSettled(shares.map(async (share, i) => {
    const options: WsLoadOptions = {
      urls,
      connections: share.connections,
      rate: share.rate,
      durationS: point.durationS,
      messageBytes: WS_MESSAGE_BYTES,
    };
    // The client is killed in its pod if it outlives its window (connect + send + drain
    // + margin), so a failed run never leaves load running into the next one.
    const res = await execInPod(
      kube,
      { namespace: ns.namespace, pod: pods[i], container: "deno" },
      [
        "timeout",
        "-s",
        "KILL",
        String(Math.ceil(point.durationS + 60)),
        ...wsClientCommand(options, { deno: "deno", script: WS_CLIENT_SCRIPT }),
      ],
      { timeoutMs: (point.durationS + 90) * 1000, signal: ctx.signal },
    );
    let rawName: string | undefined;
    if (rawStem) {
      rawName = `${rawStem}_client${i}.json`;
      await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
      await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
    }
    try {
      return { rawName, result: parseWsClientOutput(res.stdout) };
    } catch (e) {
      throw new ClusterStageError(
        "load",
        `pod "${ns.namespace}/${pods[i]}"`,
        `${(e as Error).message}${res.stderr ? `; stderr: ${res.stderr.slice(-400)}` : ""}`,
      );
    }
  }));
  // Every client has ended (or been killed) before a failure is reported.
  const failed = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0) {
    if (failed.length === 1) throw failed[0].reason;
    throw new ClusterStageError(
      "load",
      `Deployment "${ns.namespace}/ws-client"`,
      failed.map((f) => (f.reason as Error).message).join("; "),
    );
  }
  const runs = settled.map((r) =>
    (r as PromiseFulfilledResult<{ rawName?: string; result: LoadResult }>).value
  );
  return {
    load: combineWsResults(runs.map((r) => r.result)),
    raw: runs.flatMap((r) => (r.rawName ? [r.rawName] : [])),
  };
}

/** fortio in the first ready client pod of `ns`, against the workload's address. */
export async function fortioExec(
  kube: Kube,
  ctx: StageContext,
  ns: NamespaceSpec,
  point: LoadPoint,
  loadTarget: NonNullable<LoadAddresses["loadTarget"]> = fortioTargetFor,
) {
  const target = loadTarget(ns);
  const app = `${ns.workload}-client`;
  const pods = await readyPods(kube, ns.namespace, app);
  if (pods.length === 0) {
    throw new ClusterStageError(
      "load",
      `Deployment "${ns.namespace}/${app}"`,
      "no ready client pod",
    );
  }
  const res = await execInPod(
    kube,
    { namespace: ns.namespace, pod: pods[0], container: "fortio" },
    fortioCommand(point, target),
    { timeoutMs: (point.durationS + 60) * 1000, signal: ctx.signal },
  );
  return { res, target };
}

/** One measured fortio run ({@linkcode fortioExec}); its JSON output kept under `raw/`. */
export async function fortioLoad(
  kube: Kube,
  ctx: StageContext,
  ns: NamespaceSpec,
  spec: RunSpec,
  loadTarget?: LoadAddresses["loadTarget"],
): Promise<DriverOutcome> {
  const { res, target } = await fortioExec(kube, ctx, ns, spec.point, loadTarget);
  const rawName = `${rawStem(spec)}.json`;
  await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
  await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
  return { load: parseFortioJson(res.stdout, spec.point, target.protocol), raw: [rawName] };
}

/** redis-benchmark in each redis-client pod at once, each against its own instance. */
export async function redisLoad(
  kube: Kube,
  ctx: StageContext,
  ns: NamespaceSpec,
  spec: RunSpec,
  redisTarget?: LoadAddresses["redisTarget"],
): Promise<DriverOutcome> {
  const pods = (await readyPods(kube, ns.namespace, "redis-client")).slice(0, REDIS_CLIENTS);
  if (pods.length === 0) {
    throw new ClusterStageError(
      "load",
      `Deployment "${ns.namespace}/redis-client"`,
      "no ready client pod",
    );
  }
  const where = { namespace: ns.namespace, container: "redis-benchmark" };
  const version = (await execInPod(kube, { ...where, pod: pods[0] }, [
    "redis-benchmark",
    "--version",
  ], { timeoutMs: 30_000 })).stdout.trim();
  const requestsPerTest = redisRequestsPerTest(spec.point.durationS);
  const target = redisTarget ??
    ((n: NamespaceSpec, i: number) => ({
      host: `redis-${i % 3}.redis-cluster.${n.namespace}.svc.cluster.local`,
      port: 6379,
    }));
  const runs = await Promise.all(pods.map(async (pod, i) => {
    const { host, port } = target(ns, i);
    const cmd = redisBenchmarkCommand(spec.point, {
      host,
      port,
      tests: REDIS_TESTS,
      requestsPerTest,
      dataSize: REDIS_VALUE_BYTES,
    });
    const res = await execInPod(kube, { ...where, pod }, cmd, {
      timeoutMs: (spec.point.durationS * 10 + 120) * 1000,
      signal: ctx.signal,
    });
    const rawName = `${rawStem(spec)}_client${i}.txt`;
    await Deno.mkdir(`${ctx.runDir}/raw`, { recursive: true });
    await Deno.writeTextFile(`${ctx.runDir}/${rawName}`, res.stdout);
    const failed = redisBenchmarkError(res.stdout, res.stderr);
    if (failed) {
      throw new ClusterStageError(
        "load",
        `pod "${ns.namespace}/${pod}"`,
        `redis-benchmark: ${failed}`,
      );
    }
    return {
      rawName,
      result: parseRedisBenchmark(res.stdout, {
        requestsPerTest,
        connections: spec.point.connections,
        toolVersion: version,
      }),
    };
  }));
  return {
    load: combineRedisResults(runs.map((r) => r.result)),
    raw: runs.map((r) => r.rawName),
  };
}

/**
 * The workload's Job run to completion; its completion time (from the API's own
 * timestamps) is the run's one latency sample. `serverVersion` is the tool's version.
 */
export async function jobLoad(
  kube: Kube,
  ctx: StageContext,
  job: KubeObject,
  serverVersion: string,
): Promise<DriverOutcome> {
  const out = await runJob(kube, job, { log: (m) => ctx.log.info(m), signal: ctx.signal });
  const rec = new HistogramRecorder();
  rec.record(out.durationS * 1e6);
  const load: LoadResult = {
    tool: "kubernetes-job",
    toolVersion: serverVersion,
    timing: "closed-loop" as const,
    requestedRate: null,
    achievedRate: out.completions / Math.max(out.durationS, 1e-9),
    durationS: out.durationS,
    connections: 1,
    operations: out.completions,
    errors: 0,
    errorKinds: {},
    bytesIn: 0,
    bytesOut: 0,
    latency: rec.toHistogram(),
    extra: { job: out },
  };
  return { load, raw: [] };
}
