import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  match,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { join } from "node:path";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { loadRun } from "./load_results.ts";
import { compareRuns, formatComparison } from "./compare.ts";
import { writeComparison } from "./compare_report.ts";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { metricSpec } from "./metric_vocabulary.ts";

async function twoRuns(
  fn: (a: string, b: string, tmp: string) => Promise<void>,
  b: { seed: number; meshFactor: number },
) {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_compare_" });
  try {
    const dirA = await writeSyntheticRun(join(tmp, "a"), { samples: 600, seed: 7 });
    const dirB = await writeSyntheticRun(join(tmp, "b"), { samples: 600, ...b });
    await fn(dirA, dirB, tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("identical runs: nothing exceeds the noise", async () => {
  await twoRuns(async (dirA, dirB) => {
    const c = compareRuns(await loadRun(dirA), await loadRun(dirB), { resamples: 300 });
    // 6 points x (4 latency + cpu + memory), and the proxies' CPU and memory at the 4
    // meshed points (the baseline has no proxy to compare).
    assertEquals(c.differences.length, 6 * 6 + 4 * 2);
    assertEquals(c.differences.filter((d) => d.exceedsNoise), []);
    for (const d of c.differences) assertEquals(d.changePct, 0);
    match(formatComparison(c), /No change exceeds the noise \(44 metrics compared\)/);
  }, { seed: 7, meshFactor: 1 });
});

Deno.test("a mesh that got slower is flagged, the baseline is not", async () => {
  await twoRuns(async (dirA, dirB) => {
    const c = compareRuns(await loadRun(dirA), await loadRun(dirB), { resamples: 500 });
    const p50 = (mesh: string, rate: number) =>
      c.differences.find((d) =>
        d.mesh === mesh && d.rate === rate && d.metric === "latency_p50_ms"
      )!;
    assert(p50("istio", 500).exceedsNoise);
    assert(p50("istio", 500).changePct > 30, String(p50("istio", 500).changePct));
    assert(p50("istio", 500).ci95[0] > 0);
    assertEquals(p50("baseline", 500).exceedsNoise, false);
    const text = formatComparison(c);
    match(text, /Changes that exceed the noise/);
    match(text, /\* http · istio \(emulated\) · p50 latency @ 500\/s/);
    assert(c.overheadChanges.some((o) => o.mesh === "istio" && o.exceedsNoise));
  }, { seed: 11, meshFactor: 4 });
});

Deno.test("one iteration a side is never called a change", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_compare1_" });
  try {
    const a = await writeSyntheticRun(join(tmp, "a"), { samples: 300, iterations: 1 });
    const b = await writeSyntheticRun(join(tmp, "b"), {
      samples: 300,
      iterations: 1,
      seed: 9,
      meshFactor: 5,
    });
    const c = compareRuns(await loadRun(a), await loadRun(b), { resamples: 100 });
    assert(c.differences.length > 0);
    assertEquals(c.differences.filter((d) => d.exceedsNoise), []);
    match(c.differences[0].note!, /fewer than 2 iterations/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("writeComparison writes JSON and HTML, and refuses a run with no records", async () => {
  await twoRuns(async (dirA, dirB, tmp) => {
    const out = join(tmp, "cmp");
    const r = await writeComparison(dirA, dirB, { out, resamples: 200 });
    const json = JSON.parse(await Deno.readTextFile(r.json));
    assertEquals(json.kind, "meshbench.comparison");
    assertEquals(json.differences.length, 44);
    const html = await Deno.readTextFile(r.html);
    match(html, /<svg[^>]*class="plot-/);
    match(html, /Gate verdicts \(compare --gate\)/);
    assertEquals(
      json.gate.results.length,
      json.gate.results.filter((r: { verdict: string }) =>
        ["different", "same", "inconclusive, run more"].includes(r.verdict)
      ).length,
    );
    // What the gate's decision used: its level and family of gating tests.
    assertEquals(json.gate.family.alpha, 0.01);
    assertEquals(json.gate.family.correction, "holm");
    assertEquals(
      json.gate.family.size,
      json.gate.results.filter((r: { pHolm: number | null }) => r.pHolm !== null).length,
    );
    match(html, /correction over the \d+ gating tests; family-wise level 0\.01/);
    const loose = await writeComparison(dirA, dirB, { out, resamples: 200, gateAlpha: 0.05 });
    assertEquals(loose.comparison.gate.family.alpha, 0.05);
    doesNotMatch(html, /<script/);
    await rejects(
      () => writeComparison(dirA, join(tmp, "nope"), { out }),
      /Cannot compare ".*nope": it has no valid run records \(.*does not exist/,
    );
  }, { seed: 8, meshFactor: 2 });
});

/** The (ms, interval low, interval high) figures `pattern` (three number groups) finds. */
function msFigures(text: string, pattern: RegExp): number[][] {
  return [...text.matchAll(pattern)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

/** Whether `shown` is `x` printed to about three significant digits. */
const printedAs = (x: number, shown: number) => Math.abs(x - shown) <= Math.abs(x) * 0.006 + 0.0006;

Deno.test("two real runs compared: every latency difference has its change in ms (B - A) with an interval, in the JSON, the text and the page", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_compare_ms_" });
  try {
    const [a, b] = await Promise.all(
      FIXTURE_RUNS.slice(-2).map((name) => copyFixtureRun(name, join(tmp, "runs"))),
    );
    const { comparison: c, html } = await writeComparison(a, b, {
      out: join(tmp, "cmp"),
      resamples: 200,
    }).then(async (r) => ({ comparison: r.comparison, html: await Deno.readTextFile(r.html) }));
    const latency = c.differences.filter((d) => metricSpec(d.metric).addedLatency);
    assert(latency.length >= 8, `${latency.length} latency differences`);
    for (const d of c.differences) {
      assertEquals(
        typeof d.deltaMs === "number",
        metricSpec(d.metric).addedLatency === true,
        d.metric,
      );
    }
    const n = "([+-]?[\\d.]+)";
    const text = msFigures(
      formatComparison(c, { all: true }),
      new RegExp(`\\(${n} ms \\[${n} ms, ${n} ms\\]\\)`, "g"),
    );
    const page = msFigures(html, new RegExp(`${n} ms \\[${n} ms, ${n} ms\\]`, "g"));
    for (const d of latency) {
      const what = `${d.workload} ${d.mesh} ${d.metric} @ ${d.rate}`;
      assert(Math.abs(d.deltaMs! - (d.b - d.a)) < 1e-9, `${what}: B - A`);
      const [lo, hi] = d.deltaMsCi95!;
      assert(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi, `${what}: ${lo} ${hi}`);
      const want = [d.deltaMs!, lo, hi];
      for (const [where, figures] of [["text", text], ["page", page]] as const) {
        assert(
          figures.some((f) => f.every((v, i) => printedAs(want[i], v))),
          `${where}: ${what}: ${want.join(", ")}`,
        );
      }
    }
    // The overheads of both runs: their added ms side by side where both have them.
    const changes = c.overheadChanges.filter((o) => typeof o.a.deltaMs === "number");
    assert(changes.length > 0);
    for (const o of changes) assertEquals(o.deltaMsChange, o.b.deltaMs! - o.a.deltaMs!);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
