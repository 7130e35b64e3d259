import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  match,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { basename, join } from "node:path";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { listRunFiles, writeJsonAtomic } from "./run_dir.ts";
import { loadRun, loadRunRows, readRunRecords, runIndex } from "./load_results.ts";
import { stageCollect } from "./pipeline.ts";
import { realRunner } from "./command.ts";
import { memoryLogger } from "./log.ts";
import { findings, renderReport, writeReport } from "./report.ts";
import type { StoredSummary, Summary } from "./types.ts";
import { SUMMARY_SCHEMA_VERSION } from "./types.ts";
import { packSummary, unpackSummary } from "./summary.ts";
import { formatSummary } from "./summary_text.ts";
import { latencyMetric, metricSpec, oneScreenMetrics } from "./metric_vocabulary.ts";
import type { Overhead } from "./types.ts";

async function withRun(fn: (dir: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_report_" });
  try {
    await fn(await writeSyntheticRun(tmp, { samples: 500 }));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

function externalRefs(html: string): string[] {
  return [...html.matchAll(/(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1])
    .filter((u) => !u.startsWith("#") && !u.startsWith("data:"));
}

Deno.test("writeReport writes a self-contained report.html with every section", async () => {
  await withRun(async (dir) => {
    const path = await writeReport(dir);
    assertEquals(path, join(dir, "report.html"));
    const html = await Deno.readTextFile(path);
    // Written in pieces, it is the page renderReport renders, byte for byte.
    const generatedAt = html.match(/report generated ([^<]+)</)![1];
    assertEquals(html, renderReport(await loadRunRows(dir), { generatedAt }));
    for (const id of ["summary", "latency", "overhead", "throughput", "resources", "runs"]) {
      match(html, new RegExp(`<section id="${id}">`), id);
    }
    match(html, /<section id="provenance">/);
    doesNotMatch(html, /<script/i);
    assertEquals(externalRefs(html), []);
    doesNotMatch(html, /url\(/);
    // Two rates make a sweep: latency (vs rate, percentiles, HDR); overheads of latency and
    // resources (each vs rate, then panels); throughput; CPU, memory, CPU per 1k.
    assertEquals((html.match(/<svg[^>]*class="plot-/g) ?? []).length, 3 + 4 + 1 + 3);
    match(html, /http: latency against target rate/);
    match(html, /http: overhead against target rate, with 95 % CI/);
    match(html, /Emulated meshes\./);
    match(html, /istio \(emulated\)/);
    match(html, /synthetic test fixture/);
    const leftovers = [];
    for await (const e of Deno.readDir(dir)) if (e.name.includes(".tmp-")) leftovers.push(e.name);
    assertEquals(leftovers, []);
  });
});

Deno.test("findings rank meshes by the headline percentile with CI and n", async () => {
  await withRun(async (dir) => {
    const lines = findings(await loadRun(dir));
    assertEquals(lines.length, 2);
    match(lines[0], /^http @ 200\/s, p99 latency vs baseline: /);
    match(lines[0], /95 % CI .* n=3/);
  });
});

Deno.test("rendering a report reads the summary's packed histograms without unpacking them into it", async () => {
  await withRun(async (dir) => {
    const run = await loadRunRows(dir);
    const packed = (g: { histogram: object }) =>
      typeof Object.getOwnPropertyDescriptor(g.histogram, "values")?.get === "function";
    const groups = run.summary!.groups;
    assert(groups.length > 0 && groups.every(packed), "read packed");
    const html = renderReport(run, { generatedAt: "2026-01-01T00:00:00Z" });
    match(html, /latency distribution \(HDR\)/);
    // Drawn from their buckets, which were not kept with the summary the caller holds.
    assert(groups.every(packed), "still packed after rendering");
  });
});

Deno.test("a broken run still gets a report naming each bad file, without stack traces", async () => {
  await withRun(async (dir) => {
    const files = await listRunFiles(dir);
    await Deno.writeTextFile(files[0], '{"kind": "meshbench.run", "status": "ok"');
    await Deno.remove(join(dir, "summary.json"));
    const m = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
    m.status = "interrupted";
    await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(m));
    const html = await Deno.readTextFile(await writeReport(dir));
    match(html, /3 problems reading this run/);
    assert(html.includes(`runs/${basename(files[0])}`), "names the truncated record");
    match(html, /not valid JSON/);
    match(html, /summary\.json is missing/);
    match(html, /recomputed by the reader from the 17 valid run records/);
    match(html, /the run is &quot;interrupted&quot;/);
    match(html, /<section id="latency">/);
    doesNotMatch(html, /\n\s+at /);
  });
});

Deno.test("an empty directory gives a report that says what is missing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_report_empty_" });
  try {
    const html = renderReport(await loadRun(tmp), { generatedAt: "2026-01-01T00:00:00Z" });
    match(html, /manifest\.json is missing/);
    match(html, /No valid summary\.json/);
    match(html, /No valid run records/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("writeReport names the directory it cannot write to", async () => {
  await rejects(
    () => writeReport("/nonexistent/meshbench-run"),
    /Cannot write report "\/nonexistent\/meshbench-run\/report.html"/,
  );
});

Deno.test("a report written by the run's own report stage says the run is finishing", async () => {
  await withRun(async (dir) => {
    const path = join(dir, "manifest.json");
    const m = JSON.parse(await Deno.readTextFile(path));
    m.status = "running";
    m.stages.push({ name: "report", status: "running", start: "2000-01-01T01:00:00.000Z" });
    await Deno.writeTextFile(path, JSON.stringify(m));
    const run = await loadRun(dir);
    assertEquals(run.problems, []);
    const html = renderReport(run);
    match(
      html,
      /status finishing \(report written by the run itself; every stage so far ok\)/,
    );
    m.stages.push({ name: "load", status: "running", start: "2000-01-01T01:00:00.000Z" });
    await Deno.writeTextFile(path, JSON.stringify(m));
    const stuck = await loadRun(dir);
    match(stuck.problems[0].problem, /stage load is still marked running/);
    match(renderReport(stuck), /status running/);
  });
});

const GENERATED_AT = "2026-01-01T00:00:00Z";

Deno.test("collect reproduces the fixture summaries, and the report from its run index is the report from the records", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_report_index_" });
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  try {
    assert(FIXTURE_RUNS.length > 0);
    for (const name of FIXTURE_RUNS) {
      const dir = await copyFixtureRun(name, tmp);
      // Both compared unpacked (plain histogram arrays): an unequal pair of packed strings
      // would make the assertion's diff of two ~1 MB objects, which takes gigabytes.
      const unpacked = (s: StoredSummary) => JSON.parse(JSON.stringify(unpackSummary(s)));
      const committed = unpacked(JSON.parse(await Deno.readTextFile(join(dir, "summary.json"))));
      const collected = await stageCollect(dir, deps);
      const stored = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
      assertEquals(stored.schemaVersion, SUMMARY_SCHEMA_VERSION);
      const written = unpacked(stored);
      assertEquals(written.runs.length, (await listRunFiles(dir)).length, name);
      for (const s of [committed, written]) {
        delete s.generatedAt;
        delete s.runs;
        delete s.schemaVersion;
      }
      // Field by field, item by item: a difference names its place and keeps the diff small.
      assertEquals(Object.keys(written).sort(), Object.keys(committed).sort(), name);
      for (const key of Object.keys(committed)) {
        const [w, c] = [written[key], committed[key]];
        if (!Array.isArray(c)) assertEquals(w, c, `${name}: ${key} unchanged`);
        else {
          assertEquals(w.length, c.length, `${name}: ${key} has as many items`);
          c.forEach((item, i) => assertEquals(w[i], item, `${name}: ${key}[${i}] unchanged`));
        }
      }

      const full = await loadRun(dir);
      const rows = await loadRunRows(dir);
      assert(rows.runs.length > 0 && !("window" in rows.runs[0]), "rows come from the index");
      assertEquals(rows.problems, full.problems);
      assertEquals(
        renderReport(rows, { generatedAt: GENERATED_AT }),
        renderReport(full, { generatedAt: GENERATED_AT }),
        name,
      );
      // bench:all hands the report the summary collect built instead of reading it back.
      const handed = await loadRunRows(dir, { summary: collected });
      assertEquals(handed.problems, rows.problems);
      assertEquals(
        renderReport(handed, { generatedAt: GENERATED_AT }),
        renderReport(rows, { generatedAt: GENERATED_AT }),
        `${name}: handed over`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the summary collect hands over reads as its summary.json does: a NaN interval is null, and a NaN the schema refuses is refused", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_report_handed_" });
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  try {
    // One iteration a side: every overhead's interval is NaN in memory, null in the file.
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    for (const f of await listRunFiles(dir)) {
      if (JSON.parse(await Deno.readTextFile(f)).spec.iteration > 1) await Deno.remove(f);
    }
    const collected = await stageCollect(dir, deps);
    assert(collected.overheads.some((o) => Number.isNaN(o.ci95[0])), "a NaN interval to hand");
    const handed = await loadRunRows(dir, { summary: collected });
    assert(collected.overheads.some((o) => Number.isNaN(o.ci95[0])), "collect's is unchanged");
    const read = await loadRunRows(dir);
    assertEquals(handed.problems, read.problems);
    assertEquals(
      JSON.parse(JSON.stringify(handed.summary)),
      JSON.parse(JSON.stringify(read.summary)),
    );
    assertEquals(handed.summary!.overheads, read.summary!.overheads);
    assertEquals(
      renderReport(handed, { generatedAt: GENERATED_AT }),
      renderReport(read, { generatedAt: GENERATED_AT }),
    );

    // A NaN where the schema takes only a number: refused as the file would be, named the same.
    collected.overheads[0].baseline = NaN;
    await writeJsonAtomic(join(dir, "summary.json"), packSummary(collected));
    const refused = await loadRunRows(dir, { summary: collected });
    const refusedFile = await loadRunRows(dir);
    assertEquals(refusedFile.problems.length, 1);
    match(refusedFile.problems[0].problem, /\/overheads\/0\/baseline must be number/);
    assertEquals(refused.problems, refusedFile.problems);
    assert(refused.summaryDerived && refusedFile.summaryDerived);
    assertEquals(
      renderReport(refused, { generatedAt: GENERATED_AT }),
      renderReport(refusedFile, { generatedAt: GENERATED_AT }),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("records the run index does not name are read and checked; entries without a file are left out", async () => {
  await withRun(async (dir) => {
    const files = await listRunFiles(dir);
    // A record whose latencies cannot be right: its warning travels in the index.
    const suspect = JSON.parse(await Deno.readTextFile(files[3]));
    suspect.load.latency = {
      unit: "us",
      significantDigits: 3,
      total: 100,
      min: 0,
      max: 1000,
      values: [0, 1000],
      counts: [50, 50],
    };
    await Deno.writeTextFile(files[3], JSON.stringify(suspect));
    const { records, files: read } = await readRunRecords(dir);
    const sPath = join(dir, "summary.json");
    const summary: Summary = JSON.parse(await Deno.readTextFile(sPath));
    await writeJsonAtomic(sPath, { ...summary, runs: runIndex(records, read) });
    // After collect: one record removed, one broken and one valid record added.
    await Deno.remove(files[1]);
    await Deno.writeTextFile(join(dir, "runs", "http_test_9998_broken.json"), '{"kind": "mesh');
    const extra = JSON.parse(await Deno.readTextFile(files[2]));
    extra.spec.seq = 9999;
    await Deno.writeTextFile(join(dir, "runs", "http_test_9999_extra.json"), JSON.stringify(extra));

    const full = await loadRun(dir);
    const rows = await loadRunRows(dir);
    assertEquals(rows.runs.length, files.length);
    assertEquals(rows.runs.at(-1)!.spec.seq, 9999);
    assertEquals(rows.problems, full.problems);
    assertEquals(rows.problems.length, 2);
    match(rows.problems[0].problem, /50\.0 % of the 100 latencies are 0 µs/);
    match(rows.problems[1].problem, /http_test_9998_broken\.json is not valid JSON/);
    assertEquals(
      renderReport(rows, { generatedAt: GENERATED_AT }),
      renderReport(full, { generatedAt: GENERATED_AT }),
    );
  });
});

Deno.test("a bad run index names summary.json and the field, and the report falls back to the records", async () => {
  await withRun(async (dir) => {
    const { records, files } = await readRunRecords(dir);
    const sPath = join(dir, "summary.json");
    const summary: Summary = JSON.parse(await Deno.readTextFile(sPath));
    const runs = runIndex(records, files);
    (runs[2] as { status: string }).status = "fine";
    await writeJsonAtomic(sPath, { ...summary, runs });
    const rows = await loadRunRows(dir);
    assertEquals(rows.problems.length, 1);
    assertEquals(rows.problems[0].file, sPath);
    match(rows.problems[0].problem, /\/runs\/2\/status must be equal to one of the allowed/);
    match(rows.problems[0].problem, /got "fine"/);
    assert(rows.summaryDerived);
    assertEquals(rows.runs.length, files.length);
    assert("window" in rows.runs[0], "full records, read because the index is unusable");
  });
});

Deno.test("the throughput chart states the saturation tolerance the run was configured with", async () => {
  await withRun(async (dir) => {
    const path = join(dir, "manifest.json");
    const m = JSON.parse(await Deno.readTextFile(path));
    m.config.saturationPct = 3.5;
    await Deno.writeTextFile(path, JSON.stringify(m));
    const html = renderReport(await loadRun(dir));
    match(html, /falls more than 3\.5 % short of its target is a saturation result/);
    doesNotMatch(html, /more than 2 % short/);
  });
});

Deno.test("readRunRecords keeps every valid record with its file and names each bad file", async () => {
  await withRun(async (dir) => {
    const files = await listRunFiles(dir);
    await Deno.writeTextFile(files[0], '{"kind": "meshbench.run"');
    const bad = JSON.parse(await Deno.readTextFile(files[5]));
    bad.spec.seq = "seven";
    await Deno.writeTextFile(files[5], JSON.stringify(bad));
    const { records, files: read, notes } = await readRunRecords(dir);
    assertEquals(records.length, files.length - 2);
    assertEquals(read, files.filter((_, i) => i !== 0 && i !== 5));
    read.forEach((f, i) =>
      assertEquals(basename(f).split("_")[2], String(records[i].spec.seq).padStart(4, "0"))
    );
    assertEquals(notes.length, 2);
    assert(notes[0].startsWith(`${files[0]}: ${basename(files[0])} is not valid JSON`), notes[0]);
    assert(
      notes[1].startsWith(`${files[5]}: does not match its schema: /spec/seq must be integer`),
      notes[1],
    );
  });
});

Deno.test("the per-request section charts context switches and tables the proxies' counters when recorded, and says when not", async () => {
  await withRun(async (dir) => {
    const run = await loadRun(dir);
    // The synthetic run counted neither: the section says so, no zero bars.
    const before = renderReport(run);
    match(before, /<section id="kernel">/);
    match(before, /context switches per request: no context switches recorded/);
    match(before, /The proxies&#39;? own counters: no proxy counters recorded/);
    const s = structuredClone(run.summary!);
    for (const g of s.groups) {
      for (const r of g.resources) r.ctxSwitchesPerOp = r.component === "app" ? 2 : 3;
      if (g.mesh !== "baseline") {
        g.proxies = [{
          name: `${g.mesh}-proxy`,
          software: "envoy",
          runs: g.iterations,
          operations: 1000,
          downstreamRequests: 1000,
          upstreamRequests: 1040,
          upstreamConnections: 8,
          retries: 40,
        }];
      }
    }
    const html = renderReport({ ...run, summary: s });
    const kernel = html.slice(html.indexOf('<section id="kernel">'));
    match(kernel, /Resources: context switches per request/);
    match(kernel, /<svg[^>]*class="plot-/);
    match(kernel, /istio-proxy \(envoy\)/);
    // 8 upstream connections for 1,040 requests sent: 7.69 per 1,000.
    match(kernel, /7\.69/);
  });
});

/** The (added ms, interval low, interval high) figures `pattern` (three number groups) finds. */
function addedFigures(text: string, pattern: RegExp): number[][] {
  return [...text.matchAll(pattern)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

/** Whether `shown` is `x` printed to about three significant digits. */
const printedAs = (x: number, shown: number) => Math.abs(x - shown) <= Math.abs(x) * 0.006 + 0.0006;

/** Asserts that an overhead's deltaMs and its interval are among `figures`, as printed. */
function assertAddedShown(figures: number[][], o: Overhead, where: string) {
  const want = [o.deltaMs!, o.deltaMsCi95![0], o.deltaMsCi95![1]];
  assert(
    figures.some((f) => f.every((v, i) => printedAs(want[i], v))),
    `${where}: ${o.workload} ${o.mesh} ${o.metric} @ ${o.rate}: ${want.join(", ")} not in ` +
      JSON.stringify(figures),
  );
}

Deno.test("a real run's added milliseconds and their intervals from summary.json are in the report's findings and overhead table, and in the one-screen summary", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_report_added_" });
  try {
    const run = await loadRun(await copyFixtureRun(FIXTURE_RUNS.at(-1)!, tmp));
    const s = run.summary!;
    const added = s.overheads.filter((o) =>
      typeof o.deltaMs === "number" && o.ciMethod === "exact" && o.sweep === undefined
    );
    assert(added.length >= 8, `${added.length} latency overheads with an interval`);
    const n = "([+-]?[\\d.]+)";
    // The findings: each mesh's headline (p99) overhead, then "+x ms (95 % CI +a ms to +b ms) added".
    const headline = addedFigures(
      findings(run).join("\n"),
      new RegExp(`${n} ms \\(95 % CI ${n} ms to ${n} ms\\) added`, "g"),
    );
    const p99 = added.filter((o) => o.metric === latencyMetric(99));
    assert(p99.length >= 4);
    for (const o of p99) assertAddedShown(headline, o, "findings");
    // The report's overhead tables: every latency overhead's "added ms [95 % CI]" cell.
    const page = addedFigures(
      renderReport(run, { generatedAt: GENERATED_AT }),
      new RegExp(`${n} ms \\[${n}, ${n}\\]`, "g"),
    );
    for (const o of added) assertAddedShown(page, o, "report");
    // The one-screen summary: latency cells at each row's highest fixed rate, "+x ms [a, b]".
    const text = addedFigures(formatSummary(s), new RegExp(`${n}ms \\[${n}, ${n}\\]`, "g"));
    const screen = oneScreenMetrics().filter((m) => metricSpec(m.name).addedLatency);
    assert(screen.length >= 2);
    for (const m of screen) {
      for (const o of added.filter((x) => x.metric === m.name)) {
        const top = Math.max(
          ...s.overheads.filter((x) =>
            x.metric === o.metric && x.workload === o.workload && x.mesh === o.mesh &&
            x.payloadBytes === o.payloadBytes && x.httpProtocol === o.httpProtocol
          ).map((x) => x.rate ?? 0),
        );
        if (o.rate === top) assertAddedShown(text, o, "one-screen summary");
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
