/**
 * Latency charts of one run: percentiles per mesh and load point, the full latency
 * spectrum from the merged histograms, and latency against the offered rate of a sweep.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { formatNumber, meshLabel, rateLabel } from "../format.ts";
import { type Figure, notice } from "../figure.ts";
import { percentiles } from "../histogram.ts";
import { bucketsForReading } from "../summary.ts";
import type { GroupStats, Histogram } from "../types.ts";
import {
  atRepresentativeRates,
  emulationText,
  iterationsText,
  meshColor,
  meshOrder,
  type PlotOptions,
  render,
  sortRates,
  sweepRates,
  WIDTH,
  wrap,
} from "./chart.ts";

const PERCENTILES: Array<{ key: keyof GroupStats["latency"]; label: string }> = [
  { key: "p50Ms", label: "p50" },
  { key: "p90Ms", label: "p90" },
  { key: "p99Ms", label: "p99" },
  { key: "p999Ms", label: "p99.9" },
  { key: "maxMs", label: "max" },
];

function latencyGroups(groups: readonly GroupStats[], workload: string) {
  return atRepresentativeRates(
    groups.filter((g) => g.workload === workload && g.histogram.total > 0),
  );
}

/**
 * Latency percentiles (p50 to max, merged over iterations) per mesh, one panel per
 * load point, for one workload.
 */
export function latencyPercentilePlot(
  groups: readonly GroupStats[],
  workload: string,
  options: PlotOptions = {},
): Figure {
  const { kept: gs, note } = latencyGroups(groups, workload);
  const title = `${workload}: latency percentiles by mesh`;
  if (gs.length === 0) return notice(`${title}: no latency results for "${workload}".`);
  const baseline = options.baselineMesh ?? "baseline";
  const labels = meshOrder(gs, baseline);
  const rows = gs.flatMap((g) =>
    PERCENTILES.map((p) => ({
      mesh: meshLabel(g.mesh, g.emulated),
      pct: p.label,
      ms: g.latency[p.key],
      rate: rateLabel(g.rate, g.mode),
      n: g.iterations,
      tool: g.tool,
    }))
  ).filter((r) => Number.isFinite(r.ms) && r.ms > 0);
  const rates = sortRates(rows.map((r) => r.rate), gs);
  const values = rows.map((r) => r.ms);
  const log = Math.max(...values) / Math.min(...values) > 20;
  const svg = render({
    width: options.width ?? WIDTH,
    height: 320,
    marginLeft: 56,
    marginTop: 28,
    marginBottom: 40,
    x: { domain: PERCENTILES.map((p) => p.label), label: "percentile", padding: 0.3 },
    y: latencyScale(values),
    fx: { domain: rates, label: "target rate", padding: 0.08 },
    color: meshColor(labels, meshLabel(baseline, false)),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      Plot.line(rows, {
        fx: "rate",
        x: "pct",
        y: "ms",
        stroke: "mesh",
        z: "mesh",
        strokeWidth: 1.5,
      }),
      Plot.dot(rows, {
        fx: "rate",
        x: "pct",
        y: "ms",
        fill: "mesh",
        r: 3.5,
        title: (r: typeof rows[number]) =>
          `${r.mesh} @ ${r.rate}\n${r.pct}: ${
            formatNumber(r.ms)
          } ms\n${r.n} iterations (${r.tool})`,
      }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: `Percentiles read from histograms merged over iterations (never averaged); ` +
      `${log ? "log" : "linear"} scale.`,
    caption: `Latency in milliseconds, ${iterationsText(gs)}. ` +
      `Tool: ${[...new Set(gs.map((g) => `${g.tool} (${g.timing})`))].join(", ")}.` +
      (gs.some((g) => g.timing === "closed-loop")
        ? " Closed-loop (max-throughput) latency includes queueing at saturation: compare " +
          "meshes within that panel only."
        : "") +
      note + emulationText(gs),
  });
}

/** The latency axis: log when values span more than 20x, padded so dots stay inside. */
function latencyScale(values: number[]) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return hi / lo > 20
    ? {
      type: "log" as const,
      grid: true,
      label: "latency (ms)",
      domain: [lo / 1.3, hi * 1.3],
      tickFormat: (d: number) => formatNumber(d),
    }
    : { type: "linear" as const, grid: true, label: "latency (ms)", nice: true, zero: true };
}

/** Percentiles at which a latency distribution is drawn: denser towards the tail. */
function spectrumPoints(h: Histogram): Array<{ p: number; ms: number }> {
  if (h.total === 0) return [];
  const maxNines = Math.log10(h.total);
  const ps: number[] = [];
  for (let k = 0; k <= maxNines + 1e-9; k += 0.05) ps.push(100 * (1 - 10 ** -k));
  const us = percentiles(bucketsForReading(h), ps);
  return ps.map((p, i) => ({ p, ms: us[i] / 1000 }));
}

/**
 * HDR latency distribution (latency by percentile on a "nines" axis) per mesh, one
 * panel per load point, for one workload: where in the tail the meshes diverge.
 */
export function latencyDistributionPlot(
  groups: readonly GroupStats[],
  workload: string,
  options: PlotOptions = {},
): Figure {
  const { kept: gs, note } = latencyGroups(groups, workload);
  const title = `${workload}: latency distribution (HDR) by mesh`;
  if (gs.length === 0) return notice(`${title}: no latency histograms for "${workload}".`);
  const baseline = options.baselineMesh ?? "baseline";
  const labels = meshOrder(gs, baseline);
  const rows = gs.flatMap((g) =>
    spectrumPoints(g.histogram).map((s) => ({
      mesh: meshLabel(g.mesh, g.emulated),
      rate: rateLabel(g.rate, g.mode),
      // 1 / (1 - p): 2 at p50, 10 at p90, 100 at p99 ...
      x: 1 / (1 - s.p / 100),
      p: s.p,
      ms: s.ms,
    }))
  ).filter((r) => r.ms > 0);
  const rates = sortRates(rows.map((r) => r.rate), gs);
  const maxX = Math.max(...rows.map((r) => r.x));
  const ticks = [1, 2, 10, 100, 1000, 10000, 100000].filter((t) => t <= maxX * 1.01);
  const values = rows.map((r) => r.ms);
  const svg = render({
    width: options.width ?? WIDTH,
    height: 320,
    marginLeft: 56,
    marginTop: 28,
    marginBottom: 40,
    marginRight: 24,
    x: {
      type: "log",
      label: "percentile",
      ticks,
      tickFormat: (t: number) => t === 1 ? "0%" : `${+(100 * (1 - 1 / t)).toFixed(4)}%`,
      domain: [1, Math.max(2, maxX)],
    },
    y: latencyScale(values),
    fx: { domain: rates, label: "target rate", padding: 0.08 },
    color: meshColor(labels, meshLabel(baseline, false)),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      Plot.line(rows, {
        fx: "rate",
        x: "x",
        y: "ms",
        stroke: "mesh",
        z: "mesh",
        strokeWidth: 1.5,
        curve: "step-after",
      }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: `Latency at each percentile of the merged histogram; the right edge is ` +
      `the slowest request.`,
    caption: `Latency in milliseconds against percentile (log "nines" axis), ` +
      `${iterationsText(gs)}; ` +
      `${gs.map((g) => g.histogram.total).reduce((a, b) => a + b, 0).toLocaleString("en-US")} ` +
      `requests in all.` + note + emulationText(gs),
  });
}

/**
 * Latency against target rate (the load sweep) per mesh, one panel per percentile, for
 * one workload's fixed-rate runs: where the knee is, and how overhead grows with rate.
 */
export function latencyVsRatePlot(
  groups: readonly GroupStats[],
  workload: string,
  options: PlotOptions = {},
): Figure {
  const gs = groups.filter((g) =>
    g.workload === workload && g.mode === "fixed-rate" && g.rate !== null && g.histogram.total > 0
  );
  const title = `${workload}: latency against target rate`;
  if (sweepRates(gs, workload).length < 2) {
    return notice(`${title}: fewer than two fixed rates were measured.`);
  }
  const baseline = options.baselineMesh ?? "baseline";
  const labels = meshOrder(gs, baseline);
  const pcts = PERCENTILES.filter((p) =>
    p.label === "p50" || p.label === "p99" || p.label === "p99.9"
  );
  const rows = gs.flatMap((g) =>
    pcts.map((p) => ({
      mesh: meshLabel(g.mesh, g.emulated),
      pct: p.label,
      rate: g.rate!,
      ms: g.latency[p.key],
      saturated: g.saturated > 0,
    }))
  ).filter((r) => Number.isFinite(r.ms) && r.ms > 0);
  const values = rows.map((r) => r.ms);
  type Row = typeof rows[number];
  const svg = render({
    width: options.width ?? WIDTH,
    height: 300,
    marginLeft: 56,
    marginTop: 28,
    marginBottom: 40,
    x: { label: "target rate (requests/s)", grid: true, nice: true },
    y: latencyScale(values),
    fx: { domain: pcts.map((p) => p.label), label: null, padding: 0.08 },
    color: meshColor(labels, meshLabel(baseline, false)),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      Plot.line(rows, { fx: "pct", x: "rate", y: "ms", stroke: "mesh", z: "mesh", sort: "rate" }),
      Plot.dot(rows, {
        fx: "pct",
        x: "rate",
        y: "ms",
        fill: (r: Row) => r.saturated ? "white" : r.mesh,
        stroke: "mesh",
        r: 3,
        title: (r: Row) => `${r.mesh} @ ${rateLabel(r.rate)}: ${r.pct} ${formatNumber(r.ms)} ms`,
      }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: "Percentiles of histograms merged over iterations, at every fixed rate measured.",
    caption: `Latency in milliseconds against requested rate, ${iterationsText(gs)}. ` +
      `Hollow dots: a run at that point could not hold its rate (saturated).` +
      emulationText(gs),
  });
}
