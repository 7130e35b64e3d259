import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import common from "../schema/common.schema.json" with { type: "json" };
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { repoFiles, ROOT } from "../tests/helpers.ts";
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

/** Words that may start a regular expression literal where `/` would otherwise divide. */
const BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "case",
  "in",
  "of",
  "void",
  "yield",
  "await",
  "else",
  "do",
  "delete",
  "instanceof",
  "new",
  "throw",
]);

/**
 * The string literals of TypeScript source `text`: quoted strings, and each static part of a
 * template literal, as written (escapes kept). Comments and regular expression literals are
 * skipped, so a name mentioned in a comment or matched by a pattern is not a literal.
 */
function stringLiterals(text: string): string[] {
  const out: string[] = [];
  const holes: number[] = []; // brace depth at each open `${` of a template
  let depth = 0;
  let prev = ""; // the last token outside strings and comments: a word or one character
  let i = 0;
  // Reads a template's static part from i (just after ` or the `}` of a hole).
  const templatePart = () => {
    let v = "";
    while (i < text.length && text[i] !== "`" && !(text[i] === "$" && text[i + 1] === "{")) {
      if (text[i] === "\\") v += text.slice(i, i + 2), i += 2;
      else v += text[i++];
    }
    out.push(v);
    if (text[i] === "`") i++, prev = "`";
    else holes.push(depth), i += 2, prev = "{";
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === '"' || c === "'") {
      let v = "";
      i++;
      while (i < text.length && text[i] !== c && text[i] !== "\n") {
        if (text[i] === "\\") v += text.slice(i, i + 2), i += 2;
        else v += text[i++];
      }
      out.push(v), i++, prev = c;
    } else if (c === "`") {
      i++, templatePart();
    } else if (c === "}" && holes.length && holes.at(-1) === depth) {
      holes.pop(), i++, templatePart();
    } else if (
      c === "/" && (prev === "" || /^[(,=:[!&|?{};+\-*%<>~^]$/.test(prev) ||
        BEFORE_REGEX.has(prev))
    ) {
      // A regular expression literal: up to the closing / outside a character class.
      let inClass = false;
      i++;
      while (i < text.length && text[i] !== "\n" && (inClass || text[i] !== "/")) {
        if (text[i] === "\\") i++;
        else if (text[i] === "[") inClass = true;
        else if (text[i] === "]") inClass = false;
        i++;
      }
      i++, prev = "/";
    } else if (/[\w$]/.test(c)) {
      const word = /^[\w$]+/.exec(text.slice(i, i + 64))![0];
      i += word.length, prev = word;
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out;
}

Deno.test("the literal scanner finds strings and template parts, not comments or patterns", () => {
  const source = [
    `const a = "one"; // "not two"`,
    `/* 'not three' */ const b = 'four' + x / 2 + y / 3;`,
    "const c = `five ${f({ g: `six` })} seven`;",
    `const d = /"not eight"[/"]/g.test(s) ? "nine" : (z) / 2;`,
    `if (q) return /'not ten'/.source;`,
  ].join("\n");
  assertEquals(stringLiterals(source), ["one", "four", "five ", "six", " seven", "nine"]);
});

/** The source text of the code cells of a notebook, one cell after another. */
function notebookCode(text: string): string {
  const nb = JSON.parse(text) as { cells: Array<{ cell_type: string; source: string | string[] }> };
  return nb.cells.filter((c) => c.cell_type === "code")
    .map((c) => Array.isArray(c.source) ? c.source.join("") : c.source).join("\n");
}

Deno.test("metric names are string literals in the vocabulary module only", async () => {
  // Every metric name but "errors": that one is also the load result's field, a record
  // source kind and a flag, all written as the same word; it is read through the
  // vocabulary (RECORD_METRICS) like the others, and the other names cannot hide behind it.
  const names = new Set<string>(RECORD_METRICS.map((m) => m.name).filter((n) => n !== "errors"));
  assertEquals(names.size, RECORD_METRICS.length - 1);
  const offenders: string[] = [];
  const files = await repoFiles(
    ["lib", "tasks", "bench", "fixtures", "servers", "notebooks", "tests"],
    (p) =>
      !p.includes("/testdata/") &&
      ((p.endsWith(".ts") && !p.endsWith("_test.ts")) || p.endsWith(".ipynb")),
  );
  for (const f of files) {
    const text = await Deno.readTextFile(join(ROOT, f));
    const code = f.endsWith(".ipynb") ? notebookCode(text) : text;
    const found = stringLiterals(code).filter((s) => names.has(s));
    if (found.length) offenders.push(`${f}: ${[...new Set(found)].join(", ")}`);
  }
  assertEquals(offenders.length, 1, offenders.join("\n"));
  match(offenders[0], /^lib\/metric_vocabulary\.ts: /);
});
