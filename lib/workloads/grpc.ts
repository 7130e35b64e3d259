/**
 * The design's grpc-benchmark: three replicas of a gRPC server (meshbench's `grpc_echo`,
 * standing in for grpcbin: a unary echo over HTTP/2 cleartext), loaded by ghz at fixed rates
 * (`--rps`) and at max throughput. The emulated meshes carry it as HTTP/2 (`h2`).
 *
 * ghz dials one address, so each load point runs {@linkcode GHZ_PROCESSES} ghz processes at
 * once, the rate and connections split between them: on the baseline process i loads replica
 * i, under a mesh all of them load the client proxy, which spreads streams over the replicas.
 * The client side is the same in every mesh.
 *
 * @module
 */
import { standardPoints } from "../plan.ts";
import { join, relative } from "node:path";
import { findBinary, type ToolSpec } from "../binaries.ts";
import { checkWarmup, type Workload, type WorkloadEnv } from "../workload.ts";
import { combineGhzResults, GHZ_VERSION, type GhzOptions, runGhz } from "../tools/ghz.ts";
import type { LoadPoint, LoadResult } from "../types.ts";

/** ghz processes per load point (one per replica on the baseline). */
export const GHZ_PROCESSES = 3;
/** Request payload of every call: 64 bytes, base64 as protobuf JSON wants `bytes`. */
export const GRPC_PAYLOAD = btoa("x".repeat(64));
/** The proto ghz is given; the server compiles the same file. */
export const GRPC_PROTO = new URL("../../servers/grpc/echo.proto", import.meta.url).pathname;
const GRPC_SOURCE = new URL("../../servers/grpc/", import.meta.url).pathname;
export const GRPC_CALL = "meshbench.echo.v1.Echo/Unary";

export const GHZ_TOOL: ToolSpec = {
  name: "ghz",
  purpose: "gRPC load generator (fixed rate and max throughput)",
  bin: "ghz",
  version: ["ghz", "--version"],
  go: `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`,
};

/** The Go toolchain, which builds the gRPC server from `servers/grpc` at deploy. */
export function goBinary(): string {
  const found = findBinary("go");
  if (found) return found;
  try {
    if (Deno.statSync("/usr/local/go/bin/go").isFile) return "/usr/local/go/bin/go";
  } catch { /* not there */ }
  throw new Error(
    'Cannot build the gRPC server: "go" is neither on PATH nor in /usr/local/go/bin ' +
      "(install Go 1.25 or later)",
  );
}

/** Splits `total` into `parts` integers that differ by at most one and add up to it. */
export function splitEvenly(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total - base * parts ? 1 : 0));
}

function ghzOptions(env: WorkloadEnv, port: number): GhzOptions {
  return {
    address: `127.0.0.1:${port}`,
    proto: GRPC_PROTO,
    call: GRPC_CALL,
    data: { payload: GRPC_PAYLOAD },
    binary: env.bin.ghz,
  };
}

/**
 * Runs the ghz processes of one point at once and combines them. A process that fails to run
 * fails the point with its reason; calls that fail are counted in the result.
 */
export async function runGhzProcesses(
  env: WorkloadEnv,
  point: LoadPoint,
  ports: number[],
  onLoadgen?: (pid: number) => void,
): Promise<{ result: LoadResult; raws: string[] }> {
  const procs = point.mode === "fixed-rate" ? Math.min(GHZ_PROCESSES, point.rate!) : GHZ_PROCESSES;
  const rates = point.mode === "fixed-rate" ? splitEvenly(point.rate!, procs) : [];
  const requests = point.mode === "fixed-rate"
    ? splitEvenly(Math.max(procs, Math.round(point.rate! * point.durationS)), procs)
    : [];
  const conns = splitEvenly(Math.max(point.connections, procs), procs);
  const runs = await Promise.all(Array.from({ length: procs }, (_, i) =>
    runGhz(env.runner, {
      ...point,
      rate: point.mode === "fixed-rate" ? rates[i] : null,
      connections: conns[i],
    }, {
      ...ghzOptions(env, ports[i % ports.length]),
      ...(point.mode === "fixed-rate" ? { requests: requests[i] } : {}),
      toolVersion: env.bin["ghz@version"] ?? GHZ_VERSION,
      signal: env.signal,
      onSpawn: onLoadgen,
    })));
  return { result: combineGhzResults(runs.map((r) => r.result)), raws: runs.map((r) => r.raw) };
}

export const grpcWorkload: Workload = {
  name: "grpc",
  namespace: "grpc-benchmark",
  protocol: "h2",
  replicas: 3,
  tools: [GHZ_TOOL],
  points(config): LoadPoint[] {
    return standardPoints(config, "ghz", "ghz");
  },
  pod: {
    driver: "fortio",
    points: (config) => standardPoints(config, "fortio"),
    // Same objects without a mesh; its NodePort is 31090.
    baseline: { namespace: "baseline-grpc", nodePortOffset: 1000 },
    fortio: (namespace) => ({
      address: `grpc-server.${namespace}.svc.cluster.local:9000`,
      protocol: "grpc",
    }),
  },
  async server(env, index, port) {
    const bin = join(env.workDir, "meshbench-grpc-echo");
    if (index === 0) {
      // Built from the checked-in source at every deploy, so the server always matches it
      // (go's build cache makes this about a second when nothing changed).
      env.log.info(`Building the gRPC server from ${GRPC_SOURCE}`);
      await env.runner.run([goBinary(), "build", "-trimpath", "-o", bin, "."], {
        cwd: GRPC_SOURCE,
        timeoutMs: 600_000,
        env: { CGO_ENABLED: "0" },
      });
    }
    return { cmd: [bin, "-addr", `127.0.0.1:${port}`, "-name", `grpc-${index}`] };
  },
  async probe(env, ports) {
    for (const port of ports) {
      const run = await runGhz(env.runner, {
        mode: "fixed-rate",
        tool: "ghz",
        rate: 10,
        connections: 1,
        durationS: 0.3,
      }, { ...ghzOptions(env, port), concurrency: 1, callTimeoutS: 3 });
      if (run.result.errors > 0 || run.result.operations !== 3) {
        throw new Error(
          `gRPC probe of 127.0.0.1:${port} failed: ${run.result.operations} calls, errors ${
            JSON.stringify(run.result.errorKinds)
          } ${JSON.stringify(run.result.extra?.errorMessages)}`,
        );
      }
    }
  },
  async warmup(env, ports, seconds) {
    if (seconds <= 0) return;
    const { result } = await runGhzProcesses(env, {
      mode: "fixed-rate",
      tool: "ghz",
      rate: 150,
      connections: 3,
      durationS: seconds,
    }, ports);
    checkWarmup("gRPC", "calls", ports, result);
  },
  async run(env, spec, ports, rawStem, onLoadgen) {
    const { result, raws } = await runGhzProcesses(env, spec.point, ports, onLoadgen);
    const raw: string[] = [];
    for (const [i, text] of raws.entries()) {
      const path = join(env.runDir, `${rawStem}.ghz${i + 1}.json`);
      await Deno.writeTextFile(path, text);
      raw.push(relative(env.runDir, path));
    }
    return { load: result, raw };
  },
};
