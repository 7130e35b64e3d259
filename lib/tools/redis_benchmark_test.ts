import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { realRunner } from "../command.ts";
import { percentile, summarize } from "../histogram.ts";
import type { LoadPoint, LoadResult } from "../types.ts";
import { freePort, startServer } from "../process.ts";
import {
  type CombinedCommandStats,
  combineRedisResults,
  commandHistogram,
  parseRedisBenchmark,
  parseRedisBenchmarkCsv,
  parseRedisBenchmarkText,
  redisBenchmarkCommand,
  redisBenchmarkError,
  type RedisCommandStats,
  runRedisBenchmark,
} from "./redis_benchmark.ts";

const dir = new URL("./testdata/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
const opts = (n: number, c: number) => ({
  requestsPerTest: n,
  connections: c,
  toolVersion: "redis-benchmark 7.0.15",
});
const point = (connections: number): LoadPoint => ({
  mode: "max-throughput",
  tool: "redis-benchmark",
  rate: null,
  connections,
  durationS: 0,
});

Deno.test("parseRedisBenchmarkCsv reads every test of a real run, per command", () => {
  const r = parseRedisBenchmarkCsv(read("redis_benchmark_all.csv"), opts(20000, 10));
  const per = r.extra?.perCommand as RedisCommandStats[];
  assertEquals(per.map((c) => c.test), [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "LPOP",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
  ]);
  const set = per[2];
  assertEquals(set, {
    test: "SET",
    requests: 20000,
    rps: 150375.94,
    avgMs: 0.043,
    minMs: 0.008,
    p50Ms: 0.047,
    p95Ms: 0.063,
    p99Ms: 0.095,
    maxMs: 0.191,
  });
  assertEquals(r.operations, 9 * 20000);
  assertEquals(r.errors, 0);
  assertEquals(r.timing, "closed-loop");
  assertEquals(r.requestedRate, null);
  assertEquals(r.latency.total, 180000);
  // Duration is the sum of the tests' n / rps; the rate is operations over it.
  const expectS = per.reduce((s, c) => s + 20000 / c.rps, 0);
  assert(Math.abs(r.durationS - expectS) < 1e-12);
  assert(r.achievedRate > 76628 && r.achievedRate < 161291, `rate ${r.achievedRate}`);
  assertEquals(r.latency.max, 4279, "max is the slowest test's max");
  assertEquals(r.latency.min, 8);
});

Deno.test("commandHistogram reads back the printed p50, p95, p99, min and max", () => {
  const [, , set] = parseRedisBenchmarkCsv(read("redis_benchmark_all.csv"), opts(20000, 10))
    .extra?.perCommand as RedisCommandStats[];
  const h = commandHistogram(set);
  assertEquals(h.total, 20000);
  assertEquals(percentile(h, 50), 47);
  assertEquals(percentile(h, 95), 63);
  assertEquals(percentile(h, 99), 95);
  assertEquals(h.min, 8);
  assertEquals(h.max, 191);
  // In between, the next printed percentile above: an upper bound.
  assertEquals(percentile(h, 90), 63);
});

Deno.test("combineRedisResults pools two concurrent clients: rates add, histograms merge", () => {
  const a = parseRedisBenchmarkCsv(read("redis_benchmark_client1.csv"), opts(10000, 8));
  const b = parseRedisBenchmarkCsv(read("redis_benchmark_client2.csv"), opts(10000, 8));
  const c = combineRedisResults([a, b]);
  assertEquals(c.operations, 80000);
  assertEquals(c.connections, 16);
  assert(Math.abs(c.achievedRate - (a.achievedRate + b.achievedRate)) < 1e-9);
  assertEquals(c.latency.total, 80000);
  assertEquals(c.durationS, Math.max(a.durationS, b.durationS));
  assertEquals(c.extra?.clients, 2);
  const set = (c.extra?.perCommand as CombinedCommandStats[]).find((x) => x.test === "SET")!;
  assertEquals(set.requests, 20000);
  assert(Math.abs(set.rps - (77519.38 + 60975.61)) < 1e-6);
  assertEquals(set.maxMs, 5.319);
  // The pooled p99 lies between the two clients' p99s (0.215 and 0.375 ms).
  assert(set.p99Ms >= 0.215 && set.p99Ms <= 0.375, `p99 ${set.p99Ms}`);
  assertEquals(summarize(c.latency).maxMs, 5.423);
});

Deno.test("parseRedisBenchmarkCsv refuses a run that finished no test, and bad rows", () => {
  throws(
    () => parseRedisBenchmarkCsv(read("redis_benchmark_killed.csv"), opts(200000, 10)),
    /no test finished/,
  );
  throws(() => parseRedisBenchmarkCsv("SET: 123\n", opts(1, 1)), /expected the header/);
  const bad = read("redis_benchmark_client1.csv").replace('"77519.38"', '"n/a"');
  throws(
    () => parseRedisBenchmarkCsv(bad, opts(10000, 8)),
    /"rps" of "SET" on line 2 should be a non-negative number, got "n\/a"/,
  );
  throws(() => parseRedisBenchmarkCsv(read("redis_benchmark_all.csv"), opts(0, 1)), /got 0/);
});

Deno.test("redisBenchmarkError finds the tool's error line among its progress output", () => {
  assertEquals(
    redisBenchmarkError(
      read("redis_benchmark_killed.csv"),
      read("redis_benchmark_killed.stderr.txt"),
    ),
    "Error: Connection reset by peer",
  );
  assertEquals(redisBenchmarkError("SET: rps=1\r", ""), undefined);
});

Deno.test("redisBenchmarkCommand: closed loop only, tests and sizes as given", () => {
  const cmd = redisBenchmarkCommand(point(8), {
    host: "127.0.0.1",
    port: 6379,
    tests: ["set", "get"],
    requestsPerTest: 5000,
    binary: "redis-benchmark",
  });
  assertEquals(cmd, [
    "redis-benchmark",
    "-h",
    "127.0.0.1",
    "-p",
    "6379",
    "-c",
    "8",
    "-n",
    "5000",
    "-d",
    "64",
    "-r",
    "10000",
    "-t",
    "set,get",
  ]);
  throws(
    () =>
      redisBenchmarkCommand({ ...point(1), mode: "fixed-rate", rate: 10 }, {
        host: "h",
        port: 1,
        tests: ["set"],
        requestsPerTest: 1,
      }),
    /must be max-throughput, got "fixed-rate"/,
  );
});

async function redisServer(port: number, dir: string) {
  return await startServer([
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
  ], { name: "redis-server", ready: /Ready to accept connections/ });
}

Deno.test({
  name: "runRedisBenchmark: two real clients against a real redis-server; a dying server fails it",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-redis-" });
    const port = freePort();
    const server = await redisServer(port, dir);
    try {
      const run = await runRedisBenchmark(realRunner, point(4), {
        host: "127.0.0.1",
        ports: [port],
        clients: 2,
        tests: ["set", "get"],
        requestsPerTest: 2000,
        toolVersion: "test",
        timeoutMs: 30_000,
      });
      assertEquals(run.clients.length, 2);
      assertEquals(run.result.operations, 8000);
      assertEquals(run.result.extra?.clients, 2);
      assert(run.result.achievedRate > 1000, `rate ${run.result.achievedRate}`);

      // The server dies mid-run: the run fails with redis-benchmark's reason.
      const pending = runRedisBenchmark(realRunner, point(4), {
        host: "127.0.0.1",
        ports: [port],
        clients: 2,
        tests: ["set", "get"],
        requestsPerTest: 5_000_000,
        toolVersion: "test",
        timeoutMs: 30_000,
      });
      await new Promise((r) => setTimeout(r, 500));
      Deno.kill(server.pid, "SIGKILL");
      await rejects(pending, /redis-benchmark failed: client 1 exited with code 1: Error/);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The (value ms, cumulative count) points redis-benchmark printed for one test. */
function printedPoints(text: string, test: string): Array<[number, number]> {
  const lines = text.split(/[\r\n]+/);
  const start = lines.findIndex((l) => l.trim() === `====== ${test} ======`);
  const out: Array<[number, number]> = [];
  for (const l of lines.slice(start + 1)) {
    if (/^====== /.test(l.trim())) break;
    const m = /<= ([\d.]+) milliseconds \(cumulative count (\d+)\)/.exec(l);
    if (m) out.push([Number(m[1]) * 1000, Number(m[2])]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** What redis-benchmark printed in a test's latency summary (ms): avg, min, p50, p95, p99, max. */
function printedSummary(text: string, test: string): number[] {
  const lines = text.split(/[\r\n]+/).map((l) => l.trim());
  const start = lines.findIndex((l) => l === `====== ${test} ======`);
  const at = lines.findIndex((l, i) => i > start && /^avg\s+min\s+p50\s+p95\s+p99\s+max$/.test(l));
  assert(start >= 0 && at > start, `no latency summary of ${test}`);
  return lines[at + 1].split(/\s+/).map(Number);
}

/**
 * Checks a parsed run against the text redis-benchmark printed: per test, its summary's p50,
 * p95, p99 and max read back within the tool's own bucket, the mean is the tool's avg (not
 * bucket midpoints), and p99.9 lies in the printed step that holds its rank, at its upper edge
 * (never p99 read as p99.9).
 */
function assertAgreesWithPrinted(text: string, r: LoadResult, n: number, tests: string[]) {
  assertEquals(r.extra?.histogramSource, "percentile-distribution");
  const per = r.extra?.perCommand as RedisCommandStats[];
  assertEquals(per.map((c) => c.test), tests);
  assertEquals(r.operations, n * tests.length);
  for (const c of per) {
    const h = commandHistogram(c);
    assertEquals(h.total, n);
    const [avgMs, , p50Ms, p95Ms, p99Ms, maxMs] = printedSummary(text, c.test);
    for (const [p, ms] of [[50, p50Ms], [95, p95Ms], [99, p99Ms], [100, maxMs]]) {
      const got = percentile(h, p);
      assert(
        Math.abs(got - ms * 1000) <= ms * 1000 * 0.002 + 1,
        `${c.test} p${p}: ${got} us vs the tool's ${ms} ms`,
      );
    }
    const meanMs = summarize(h).meanMs;
    assert(Math.abs(meanMs - avgMs) < 0.0005, `${c.test} mean ${meanMs} vs the tool's ${avgMs} ms`);
    const rank = Math.floor(0.999 * n + 0.5);
    const pts = printedPoints(text, c.test);
    const hi = pts.find(([, k]) => k >= rank)![0];
    const lo = pts.filter(([, k]) => k < rank).at(-1)![0];
    const p999 = percentile(h, 99.9);
    assert(
      p999 > lo && p999 <= Math.min(hi, maxMs * 1000) + 1,
      `${c.test} p99.9 ${p999} not in (${lo}, ${hi}]`,
    );
  }
}

Deno.test("redis-benchmark's full output: every figure agrees with the tool's own, p99.9 within its printed step", () => {
  const text = read("redis_benchmark_text.txt");
  const r = parseRedisBenchmarkText(text, opts(20000, 10));
  assertAgreesWithPrinted(text, r, 20000, ["SET", "GET", "INCR", "LPUSH"]);
});

Deno.test("two clients' full output combined keep their histogram source: the printed distribution, not the CSV's", () => {
  // Before, every combined record said "csv-percentiles" (a quick bench:all's 9 db records
  // all did), though each client's histogram came from its printed distribution.
  const text = read("redis_benchmark_text.txt");
  const one = parseRedisBenchmarkText(text, opts(20000, 10));
  const c = combineRedisResults([one, parseRedisBenchmarkText(text, opts(20000, 10))]);
  assertEquals(one.extra?.histogramSource, "percentile-distribution");
  assertEquals(c.extra?.histogramSource, "percentile-distribution");
  const csv = combineRedisResults([
    parseRedisBenchmarkCsv(read("redis_benchmark_client1.csv"), opts(10000, 8)),
    parseRedisBenchmarkCsv(read("redis_benchmark_client2.csv"), opts(10000, 8)),
  ]);
  assertEquals(csv.extra?.histogramSource, "csv-percentiles");
});

Deno.test({
  name:
    "a real redis-benchmark run on a real redis-server: p50, p95, p99, max and mean are the tool's own, p99.9 within its printed step",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "meshbench-redis-" });
    const port = freePort();
    const server = await redisServer(port, tmp);
    try {
      const run = await runRedisBenchmark(realRunner, point(10), {
        host: "127.0.0.1",
        ports: [port],
        clients: 1,
        tests: ["set", "get"],
        requestsPerTest: 20000,
        toolVersion: "test",
        timeoutMs: 60_000,
      });
      assertAgreesWithPrinted(run.clients[0].stdout, run.result, 20000, ["SET", "GET"]);
    } finally {
      await server.stop();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("redis-benchmark --csv output: the mean is the tool's avg and p99.9 an upper bound (the max)", () => {
  const r = parseRedisBenchmark(read("redis_benchmark_all.csv"), opts(20000, 10));
  assertEquals(r.extra?.histogramSource, "csv-percentiles");
  const set = (r.extra?.perCommand as RedisCommandStats[])[2];
  const h = commandHistogram(set);
  assert(Math.abs(summarize(h).meanMs - set.avgMs) < 0.0005);
  assertEquals(percentile(h, 99.9), 191, "the CSV says only that p99.9 is at most the max");
});
