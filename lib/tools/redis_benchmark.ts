/**
 * redis-benchmark: builds its command and parses its `--csv` output into the tool-neutral
 * {@linkcode LoadResult}, per command (SET, GET, ...) and overall; combines the results of
 * several clients run at once (the design runs two).
 *
 * What redis-benchmark can and cannot tell, and how that maps:
 * - It is closed loop (no rate option) and count-based (`-n` requests per test, tests run one
 *   after another), so every run is `max-throughput` with `closed-loop` timing.
 * - It stops with exit code 1 at the first error reply or lost connection ("Error: ...", "Error
 *   from server: ..."): such a run is a failure, thrown with the tool's message, never a
 *   result. A successful run therefore has 0 errors.
 * - It runs without `--csv`, so it prints per test its full latency distribution ("Latency by
 *   percentile distribution" and "Cumulative distribution of latencies": exact cumulative counts
 *   at printed values of its own HdrHistogram) and a summary (throughput, avg/min/p50/p95/p99/max
 *   in ms). A test's histogram is rebuilt from those points with
 *   {@linkcode fromPercentileSpectrum}, each request at the printed value just above it: a
 *   percentile reads exactly at a printed point and otherwise as the next printed value above,
 *   an upper bound within the printed step (the tail has the finest steps: the percentile
 *   distribution halves its remainder at each line). The mean is the summary's `avg`, exact to
 *   its print (1 us). `extra.histogramSource` is "percentile-distribution".
 * - Older output of `--csv` (rate and avg/min/p50/p95/p99/max per test) is still read: between
 *   printed points a percentile reads as the next printed one above, so p99.9 reads as the
 *   test's max (an upper bound; the CSV says nothing finer), and the mean is `avg`.
 *   `extra.histogramSource` is "csv-percentiles" then.
 * - No byte counts: `bytesIn`/`bytesOut` are 0.
 *
 * @module
 */
import { combineConcurrent } from "./combine.ts";
import type { Runner } from "../command.ts";
import { fromPercentileSpectrum, mergeHistograms, summarize } from "../histogram.ts";
import type { Histogram, LoadPoint, LoadResult } from "../types.ts";

/** One test (command) of a redis-benchmark run, as its CSV row reports it. */
export interface RedisCommandStats {
  /** Test name as printed: "SET", "LRANGE_100 (first 100 elements)", ... */
  test: string;
  requests: number;
  rps: number;
  avgMs: number;
  minMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The test's histogram, from its printed distribution (text output); absent for `--csv`
   * output, where {@linkcode commandHistogram} rebuilds it from the printed percentiles.
   */
  histogram?: Histogram;
}

const HEADER = [
  "test",
  "rps",
  "avg_latency_ms",
  "min_latency_ms",
  "p50_latency_ms",
  "p95_latency_ms",
  "p99_latency_ms",
  "max_latency_ms",
];

/** Splits one CSV line with double-quoted fields (redis-benchmark quotes every field). */
function csvFields(line: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === '"') {
      let j = i + 1;
      let v = "";
      for (;;) {
        if (j >= line.length) {
          throw new Error(
            `Cannot parse redis-benchmark CSV: unterminated quote on line ${lineNo}: ${
              JSON.stringify(line)
            }`,
          );
        }
        if (line[j] === '"') {
          if (line[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          break;
        }
        v += line[j++];
      }
      out.push(v);
      i = j + 1;
    } else {
      const j = line.indexOf(",", i);
      out.push(line.slice(i, j === -1 ? line.length : j));
      i = j === -1 ? line.length : j;
    }
    if (line[i] === ",") {
      i++;
      if (i === line.length) out.push("");
    }
  }
  return out;
}

/** The histogram of one test: its printed distribution, else its printed percentiles. */
export function commandHistogram(c: RedisCommandStats): Histogram {
  if (c.histogram) return c.histogram;
  const us = (ms: number) => ms * 1000;
  const n = c.requests;
  // Each share at the printed value above it: the top 1 % (p99 to max) at max, an upper bound.
  const points = [
    { quantile: 1 / n, valueUs: us(c.minMs) },
    { quantile: 0.5, valueUs: us(c.p50Ms) },
    { quantile: 0.95, valueUs: us(c.p95Ms) },
    { quantile: 0.99, valueUs: us(c.p99Ms) },
    { quantile: 1, valueUs: us(c.maxMs) },
  ];
  return { ...fromPercentileSpectrum(points, n), sum: us(c.avgMs) * n };
}

/** Options of {@linkcode parseRedisBenchmarkCsv}. */
export interface ParseRedisOptions {
  /** `-n` the run was given: requests per test (the CSV does not repeat it). */
  requestsPerTest: number;
  /** `-c` the run was given: parallel connections. */
  connections: number;
  /** `redis-benchmark --version` of the tool that ran, e.g. "redis-benchmark 7.0.15". */
  toolVersion: string;
}

/**
 * Parses the `--csv` output of one redis-benchmark run. Per-command stats go to
 * `extra.perCommand`. Throws, naming the line and value, on anything else, and when the
 * output holds no test (the tool stopped before finishing one).
 */
export function parseRedisBenchmarkCsv(text: string, options: ParseRedisOptions): LoadResult {
  const n = options.requestsPerTest;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot parse redis-benchmark CSV: "requestsPerTest" must be a positive integer, got ${
        JSON.stringify(n)
      }`,
    );
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length === 0 || csvFields(lines[0], 1).join(",") !== HEADER.join(",")) {
    throw new Error(
      `Cannot parse redis-benchmark CSV: expected the header "${HEADER.join(",")}", got ${
        JSON.stringify((lines[0] ?? "").slice(0, 120))
      }`,
    );
  }
  const perCommand: RedisCommandStats[] = lines.slice(1).map((line, i) => {
    const f = csvFields(line, i + 2);
    if (f.length !== HEADER.length) {
      throw new Error(
        `Cannot parse redis-benchmark CSV: line ${
          i + 2
        } has ${f.length} fields, expected ${HEADER.length}: ${JSON.stringify(line)}`,
      );
    }
    const num = (k: number) => {
      const v = Number(f[k]);
      if (f[k] === "" || !Number.isFinite(v) || v < 0) {
        throw new Error(
          `Cannot parse redis-benchmark CSV: "${HEADER[k]}" of "${f[0]}" on line ${
            i + 2
          } should be a non-negative number, got ${JSON.stringify(f[k])}`,
        );
      }
      return v;
    };
    return {
      test: f[0],
      requests: n,
      rps: num(1),
      avgMs: num(2),
      minMs: num(3),
      p50Ms: num(4),
      p95Ms: num(5),
      p99Ms: num(6),
      maxMs: num(7),
    };
  });
  if (perCommand.length === 0) {
    throw new Error(
      "Cannot parse redis-benchmark CSV: no test finished (only the header was printed)",
    );
  }
  for (const c of perCommand) {
    if (!(c.rps > 0)) {
      throw new Error(
        `Cannot parse redis-benchmark CSV: "rps" of "${c.test}" should be positive, got ${c.rps}`,
      );
    }
  }
  return resultOf(perCommand, options, "csv-percentiles");
}

function resultOf(
  perCommand: RedisCommandStats[],
  options: ParseRedisOptions,
  histogramSource: string,
): LoadResult {
  const durationS = perCommand.reduce((s, c) => s + c.requests / c.rps, 0);
  const operations = perCommand.reduce((s, c) => s + c.requests, 0);
  const histograms = perCommand.map(commandHistogram);
  return {
    tool: "redis-benchmark",
    toolVersion: options.toolVersion,
    timing: "closed-loop",
    requestedRate: null,
    achievedRate: operations / durationS,
    durationS,
    connections: options.connections,
    operations,
    errors: 0,
    errorKinds: {},
    bytesIn: 0,
    bytesOut: 0,
    latency: mergeHistograms(histograms),
    extra: { histogramSource, clients: 1, perCommand },
  };
}

const POINT = /^([\d.]+)% <= ([\d.]+) milliseconds \(cumulative count (\d+)\)$/;

/**
 * Parses the full (not `--csv`) output of one redis-benchmark run: per test, its printed
 * latency distribution and summary (see module doc). Progress lines (`SET: rps=...`, ended by
 * `\r`) are skipped. Throws, naming the test and line, on anything else it cannot read, and
 * when no test finished.
 */
export function parseRedisBenchmarkText(text: string, options: ParseRedisOptions): LoadResult {
  const n = options.requestsPerTest;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot parse redis-benchmark output: "requestsPerTest" must be a positive integer, got ${
        JSON.stringify(n)
      }`,
    );
  }
  const lines = text.split(/[\r\n]+/).map((l) => l.trim());
  type Test = { test: string; points: Array<[number, number]>; summary?: number[]; rps?: number };
  const tests: Test[] = [];
  let cur: Test | undefined;
  let summaryNext = false;
  for (const [i, line] of lines.entries()) {
    const head = /^====== (.+) ======$/.exec(line);
    if (head) {
      cur = { test: head[1], points: [] };
      tests.push(cur);
      continue;
    }
    if (!cur) continue;
    const pt = POINT.exec(line);
    if (pt) {
      cur.points.push([Number(pt[2]), Number(pt[3])]);
      continue;
    }
    const tp = /^throughput summary: ([\d.]+) requests per second$/.exec(line);
    if (tp) cur.rps = Number(tp[1]);
    if (/^avg\s+min\s+p50\s+p95\s+p99\s+max$/.test(line)) {
      summaryNext = true;
      continue;
    }
    if (summaryNext) {
      summaryNext = false;
      const v = line.split(/\s+/).map(Number);
      if (v.length !== 6 || v.some((x) => !Number.isFinite(x) || x < 0)) {
        throw new Error(
          `Cannot parse redis-benchmark output: the latency summary of "${cur.test}" on line ${
            i + 1
          } should be six numbers (avg min p50 p95 p99 max), got ${JSON.stringify(line)}`,
        );
      }
      cur.summary = v;
    }
  }
  const finished = tests.filter((t) => t.summary !== undefined);
  if (finished.length === 0) {
    throw new Error(
      `Cannot parse redis-benchmark output: no test finished (no "Summary:" with a latency ` +
        `summary was printed): ${JSON.stringify(text.slice(-200))}`,
    );
  }
  const perCommand = finished.map((t): RedisCommandStats => {
    const [avgMs, minMs, p50Ms, p95Ms, p99Ms, maxMs] = t.summary!;
    if (!(t.rps! > 0)) {
      throw new Error(
        `Cannot parse redis-benchmark output: "throughput summary" of "${t.test}" should be ` +
          `positive, got ${JSON.stringify(t.rps)}`,
      );
    }
    // Both printed lists are exact cumulative counts at values of the tool's own histogram;
    // together, in value order, they give each request the smallest printed value above it.
    const points = [...t.points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const total = points.at(-1)?.[1];
    if (total !== n) {
      throw new Error(
        `Cannot parse redis-benchmark output: the distribution of "${t.test}" counts ${total} ` +
          `requests, expected ${n} ("requestsPerTest")`,
      );
    }
    const maxUs = maxMs * 1000;
    // The summary's p50/p95/p99 are the tool's values at those percentiles, finer than the
    // printed steps around them: points too.
    const spectrum = points.map(([ms, count]) => ({
      quantile: count / n,
      valueUs: Math.min(ms * 1000, maxUs),
    }));
    for (const [q, ms] of [[0.5, p50Ms], [0.95, p95Ms], [0.99, p99Ms]]) {
      spectrum.push({ quantile: q, valueUs: ms * 1000 });
    }
    const histogram = fromPercentileSpectrum(spectrum, n);
    histogram.sum = avgMs * 1000 * n;
    histogram.max = maxUs;
    return {
      test: t.test,
      requests: n,
      rps: t.rps!,
      avgMs,
      minMs,
      p50Ms,
      p95Ms,
      p99Ms,
      maxMs,
      histogram,
    };
  });
  return resultOf(perCommand, options, "percentile-distribution");
}

/** Parses redis-benchmark's output, full (default) or `--csv` (older raw files). */
export function parseRedisBenchmark(text: string, options: ParseRedisOptions): LoadResult {
  return /^\s*"test","rps"/.test(text)
    ? parseRedisBenchmarkCsv(text, options)
    : parseRedisBenchmarkText(text, options);
}

/** Per-command stats of several concurrent clients, merged. */
export interface CombinedCommandStats {
  test: string;
  requests: number;
  /** Sum of the clients' rates (they ran concurrently). */
  rps: number;
  /** Request-weighted mean of the clients' means. */
  avgMs: number;
  /** Read from the merged per-command histograms (never averaged). */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  minMs: number;
}

/**
 * Combines the results of clients that ran at the same time against the same service:
 * operations and rates add up, histograms merge, per-command stats are pooled by test name.
 * The combined duration is the longest client's.
 */
export function combineRedisResults(results: readonly LoadResult[]): LoadResult {
  // Closed loop (no requested rate): the clients' rates add up.
  const { combined } = combineConcurrent(results, "redis-benchmark");
  if (results.length === 1) return results[0];
  const byTest = new Map<string, RedisCommandStats[]>();
  for (const r of results) {
    for (const c of (r.extra?.perCommand ?? []) as RedisCommandStats[]) {
      byTest.set(c.test, [...(byTest.get(c.test) ?? []), c]);
    }
  }
  const perCommand: CombinedCommandStats[] = [...byTest.entries()].map(([test, cs]) => {
    const requests = cs.reduce((s, c) => s + c.requests, 0);
    const s = summarize(mergeHistograms(cs.map(commandHistogram)));
    return {
      test,
      requests,
      rps: cs.reduce((a, c) => a + c.rps, 0),
      avgMs: cs.reduce((a, c) => a + c.avgMs * c.requests, 0) / requests,
      minMs: Math.min(...cs.map((c) => c.minMs)),
      p50Ms: s.p50Ms,
      p95Ms: s.p95Ms,
      p99Ms: s.p99Ms,
      maxMs: Math.max(...cs.map((c) => c.maxMs)),
    };
  });
  return {
    ...combined,
    extra: {
      // The clients' own source: full output or --csv (the same command ran them all).
      histogramSource: [...new Set(results.map((r) => r.extra?.histogramSource))].join(" + "),
      clients: results.length,
      perCommand,
      perClient: results.map((r) => ({
        achievedRate: r.achievedRate,
        durationS: r.durationS,
        operations: r.operations,
      })),
    },
  };
}

/** What to run redis-benchmark with. */
export interface RedisBenchmarkOptions {
  host: string;
  port: number;
  /** Tests (`-t`), e.g. ["set", "get", "incr", "lpush"]. */
  tests: string[];
  /** `-n`: requests per test. */
  requestsPerTest: number;
  /** `-d`: value size of SET/GET in bytes (default 64). */
  dataSize?: number;
  /** `-r`: random keys over this keyspace (default 10000). */
  keyspace?: number;
  /** The redis-benchmark binary (default "redis-benchmark"). */
  binary?: string;
}

/** The redis-benchmark command line of one client for a max-throughput point. */
export function redisBenchmarkCommand(point: LoadPoint, options: RedisBenchmarkOptions): string[] {
  if (point.mode !== "max-throughput") {
    throw new RangeError(
      `Cannot build redis-benchmark command: it is closed loop, so "mode" must be max-throughput, got "${point.mode}"`,
    );
  }
  if (!Number.isInteger(point.connections) || point.connections < 1) {
    throw new RangeError(
      `Cannot build redis-benchmark command: "connections" must be a positive integer, got ${
        JSON.stringify(point.connections)
      }`,
    );
  }
  if (options.tests.length === 0 || options.tests.some((t) => !/^[a-z_0-9]+$/i.test(t))) {
    throw new RangeError(
      `Cannot build redis-benchmark command: "tests" must be test names, got ${
        JSON.stringify(options.tests)
      }`,
    );
  }
  return [
    options.binary ?? "redis-benchmark",
    "-h",
    options.host,
    "-p",
    String(options.port),
    "-c",
    String(point.connections),
    "-n",
    String(options.requestsPerTest),
    "-d",
    String(options.dataSize ?? 64),
    "-r",
    String(options.keyspace ?? 10_000),
    "-t",
    options.tests.join(","),
  ];
}

/** One client's output as it came. */
export interface RedisClientRaw {
  command: string[];
  stdout: string;
  stderr: string;
}

/** What {@linkcode runRedisBenchmark} returns. */
export interface RedisBenchmarkRun {
  /** All clients combined. */
  result: LoadResult;
  clients: RedisClientRaw[];
}

/** The last error line redis-benchmark printed (its progress lines end in `\r`). */
export function redisBenchmarkError(stdout: string, stderr: string): string | undefined {
  return (stdout + "\n" + stderr).split(/[\r\n]+/).map((l) => l.trim())
    .filter((l) => /^(Error|Could not connect|ERR)/.test(l)).at(-1);
}

/**
 * Runs `clients` redis-benchmark processes at once, client i against `ports[i % ports.length]`,
 * each with `point.connections` connections, and combines their results. Any client failing
 * (exit 1 on an error reply or a lost connection) fails the run with its message.
 */
export async function runRedisBenchmark(
  runner: Runner,
  point: LoadPoint,
  options: Omit<RedisBenchmarkOptions, "port"> & {
    ports: number[];
    clients: number;
    toolVersion: string;
    timeoutMs: number;
    signal?: AbortSignal;
    onSpawn?: (pid: number) => void;
  },
): Promise<RedisBenchmarkRun> {
  const commands = Array.from(
    { length: options.clients },
    (_, i) =>
      redisBenchmarkCommand(point, { ...options, port: options.ports[i % options.ports.length] }),
  );
  const settled = await Promise.allSettled(commands.map((cmd) =>
    runner.run(cmd, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      onSpawn: options.onSpawn,
      okCodes: [1],
    })
  ));
  const clients: RedisClientRaw[] = [];
  const failures: string[] = [];
  settled.forEach((s, i) => {
    if (s.status === "rejected") {
      failures.push(`client ${i + 1}: ${(s.reason as Error).message}`);
      clients.push({ command: commands[i], stdout: "", stderr: String(s.reason) });
      return;
    }
    clients.push({ command: commands[i], stdout: s.value.stdout, stderr: s.value.stderr });
    if (s.value.code !== 0) {
      const msg = redisBenchmarkError(s.value.stdout, s.value.stderr) ?? "no error message";
      failures.push(`client ${i + 1} exited with code ${s.value.code}: ${msg}`);
    }
  });
  if (failures.length > 0) {
    const err = new Error(`redis-benchmark failed: ${failures.join("; ")}`);
    (err as Error & { clients?: RedisClientRaw[] }).clients = clients;
    throw err;
  }
  const results = clients.map((c) =>
    parseRedisBenchmark(c.stdout, {
      requestsPerTest: options.requestsPerTest,
      connections: point.connections,
      toolVersion: options.toolVersion,
    })
  );
  return { result: combineRedisResults(results), clients };
}
