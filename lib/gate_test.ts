import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { usableByPoint } from "./compare.ts";
import {
  bestPValue,
  formatGate,
  GATE_ALPHA,
  gateRuns,
  highThreshold,
  holmAdjust,
  iqr,
  iterationsToFail,
  pinpointVerdict,
} from "./gate.ts";
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

Deno.test("Holm's adjustment: the i-th smallest p times the tests left, never decreasing", () => {
  assertEquals(holmAdjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02]);
  assertEquals(holmAdjust([0.5, 0.9]), [1, 1]);
  assertEquals(holmAdjust([]), []);
});

Deno.test("the iterations that can fail the gate grow with the family of gating tests", () => {
  // 2 / C(2n, n) <= 0.01 / family: 5 a side for 1 test, 6 up to 4, 7 up to 17, 8 up to 64.
  assertEquals(bestPValue(5, 5), 2 / 252);
  const at = (family: number) => iterationsToFail(family, 0.01);
  assertEquals([at(1), at(2), at(4), at(5), at(17), at(18), at(64), at(65)], [
    5,
    6,
    6,
    7,
    7,
    8,
    8,
    9,
  ]);
  assertEquals(iterationsToFail(0, 0.01), null);
  assertEquals(iterationsToFail(15, 0.05), 6);
  // 4 a side reach exact p = 2 / 70 = 0.029 < 0.05, but Pinpoint never calls 4 different.
  assertEquals(iterationsToFail(1, 0.05), 5);
});

Deno.test("metrics declare an alert threshold, except the ones too noisy to gate on", () => {
  assertEquals(metricSpec("latency_p99_ms").alertThresholdPct, 20);
  assertEquals(metricSpec("throughput_rps").better, "higher");
  assertEquals(metricSpec("latency_max_ms").alertThresholdPct, undefined);
});

async function gateOf(
  a: { seed: number; iterations: number },
  b: { seed: number; iterations: number; meshFactor: number },
  alpha?: number,
) {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_gate_" });
  try {
    const dirA = await writeSyntheticRun(join(tmp, "a"), { samples: 400, rates: [500], ...a });
    const dirB = await writeSyntheticRun(join(tmp, "b"), { samples: 400, rates: [500], ...b });
    return gateRuns(usableByPoint(await loadRun(dirA)), usableByPoint(await loadRun(dirB)), {
      alpha,
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("a mesh made much slower fails the gate; its baseline and the other mesh do not", async () => {
  // 19 gating tests: 8 iterations a side is the fewest that can fail at the level 0.01.
  const g = await gateOf({ seed: 3, iterations: 8 }, { seed: 4, iterations: 8, meshFactor: 4 });
  assertEquals([g.family.size, g.family.iterationsToFail, g.family.canFail], [19, 8, true]);
  assert(g.failed);
  const fails = g.results.filter((r) => r.regression);
  assert(fails.every((r) => r.mesh !== "baseline"), formatGate(g));
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  assertEquals(p50.verdict, "different");
  assert(p50.regression);
  assertEquals(p50.values.a.length, 8);
  assert(p50.pHolm! <= GATE_ALPHA, String(p50.pHolm));
  // All of B above all of A: 2 of the C(16, 8) splits.
  assertEquals(p50.pPermutation, bestPValue(8, 8));
  match(formatGate(g), /FAIL http · istio \(emulated\) · p50 latency @ 500\/s/);
  match(formatGate(g), /Holm-adjusted over the 19 gating tests, is <= 0.01/);
  match(formatGate(g), /8 iterations a side is the fewest that can/);
  match(formatGate(g), /Gate FAILED/);
});

Deno.test("the same slowdown with 7 iterations a side cannot fail a family of 19 tests, and says so", async () => {
  const g = await gateOf({ seed: 3, iterations: 7 }, { seed: 4, iterations: 7, meshFactor: 4 });
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  // Pinpoint's verdict alone would fail it; the family of 19 needs p <= 0.01 / 19.
  assertEquals(p50.verdict, "different");
  assertEquals(p50.pPermutation, bestPValue(7, 7));
  assert(bestPValue(7, 7) > 0.01 / 19);
  assertEquals([g.failed, g.family.canFail], [false, false]);
  match(formatGate(g), /This comparison CANNOT fail the gate: with 7\/7 iterations/);
  // A looser level is the user's choice, and then it fails.
  const loose = await gateOf({ seed: 3, iterations: 7 }, {
    seed: 4,
    iterations: 7,
    meshFactor: 4,
  }, 0.05);
  assertEquals([loose.family.alpha, loose.failed], [0.05, true]);
});

Deno.test("the same slowdown with 3 iterations a side is inconclusive, never a failure", async () => {
  const g = await gateOf({ seed: 3, iterations: 3 }, { seed: 4, iterations: 3, meshFactor: 4 });
  assertEquals(g.failed, false);
  assertEquals(g.results.filter((r) => r.verdict === "different"), []);
  const p50 = g.results.find((r) => r.mesh === "istio" && r.metric === "latency_p50_ms")!;
  assertEquals(p50.verdict, "inconclusive, run more");
  match(formatGate(g), /CANNOT fail the gate: with 3\/3 iterations/);
  match(formatGate(g), /Gate passed/);
});

Deno.test("an improvement is different but never fails the gate", async () => {
  const g = await gateOf({ seed: 3, iterations: 8 }, { seed: 4, iterations: 8, meshFactor: 0 });
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

/**
 * `count` synthetic runs of ONE configuration (different seeds: every iteration of every run
 * drawn from the same distribution), 8 iterations of 2 load points and 3 meshes each, read
 * as `compare` groups them. 30 requests per histogram keep each iteration's p95 and p99 as
 * noisy as a short window on a loaded machine (tens of %), so the alert thresholds alone
 * cannot keep false alarms away.
 */
async function nullRuns(tmp: string, count: number) {
  const runs = [];
  for (let s = 0; s < count; s++) {
    const dir = await writeSyntheticRun(tmp, {
      seed: 1000 + s,
      iterations: 8,
      rates: [100, 200],
      samples: 30,
    });
    runs.push(usableByPoint(await loadRun(dir)));
  }
  return runs;
}

Deno.test("runs of one configuration fail the gate at most as often as its level, over 120 seeded pairs", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_gate_null_" });
  try {
    const runs = await nullRuns(tmp, 16);
    const failures: string[] = [];
    let pairs = 0;
    for (let i = 0; i < runs.length; i++) {
      for (let j = i + 1; j < runs.length; j++) {
        pairs++;
        const g = gateRuns(runs[i], runs[j]);
        if (g.failed) {
          failures.push(
            `${i} vs ${j}: ` +
              g.results.filter((r) => r.regression).map((r) =>
                `${r.mesh} ${r.metric} @ ${r.rate} ${r.changePct.toFixed(0)} % p=${
                  r.pValue.toPrecision(2)
                }`
              ).join(", "),
          );
        }
      }
    }
    assertEquals(pairs, 120);
    // Not vacuous: these runs can fail the gate, and do when a mesh really is slower.
    const g = gateRuns(runs[0], runs[1]);
    assertEquals([g.family.size, g.family.canFail], [38, true]);
    const slow = await writeSyntheticRun(tmp, {
      seed: 2000,
      iterations: 8,
      rates: [100, 200],
      samples: 30,
      meshFactor: 4,
    });
    assert(gateRuns(runs[0], usableByPoint(await loadRun(slow))).failed);
    assert(
      failures.length / pairs <= 0.01,
      `${failures.length} of ${pairs} comparisons of one configuration failed the gate:\n` +
        failures.join("\n"),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
