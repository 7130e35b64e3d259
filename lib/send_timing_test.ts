import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { findBinary } from "./binaries.ts";
import { realRunner } from "./command.ts";
import { percentile, summarize } from "./histogram.ts";
import { renderReport } from "./report.ts";
import { validateSummary } from "./schema.ts";
import { isGeneratorLimited, sendTimingOf } from "./send_timing.ts";
import { summarizeRuns } from "./summary.ts";
import { formatSummary } from "./summary_text.ts";
import { startTestNginx } from "./testenv/nginx.ts";
import { parseVegetaCsv, vegetaAttackCommand, vegetaResult } from "./tools/vegeta.ts";
import type { LoadResult, MeshRef, RunRecord } from "./types.ts";
import { missingBinaries, skipReason } from "../tests/skip.ts";

Deno.test("isGeneratorLimited compares the lag's p99 with a share of the baseline's p50", () => {
  assertEquals(isGeneratorLimited(0.05, 0.4, 10), true);
  assertEquals(isGeneratorLimited(0.04, 0.4, 10), false);
  assertEquals(isGeneratorLimited(5, undefined, 10), false, "no baseline: nothing to hold it to");
  assertEquals(isGeneratorLimited(5, 0, 10), false);
});

Deno.test("sendTimingOf finds send lag only where a tool recorded it", () => {
  assertEquals(sendTimingOf(undefined), undefined);
  assertEquals(sendTimingOf({ extra: {} }), undefined);
  assertEquals(
    sendTimingOf({ extra: { sendLag: { total: 0, values: [], counts: [] } } }),
    undefined,
  );
});

/** One real vegeta run at 200/s for 1 s against `url`. */
async function vegetaRun(url: string): Promise<LoadResult> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-send-timing-" });
  try {
    const vegeta = findBinary("vegeta")!;
    await Deno.writeTextFile(join(dir, "targets"), `GET ${url}\n`);
    const out = join(dir, "out.bin");
    await realRunner.run(
      vegetaAttackCommand({
        vegeta,
        targetsFile: join(dir, "targets"),
        outFile: out,
        rate: 200,
        durationS: 1,
        connections: 4,
      }),
      { timeoutMs: 60_000 },
    );
    const csv = (await realRunner.run([vegeta, "encode", "--to", "csv", out])).stdout;
    return vegetaResult(parseVegetaCsv(csv), {
      rate: 200,
      durationS: 1,
      connections: 4,
      toolVersion: "test",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function record(seq: number, mesh: MeshRef, load: LoadResult): RunRecord {
  return {
    kind: "meshbench.run",
    schemaVersion: "1",
    runId: "20000101T000000Z-000000",
    target: "local",
    spec: {
      seq,
      workload: "http",
      mesh: mesh.name,
      iteration: 1,
      point: { mode: "fixed-rate", tool: "vegeta", rate: 200, connections: 4, durationS: 1 },
    },
    mesh,
    status: "ok",
    window: { start: new Date(0).toISOString(), end: new Date(1000).toISOString() },
    load,
    latency: summarize(load.latency),
    resources: [],
    raw: [],
    gitCommit: "test",
  };
}

const noTools = skipReason(
  "send timing test with the real vegeta",
  missingBinaries({ vegeta: findBinary("vegeta"), nginx: findBinary("nginx") }),
);

Deno.test({
  name:
    "a run is generator-limited exactly when its send-lag p99 exceeds the configured share of the baseline's p50 service time, flagged in the summary, its text and the report",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const nginx = await startTestNginx();
    let base: LoadResult, mesh: LoadResult;
    try {
      base = await vegetaRun(nginx.url);
      mesh = await vegetaRun(nginx.url);
    } finally {
      await nginx.stop();
    }
    const records = [
      record(
        1,
        { name: "baseline", kind: "none", emulated: false, version: "-", settings: {} },
        base,
      ),
      record(2, {
        name: "sidecar-emu",
        kind: "sidecar",
        emulated: true,
        version: "-",
        settings: {},
      }, mesh),
    ];
    // The figures the flag reads, recomputed from the two real runs (as summaries round them).
    const baseP50 = summarize(sendTimingOf(base)!.serviceTime!).p50Ms;
    const lagP99 = (r: LoadResult) => summarize(sendTimingOf(r)!.sendLag).p99Ms;
    assert(baseP50 > 0 && lagP99(mesh) >= 0);
    const worst = Math.max(lagP99(base), lagP99(mesh));
    const options = (generatorLimitedPct: number) => ({
      runId: "20000101T000000Z-000000",
      target: "local" as const,
      baseline: "baseline",
      noisyCvPct: 10,
      resamples: 200,
      confidence: 0.95,
      seed: 1,
      generatorLimitedPct,
      now: new Date(0),
    });
    // A share just under the worse lag's ratio flags it; a share just over does not. The lag
    // itself depends on the machine's load; the arithmetic does not.
    const ratioPct = (worst / baseP50) * 100;
    for (const [pct, expected] of [[ratioPct * 0.99, true], [ratioPct * 1.01, false]] as const) {
      if (!(pct > 0)) continue; // a lag of 0 everywhere cannot be flagged at any share
      const s = summarizeRuns(records, options(pct));
      validateSummary(JSON.parse(JSON.stringify(s)));
      const group = (m: string) => s.groups.find((g) => g.mesh === m && g.rate === 200)!;
      for (const [m, r] of [["baseline", base], ["sidecar-emu", mesh]] as const) {
        const g = group(m);
        assertEquals(g.sendLag, summarize(sendTimingOf(r)!.sendLag));
        assertEquals(g.serviceTime, summarize(sendTimingOf(r)!.serviceTime!));
        assertEquals(g.generatorLimited, lagP99(r) > (baseP50 * pct) / 100, `${m} at ${pct} %`);
      }
      const latency = s.overheads.filter((o) => o.rate === 200);
      assert(latency.length > 0);
      for (const o of latency) {
        assertEquals(o.generatorLimited, expected, `${o.metric} at ${pct} %`);
      }
      assertEquals(s.notes.some((n) => n.startsWith("Generator-limited:")), expected);
      const text = formatSummary(s);
      assertEquals(/ GEN/.test(text), expected, text);
      const html = renderReport({
        dir: "/nonexistent",
        runId: s.runId,
        manifest: null,
        summary: JSON.parse(JSON.stringify(s)),
        runs: [],
        problems: [],
        emulated: true,
        summaryDerived: false,
      }, { generatedAt: "2000-01-01T00:00:00.000Z" });
      assertEquals(/\bgenerator-limited\)/.test(html), expected);
    }
    // The lag is the intended-vs-actual arithmetic: the response time is never below it.
    assert(percentile(mesh.latency, 99) >= percentile(sendTimingOf(mesh)!.sendLag, 99) - 1);
  },
});
