import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  doesNotThrow,
  match,
  ok as assert,
  throws,
} from "node:assert/strict";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { loadRun } from "./load_results.ts";
import { metricSpec } from "./metric_vocabulary.ts";
import { renderReport } from "./report.ts";
import { validateSummary } from "./schema.ts";
import { packSummary, summarizeRuns, SummaryBuilder } from "./summary.ts";
import { syntheticRecords } from "../bench/synthetic.ts";
import { unpackHistogram } from "./histogram.ts";
import { formatSummary } from "./summary_text.ts";
import type { RunRecord } from "./types.ts";

async function records(iterations: number): Promise<RunRecord[]> {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_summary_" });
  try {
    const dir = await writeSyntheticRun(tmp, { samples: 300, iterations, rates: [200] });
    return (await loadRun(dir)).runs;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const options = (seed: number) => ({
  runId: "20000101T000000Z-000000",
  target: "local" as const,
  baseline: "baseline",
  noisyCvPct: 10,
  resamples: 500,
  confidence: 0.95,
  seed,
  now: new Date(0),
});

Deno.test("every latency overhead has its added milliseconds with an interval around them", async () => {
  const s = summarizeRuns(await records(3), options(1));
  validateSummary(JSON.parse(JSON.stringify(s)));
  assertEquals(s.schemaVersion, "3");
  const latency = s.overheads.filter((o) => metricSpec(o.metric).addedLatency);
  assert(latency.length >= 8);
  for (const o of latency) {
    assertEquals(o.deltaMs, o.value - o.baseline);
    const [lo, hi] = o.deltaMsCi95!;
    assert(lo <= o.deltaMs! && o.deltaMs! <= hi, `${o.metric} ${o.mesh}: ${lo} ${hi}`);
    assertEquals(o.ciMethod, "exact");
  }
  for (const o of s.overheads.filter((o) => !metricSpec(o.metric).addedLatency)) {
    assertEquals(o.deltaMs, null);
    assertEquals(o.deltaMsCi95, null);
  }
});

Deno.test("with 3 iterations the summary's intervals are the same whatever the seed", async () => {
  const rs = await records(3);
  const first = summarizeRuns(rs, options(1));
  for (let seed = 2; seed <= 20; seed++) {
    assertEquals(summarizeRuns(rs, options(seed)).overheads, first.overheads, `seed ${seed}`);
  }
});

Deno.test("one iteration: no interval and no CV, said in the summary, its text and the report", async () => {
  const s = summarizeRuns(await records(1), options(1));
  validateSummary(JSON.parse(JSON.stringify(s)));
  assert(s.overheads.length > 0);
  for (const o of s.overheads) {
    assertEquals(o.ciMethod, "too-few-iterations");
    assert(Number.isNaN(o.ci95[0]) && Number.isNaN(o.ci95[1]));
    assertEquals(o.baselineCvPct, null);
    assertEquals(o.noisyBaseline, false);
  }
  assert(s.notes.some((n) => /single iteration .* no confidence interval/.test(n)), s.notes[0]);
  const text = formatSummary(s);
  match(text, /\(n=1: no CI\)/);
  match(text, /n=1: one iteration of the baseline or the mesh: too few for an interval/);
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
  match(html, /n=1\/1: too few iterations for an interval/);
  match(html, /\[no CI: n=1\]/);
});

Deno.test("a version 1 summary (no deltaMs) still reads; a version 2 one without it does not", async () => {
  const s = JSON.parse(JSON.stringify(summarizeRuns(await records(3), options(1))));
  const v1 = structuredClone(s);
  v1.schemaVersion = "1";
  for (const o of v1.overheads) {
    delete o.deltaMs;
    delete o.deltaMsCi95;
    delete o.ciMethod;
  }
  doesNotThrow(() => validateSummary(v1));
  doesNotMatch(formatSummary(v1), /ms \[/);
  delete s.overheads[0].deltaMs;
  throws(() => validateSummary(s), /\/overheads\/0 must have required property 'deltaMs'/);
});

Deno.test("load points that differ only in payload size are grouped and compared apart", async () => {
  const rs = await records(3);
  // The same records at two payload sizes, the larger one 1 ms slower everywhere.
  const sized = rs.flatMap((r) =>
    [1024, 16384].map((payloadBytes): RunRecord => {
      const copy: RunRecord = structuredClone(r);
      copy.spec.point.payloadBytes = payloadBytes;
      if (payloadBytes === 16384 && copy.load) {
        copy.load.latency.values = copy.load.latency.values.map((v) => v + 1000);
        copy.load.latency.min += 1000;
        copy.load.latency.max += 1000;
        if (copy.load.latency.sum !== undefined) {
          copy.load.latency.sum += 1000 * copy.load.latency.total;
        }
      }
      return copy;
    })
  );
  const s = summarizeRuns(sized, options(1));
  validateSummary(JSON.parse(JSON.stringify(s)));
  const plain = summarizeRuns(rs, options(1));
  assertEquals(s.groups.length, plain.groups.length * 2);
  assertEquals(s.overheads.length, plain.overheads.length * 2);
  for (const payload of [1024, 16384]) {
    const gs = s.groups.filter((g) => g.payloadBytes === payload);
    assertEquals(gs.length, plain.groups.length);
  }
  const p50 = (payload: number) =>
    s.groups.find((g) =>
      g.mesh === "baseline" && g.mode === "fixed-rate" && g.payloadBytes === payload
    )!.latency.p50Ms;
  assert(Math.abs(p50(16384) - p50(1024) - 1) < 0.05, `${p50(1024)} ${p50(16384)}`);
  const o1 = s.overheads.filter((o) => o.payloadBytes === 1024);
  const o16 = s.overheads.filter((o) => o.payloadBytes === 16384);
  assertEquals(o1.length, plain.overheads.length);
  assertEquals(o16.length, plain.overheads.length);
  // Same data at 1 KB as without a payload: the same figures (each point its own seed).
  assertEquals(
    o1.map((o) => [o.metric, o.mesh, o.value, o.baseline]),
    plain.overheads.map((o) => [o.metric, o.mesh, o.value, o.baseline]),
  );
});

Deno.test("context switches per request divide each run's switches by that run's own operations", async () => {
  const rs = await records(3);
  // Give every record switches: the app 2 per operation of its own run, the proxies 3, the
  // control plane 1, the load generator 7, while the runs' operation counts differ.
  const perOp = { app: 2, "data-plane": 3, "control-plane": 1, loadgen: 7 } as Record<
    string,
    number
  >;
  const withSwitches = rs.map((r, i): RunRecord => {
    const ops = r.load!.operations + i * 37; // no two runs alike
    const all = [
      ...r.resources,
      { ...r.resources[0], component: "loadgen" as const, name: "loadgen" },
      { ...r.resources[0], component: "node" as const, name: "node" },
    ];
    return {
      ...r,
      load: { ...r.load!, operations: ops },
      resources: all.map((x) => {
        // The node's count is node-wide: it must stay out of the per-request figures.
        if (x.component === "node") {
          return { ...x, contextSwitches: { total: 999_999, source: "node-stat" as const } };
        }
        const k = perOp[x.component];
        const n = all.filter((y) => y.component === x.component).length;
        const total = (k * ops) / n;
        return {
          ...x,
          contextSwitches: { total, voluntary: total, involuntary: 0, source: "task-status" },
        };
      }),
    };
  });
  const s = summarizeRuns(withSwitches, options(1));
  validateSummary(JSON.parse(JSON.stringify(s)));
  const total = s.overheads.filter((o) => o.metric === "ctx_switches_per_req");
  const proxy = s.overheads.filter((o) => o.metric === "proxy_ctx_switches_per_req");
  assert(total.length > 0 && proxy.length === total.length);
  const meshed = (mesh: string) =>
    rs.some((r) => r.spec.mesh === mesh && r.resources.some((x) => x.component === "data-plane"));
  for (const o of total) {
    // Per request, app + mesh, the load generator and the node left out.
    assert(Math.abs(o.baseline - 2) < 1e-9, `baseline ${o.baseline}`);
    assert(Math.abs(o.value - (meshed(o.mesh) ? 6 : 2)) < 1e-9, `${o.mesh} ${o.value}`);
  }
  for (const o of proxy) {
    assertEquals(o.basis, "share-of-baseline-app");
    assert(Math.abs(o.overheadPct - (meshed(o.mesh) ? 200 : 0)) < 1e-9, `${o.overheadPct}`);
  }
  const g = s.groups.find((x) => x.mesh === "baseline")!;
  const lg = g.resources.find((x) => x.component === "loadgen")!;
  assert(Math.abs(lg.ctxSwitchesPerOp! - 7) < 1e-9, `loadgen ${lg.ctxSwitchesPerOp}`);
  // The one-screen summary shows it as a column and says what it counts.
  const text = formatSummary(s);
  match(text, /ctx sw\/req/);
  match(text, /the load generator and the node not included/);
  // Records without counters (written before them) give no figure rather than zero.
  const none = summarizeRuns(rs, options(1));
  assertEquals(none.overheads.filter((o) => o.metric.includes("ctx")).length, 0);
});

Deno.test("a group histogram changed after it was read is packed as changed", async () => {
  const s = summarizeRuns(await records(3), options(1));
  const h = s.groups[0].histogram;
  const before = packSummary(s).groups[0].histogram;
  assert("packed" in before);
  h.counts[0] += 5;
  h.total += 5;
  const after = packSummary(s).groups[0].histogram;
  assert("packed" in after);
  assertEquals(unpackHistogram(after).counts[0], unpackHistogram(before).counts[0] + 5);
  assertEquals(unpackHistogram(after), JSON.parse(JSON.stringify(h)));
});

Deno.test("finishing with a worker thread gives the same summary, byte for byte, as finishing on one", async () => {
  // 40 load points x 4 meshes x 5 iterations, the worker taking every other point.
  const records = syntheticRecords(800, 7);
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
  for (const r of records) {
    one.add(r);
    two.add(structuredClone(r));
  }
  const serial = JSON.stringify(packSummary(one.finish()));
  const parallel = JSON.stringify(packSummary(await two.finishInParallel({ minPoints: 1 })));
  assertEquals(JSON.parse(serial).overheads.length, 40 * 3 * 8);
  assertEquals(parallel, serial);
  // Its records' histograms went to the worker: finishing again would read emptied arrays.
  throws(() => two.finish(), /finishInParallel/);
});

Deno.test("a builder that finished on this thread through finishInParallel lets go of its records and refuses to finish again", async () => {
  const builder = new SummaryBuilder({
    runId: "r",
    target: "local",
    baseline: "baseline",
    noisyCvPct: 10,
    resamples: 200,
    confidence: 0.95,
    seed: 3,
    now: new Date(0),
  });
  for (const r of syntheticRecords(40, 5)) builder.add(r);
  // Two load points, fewer than minPoints: computed here, no worker.
  const summary = await builder.finishInParallel({ minPoints: 64 });
  assertEquals(summary.groups.length, 8);
  throws(() => builder.finish(), /let go of its records/);
});
