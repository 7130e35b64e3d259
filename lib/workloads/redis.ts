/**
 * The design's db-benchmark (workload `db`, as on the cluster target): a StatefulSet of three Redis instances, each with its own
 * volume, loaded by two redis-benchmark clients at once. Locally: three `redis-server`
 * processes, each with its own data directory (append-only file on, as a persistent volume
 * would hold), and {@linkcode REDIS_CLIENTS} concurrent redis-benchmark processes. The
 * emulated meshes carry it as opaque TCP (L4), as Linkerd does for port 6379.
 *
 * The instances are independent (not a Redis Cluster): on the baseline client i talks to
 * instance i; under a mesh both talk to the client proxy, which spreads connections over the
 * three. redis-benchmark is closed loop and count based, so the only load point is
 * max throughput; `-n` is sized so the run takes about the configured duration at 20k ops/s.
 *
 * @module
 */
import { join, relative } from "node:path";
import type { ToolSpec } from "../binaries.ts";
import type { BenchConfig } from "../config.ts";
import type { Workload, WorkloadEnv } from "../workload.ts";
import { type RedisClientRaw, runRedisBenchmark } from "../tools/redis_benchmark.ts";
import type { LoadPoint } from "../types.ts";

/** Concurrent redis-benchmark clients (the design's "Redis Client x2"). */
export const REDIS_CLIENTS = 2;
/** Commands benchmarked, each for `-n` requests, one after another. */
export const REDIS_TESTS = ["set", "get", "incr", "lpush", "lpop"];
/** Value size of SET/GET, bytes. */
export const REDIS_VALUE_BYTES = 64;

export const REDIS_TOOLS: ToolSpec[] = [
  {
    name: "redis-server",
    purpose: "Redis instances of the db-benchmark workload",
    bin: "redis-server",
    version: ["redis-server", "--version"],
    apt: "redis-server",
  },
  {
    name: "redis-benchmark",
    purpose: "Redis load generator (closed loop)",
    bin: "redis-benchmark",
    version: ["redis-benchmark", "--version"],
    apt: "redis-tools",
  },
];

/** Requests per test and client for a point of `durationS` seconds. */
export function redisRequestsPerTest(durationS: number): number {
  return Math.max(1000, Math.round((20_000 * durationS) / REDIS_TESTS.length / REDIS_CLIENTS));
}

/** `PING` over a fresh TCP connection to each port; throws unless each answers `+PONG`. */
export async function redisPing(ports: number[], timeoutMs = 3000): Promise<void> {
  for (const port of ports) {
    let conn: Deno.TcpConn | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(new TextEncoder().encode("PING\r\n"));
          const buf = new Uint8Array(64);
          let got = "";
          while (!got.includes("\r\n")) {
            const n = await conn.read(buf);
            if (n === null) break;
            got += new TextDecoder().decode(buf.subarray(0, n));
          }
          if (!got.startsWith("+PONG")) throw new Error(`answered ${JSON.stringify(got)}`);
        })(),
        timeout,
      ]);
    } catch (e) {
      throw new Error(`Redis probe of 127.0.0.1:${port} failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
      try {
        conn?.close();
      } catch { /* closed */ }
    }
  }
}

async function writeRaw(env: WorkloadEnv, rawStem: string, clients: RedisClientRaw[]) {
  const raw: string[] = [];
  for (const [i, c] of clients.entries()) {
    const out = join(env.runDir, `${rawStem}.redis-benchmark${i + 1}.txt`);
    await Deno.writeTextFile(out, c.stdout);
    raw.push(relative(env.runDir, out));
    const err = c.stderr.split("\r").filter((l) => /error/i.test(l)).join("\n");
    if (err) {
      const path = join(env.runDir, `${rawStem}.redis-benchmark${i + 1}.stderr.txt`);
      await Deno.writeTextFile(path, `${c.command.join(" ")}\n${err}\n`);
      raw.push(relative(env.runDir, path));
    }
  }
  return raw;
}

/**
 * redis-benchmark is closed loop: one max-throughput point, its connections split over the
 * design's two clients; the same as processes and in pods.
 */
function redisPoints(config: BenchConfig): LoadPoint[] {
  const t = config.load.throughput;
  return [{
    mode: "max-throughput",
    tool: "redis-benchmark",
    rate: null,
    connections: Math.max(1, Math.round(t.connections / REDIS_CLIENTS)),
    durationS: t.durationS,
  }];
}

export const redisWorkload: Workload = {
  name: "db",
  namespace: "db-benchmark",
  protocol: "tcp",
  replicas: 3,
  tools: REDIS_TOOLS,
  points: redisPoints,
  pod: { driver: "redis-benchmark", points: redisPoints },
  async server(env, index, port) {
    const dir = join(env.workDir, `redis-${index}`);
    await Deno.mkdir(dir, { recursive: true });
    return {
      cmd: [
        env.bin["redis-server"],
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
      ],
      cwd: dir,
    };
  },
  async probe(_env, ports) {
    // Under a mesh, one port fronts three instances: ping as many times as there are.
    await redisPing(ports.length === 1 ? [ports[0], ports[0], ports[0]] : ports);
  },
  async warmup(env, ports, seconds) {
    if (seconds <= 0) return;
    try {
      await runRedisBenchmark(env.runner, {
        mode: "max-throughput",
        tool: "redis-benchmark",
        rate: null,
        connections: 4,
        durationS: seconds,
      }, {
        host: "127.0.0.1",
        ports,
        clients: REDIS_CLIENTS,
        tests: ["ping_mbulk", "set"],
        requestsPerTest: Math.max(500, Math.round(2000 * seconds)),
        toolVersion: env.bin["redis-benchmark@version"] ?? "unknown",
        binary: env.bin["redis-benchmark"],
        timeoutMs: (seconds + 60) * 1000,
        signal: env.signal,
      });
    } catch (e) {
      throw new Error(`Redis warm-up through ports ${ports.join(",")}: ${(e as Error).message}`);
    }
  },
  async run(env, spec, ports, rawStem, onLoadgen) {
    const p = spec.point;
    try {
      const run = await runRedisBenchmark(env.runner, p, {
        host: "127.0.0.1",
        ports,
        clients: REDIS_CLIENTS,
        tests: REDIS_TESTS,
        requestsPerTest: redisRequestsPerTest(p.durationS),
        dataSize: REDIS_VALUE_BYTES,
        toolVersion: env.bin["redis-benchmark@version"] ?? "unknown",
        binary: env.bin["redis-benchmark"],
        timeoutMs: (p.durationS * 10 + 60) * 1000,
        signal: env.signal,
        onSpawn: onLoadgen,
      });
      return { load: run.result, raw: await writeRaw(env, rawStem, run.clients) };
    } catch (e) {
      const clients = (e as Error & { clients?: RedisClientRaw[] }).clients;
      if (clients) await writeRaw(env, rawStem, clients);
      throw e;
    }
  },
};
