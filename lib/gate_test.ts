import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { usableByPoint } from "./compare.ts";
import { formatGate, gateRuns, highThreshold, iqr, pinpointVerdict } from "./gate.ts";
import { loadRun } from "./load_results.ts";
import { metricSpec } from "./metric_vocabulary.ts";

Deno.test("the high threshold shrinks with sample size and with the magnitude looked for", () => {
  // Pinpoint's rows: 1 IQR at 3 values is 1 (never "same"), falling to ~0.01 at 30.
  assertEquals(highThreshold(1, 3), 1);
  assert(highThreshold(1, 10) < highThreshold(1, 8));
  assert(highThreshold(1, 30) < 0.02);
  assert(highThreshold(4, 3) < highThreshold(1, 3));
  // Beyond the table: the last row and the last value of a row.
  assertEquals(highThreshold(40, 500), highThreshold(4, 6));
  assertEquals(highThreshold(0, 2), 1);
});

Deno.test("Pinpoint's verdict: different, same, or inconclusive with too few values", () => {
  const a = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95];
  assertEquals(pinpointVerdict(a, a.map((x) => x * 1.3), 4).verdict, "different");
  // The same values, a change of 4 IQRs looked for: nothing suspicious, so "same".
  const same = pinpointVerdict(a, [...a].reverse(), 4);
  assertEquals(same.verdict, "same");
  assertEquals(same.pValue, 1);
  // Three values a side, completely separated: p = 0.033, never "different".
  const three = pinpointVerdict([1, 2, 3], [4, 5, 6], 1);
  assertEquals(three.verdict, "inconclusive, run more");
  assert(three.pValue > 0.03 && three.pValue < 0.04, String(three.pValue));
  assertEquals(iqr([1, 2, 3, 4, 5]), 2);
});

Deno.test("metrics declare an alert threshold, except the ones too noisy to gate on", () => {
  assertEquals(metricSpec("latency_p99_ms").alertThresholdPct, 20);
  assertEquals(metricSpec("throughput_rps").better, "higher");
  assertEquals(metricSpec("latency_max_ms").alertThresholdPct, undefined);
});

async function gateOf(
  a: { seed: number; iterations: number },
  b: { seed: number; iterations: number; meshFactor: number },
) {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_gate_" });
  try {
    const dirA = await writeSyntheticRun(join(tmp, "a"), { samples: 400, rates: [500], ...a });
    const dirB = await writeSyntheticRun(join(tmp, "b"), { samples: 400, rates: [500], ...b });
    return gateRuns(usableByPoint(await loadRun(dirA)), usableByPoint(await loadRun(dirB)));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("a mesh made much slower fails the gate; its baseline and the other mesh do not", async () => {
  const g = await gateOf({ seed: 3, iterations: 6 }, { seed: 4, iterations: 6, meshFactor: 4 });
  assert(g.failed);
  const fails = g.results.filter((r) => r.regression);
  assert(fails.every((r) => r.mesh !== "baseline"), formatGate(g));
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  assertEquals(p50.verdict, "different");
  assert(p50.regression);
  assertEquals(p50.values.a.length, 6);
  match(formatGate(g), /FAIL http · istio \(emulated\) · p50 latency @ 500\/s/);
  match(formatGate(g), /Gate FAILED/);
});

Deno.test("the same slowdown with 3 iterations a side is inconclusive, never a failure", async () => {
  const g = await gateOf({ seed: 3, iterations: 3 }, { seed: 4, iterations: 3, meshFactor: 4 });
  assertEquals(g.failed, false);
  assertEquals(g.results.filter((r) => r.verdict === "different"), []);
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  assertEquals(p50.verdict, "inconclusive, run more");
  match(formatGate(g), /fewer than 5 iterations on a side/);
  match(formatGate(g), /Gate passed/);
});

Deno.test("an improvement is different but never fails the gate", async () => {
  const g = await gateOf({ seed: 3, iterations: 6 }, { seed: 4, iterations: 6, meshFactor: 0 });
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  assertEquals(p50.verdict, "different");
  assert(p50.changePct < 0);
  assertEquals(p50.regression, false);
  assertEquals(g.failed, false);
});

Deno.test("summary.json stores each overhead metric's direction and alert threshold", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_gate_summary_" });
  try {
    const run = await loadRun(await writeSyntheticRun(tmp, { samples: 200, rates: [500] }));
    const metrics = run.summary!.metrics!;
    const names = new Set(run.summary!.overheads.map((o) => o.metric));
    assertEquals(metrics.map((m) => m.name).sort(), [...names].sort());
    assertEquals(metrics.find((m) => m.name === "latency_p99_ms"), {
      name: "latency_p99_ms",
      unit: "ms",
      better: "lower",
      alertThresholdPct: 20,
    });
    assertEquals(metrics.find((m) => m.name === "latency_max_ms")!.alertThresholdPct, null);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
