import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import common from "../schema/common.schema.json" with { type: "json" };
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { compareRuns } from "./compare.ts";
import { loadRun, summaryProblems } from "./load_results.ts";
import {
  costOf,
  headlineMetric,
  METRIC_NAMES,
  metricsFor,
  oneScreenMetrics,
  overheadLabel,
  RECORD_METRICS,
} from "./metric_vocabulary.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

Deno.test("the JSON Schema's metric names are exactly the declared ones, in order", () => {
  assertEquals(common.$defs.metricName.enum, [...METRIC_NAMES]);
});

Deno.test("CPU and memory are not compared at max throughput; latency only at fixed rate", () => {
  assertEquals(metricsFor("max-throughput").map((m) => m.name), ["throughput_rps"]);
  assertEquals(metricsFor("batch").map((m) => m.name), [
    "completion_time_s",
    "cpu_cores_total",
    "memory_mb_total",
    "proxy_cpu_cores",
    "proxy_memory_mb",
  ]);
  assert(metricsFor("fixed-rate").every((m) => m.name !== "throughput_rps"));
});

Deno.test("the one-screen columns, the headline and share labels come from the vocabulary", () => {
  assertEquals(oneScreenMetrics().map((c) => c.header), [
    "p50 latency",
    "p99 latency",
    "throughput",
    "proxy CPU*",
    "proxy mem*",
    "job time",
    "ctx sw/req",
  ]);
  assertEquals(headlineMetric(["latency_p50_ms", "latency_p99_ms"]), "latency_p99_ms");
  assertEquals(headlineMetric(["cpu_cores_total", "throughput_rps"]), "throughput_rps");
  assertEquals(headlineMetric(["memory_mb_total"]), "memory_mb_total");
  assertEquals(overheadLabel("proxy_cpu_cores"), "mesh CPU as % of app CPU");
  assertEquals(overheadLabel("latency_p99_ms"), "p99 latency");
});

Deno.test("a throughput loss is a cost, a latency increase is a cost", () => {
  assertEquals(costOf("throughput_rps", -20), 20);
  assertEquals(costOf("latency_p99_ms", 20), 20);
});

Deno.test("a summary whose overhead names an undeclared metric is refused, naming the field", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_vocab_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    assertEquals(summaryProblems(summary), []);
    summary.overheads[0].metric = "latency_p42_ms";
    const problems = summaryProblems(summary);
    assertEquals(problems.length, 1, problems.join("\n"));
    match(problems[0], /^\/overheads\/0\/metric must be equal to one of the allowed values/);
    match(problems[0], /latency_p42_ms/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("compare and the summary compute the same metrics for every measured point", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_vocab_" });
  try {
    const run = await loadRun(await copyFixtureRun(FIXTURE_RUNS[0], tmp));
    const c = compareRuns(run, run, { resamples: 50 });
    const key = (x: { workload: string; mesh: string; rate: number | null }) =>
      `${x.workload}|${x.mesh}|${x.rate}`;
    const byPoint = (
      xs: ReadonlyArray<{ workload: string; mesh: string; rate: number | null; metric: string }>,
    ) => {
      const m = new Map<string, string[]>();
      for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x.metric]);
      return m;
    };
    const compared = byPoint(c.differences);
    const overheads = byPoint(run.summary!.overheads);
    assert(overheads.size > 10);
    for (const [point, metrics] of overheads) {
      assertEquals(compared.get(point), metrics, point);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("metric names are string literals in the vocabulary module only", async () => {
  const offenders: string[] = [];
  // Quoted names; names in backticks are mentions in comments. "errors" is also an
  // everyday word (a flag, a column), so only the snake_case names are looked for.
  const names = RECORD_METRICS.map((m) => m.name).filter((n) => n.includes("_"));
  assert(names.length >= METRIC_NAMES.length);
  const literal = new RegExp(`(["'])(${names.join("|")})\\1`);
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory && !["testdata", "node_modules", "out"].includes(e.name)) await walk(path);
      else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(path);
        if (literal.test(text)) offenders.push(relative(ROOT, path));
      }
    }
  };
  for (const dir of ["lib", "tasks", "bench", "fixtures"]) await walk(join(ROOT, dir));
  assertEquals(offenders, ["lib/metric_vocabulary.ts"]);
});
