/**
 * The tidy rows against the committed fixture runs (real pipeline output): pooled the
 * way collect pools them, they give the summary's figures; filters, the empty cases and
 * the CSV export.
 */
import { deepStrictEqual as assertEquals, match, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { mean } from "simple-statistics";
import { copyFixtureRun, FIXTURE_DIR, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import {
  analyseResults,
  analyseRun,
  type MetricRow,
  percentileMs,
  recordsCsv,
  rowsCsv,
  spectrum,
  tidyRuns,
  toCsv,
} from "./analysis.ts";
import { exportRun } from "./export.ts";
import { HistogramSet, mergeHistograms, summarize } from "./histogram.ts";
import { loadRun } from "./load_results.ts";
import { bootstrapOverhead } from "./stats.ts";
import { overheadSeed } from "./summary.ts";

/** Equal up to floating-point summation order (a few units in the last place). */
function close(actual: number, expected: number, what: string) {
  const scale = Math.max(Math.abs(expected), 1e-12);
  assert(Math.abs(actual - expected) / scale < 1e-12, `${what}: ${actual} vs ${expected}`);
}

const SHARE_BASE: Record<string, string> = {
  proxy_cpu_cores: "app_cpu_cores",
  proxy_memory_mb: "app_memory_mb",
  proxy_ctx_switches_per_req: "app_ctx_switches_per_req",
};

Deno.test("the tidy rows of the fixture runs pool to every figure of their summaries", async () => {
  const data = await analyseResults(FIXTURE_DIR);
  assertEquals(data.runs.length, FIXTURE_RUNS.length);
  assertEquals(data.problems, []);
  let checked = 0;
  for (const run of data.runs) {
    const s = run.summary!;
    // One record row per record; one metric row per record and metric.
    assertEquals(data.records.filter((r) => r.runId === run.runId).length, run.runs.length);
    // Group figures: merged histograms of the records' rows, and the mean achieved rate.
    for (const g of s.groups) {
      const rows = data.rows.filter((r) =>
        r.runId === run.runId && r.workload === g.workload && r.mesh === g.mesh &&
        r.mode === g.mode && r.tool === g.tool && r.rate === g.rate &&
        r.payloadBytes === g.payloadBytes
      );
      const rates = rows.filter((r) => r.metric === "throughput_rps");
      assertEquals(rates.length, g.iterations, `${g.workload} ${g.mesh} iterations`);
      close(mean(rates.map((r) => r.value)), g.achievedRate.mean, `${g.workload} ${g.mesh} rate`);
      const merged = mergeHistograms(rates.map(data.histogram));
      assertEquals(summarize(merged), g.latency, `${g.workload} ${g.mesh} ${g.rate} latency`);
      checked++;
    }
    // Overheads: latency from merged histograms, the rest as means over iterations.
    for (const o of s.overheads) {
      const row = data.overheads.find((x) =>
        x.runId === run.runId && x.workload === o.workload && x.mesh === o.mesh &&
        x.rate === o.rate && x.metric === o.metric && x.payloadBytes === o.payloadBytes
      )!;
      const side = (mesh: string, metric: string) =>
        data.rows.filter((r) =>
          r.runId === run.runId && r.workload === o.workload && r.mesh === mesh &&
          r.mode === row.mode && r.tool === row.tool && r.rate === o.rate &&
          r.payloadBytes === o.payloadBytes && r.metric === metric
        );
      let value: number;
      let baseline: number;
      if (o.metric.startsWith("latency_")) {
        const p = o.metric === "latency_max_ms" ? 100 : Number(o.metric.slice(9, -3));
        const hist = (mesh: string) =>
          mergeHistograms(side(mesh, "throughput_rps").map(data.histogram));
        value = percentileMs(hist(o.mesh), p);
        baseline = percentileMs(hist(s.baselineMesh), p);
      } else {
        value = mean(side(o.mesh, o.metric).map((r) => r.value));
        baseline = mean(side(s.baselineMesh, SHARE_BASE[o.metric] ?? o.metric).map((r) => r.value));
      }
      const what = `${run.runId} ${o.workload} ${o.mesh} ${o.rate} ${o.metric}`;
      close(value, o.value, what);
      close(baseline, o.baseline, what);
      assertEquals([row.ciLow, row.ciHigh], o.ci95, what);
      assertEquals(row.overheadPct, o.overheadPct, what);
      if (o.unit === "ms") {
        close(row.deltaMs!, o.value - o.baseline, what);
        assertEquals([row.deltaMsCiLow, row.deltaMsCiHigh], o.deltaMsCi95, what);
      }
      assertEquals(row.ciMethod, o.ciMethod ?? null, what);
      checked++;
    }
  }
  assert(checked > 150, `checked ${checked} figures`);
});

Deno.test("a notebook repeats a summary's bootstrap interval exactly from the rows", async () => {
  const data = await analyseResults(FIXTURE_DIR);
  const run = data.runs.at(-1)!;
  const config = run.manifest!.config as { seed: number; bootstrap: { resamples: number } };
  const o = data.overheads.find((x) =>
    x.runId === run.runId && x.workload === "http" && x.metric === "latency_p99_ms"
  )!;
  const records = (mesh: string) =>
    data.rows.filter((r) =>
      r.runId === run.runId && r.workload === "http" && r.mesh === mesh && r.rate === o.rate &&
      r.metric === "latency_p99_ms"
    );
  const base = new HistogramSet(records("baseline").map(data.histogram));
  const mesh = new HistogramSet(records(o.mesh).map(data.histogram));
  const est = bootstrapOverhead(
    base.size,
    mesh.size,
    (w) => base.percentile(w, 99) / 1000,
    (w) => mesh.percentile(w, 99) / 1000,
    {
      resamples: config.bootstrap.resamples,
      seed: overheadSeed(config.seed, o, o.mesh),
    },
  );
  assertEquals(est.ci95, [o.ciLow, o.ciHigh]);
  assertEquals(est.overheadPct, o.overheadPct);
});

Deno.test("a failed record is a record row with its reason and has no metric rows", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_analysis_" });
  try {
    const dir = await writeSyntheticRun(tmp, { samples: 200, iterations: 2, rates: [200] });
    const run = await loadRun(dir);
    const victim = run.runs[1];
    victim.status = "failed";
    victim.reason = 'server exited, quoting a comma, and a "quote"';
    const data = tidyRuns([run]);
    const rec = data.records.find((r) => r.seq === victim.spec.seq)!;
    assertEquals(rec.status, "failed");
    assertEquals(rec.reason, victim.reason);
    assertEquals(data.rows.filter((r) => r.seq === victim.spec.seq).length, 0);
    assert(data.rows.filter((r) => r.seq === run.runs[0].spec.seq).length >= 10);
    const csv = recordsCsv(data);
    const lines = csv.trimEnd().split("\r\n");
    assertEquals(lines.length, 1 + run.runs.length, "a header and one line per record");
    assert(
      csv.includes(`"server exited, quoting a comma, and a ""quote"""`),
      "quoted as RFC 4180 says",
    );
    const header = lines[0].split(",");
    assert(header.includes("latency_p99_ms") && header.includes("reason"), lines[0]);
    const long = rowsCsv(data.rows).trimEnd().split("\r\n");
    assertEquals(long.length, 1 + data.rows.length);
    assertEquals(long[0].split(",").slice(-3), ["metric", "value", "unit"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("runs are filtered by date, target, profile and config, and say why one was left out", async () => {
  const [older, newer] = FIXTURE_RUNS;
  // The newer run's creation time splits the pair.
  const cut = JSON.parse(
    await Deno.readTextFile(join(FIXTURE_DIR, newer, "manifest.json")),
  ).createdAt as string;
  const since = await analyseResults(FIXTURE_DIR, { since: cut });
  assertEquals(since.runs.map((r) => r.runId), [newer]);
  match(since.skipped[0].why, new RegExp(`before ${cut.replace(/[.]/g, "\\.")}`));
  const until = await analyseResults(FIXTURE_DIR, { until: cut });
  assertEquals(until.runs.map((r) => r.runId), [older]);
  const config = await analyseResults(FIXTURE_DIR, {
    profile: "quick",
    config: { "load.durationS": 2, iterations: 3 },
  });
  assertEquals(config.runs.length, 2);
  const cluster = await analyseResults(FIXTURE_DIR, { target: "cluster" });
  assertEquals(cluster.runs.length, 0);
  assertEquals(cluster.rows.length, 0);
  match(cluster.empty!, /None of the 2 runs .* target local, not cluster/);
  const odd = await analyseResults(FIXTURE_DIR, { config: { "load.durationS": 30 } });
  match(odd.skipped[0].why, /config load\.durationS is 2, not 30/);
  await rejects(
    () => analyseResults(FIXTURE_DIR, { since: "last tuesday" }),
    /Cannot filter runs by "since": expected an ISO 8601 date, got "last tuesday"/,
  );
});

Deno.test("with no results folder, no rows and a sentence that says how to get some", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_analysis_empty_" });
  try {
    const data = await analyseResults(join(tmp, "none"));
    assertEquals(data.runs.length + data.rows.length + data.overheads.length, 0);
    match(data.empty!, /No benchmark results were found[\s\S]*deno task bench:all/);
    const prev = Deno.env.get("MESHBENCH_RESULTS");
    Deno.env.set("MESHBENCH_RESULTS", join(tmp, "none"));
    Deno.env.delete("MESHBENCH_RUN_DIR");
    try {
      match((await analyseRun()).empty!, /No benchmark results were found/);
    } finally {
      if (prev === undefined) Deno.env.delete("MESHBENCH_RESULTS");
      else Deno.env.set("MESHBENCH_RESULTS", prev);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a histogram's spectrum climbs to 100 % at its maximum", () => {
  const h = mergeHistograms([
    {
      unit: "us",
      significantDigits: 3,
      total: 4,
      min: 100,
      max: 900,
      values: [100, 900],
      counts: [3, 1],
    },
  ]);
  const s = spectrum(h);
  assertEquals(s.map((x) => [x.p, x.ms]), [[75, 0.1], [100, 0.9]]);
  assertEquals(s[0].nines, 4);
});

Deno.test("toCsv leaves non-finite numbers and nulls empty and joins lists with ;", () => {
  const rows = [{ a: NaN, b: null, c: ["x", "y"], d: "line\nbreak" }];
  assertEquals(toCsv(rows, ["a", "b", "c", "d"]), 'a,b,c,d\r\n,,x;y,"line\nbreak"\r\n');
});

/** The cells of one CSV line: fields in double quotes may hold commas and doubled quotes. */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  for (const m of line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)) {
    const v = m[1];
    cells.push(v.startsWith('"') ? v.slice(1, -1).replaceAll('""', '"') : v);
  }
  return cells;
}

Deno.test("export --format csv writes one row per record of a fixture run, beside it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_export_" });
  try {
    const dir = await copyFixtureRun(FIXTURE_RUNS[0], tmp);
    const r = await exportRun(dir, { format: "csv" });
    assertEquals(r.path, join(dir, "records.csv"));
    const lines = (await Deno.readTextFile(r.path!)).trimEnd().split("\r\n");
    const run = await loadRun(dir);
    assertEquals(lines.length - 1, run.runs.length);
    assertEquals(r.rows, run.runs.length);
    const header = lines[0].split(",");
    const p99 = header.indexOf("latency_p99_ms");
    const seq = header.indexOf("seq");
    for (const line of lines.slice(1)) {
      const cells = csvCells(line);
      const rec = run.runs.find((x) => x.spec.seq === Number(cells[seq]))!;
      assertEquals(cells[p99], rec.latency ? String(rec.latency.p99Ms) : "");
    }
    const long = await exportRun(dir, { format: "csv", long: true });
    assertEquals(long.path, join(dir, "rows.csv"));
    const data = await analyseRun(dir);
    assertEquals(long.rows, data.rows.length);
    assert(data.rows.every((x: MetricRow) => Number.isFinite(x.value)), "finite values");
    await rejects(
      () => exportRun(dir, { format: "xml" as "csv" }),
      /format must be one of csv, smp, got "xml"/,
    );
    const empty = join(tmp, "empty");
    await Deno.mkdir(empty);
    await rejects(() => exportRun(empty, { format: "csv" }), /has no valid run record/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("an overhead resting on one iteration has no interval and says so", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_analysis_one_" });
  try {
    const dir = await writeSyntheticRun(tmp, { samples: 200, iterations: 1, rates: [200] });
    const data = tidyRuns([await loadRun(dir)]);
    assert(data.overheads.length > 0);
    for (const o of data.overheads) {
      assert(o.flags.includes("no-interval"), o.metric);
      assert(!o.flags.includes("ci-includes-zero"), o.metric);
      assert(Number.isNaN(o.ciLow) && Number.isNaN(o.ciHigh), o.metric);
      assertEquals(o.ciMethod, "too-few-iterations");
      assertEquals(o.baselineCvPct, null);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
