import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { HistogramRecorder, summarize } from "./histogram.ts";
import {
  computeKnees,
  judgeStep,
  type KneeCriteria,
  kneeCriteriaText,
  kneeFigure,
  kneeStopped,
  kneeText,
} from "./knee.ts";
import { loadRun } from "./load_results.ts";
import { findings, renderReport } from "./report.ts";
import { formatSummary } from "./summary_text.ts";
import { validateSummary } from "./schema.ts";
import type { RunRecord } from "./types.ts";

const criteria: KneeCriteria = { p99TargetMs: 10, maxSendLagPct: 25, saturationPct: 2 };

function step(
  mesh: string,
  iteration: number,
  rate: number,
  o: {
    latencyMs?: number;
    lagMs?: number;
    sent?: number;
    status?: RunRecord["status"];
    reason?: string;
  } = {},
): RunRecord {
  const hist = new HistogramRecorder();
  const lag = new HistogramRecorder();
  for (let i = 0; i < 100; i++) {
    hist.record((o.latencyMs ?? 1) * 1000);
    lag.record((o.lagMs ?? 0.1) * 1000);
  }
  const h = hist.toHistogram();
  return {
    kind: "meshbench.run",
    schemaVersion: "1",
    runId: "20000101T000000Z-000000",
    target: "local",
    spec: {
      seq: 1,
      workload: "http",
      mesh,
      iteration,
      point: {
        mode: "fixed-rate",
        tool: "vegeta",
        rate,
        connections: 16,
        durationS: 1,
        sweep: "knee",
      },
    },
    mesh: { name: mesh, kind: "none", emulated: false, version: "x", settings: {} },
    status: o.status ?? "ok",
    ...(o.reason ? { reason: o.reason } : {}),
    window: { start: "2000-01-01T00:00:00Z", end: "2000-01-01T00:00:01Z" },
    ...(o.status === "interrupted" ? {} : {
      load: {
        tool: "vegeta",
        toolVersion: "x",
        timing: "intended-send" as const,
        requestedRate: rate,
        achievedRate: rate,
        durationS: 1,
        connections: 16,
        operations: rate,
        errors: 0,
        errorKinds: {},
        bytesIn: 0,
        bytesOut: 0,
        latency: h,
        extra: { sentRate: o.sent ?? rate, sendLag: lag.toHistogram() },
      },
      latency: summarize(h),
    }),
    resources: [],
    raw: [],
    gitCommit: "0",
  };
}

Deno.test("a ramp step holds only with its p99 in target, the generator on time and no failure", () => {
  assertEquals(judgeStep(step("m", 1, 500), criteria).breaks, []);
  const kinds = (r: RunRecord) => judgeStep(r, criteria).breaks.map((b) => b.kind);
  assertEquals(kinds(step("m", 1, 500, { latencyMs: 12 })), ["p99"]);
  assertEquals(kinds(step("m", 1, 500, { lagMs: 3 })), ["generator"]);
  assertEquals(kinds(step("m", 1, 500, { sent: 480 })), ["generator"]);
  assertEquals(kinds(step("m", 1, 500, { status: "saturated" })), ["rate"]);
  assertEquals(kinds(step("m", 1, 500, { status: "failed", reason: "9 of 10 ok" })), [
    "success",
  ]);
  assertEquals(kinds(step("m", 1, 500, { status: "interrupted" })), ["interrupted"]);
  // A lag within 25 % of the 10 ms target is the generator keeping up.
  assertEquals(kinds(step("m", 1, 500, { lagMs: 2.4 })), []);
});

Deno.test("a ramp stops at its lowest broken step, per mesh and iteration", () => {
  const steps = [
    step("a", 1, 500),
    step("a", 1, 1000, { latencyMs: 20 }),
    step("a", 1, 2000, { latencyMs: 30 }),
    step("b", 1, 500),
  ].map((r) => judgeStep(r, criteria));
  const stopped = kneeStopped(steps);
  assertEquals(stopped.get("http|a|1"), 1000);
  assertEquals(stopped.has("http|b|1"), false);
});

Deno.test("the knee is the median per-iteration knee with their range, beside max throughput", () => {
  const rates = [250, 500, 1000];
  const records = [
    // iteration 1 breaks at 1000, 2 holds every step, 3 breaks at the first step.
    step("a", 1, 250),
    step("a", 1, 500),
    step("a", 1, 1000, { latencyMs: 11 }),
    step("a", 2, 250),
    step("a", 2, 500),
    step("a", 2, 1000),
    step("a", 3, 250, { status: "failed", reason: "errors" }),
  ];
  const [k] = computeKnees(records.map((r) => judgeStep(r, criteria)), {
    criteria,
    meta: () => ({ emulated: false, tool: "vegeta", connections: 16, durationS: 1, rates }),
    maxThroughput: () => ({ mean: 3000, min: 2900, max: 3100 }),
  });
  assertEquals(k.kneeRate, 500);
  assertEquals(k.interval, [0, 1000]);
  assertEquals(k.iterations.map((i) => [i.kneeRate, i.brokeAt]), [[500, 1000], [1000, null], [
    0,
    250,
  ]]);
  match(k.iterations[0].reasons[0], /^p99: p99 11 ms > 10 ms$/);
  assertEquals(k.aboveRamp, false);
  assertEquals(k.maxThroughput, { mean: 3000, min: 2900, max: 3100 });
  // Even counts take the lower middle knee: always a rate that was measured to hold.
  assertEquals(kneeFigure([1000, 250, 500, 2000]), { rate: 500, interval: [250, 2000] });
});

Deno.test("a synthetic run's summary holds a knee per mesh and the connection sweep apart", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_knee_" });
  try {
    const dir = await writeSyntheticRun(tmp, {
      samples: 400,
      iterations: 3,
      rates: [200],
      sweepConnections: [1, 16],
      kneeRates: [500, 1000, 2000, 4000, 8000],
    });
    const run = await loadRun(dir);
    const s = run.summary!;
    validateSummary(JSON.parse(JSON.stringify(s)));
    assertEquals(s.knees!.map((k) => k.mesh), ["baseline", "istio", "linkerd"]);
    for (const k of s.knees!) {
      assertEquals(k.iterations.length, 3);
      assert(k.interval[0] <= k.kneeRate && k.kneeRate <= k.interval[1]);
    }
    // The standard point keeps one group per mesh; the sweep's are apart, per connections.
    assertEquals(s.groups.map((g) => g.rate), [200, 200, 200]);
    assert(s.overheads.every((o) => o.sweep === undefined && o.rate === 200));
    const sweep = s.connectionSweep!;
    assertEquals(
      [...new Set(sweep.overheads.map((o) => `${o.mesh}@${o.connections}`))].sort(),
      ["istio@1", "istio@16", "linkerd@1", "linkerd@16"],
    );
    assertEquals(sweep.groups.length, 6);

    // The headline: the one-screen summary and the report's findings carry the knee.
    const text = formatSummary(s);
    match(text, /knee: the highest fixed rate that held p99 <= 40 ms/);
    match(text, /\n {2}http istio \(emu\)\s+\S+/);
    match(text, /connection sweep at 1000 req\/s, p99 overhead by connections:/);
    match(findings(run)[0], /^http knee \(p99 <= 40 ms, .*\): baseline /);
    const html = renderReport(run);
    for (const id of ["knee", "connections"]) {
      assert(html.includes(`<section id="${id}">`), id);
      assert(html.includes(`href="#${id}"`), id);
    }
    match(html, /overhead against connections at 1000 requests\/s/);
    match(html, /Knee per mesh: the highest fixed rate that held the p99 target/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a knee reads as its median, range and the max throughput beside it", () => {
  const base = {
    workload: "http",
    mesh: "m",
    emulated: false,
    tool: "vegeta",
    connections: 16,
    durationS: 1,
    rates: [250, 500, 1000],
    p99TargetMs: 10,
    maxSendLagPct: 25,
    intervalMethod: "range-of-iterations" as const,
    aboveRamp: false,
    iterations: [1, 2, 3].map((iteration) => ({
      iteration,
      kneeRate: 500,
      brokeAt: 1000,
      reasons: [],
      steps: 3,
    })),
    maxThroughput: { mean: 5210.4, min: 5000, max: 5400 },
  };
  assertEquals(
    kneeText({ ...base, kneeRate: 500, interval: [250, 1000] }),
    "500/s (range 250-1,000/s over 3 iterations; closed-loop max 5,210/s)",
  );
  assertEquals(
    kneeText({ ...base, kneeRate: 0, interval: [0, 0], maxThroughput: null }),
    "below 250/s (range below 250/s over 3 iterations)",
  );
  assertEquals(
    kneeText({ ...base, kneeRate: 1000, interval: [1000, 1000], aboveRamp: true }),
    "at least 1,000/s (the ramp's top) (range 1,000/s over 3 iterations; closed-loop max 5,210/s)",
  );
  assertEquals(
    kneeCriteriaText(base),
    "p99 <= 10 ms, generator on time (send lag p99 <= 2.5 ms, rate sent), success rate intact",
  );
});
