import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  match,
  ok as assert,
} from "node:assert/strict";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { loadRun } from "./load_results.ts";
import { comparisonPlot } from "./plots/comparison.ts";
import { latencyDistributionPlot, latencyPercentilePlot } from "./plots/latency.ts";
import { overheadPlot, overheadVsPayloadPlot, rankMeshes } from "./plots/overhead.ts";
import { resourcePlot } from "./plots/resources.ts";
import { throughputPlot } from "./plots/throughput.ts";
import { JUPYTER_DISPLAY, table } from "./figure.ts";
import { formatNumber, formatPct, meshLabel } from "./format.ts";

const tmp = await Deno.makeTempDir({ prefix: "meshbench_plots_" });
const run = await loadRun(await writeSyntheticRun(tmp, { samples: 500 }));
await Deno.remove(tmp, { recursive: true });
const summary = run.summary!;

function svgCount(html: string): number {
  return (html.match(/<svg[^>]*class="plot-/g) ?? []).length;
}

Deno.test("labels mark emulated meshes and format numbers readably", () => {
  assertEquals(meshLabel("istio", true), "istio (emulated)");
  assertEquals(meshLabel("baseline", false), "baseline");
  assertEquals(formatPct(12.345), "+12.3 %");
  assertEquals(formatPct(-150.2), "-150 %");
  assertEquals(formatPct(NaN), "n/a");
  assertEquals(formatNumber(0.012345), "0.0123");
  assertEquals(formatNumber(123456.7), "123,457");
});

Deno.test("latency plots draw one SVG with units, iterations and emulation marks", () => {
  for (const f of [latencyPercentilePlot, latencyDistributionPlot]) {
    const fig = f(summary.groups, "http");
    assertEquals(fig.charts, 1);
    assertEquals(svgCount(fig.html), 1);
    match(fig.html, /latency \(ms\)/);
    match(fig.html, /3 iterations per point/);
    match(fig.html, /istio \(emulated\)/);
    match(fig.html, /200\/s/);
    match(fig.html, /500\/s/);
    doesNotMatch(fig.html, /NaN/);
  }
});

Deno.test("a workload with no data gives a notice, not an empty chart", () => {
  const fig = latencyPercentilePlot(summary.groups, "grpc");
  assertEquals(fig.charts, 0);
  match(fig.html, /no latency results for &quot;grpc&quot;/);
});

Deno.test("overhead plot shows CI bars, iteration counts and each metric panel", () => {
  const fig = overheadPlot(summary.overheads, "http", { metrics: ["latency_p99_ms"] });
  assertEquals(svgCount(fig.html), 1);
  match(fig.html, /p99 latency \(ms\) @ 200\/s/);
  match(fig.html, /n=3\/3/);
  match(fig.html, /95 % CI/);
  doesNotMatch(fig.html, /p50 latency/);
  // After the zero line, one CI rule per (mesh, rate): 2 meshes x 2 rates.
  const ciRules = fig.html.split('aria-label="rule"')[2].split('aria-label="tick"')[0];
  assertEquals((ciRules.match(/<line/g) ?? []).length, 4);
});

Deno.test("rankMeshes orders by overhead, smallest first", () => {
  const ranked = rankMeshes(summary.overheads, {
    workload: "http",
    metric: "latency_p50_ms",
    rate: 500,
  });
  assertEquals(ranked.length, 2);
  assert(ranked[0].overheadPct <= ranked[1].overheadPct);
  assertEquals(ranked[0].mesh, "linkerd"); // the synthetic linkerd adds less latency
});

Deno.test("rankMeshes puts the smallest throughput loss first (higher is better)", () => {
  const base = summary.overheads[0];
  const loss = (mesh: string, overheadPct: number) => ({
    ...base,
    mesh,
    metric: "throughput_rps" as const,
    rate: null,
    overheadPct,
  });
  const ranked = rankMeshes([loss("istio", -40), loss("linkerd", -10)], {
    workload: base.workload,
    metric: "throughput_rps",
    rate: null,
  });
  assertEquals(ranked.map((o) => o.mesh), ["linkerd", "istio"]);
});

Deno.test("throughput and resource plots render every panel", () => {
  const t = throughputPlot(summary.groups);
  assertEquals(svgCount(t.html), 1);
  match(t.html, /http @ 200\/s/);
  match(t.html, /operations\/s/);
  for (const m of ["cpuCores", "memoryPeakMB", "cpuSecondsPer1k"] as const) {
    const r = resourcePlot(summary.groups, m);
    assertEquals(svgCount(r.html), 1, m);
    match(r.html, /data-plane/);
  }
});

Deno.test("figures display themselves in Jupyter as HTML", () => {
  const fig = throughputPlot(summary.groups);
  const bundle = fig[JUPYTER_DISPLAY]();
  assertEquals(bundle["text/html"], fig.html);
});

Deno.test("tables escape their cells", () => {
  const fig = table("t", [{ a: "<script>" }], { columns: [{ header: "a", value: (r) => r.a }] });
  match(fig.html, /&lt;script&gt;/);
  doesNotMatch(fig.html, /<script>/);
});

Deno.test("comparison plot colours changes that exceed the noise", () => {
  const fig = comparisonPlot([
    {
      group: "http · istio @ 500/s",
      metric: "p99 latency",
      changePct: 50,
      ci95: [20, 80],
      exceedsNoise: true,
      iterations: { a: 3, b: 3 },
    },
    {
      group: "http · istio @ 500/s",
      metric: "p50 latency",
      changePct: 5,
      ci95: [-10, 20],
      exceedsNoise: false,
      iterations: { a: 3, b: 3 },
    },
  ]);
  assertEquals(svgCount(fig.html), 1);
  match(fig.html, /#dc2626/);
  match(fig.html, /exceeds noise/);
});

Deno.test("the throughput subtitle states the run's saturation tolerance", () => {
  const subtitle = (html: string) => html.match(/class="mb-subtitle">([^<]*)</)?.[1] ?? "";
  match(
    subtitle(throughputPlot(summary.groups, { saturationPct: 5 }).html),
    /falls more than 5 % short of its target is a saturation result/,
  );
  match(
    subtitle(throughputPlot(summary.groups, { saturationPct: 0.5 }).html),
    /more than 0\.5 % short/,
  );
  const unknown = subtitle(throughputPlot(summary.groups).html);
  match(unknown, /more than the run&#39;s saturation tolerance \(saturationPct\) short/);
  doesNotMatch(unknown, /2 %/);
});

Deno.test("overhead vs payload: a panel per HTTP version, and a 0-byte body drawn (symmetric log axis)", () => {
  const base = summary.overheads.find((o) => o.metric === "latency_p99_ms" && o.rate !== null)!;
  const os = ["sidecar-emu", "node-proxy-emu"].flatMap((mesh) =>
    [0, 1024, 16384].flatMap((payloadBytes) =>
      [undefined, "h2c" as const].map((httpProtocol) => ({
        ...base,
        mesh,
        rate: 500,
        payloadBytes,
        ...(httpProtocol ? { httpProtocol } : {}),
        overheadPct: payloadBytes / 1024 + (httpProtocol ? 1 : 2),
        ci95: [0, 30] as [number, number],
      }))
    )
  );
  const html = overheadVsPayloadPlot(os, base.workload).html;
  assertEquals(svgCount(html), 1);
  match(html, /p99 latency \(ms\) @ 500\/s · HTTP\/1\.1/);
  match(html, /p99 latency \(ms\) @ 500\/s · HTTP\/2 \(h2c\)/);
  match(html, /symmetric log scale/);
  match(html, /compare protocols by the added milliseconds/);
  // Every point has its dot, the 0-byte ones included: 2 meshes x 3 sizes x 2 protocols.
  assertEquals((html.match(/<circle/g) ?? []).length, 12);
});
