/**
 * Scale check of summary + report over N synthetic run records.
 *   deno run -A bench/summary_scale.ts generate N DIR   writes a run directory of N records
 *   deno run -A bench/summary_scale.ts measure RUN_DIR  times collect + report on it
 *   deno run -A bench/summary_scale.ts breakdown RUN_DIR  CPU and wall time of each piece
 * `measure` runs in its own process so its peak memory (VmHWM) is only that of summary +
 * report. It does what `bench:all` does after the load: collect, the manifest's final status,
 * and the report stage handed the summary collect built (summary.json is not read back);
 * `reportSeconds` is the last two. `breakdown` runs the stages' pieces one by one (reading
 * and checking the records, pooling and bootstrap, writing summary.json, the report's reading,
 * alone and handed over, and rendering) to show where the time goes; it needs the summary.json
 * that `measure` writes (else exit 2).
 * Each prints one JSON line. CPU seconds are the process's, every thread's: the reading of
 * the records (kept) and the pooling and bootstrap run on two threads (collect's worker), so
 * their CPU can exceed their wall time. The
 * records are SYNTHETIC and carry no send-lag or service-time histograms, which real vegeta
 * and HTTP-client records do (collect pools those too): real records cost somewhat more.
 */
import { join } from "node:path";
import { createRunDir, listRunFiles, writeJsonAtomic } from "../lib/run_dir.ts";
import { finishRun, openRun, stageCollect, stageReport } from "../lib/pipeline.ts";
import { packSummary, SummaryBuilder, summarySettings, SummaryWorker } from "../lib/summary.ts";
import {
  forEachRecordFileShared,
  forEachRunRecord,
  loadRunRows,
  runIndexEntry,
} from "../lib/load_results.ts";
import { renderReport } from "../lib/report.ts";
import { memoryLogger } from "../lib/log.ts";
import { realRunner } from "../lib/command.ts";
import { loadConfig } from "../lib/config.ts";
import { syntheticRecords } from "./synthetic.ts";
import { SCHEMA_VERSION } from "../lib/types.ts";
import type { Manifest, RunIndexEntry } from "../lib/types.ts";

/** The reason the synthetic run's manifest gives for its status. */
const SYNTHETIC_REASON = "SYNTHETIC records for a scale benchmark";

async function generate(n: number, out: string): Promise<string> {
  const runDir = await createRunDir(out, "20260101T000000Z-5e7e71");
  const records = syntheticRecords(n);
  const { config } = await loadConfig({
    flags: { meshes: ["baseline", "sidecar-emu", "node-proxy-emu", "other-emu"] },
  });
  const now = new Date().toISOString();
  const manifest: Manifest = {
    kind: "meshbench.manifest",
    schemaVersion: SCHEMA_VERSION,
    runId: "20260101T000000Z-5e7e71",
    target: "local",
    profile: "quick",
    status: "complete",
    reason: SYNTHETIC_REASON,
    createdAt: now,
    updatedAt: now,
    config: config as unknown as Record<string, unknown>,
    configSources: ["defaults"],
    provenance: {
      gitCommit: "synthetic",
      gitDirty: false,
      meshbenchVersion: "synthetic",
      deno: Deno.version.deno,
      hostname: "synthetic",
      kernel: Deno.osRelease(),
      os: "synthetic",
      cpuModel: "synthetic",
      cpuCount: 1,
      memoryMB: 1,
      loadAverage: [0, 0, 0],
      tools: {},
      startedBy: "bench/summary_scale.ts",
    },
    plan: records.map((r) => r.spec),
    planSeed: 1,
    stages: [],
  };
  await writeJsonAtomic(join(runDir, "manifest.json"), manifest);
  await Promise.all(
    records.map((r, i) =>
      Deno.writeTextFile(
        join(runDir, "runs", `${r.spec.workload}_test_${String(i + 1).padStart(5, "0")}.json`),
        JSON.stringify(r),
      )
    ),
  );
  return runDir;
}

/** CPU seconds (user + system) this process has used: steadier than wall time under load. */
function cpuSeconds(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? NaN) / 1024;
}

async function measure(runDir: string) {
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const summary = await stageCollect(runDir, deps);
  const counts = {
    records: summary.groups.reduce((s, g) => s + g.iterations + g.failed, 0),
    groups: summary.groups.length,
    overheads: summary.overheads.length,
  };
  const t1 = performance.now();
  const c1 = cpuSeconds();
  const peakAfterSummaryMB = peakRssMB();
  // What bench:all does after collect: the final manifest, then the report from the summary
  // collect handed over (summary.json is not read back).
  await finishRun(runDir, "complete", SYNTHETIC_REASON);
  await stageReport(runDir, deps, { summary });
  const t2 = performance.now();
  const c2 = cpuSeconds();
  return {
    ...counts,
    summarySeconds: (t1 - t0) / 1000,
    reportSeconds: (t2 - t1) / 1000,
    totalSeconds: (t2 - t0) / 1000,
    summaryCpuSeconds: c1 - c0,
    reportCpuSeconds: c2 - c1,
    peakRssAfterSummaryMB: peakAfterSummaryMB,
    peakRssMB: peakRssMB(),
  };
}

/** CPU and wall seconds of each piece of collect and report, run one after the other. */
async function breakdown(runDir: string) {
  // The report pieces read RUN_DIR/summary.json with its run index, as a real report does;
  // without it the report would re-derive the summary from every record (tens of seconds).
  try {
    await Deno.stat(join(runDir, "summary.json"));
  } catch {
    console.error(
      `breakdown: ${join(runDir, "summary.json")} is missing: run \`measure ${runDir}\` first ` +
        `(it writes summary.json), then breakdown`,
    );
    Deno.exit(2);
  }
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  const { ctx, manifest } = await openRun(runDir, deps);
  const pieces: Record<string, { cpuSeconds: number; wallSeconds: number }> = {};
  const time = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const out = await fn();
    pieces[name] = { cpuSeconds: cpuSeconds() - c0, wallSeconds: (performance.now() - t0) / 1000 };
    return out;
  };
  await time("read and check records", () => forEachRunRecord(runDir, () => {}));
  const builder = new SummaryBuilder({
    runId: manifest.runId,
    target: manifest.target,
    ...summarySettings(ctx.config),
  });
  const index: RunIndexEntry[] = [];
  // As collect does it: the worker starts first, reads and checks the last 42 % of the files,
  // then computes three of every seven load points.
  const worker = new SummaryWorker();
  const summary = await (async () => {
    try {
      const files = await listRunFiles(runDir);
      await time(
        "read, check and keep records (both cores)",
        () =>
          forEachRecordFileShared(files, (r, file) => {
            builder.add(r);
            index.push(runIndexEntry(file, r));
          }, worker),
      );
      return await time(
        "pool and bootstrap (both cores)",
        () => builder.finishInParallel({ worker }),
      );
    } finally {
      worker.terminate();
    }
  })();
  summary.runs = index.sort((a, b) => a.spec.seq - b.spec.seq);
  const tmp = join(runDir, "summary.breakdown.json");
  await time("write summary.json", () => writeJsonAtomic(tmp, packSummary(summary)));
  await Deno.remove(tmp);
  // `deno task report` alone reads summary.json; bench:all (and `measure`) hand it over.
  await time("report alone: read run", () => loadRunRows(runDir));
  const run = await time(
    "report: run from the summary handed over",
    () => loadRunRows(runDir, { summary }),
  );
  await time("report: render", () => renderReport(run));
  return pieces;
}

if (import.meta.main) {
  const [mode, a, b] = Deno.args;
  if (mode === "generate") {
    console.log(JSON.stringify({ runDir: await generate(Number(a), b) }));
  } else if (mode === "measure") {
    console.log(JSON.stringify(await measure(a)));
  } else if (mode === "breakdown") {
    console.log(JSON.stringify(await breakdown(a)));
  } else {
    console.error("usage: summary_scale.ts generate N DIR | measure RUN_DIR | breakdown RUN_DIR");
    Deno.exit(2);
  }
}
