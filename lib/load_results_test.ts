import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { listRunFiles, readJson, writeJsonAtomic } from "./run_dir.ts";
import {
  forEachRecordFile,
  forEachRecordFileShared,
  loadRun,
  manifestProblems,
  resolveRunDir,
  runRecordProblems,
  summaryProblems,
} from "./load_results.ts";
import { packSummary, summarizeRuns, SummaryBuilder, SummaryWorker } from "./summary.ts";
import { syntheticRecords } from "../bench/synthetic.ts";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { SUMMARY_SCHEMA_VERSION } from "./types.ts";

async function synthetic(): Promise<{ tmp: string; dir: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_load_" });
  const dir = await writeSyntheticRun(tmp, { samples: 500 });
  return { tmp, dir };
}

Deno.test("loadRun reads a complete run with no problems", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const run = await loadRun(dir);
    assertEquals(run.problems, []);
    assertEquals(run.runId, "20000101T000000Z-000007");
    assertEquals(run.runs.length, 18);
    assertEquals(run.summary?.groups.length, 6);
    assertEquals(run.summaryDerived, false);
    assertEquals(run.emulated, true);
    assertEquals(run.runs.map((r) => r.spec.seq), [...Array(18)].map((_, i) => i + 1));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("loadRun names a missing directory instead of throwing", async () => {
  const run = await loadRun("/nonexistent/meshbench-run");
  assertEquals(run.problems.length, 1);
  match(run.problems[0].problem, /does not exist/);
  assertEquals(run.summary, null);
});

Deno.test("loadRun keeps valid records and names a truncated one", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const files = await listRunFiles(dir);
    const text = await Deno.readTextFile(files[4]);
    await Deno.writeTextFile(files[4], text.slice(0, text.length / 2));
    await Deno.writeTextFile(files[5], "");
    const run = await loadRun(dir);
    assertEquals(run.runs.length, 16);
    const byFile = new Map(run.problems.map((p) => [p.file, p.problem]));
    match(byFile.get(files[4])!, /not valid JSON/);
    match(byFile.get(files[5])!, /is empty/);
    assertEquals(run.problems.length, 2);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("loadRun recomputes the summary from valid runs when summary.json is missing", async () => {
  const { tmp, dir } = await synthetic();
  try {
    await Deno.remove(join(dir, "summary.json"));
    const run = await loadRun(dir);
    assertEquals(run.problems.length, 1);
    assertEquals(run.problems[0].file, join(dir, "summary.json"));
    match(run.problems[0].problem, /missing/);
    assertEquals(run.summaryDerived, true);
    assertEquals(run.summary?.groups.length, 6);
    assert(run.summary!.overheads.length > 0);
    match(run.summary!.notes.join(" "), /recomputed by the reader from the 18 valid/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("loadRun quotes the bad field of a malformed manifest and an interrupted status", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const path = join(dir, "manifest.json");
    const m = JSON.parse(await Deno.readTextFile(path));
    m.plan = "not a plan";
    await Deno.writeTextFile(path, JSON.stringify(m));
    let run = await loadRun(dir);
    assertEquals(run.manifest, null);
    assertEquals(run.problems[0].file, path);
    match(run.problems[0].problem, /\/plan must be array, got "not a plan"/);

    m.plan = [];
    m.status = "interrupted";
    m.reason = "SIGINT";
    await Deno.writeTextFile(path, JSON.stringify(m));
    run = await loadRun(dir);
    match(run.problems[0].problem, /"interrupted": SIGINT/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("record and manifest checks name the field and quote the value", () => {
  assertEquals(runRecordProblems([]), ["/ must be object"]);
  assert(
    manifestProblems({ kind: "x" }).includes('/kind must be equal to constant, got "x"'),
  );
  const problems = runRecordProblems({ kind: "meshbench.run", status: "ok" });
  assert(problems.includes("/ must have required property 'spec'"), problems.join("|"));
});

Deno.test("resolveRunDir prefers the argument, then MESHBENCH_RUN_DIR, then the newest", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_resolve_" });
  const saved = Deno.env.get("MESHBENCH_RUN_DIR");
  try {
    Deno.env.delete("MESHBENCH_RUN_DIR");
    assertEquals(await resolveRunDir(undefined, { resultsDir: tmp }), undefined);
    await Deno.mkdir(join(tmp, "20260101T000000Z-aaaaaa"));
    await Deno.mkdir(join(tmp, "20260102T000000Z-bbbbbb"));
    assertEquals(
      await resolveRunDir(undefined, { resultsDir: tmp }),
      join(tmp, "20260102T000000Z-bbbbbb"),
    );
    Deno.env.set("MESHBENCH_RUN_DIR", "/x");
    assertEquals(await resolveRunDir(undefined, { resultsDir: tmp }), "/x");
    assertEquals(await resolveRunDir("/y", { resultsDir: tmp }), "/y");
  } finally {
    if (saved === undefined) Deno.env.delete("MESHBENCH_RUN_DIR");
    else Deno.env.set("MESHBENCH_RUN_DIR", saved);
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a run with many 0 µs latencies is kept but flagged as implausible", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const files = await listRunFiles(dir);
    const r = JSON.parse(await Deno.readTextFile(files[3]));
    r.load.latency.values.unshift(0);
    r.load.latency.counts.unshift(100);
    r.load.latency.total += 100;
    r.load.latency.min = 0;
    await Deno.writeTextFile(files[3], JSON.stringify(r));
    const run = await loadRun(dir);
    assertEquals(run.runs.length, 18);
    assertEquals(run.problems.length, 1);
    assertEquals(run.problems[0].file, files[3]);
    match(run.problems[0].problem, /16\.7 % of the 600 latencies are 0 µs/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a summary.json with packed histograms reads back as the summary that was packed", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const built = summarizeRuns((await loadRun(dir)).runs, {
      runId: "20000101T000000Z-000007",
      target: "local",
      baseline: "baseline",
      noisyCvPct: 10,
      resamples: 200,
      confidence: 0.95,
      seed: 3,
      now: new Date(0),
    });
    assertEquals(built.schemaVersion, "3");
    await writeJsonAtomic(join(dir, "summary.json"), packSummary(built));
    const stored = await readJson(join(dir, "summary.json")) as {
      groups: Array<{ histogram: Record<string, unknown> }>;
    };
    assert(stored.groups.every((g) => typeof g.histogram.packed === "string"));
    assert(stored.groups.every((g) => g.histogram.values === undefined));
    const run = await loadRun(dir);
    assertEquals(run.problems, []);
    assertEquals(run.summary, JSON.parse(JSON.stringify(built)));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("summary checks name a malformed packed histogram, and one in a version 2 file", async () => {
  const { tmp, dir } = await synthetic();
  try {
    const stored = await readJson(join(dir, "summary.json")) as {
      schemaVersion: string;
      groups: Array<{ histogram: { total: number } }>;
    };
    stored.groups[1].histogram.total += 1;
    match(summaryProblems(stored).join("; "), /\/groups\/1\/histogram\/packed counts add up to/);
    stored.groups[1].histogram.total -= 1;
    assertEquals(summaryProblems(stored), []);
    stored.schemaVersion = "2";
    match(summaryProblems(stored).join("; "), /\/groups\/0\/histogram must have required property/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the committed fixture runs read without problems, and each as a version 2 file (unpacked histograms) too", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench-fixture-v2-" });
  try {
    for (const name of FIXTURE_RUNS) {
      const committed = await loadRun(join(import.meta.dirname!, "..", "fixtures", "runs", name));
      assertEquals(committed.problems, []);
      assertEquals(committed.summary?.schemaVersion, SUMMARY_SCHEMA_VERSION);
      assertEquals(committed.summaryDerived, false);
      // The same run as summary version 2 wrote it (2026-11-30): histograms as plain arrays.
      const dir = await copyFixtureRun(name, tmp);
      const v2 = { ...JSON.parse(JSON.stringify(committed.summary)), schemaVersion: "2" };
      await Deno.writeTextFile(join(dir, "summary.json"), JSON.stringify(v2));
      const run = await loadRun(dir);
      assertEquals(run.problems, []);
      assertEquals(run.summary?.schemaVersion, "2");
      assert(run.summary!.groups.every((g) => Array.isArray(g.histogram.values)));
      assertEquals(
        JSON.parse(JSON.stringify(run.summary!.groups)),
        JSON.parse(JSON.stringify(committed.summary!.groups)),
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("records read half on collect's worker give the same records, problems and summary as one thread", async () => {
  // 15 load points x 4 meshes x 5 iterations, and a broken file in each half.
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_shared_" });
  const worker = new SummaryWorker();
  try {
    const files: string[] = [];
    for (const [i, r] of syntheticRecords(300, 5).entries()) {
      const file = join(tmp, `r_${String(i).padStart(4, "0")}.json`);
      await Deno.writeTextFile(file, JSON.stringify(r));
      files.push(file);
    }
    await Deno.writeTextFile(files[20], "{");
    await Deno.writeTextFile(files[250], JSON.stringify({ kind: "meshbench.run" }));
    const options = {
      runId: "r",
      target: "local" as const,
      baseline: "baseline",
      noisyCvPct: 10,
      resamples: 500,
      confidence: 0.95,
      seed: 3,
      now: new Date(0),
    };
    const one = new SummaryBuilder(options);
    const two = new SummaryBuilder(options);
    const seen: Array<[string, number, number[]]> = [];
    const problems = await forEachRecordFile(files, (r, f) => {
      one.add(r);
      seen.push([f, r.spec.seq, r.load!.latency.counts]);
    });
    const shared: typeof seen = [];
    const sharedProblems = await forEachRecordFileShared(files, (r, f) => {
      two.add(r);
      shared.push([f, r.spec.seq, Array.from(r.load!.latency.counts)]);
    }, worker);
    assertEquals(problems.map((p) => p.file), [files[20], files[250]]);
    assertEquals(sharedProblems, problems);
    assertEquals(shared, seen);
    const serial = JSON.stringify(packSummary(one.finish()));
    const parallel = JSON.stringify(
      packSummary(await two.finishInParallel({ minPoints: 1, worker })),
    );
    assertEquals(JSON.parse(serial).groups.length, 60);
    assertEquals(parallel, serial);
  } finally {
    worker.terminate();
    await Deno.remove(tmp, { recursive: true });
  }
});
