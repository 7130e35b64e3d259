/**
 * The report's plotting module: every chart and table in `report.html` comes from here
 * (Observable Plot rendered to inline SVG with a linkedom document, so no browser and
 * no network are needed). The notebooks draw their own charts with `Plot.plot` calls in
 * plain sight (`analysis.ts` gives them rows) and use the tables and notices of
 * `figure.ts`.
 *
 * Each function returns a {@linkcode Figure} (`figure.ts`): self-contained HTML that the
 * report inlines and that a Deno Jupyter cell displays (`display` in `analysis.ts`).
 * Every figure names its units and iteration counts, and marks emulated meshes.
 *
 * @example
 * ```ts
 * import { representativeRates } from "./plots.ts";
 * const rates = representativeRates([100, 500, 1000]);
 * if (rates.join() !== "100,500,1000") throw new Error(`three rates fit: ${rates}`);
 * ```
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import {
  formatMs,
  formatNumber,
  formatOverhead,
  formatPct,
  formatShare,
  meshLabel,
  payloadLabel,
  rateLabel,
} from "./format.ts";
import { escapeHtml, type Figure, makeFigure, notice, stack, table } from "./figure.ts";
import { percentiles } from "./histogram.ts";
import { costOf, type MetricName, metricRank, overheadLabel } from "./metric_vocabulary.ts";
import type { Component, GroupStats, Histogram, Overhead } from "./types.ts";
import type { Knee } from "./knee.ts";

/** One row of a {@linkcode comparisonPlot}: a change between two runs with its CI. */
export interface ChangeRow {
  /** Where: workload, mesh and load point, e.g. `http · istio @ 500/s` (one panel each). */
  group: string;
  /** Which metric, e.g. `p99 latency`. */
  metric: string;
  changePct: number;
  ci95: [number, number];
  exceedsNoise: boolean;
  iterations: { a: number; b: number };
}

/** Colour of the no-mesh baseline in every chart. */
const BASELINE_COLOR = "#6b7280";
/** Colours of the meshes, in order of first appearance (after the baseline). */
const MESH_COLORS = ["#4269d0", "#ef8a17", "#3ca951", "#d62d7a", "#8f5bd6", "#1fa5b5", "#a0522d"];
const COMPONENT_COLORS: Record<Component, string> = {
  "control-plane": "#8f5bd6",
  "data-plane": "#ef8a17",
  app: "#4269d0",
  loadgen: "#9ca3af",
  node: "#374151",
};
const WIDTH = 880;

// linkedom's typings lean on DOM lib types that Deno does not load: keep it opaque.
let doc: unknown;
function document(): unknown {
  doc ??= (parseHTML("<!doctype html><html><head></head><body></body></html>") as unknown as {
    document: unknown;
  }).document;
  return doc;
}

function wrap(
  title: string,
  body: string,
  parts: { subtitle?: string; caption?: string; charts: number },
): Figure {
  const html = `<figure class="mb-figure">` +
    `<figcaption class="mb-title">${escapeHtml(title)}</figcaption>` +
    (parts.subtitle ? `<p class="mb-subtitle">${escapeHtml(parts.subtitle)}</p>` : "") +
    body +
    (parts.caption ? `<p class="mb-caption">${escapeHtml(parts.caption)}</p>` : "") +
    `</figure>`;
  return makeFigure(title, html, parts.charts);
}

/** Meshes in display order: the baseline first, then by name. */
function meshOrder(items: ReadonlyArray<{ mesh: string; emulated: boolean }>, baseline: string) {
  const seen = new Map<string, string>();
  for (const i of items) seen.set(i.mesh, meshLabel(i.mesh, i.emulated));
  const names = [...seen.keys()].sort((a, b) =>
    a === baseline ? -1 : b === baseline ? 1 : a.localeCompare(b)
  );
  return names.map((n) => seen.get(n)!);
}

/** A colour scale that keeps each mesh's colour fixed across all charts. */
function meshColor(labels: string[], baselineLabel: string) {
  let i = 0;
  const range = labels.map((l) => l === baselineLabel ? BASELINE_COLOR : MESH_COLORS[i++ % 7]);
  return { domain: labels, range, legend: true };
}

function render(options: Plot.PlotOptions): string {
  const el = Plot.plot({ ...options, document: document() as never }) as unknown as {
    outerHTML: string;
  };
  return el.outerHTML;
}

/** Panel titles drawn above each facet's frame (instead of a side axis that gets cut). */
function panelTitles(panels: string[]) {
  return Plot.text(panels, {
    fy: (d: string) => d,
    text: (d: string) => d,
    frameAnchor: "top-left",
    dy: -12,
    dx: 2,
    fontSize: 11,
    fontWeight: 600,
    fill: "#111827",
  });
}

function sortRates(rates: Iterable<string>, groups: ReadonlyArray<GroupStats>): string[] {
  const byLabel = new Map<string, number>();
  for (const g of groups) byLabel.set(rateLabel(g.rate, g.mode), g.rate ?? Infinity);
  return [...new Set(rates)].sort((a, b) => (byLabel.get(a) ?? 0) - (byLabel.get(b) ?? 0));
}

function iterationsText(groups: ReadonlyArray<{ iterations: number }>): string {
  const ns = [...new Set(groups.map((g) => g.iterations))].sort((a, b) => a - b);
  if (ns.length === 0) return "no iterations";
  return ns.length === 1
    ? `${ns[0]} iteration${ns[0] === 1 ? "" : "s"} per point`
    : `${ns[0]}-${ns[ns.length - 1]} iterations per point`;
}

function emulationText(items: ReadonlyArray<{ emulated: boolean; mesh: string }>): string {
  const emulated = [...new Set(items.filter((i) => i.emulated).map((i) => i.mesh))];
  return emulated.length
    ? ` Meshes marked "(emulated)" (${emulated.join(", ")}) are local stand-ins ` +
      `(proxies on loopback), not the real mesh: read their figures as the cost of the ` +
      `emulation, not of the product.`
    : "";
}

/** Common options for latency-style charts. */
export interface PlotOptions {
  /** The mesh that is the no-mesh reference (coloured grey). */
  baselineMesh?: string;
  width?: number;
}

const PERCENTILES: Array<{ key: keyof GroupStats["latency"]; label: string }> = [
  { key: "p50Ms", label: "p50" },
  { key: "p90Ms", label: "p90" },
  { key: "p99Ms", label: "p99" },
  { key: "p999Ms", label: "p99.9" },
  { key: "maxMs", label: "max" },
];

/** Most fixed rates a panelled chart shows per workload; the sweep charts show every rate. */
export const MAX_PANEL_RATES = 3;

/** Up to `max` rates spread over a sweep: the lowest, the highest and evenly between. */
export function representativeRates(rates: readonly number[], max = MAX_PANEL_RATES): number[] {
  const sorted = [...new Set(rates)].sort((a, b) => a - b);
  if (sorted.length <= max) return sorted;
  const out = new Set<number>();
  for (let i = 0; i < max; i++) {
    out.add(sorted[Math.round((i * (sorted.length - 1)) / Math.max(1, max - 1))]);
  }
  return [...out];
}

/**
 * Keeps the items of each workload at its representative fixed rates (max-throughput
 * and batch items, whose rate is null, always stay), and says what was left out.
 */
export function atRepresentativeRates<T extends { workload: string; rate: number | null }>(
  items: readonly T[],
  max = MAX_PANEL_RATES,
): { kept: T[]; note: string } {
  const byWorkload = new Map<string, number[]>();
  for (const i of items) {
    if (i.rate !== null) {
      byWorkload.set(i.workload, [...(byWorkload.get(i.workload) ?? []), i.rate]);
    }
  }
  const keep = new Map<string, Set<number>>();
  const notes: string[] = [];
  for (const [w, rates] of byWorkload) {
    const all = [...new Set(rates)];
    const shown = representativeRates(all, max);
    keep.set(w, new Set(shown));
    if (shown.length < all.length) {
      notes.push(`${w}: ${shown.map((r) => rateLabel(r)).join(", ")} of ${all.length} rates`);
    }
  }
  return {
    kept: items.filter((i) => i.rate === null || keep.get(i.workload)?.has(i.rate)),
    note: notes.length
      ? ` Panels show representative rates (${notes.join("; ")}); the rate-sweep chart has ` +
        `them all.`
      : "",
  };
}

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
  const us = percentiles(h, ps);
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

/** Fixed rates measured for a workload, ascending. */
export function sweepRates(
  items: ReadonlyArray<{ workload: string; rate: number | null }>,
  workload: string,
): number[] {
  return [
    ...new Set(
      items.filter((i) => i.workload === workload && i.rate !== null).map((i) => i.rate!),
    ),
  ].sort((a, b) => a - b);
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

/**
 * Overhead % vs the baseline with 95 % bootstrap CI bars, per mesh, one panel per
 * metric and load point, for one workload.
 */
export function overheadPlot(
  overheads: readonly Overhead[],
  workload: string,
  options: PlotOptions & { metrics?: readonly MetricName[] } = {},
): Figure {
  const all = overheads.filter((o) =>
    o.workload === workload && (!options.metrics || options.metrics.includes(o.metric)) &&
    Number.isFinite(o.overheadPct)
  );
  const title = `${workload}: overhead vs ${options.baselineMesh ?? "baseline"}, with 95 % CI`;
  if (all.length === 0) return notice(`${title}: no overhead figures for "${workload}".`);
  const { kept: os, note } = atRepresentativeRates(all);
  const sorted = [...os].sort((a, b) =>
    metricRank(a.metric) - metricRank(b.metric) || (a.rate ?? Infinity) - (b.rate ?? Infinity) ||
    (a.httpProtocol ?? "").localeCompare(b.httpProtocol ?? "") ||
    (a.payloadBytes ?? 0) - (b.payloadBytes ?? 0)
  );
  const rows = sorted.map((o) => ({
    mesh: meshLabel(o.mesh, o.emulated),
    panel: `${overheadLabel(o.metric)}${
      o.basis === "share-of-baseline-app" ? "" : ` (${o.unit})`
    } @ ${rateLabel(o.rate)}${
      o.payloadBytes === undefined ? "" : `, ${payloadLabel(o.payloadBytes)} payload`
    }${o.httpProtocol === "h2c" ? ", h2c" : ""}`,
    ...overheadBar(o),
    note: `n=${o.iterations.mesh}/${o.iterations.baseline}` +
      (o.noisyBaseline ? ` · noisy baseline (CV ${(o.baselineCvPct ?? NaN).toFixed(0)} %)` : "") +
      (o.saturated ? " · saturated" : ""),
    excludesZero: o.ci95[0] > 0 || o.ci95[1] < 0,
    text: formatOverhead(o),
    fmt: o.basis === "share-of-baseline-app" ? formatShare : formatPct,
    o,
  }));
  const panels = [...new Set(rows.map((r) => r.panel))];
  const meshes = meshOrder(os, options.baselineMesh ?? "baseline");
  const lo = Math.min(0, ...rows.map((r) => r.lo));
  const hi = Math.max(0, ...rows.map((r) => r.hi));
  // Room on the right for the value and its caveats.
  const span = hi - lo || 10;
  const panelHeight = meshes.length * 22 + 34;
  type Row = typeof rows[number];
  const svg = render({
    width: options.width ?? WIDTH,
    height: panels.length * panelHeight + 50,
    marginLeft: 150,
    marginRight: 20,
    marginTop: 22,
    marginBottom: 40,
    x: {
      label: "overhead vs baseline (%)",
      grid: true,
      domain: [lo - span * 0.05, hi + span * 0.8],
    },
    y: { domain: meshes, label: null, inset: 4 },
    fy: { domain: panels, axis: null, padding: 0.3 },
    color: meshColor(meshes, ""),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      panelTitles(panels),
      Plot.ruleX([0], { stroke: "#111827", strokeOpacity: 0.6 }),
      Plot.ruleY(rows, {
        fy: "panel",
        y: "mesh",
        x1: "lo",
        x2: "hi",
        stroke: "mesh",
        strokeWidth: 2,
      }),
      Plot.tickX(rows, { fy: "panel", y: "mesh", x: "lo", stroke: "mesh" }),
      Plot.tickX(rows, { fy: "panel", y: "mesh", x: "hi", stroke: "mesh" }),
      // Filled where the interval excludes zero, hollow where it does not (two marks:
      // a constant fill cannot go through the colour scale).
      ...[true, false].map((filled) =>
        Plot.dot(rows.filter((r) => r.excludesZero === filled), {
          fy: "panel",
          y: "mesh",
          x: "pct",
          ...(filled ? { fill: "mesh" } : { fill: "white" }),
          stroke: "mesh",
          strokeWidth: 1.5,
          r: 4,
          title: (r: Row) =>
            `${r.mesh}, ${r.panel}\noverhead ${r.text} ` +
            `(95 % CI ${r.fmt(r.lo)} to ${r.fmt(r.hi)})\n` +
            `baseline ${formatNumber(r.o.baseline)} ${r.o.unit}, mesh ${
              formatNumber(r.o.value)
            } ${r.o.unit}\n${r.note}`,
        })
      ),
      Plot.text(rows, {
        fy: "panel",
        y: "mesh",
        x: "hi",
        text: (r: Row) => `${r.text}   ${r.note}`,
        textAnchor: "start",
        dx: 8,
        fontSize: 10,
        fill: "#374151",
      }),
    ],
  });
  const noisy = os.filter((o) => o.noisyBaseline).length;
  return wrap(title, svg, {
    charts: 1,
    subtitle: `(mesh - baseline) / baseline x 100, from pooled values; bars are 95 % ` +
      `bootstrap confidence intervals over iterations. Filled dots: interval excludes 0.`,
    caption: `n = mesh/baseline iterations. ` +
      (os.some((o) => o.basis === "share-of-baseline-app")
        ? `Metrics "as % of app" are shares, not increases: what the mesh's proxies and ` +
          `control plane used, as a percentage of what the application itself used ` +
          `without a mesh. `
        : "") +
      (noisy
        ? `${noisy} figure(s) have a noisy baseline (high coefficient of variation): ` +
          `treat them with care. `
        : "") +
      note + emulationText(os),
  });
}

/**
 * Overhead % against target rate per mesh, with its 95 % CI as a band, one panel per
 * metric, for one workload's fixed-rate points: how overhead grows with load.
 */
export function overheadVsRatePlot(
  overheads: readonly Overhead[],
  workload: string,
  options: PlotOptions & { metrics?: readonly MetricName[] } = {},
): Figure {
  const os = overheads.filter((o) =>
    o.workload === workload && o.rate !== null && Number.isFinite(o.overheadPct) &&
    (!options.metrics || options.metrics.includes(o.metric))
  );
  const title = `${workload}: overhead against target rate, with 95 % CI`;
  if (sweepRates(os, workload).length < 2) {
    return notice(`${title}: fewer than two fixed rates were measured.`);
  }
  const meshes = meshOrder(os, options.baselineMesh ?? "baseline");
  const rows = os.map((o) => ({
    ...overheadPanel(o),
    rate: o.rate!,
    ...overheadBar(o),
  }));
  const panels = [...new Set(rows.sort((a, b) => a.rank - b.rank).map((r) => r.panel))];
  const svg = render({
    width: options.width ?? WIDTH,
    height: panels.length * 190 + 50,
    marginLeft: 60,
    marginRight: 20,
    marginTop: 40,
    marginBottom: 40,
    x: { label: "target rate (requests/s)", grid: true, nice: true },
    y: { label: "overhead vs baseline (%)", grid: true, nice: true },
    fy: { domain: panels, axis: null, padding: 0.2 },
    color: meshColor(meshes, ""),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      panelTitles(panels),
      Plot.ruleY([0], { stroke: "#111827", strokeOpacity: 0.6 }),
      Plot.areaY(rows, {
        fy: "panel",
        x: "rate",
        y1: "lo",
        y2: "hi",
        fill: "mesh",
        fillOpacity: 0.15,
        z: "mesh",
        sort: "rate",
      }),
      Plot.line(rows, {
        fy: "panel",
        x: "rate",
        y: "pct",
        stroke: "mesh",
        z: "mesh",
        sort: "rate",
      }),
      Plot.dot(rows, { fy: "panel", x: "rate", y: "pct", fill: "mesh", r: 2.5 }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: "(mesh - baseline) / baseline x 100 at every fixed rate; bands are 95 % bootstrap " +
      "confidence intervals over iterations.",
    caption: `n = ${
      [...new Set(os.map((o) => `${o.iterations.mesh}/${o.iterations.baseline}`))]
        .join(", ")
    } mesh/baseline iterations per point.` + emulationText(os),
  });
}

/** The HTTP version of an overhead's load point: "HTTP/1.1" unless it says h2c. */
export function protocolName(o: Pick<Overhead, "httpProtocol">): string {
  return o.httpProtocol === "h2c" ? "HTTP/2 (h2c)" : "HTTP/1.1";
}

/** The payload sizes (request body bytes) of one workload's overheads, ascending. */
export function payloadSizes(overheads: readonly Overhead[], workload: string): number[] {
  const sizes = overheads.filter((o) => o.workload === workload && o.payloadBytes !== undefined)
    .map((o) => o.payloadBytes!);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/**
 * Overhead % against request payload size per mesh, with its 95 % CI as error bars, one
 * panel per metric, rate and HTTP version (max throughput has none; the HTTP/1.1 and h2c
 * panels of a metric one above the other, on the same payload axis), for one workload whose
 * load points carry a payload size (the HTTP workload's payload points, the inference
 * workload): how the mesh's cost moves with body size, and with the protocol.
 */
export function overheadVsPayloadPlot(
  overheads: readonly Overhead[],
  workload: string,
  options: PlotOptions & { metrics?: readonly MetricName[] } = {},
): Figure {
  const os = overheads.filter((o) =>
    o.workload === workload && o.payloadBytes !== undefined && Number.isFinite(o.overheadPct) &&
    (!options.metrics || options.metrics.includes(o.metric))
  );
  const title = `${workload}: overhead against request payload size, with 95 % CI`;
  if (payloadSizes(os, workload).length < 2) {
    return notice(`${title}: fewer than two payload sizes were measured.`);
  }
  const meshes = meshOrder(os, options.baselineMesh ?? "baseline");
  // Panels name the HTTP version when more than one was measured.
  const protocols = new Set(os.map(protocolName)).size > 1;
  const rows = os.map((o) => ({
    mesh: meshLabel(o.mesh, o.emulated),
    panel: `${overheadLabel(o.metric)}${
      o.basis === "share-of-baseline-app" ? "" : ` (${o.unit})`
    } @ ${rateLabel(o.rate)}${protocols ? ` · ${protocolName(o)}` : ""}`,
    rank: metricRank(o.metric) * 1e9 + (o.rate ?? 1e8) * 2 + (o.httpProtocol === "h2c" ? 1 : 0),
    kb: o.payloadBytes! / 1024,
    ...overheadBar(o),
  }));
  const panels = [...new Set(rows.sort((a, b) => a.rank - b.rank).map((r) => r.panel))];
  const kbs = [...new Set(rows.map((r) => r.kb))].sort((a, b) => a - b);
  const svg = render({
    width: options.width ?? WIDTH,
    height: panels.length * 190 + 50,
    marginLeft: 60,
    marginRight: 20,
    marginTop: 40,
    marginBottom: 40,
    // A 0-byte body (the HTTP workload's empty POST) has no place on a log scale: symmetric log
    // then, which is linear near 0 and logarithmic beyond 1 KB.
    x: {
      type: kbs[0] === 0 ? "symlog" : "log",
      label: `request payload (KB, ${kbs[0] === 0 ? "symmetric " : ""}log scale)`,
      inset: 24,
      ticks: kbs,
      tickFormat: (d: number) => formatNumber(d),
      grid: true,
    },
    y: { label: "overhead vs baseline (%)", grid: true, nice: true },
    fy: { domain: panels, axis: null, padding: 0.2 },
    color: meshColor(meshes, ""),
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      panelTitles(panels),
      Plot.ruleY([0], { stroke: "#111827", strokeOpacity: 0.6 }),
      Plot.ruleX(rows, { fy: "panel", x: "kb", y1: "lo", y2: "hi", stroke: "mesh" }),
      Plot.line(rows, { fy: "panel", x: "kb", y: "pct", stroke: "mesh", z: "mesh", sort: "kb" }),
      Plot.dot(rows, { fy: "panel", x: "kb", y: "pct", fill: "mesh", r: 3 }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: "(mesh - baseline) / baseline x 100 at each payload size, the baseline measured " +
      "at the same size; bars are 95 % bootstrap confidence intervals over iterations.",
    caption: `Payload sizes: ${
      kbs.map((kb) => payloadLabel(kb * 1024)).join(", ")
    }. n = ${
      [...new Set(os.map((o) => `${o.iterations.mesh}/${o.iterations.baseline}`))].join(", ")
    } mesh/baseline iterations per point.` +
      (protocols
        ? " Each protocol's overhead is against the baseline over the same protocol; the h2c " +
          "points may have another load generator than the HTTP/1.1 ones (its send lag is in " +
          "both sides' times, so it shrinks the %): compare protocols by the added " +
          "milliseconds in the findings."
        : "") +
      emulationText(os),
  });
}

/**
 * Meshes ranked from least to most costly overhead for one workload, metric and rate
 * (the smallest increase where lower is better, the smallest loss where higher is).
 */
export function rankMeshes(
  overheads: readonly Overhead[],
  select: {
    workload: string;
    metric: MetricName;
    rate: number | null;
    payloadBytes?: number;
    httpProtocol?: Overhead["httpProtocol"];
  },
): Overhead[] {
  return overheads
    .filter((o) =>
      o.workload === select.workload && o.metric === select.metric && o.rate === select.rate &&
      o.payloadBytes === select.payloadBytes && o.httpProtocol === select.httpProtocol
    )
    .sort((a, b) => costOf(a.metric, a.overheadPct) - costOf(b.metric, b.overheadPct));
}

function ciMs(v: number): string {
  return Number.isFinite(v) ? `${v > 0 ? "+" : ""}${formatNumber(v)}` : "n/a";
}

function ciNumber(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return (v > 0 ? "+" : "") + (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
}

/** A representative-rates note reworded for a table (whose full data is in summary.json). */
function tableNote(note: string): string {
  return note.replace("Panels show", "Tables show").replace(
    "the rate-sweep chart has them all",
    "summary.json has every figure",
  );
}

/** A ranked table of overheads with their intervals and caveats. */
export function overheadTable(overheads: readonly Overhead[], title = "Overheads"): Figure {
  const points = new Map<string, Overhead[]>();
  const { kept, note } = atRepresentativeRates(overheads);
  const sorted = [...kept].sort((a, b) =>
    a.workload.localeCompare(b.workload) || (a.rate ?? Infinity) - (b.rate ?? Infinity)
  );
  for (const o of sorted) {
    const k = `${o.workload} @ ${rateLabel(o.rate)}`;
    points.set(k, [...(points.get(k) ?? []), o]);
  }
  const entries = [...points];
  return stack(
    entries.map(([point, os], i) =>
      overheadPointTable(`${title}: ${point}`, os, i === entries.length - 1 ? note : undefined)
    ),
  );
}

function overheadPointTable(
  title: string,
  overheads: readonly Overhead[],
  /** Set on the last table only: the shared caption gets this note appended. */
  captionNote: string | undefined,
): Figure {
  const rows = [...overheads].sort((a, b) =>
    metricRank(a.metric) - metricRank(b.metric) ||
    costOf(a.metric, a.overheadPct) - costOf(b.metric, b.overheadPct)
  );
  return table(title, rows, {
    columns: [
      { header: "metric", value: (o) => overheadLabel(o.metric) },
      { header: "mesh", value: (o) => meshLabel(o.mesh, o.emulated), nowrap: true },
      {
        header: "baseline → mesh",
        value: (o) => `${formatNumber(o.baseline)} → ${formatNumber(o.value)} ${o.unit}`,
        numeric: true,
      },
      {
        header: "overhead [95 % CI]",
        value: (o) =>
          o.ciMethod === "too-few-iterations"
            ? `${formatOverhead(o)} [no CI: n=1]`
            : `${formatOverhead(o)} [${ciNumber(o.ci95[0])}, ${ciNumber(o.ci95[1])}]`,
        numeric: true,
      },
      {
        header: "added ms [95 % CI]",
        value: (o) =>
          typeof o.deltaMs !== "number"
            ? "-"
            : o.ciMethod === "too-few-iterations" || !o.deltaMsCi95
            ? formatMs(o.deltaMs)
            : `${formatMs(o.deltaMs)} [${ciMs(o.deltaMsCi95[0])}, ${ciMs(o.deltaMsCi95[1])}]`,
        numeric: true,
      },
      { header: "n", value: (o) => `${o.iterations.mesh}/${o.iterations.baseline}`, numeric: true },
      {
        header: "caveats",
        value: (o) =>
          [
            o.noisyBaseline ? `noisy (CV ${(o.baselineCvPct ?? NaN).toFixed(0)} %)` : "",
            o.saturated ? "saturated" : "",
            o.generatorLimited ? "generator-limited" : "",
          ].filter(Boolean).join("; "),
      },
    ],
    rowClass: (o) => (o.ci95[0] > 0 || o.ci95[1] < 0) ? "significant" : "",
    caption: captionNote === undefined
      ? undefined
      : "Within each metric, meshes are ranked from least to most " +
        "overhead. n = mesh/baseline iterations. Bold rows: the 95 % interval excludes zero. " +
        "Noisy: the baseline's coefficient of variation over iterations is above the threshold. " +
        "Generator-limited: the load generator's send-lag p99 is above the configured share of " +
        "the baseline's p50, so its lateness is in the latencies. " +
        'Metrics "as % of app" are shares of the application\'s own use, not increases.' +
        tableNote(captionNote),
  });
}

/** Options of {@linkcode throughputPlot}. */
export interface ThroughputPlotOptions extends PlotOptions {
  /**
   * The run's saturation tolerance (config `saturationPct`): how far under its target
   * rate, in %, a fixed-rate run may fall before it is marked saturated. Unknown when absent.
   */
  saturationPct?: number;
}

/**
 * Achieved throughput per mesh (mean over iterations, bar; min-max, whisker) with
 * the requested rate as a tick, one panel per workload and load point.
 */
export function throughputPlot(
  groups: readonly GroupStats[],
  options: ThroughputPlotOptions = {},
): Figure {
  const { kept: ok, note } = atRepresentativeRates(groups.filter((g) => g.iterations > 0));
  if (ok.length === 0) return notice("Throughput: no successful runs.");
  // One chart per load mode: a max-throughput scale would flatten the fixed-rate bars.
  const modes = [...new Set(ok.map((g) => g.mode))].sort();
  const figs = modes.map((mode) =>
    throughputModePlot(
      ok.filter((g) => g.mode === mode),
      mode === "fixed-rate"
        ? "Throughput at fixed rates: achieved vs requested"
        : `Throughput: ${mode} runs`,
      options,
      note,
    )
  );
  return figs.length === 1 ? figs[0] : stack(figs);
}

function throughputModePlot(
  gs: readonly GroupStats[],
  title: string,
  options: ThroughputPlotOptions,
  note: string,
): Figure {
  const baseline = options.baselineMesh ?? "baseline";
  const meshes = meshOrder(gs, baseline);
  const rows = gs.map((g) => ({
    mesh: meshLabel(g.mesh, g.emulated),
    panel: `${g.workload} @ ${rateLabel(g.rate, g.mode)}`,
    mean: g.achievedRate.mean,
    min: g.achievedRate.min,
    max: g.achievedRate.max,
    requested: g.rate,
    n: g.iterations,
    saturated: g.saturated,
    g,
  }));
  const panels = [...new Set(rows.map((r) => r.panel))].sort((a, b) => {
    const ra = rows.find((r) => r.panel === a)!.g;
    const rb = rows.find((r) => r.panel === b)!.g;
    return ra.workload.localeCompare(rb.workload) || (ra.rate ?? Infinity) - (rb.rate ?? Infinity);
  });
  const panelHeight = meshes.length * 24 + 34;
  const top = Math.max(...rows.map((r) => Math.max(r.max, r.requested ?? 0)));
  const svg = render({
    width: options.width ?? WIDTH,
    height: panels.length * panelHeight + 50,
    marginLeft: 150,
    marginRight: 20,
    marginTop: 22,
    marginBottom: 40,
    x: { label: "achieved rate (operations/s)", grid: true, domain: [0, top * 1.2] },
    y: { domain: meshes, label: null },
    fy: { domain: panels, axis: null, padding: 0.3 },
    color: meshColor(meshes, meshLabel(baseline, false)),
    marks: [
      panelTitles(panels),
      Plot.barX(rows, { fy: "panel", y: "mesh", x: "mean", fill: "mesh", fillOpacity: 0.75 }),
      Plot.ruleY(rows, { fy: "panel", y: "mesh", x1: "min", x2: "max", stroke: "#111827" }),
      Plot.tickX(rows.filter((r) => r.requested !== null), {
        fy: "panel",
        y: "mesh",
        x: "requested",
        stroke: "#dc2626",
        strokeWidth: 2,
      }),
      Plot.text(rows, {
        fy: "panel",
        y: "mesh",
        x: "max",
        text: (r: typeof rows[number]) =>
          `${formatNumber(r.mean)}/s  n=${r.n}${r.saturated ? `  ${r.saturated} saturated` : ""}`,
        textAnchor: "start",
        dx: 6,
        fontSize: 9,
        fill: "#374151",
      }),
      Plot.ruleX([0]),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: "Bars: mean over iterations; black whiskers: min to max; red ticks: requested " +
      `rate. A run that falls more than ${
        options.saturationPct === undefined
          ? "the run's saturation tolerance (saturationPct)"
          : `${formatNumber(options.saturationPct)} %`
      } short of its target is a saturation result.`,
    caption: `Operations per second, ${iterationsText(gs)}.` + note + emulationText(gs),
  });
}

/** Resource measures that {@linkcode resourcePlot} can draw. */
export type ResourceMeasure = "cpuCores" | "memoryPeakMB" | "cpuSecondsPer1k" | "ctxSwitchesPerOp";

const MEASURE_LABEL: Record<ResourceMeasure, string> = {
  cpuCores: "CPU (cores, mean over the load window)",
  memoryPeakMB: "memory (MB, peak resident)",
  cpuSecondsPer1k: "CPU-seconds per 1,000 requests",
  ctxSwitchesPerOp: "context switches per request",
};

/**
 * Resource use per mesh stacked by component (control plane, data plane, app),
 * one panel per workload and load point.
 */
export function resourcePlot(
  groups: readonly GroupStats[],
  measure: ResourceMeasure,
  options: PlotOptions & { components?: Component[] } = {},
): Figure {
  const components = options.components ?? ["control-plane", "data-plane", "app"];
  // Context switches are plotted only where every charted component counted them (records
  // written before they were have none): a missing count must not read as zero.
  const counted = (g: GroupStats) =>
    measure !== "ctxSwitchesPerOp" ||
    g.resources.filter((r) => components.includes(r.component))
      .every((r) => r.ctxSwitchesPerOp !== undefined);
  const { kept: gs, note } = atRepresentativeRates(
    groups.filter((g) => g.iterations > 0 && g.resources.length > 0 && counted(g)),
  );
  const title = `Resources: ${MEASURE_LABEL[measure]}`;
  if (gs.length === 0) {
    return notice(
      measure === "ctxSwitchesPerOp"
        ? `${title}: no context switches recorded in this run.`
        : `${title}: no resource samples in this run.`,
    );
  }
  const baseline = options.baselineMesh ?? "baseline";
  const meshes = meshOrder(gs, baseline);
  const rows: Array<{ mesh: string; panel: string; component: Component; value: number }> = [];
  for (const g of gs) {
    const panel = `${g.workload} @ ${rateLabel(g.rate, g.mode)}`;
    for (const c of components) {
      const value = g.resources.filter((r) => r.component === c)
        .reduce((sum, r) => sum + (r[measure] ?? 0), 0);
      rows.push({ mesh: meshLabel(g.mesh, g.emulated), panel, component: c, value });
    }
  }
  const panels = [...new Set(rows.map((r) => r.panel))];
  const totals = new Map<string, number>();
  for (const r of rows) {
    const k = `${r.panel}|${r.mesh}`;
    totals.set(k, (totals.get(k) ?? 0) + r.value);
  }
  const totalRows = [...totals].map(([k, v]) => {
    const [panel, mesh] = k.split("|");
    return { panel, mesh, value: v };
  });
  const panelHeight = meshes.length * 24 + 34;
  const top = Math.max(...totalRows.map((r) => r.value));
  const svg = render({
    width: options.width ?? WIDTH,
    height: panels.length * panelHeight + 50,
    marginLeft: 150,
    marginRight: 20,
    marginTop: 22,
    marginBottom: 40,
    x: { label: MEASURE_LABEL[measure], grid: true, domain: [0, (top || 1) * 1.12] },
    y: { domain: meshes, label: null },
    fy: { domain: panels, axis: null, padding: 0.3 },
    color: {
      domain: components,
      range: components.map((c) => COMPONENT_COLORS[c]),
      legend: true,
    },
    marks: [
      panelTitles(panels),
      Plot.barX(
        rows,
        Plot.stackX({
          fy: "panel",
          y: "mesh",
          x: "value",
          fill: "component",
          title: (r: typeof rows[number]) =>
            `${r.mesh} · ${r.component}: ${formatNumber(r.value)} (${MEASURE_LABEL[measure]})`,
        }),
      ),
      Plot.text(totalRows, {
        fy: "panel",
        y: "mesh",
        x: "value",
        text: (r: typeof totalRows[number]) => formatNumber(r.value),
        textAnchor: "start",
        dx: 6,
        fontSize: 9,
        fill: "#374151",
      }),
      Plot.ruleX([0]),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: `Stacked by component: ${components.join(", ")}. ${
      measure === "ctxSwitchesPerOp"
        ? "Switches over the iterations' windows / their completed requests."
        : "Mean over iterations."
    }`,
    caption: `${MEASURE_LABEL[measure]}, ${iterationsText(gs)}. Node-level and ` +
      `load-generator use are in the resource table${
        measure === "ctxSwitchesPerOp"
          ? " (the load generator is left out of the stack: it is the same tool under every " +
            "mesh; the node's count is node-wide)"
          : ""
      }.` + note + emulationText(gs),
  });
}

/** A table of resource use per component and named process or container. */
export function resourceTable(all: readonly GroupStats[]): Figure {
  const { kept: groups, note } = atRepresentativeRates(all);
  const rows = groups.flatMap((g) => g.resources.map((r) => ({ g, r }))).sort((a, b) =>
    a.g.workload.localeCompare(b.g.workload) || (a.g.rate ?? Infinity) - (b.g.rate ?? Infinity) ||
    a.g.mesh.localeCompare(b.g.mesh) || a.r.component.localeCompare(b.r.component) ||
    a.r.name.localeCompare(b.r.name)
  );
  return table("Resource use by component", rows, {
    columns: [
      { header: "workload", value: ({ g }) => g.workload },
      { header: "rate", value: ({ g }) => rateLabel(g.rate, g.mode) },
      { header: "mesh", value: ({ g }) => meshLabel(g.mesh, g.emulated) },
      { header: "component", value: ({ r }) => r.component },
      { header: "name", value: ({ r }) => r.name },
      { header: "CPU (cores)", value: ({ r }) => r.cpuCores, numeric: true },
      { header: "memory peak (MB)", value: ({ r }) => r.memoryPeakMB, numeric: true },
      { header: "CPU-s / 1k req", value: ({ r }) => r.cpuSecondsPer1k, numeric: true },
      {
        header: "ctx sw / req",
        value: ({ r }) => r.ctxSwitchesPerOp ?? "",
        numeric: true,
      },
      { header: "n", value: ({ g }) => g.iterations, numeric: true },
    ],
    caption: "Means over iterations. CPU in cores (CPU-seconds per second of the load " +
      "window), memory as peak resident set. Context switches per request: the switches of " +
      "every thread of the component over the iterations' windows divided by their " +
      "completed requests (node: node-wide, every process on the machine)." + tableNote(note),
  });
}

/**
 * Each proxy's own counters per group, summed over iterations: requests in and out,
 * connections opened per 1,000 requests (pooling), retries, connect failures and resets.
 */
export function proxyCountersTable(all: readonly GroupStats[]): Figure {
  const { kept: groups, note } = atRepresentativeRates(all.filter((g) => g.proxies?.length));
  const title = "The proxies' own counters";
  if (groups.length === 0) return notice(`${title}: no proxy counters recorded in this run.`);
  const rows = groups.flatMap((g) => g.proxies!.map((p) => ({ g, p }))).sort((a, b) =>
    a.g.workload.localeCompare(b.g.workload) || (a.g.rate ?? Infinity) - (b.g.rate ?? Infinity) ||
    a.g.mesh.localeCompare(b.g.mesh) || a.p.name.localeCompare(b.p.name)
  );
  const per1k = (n: number | undefined, d: number | undefined) =>
    n !== undefined && d ? (n / d) * 1000 : "";
  return table(title, rows, {
    columns: [
      { header: "workload", value: ({ g }) => g.workload },
      { header: "rate", value: ({ g }) => rateLabel(g.rate, g.mode) },
      { header: "mesh", value: ({ g }) => meshLabel(g.mesh, g.emulated) },
      { header: "proxy", value: ({ p }) => `${p.name} (${p.software})`, nowrap: true },
      { header: "load requests", value: ({ p }) => p.operations, numeric: true },
      { header: "requests in", value: ({ p }) => p.downstreamRequests ?? "", numeric: true },
      { header: "requests out", value: ({ p }) => p.upstreamRequests ?? "", numeric: true },
      { header: "conns in", value: ({ p }) => p.downstreamConnections ?? "", numeric: true },
      { header: "conns out", value: ({ p }) => p.upstreamConnections ?? "", numeric: true },
      {
        header: "conns out / 1k req",
        value: ({ p }) => per1k(p.upstreamConnections, p.upstreamRequests ?? p.operations),
        numeric: true,
      },
      { header: "retries", value: ({ p }) => p.retries ?? "", numeric: true },
      {
        header: "connect failures",
        value: ({ p }) => p.upstreamConnectFailures ?? "",
        numeric: true,
      },
      { header: "resets", value: ({ p }) => p.resets ?? "", numeric: true },
      { header: "runs", value: ({ p }) => p.runs, numeric: true },
    ],
    caption: "Read from each proxy (HAProxy show stat, Envoy admin /stats) just before and " +
      "after each run's window and differenced, summed over the iterations. Load requests: " +
      "what the load generator completed in those runs. A proxy that retried sends more " +
      "requests out than it took in; one that pools opens far fewer connections than it " +
      "forwards requests; an L4 proxy counts no requests (blank)." + tableNote(note),
  });
}

/**
 * Changes between two runs (B vs A, %) with 95 % bootstrap CI bars; changes whose
 * interval excludes zero exceed the noise and are drawn in red.
 */
export function comparisonPlot(
  changes: readonly ChangeRow[],
  options: { title?: string; width?: number } = {},
): Figure {
  const title = options.title ?? "Change between runs (B vs A), with 95 % CI";
  const rows = changes.filter((c) => Number.isFinite(c.changePct)).map((c) => ({
    ...c,
    lo: Number.isFinite(c.ci95[0]) ? c.ci95[0] : c.changePct,
    hi: Number.isFinite(c.ci95[1]) ? c.ci95[1] : c.changePct,
    status: c.exceedsNoise ? "exceeds noise" : "within noise",
  }));
  if (rows.length === 0) return notice(`${title}: nothing to compare.`);
  type Row = typeof rows[number];
  const groups = [...new Set(rows.map((r) => r.group))];
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const lo = Math.min(0, ...rows.map((r) => r.lo));
  const hi = Math.max(0, ...rows.map((r) => r.hi));
  // Intervals from a few noisy iterations can span thousands of %: a symmetric log
  // scale keeps the small, real changes readable next to them.
  const wide = hi - lo > 1000;
  const perGroup = Math.max(...groups.map((g) => rows.filter((r) => r.group === g).length));
  const svg = render({
    width: options.width ?? WIDTH,
    height: groups.length * (perGroup * 18 + 34) + 50,
    marginLeft: 150,
    marginRight: 20,
    marginTop: 22,
    marginBottom: 40,
    x: wide
      ? {
        type: "symlog",
        label: "change B vs A (%, symmetric log scale)",
        grid: true,
        domain: [lo, hi * 8],
        ticks: [-100, -50, -10, 0, 10, 50, 100, 1000, 10000, 100000].filter((t) =>
          t >= lo && t <= hi * 8
        ),
        tickFormat: (t: number) => `${t}`,
      }
      : {
        label: "change B vs A (%)",
        grid: true,
        domain: [lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.6 || 10],
      },
    y: { domain: metrics, label: null },
    fy: { domain: groups, axis: null, padding: 0.3 },
    color: {
      domain: ["exceeds noise", "within noise"],
      range: ["#dc2626", "#9ca3af"],
      legend: true,
    },
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      panelTitles(groups),
      Plot.ruleX([0], { stroke: "#111827", strokeOpacity: 0.6 }),
      Plot.ruleY(rows, {
        fy: "group",
        y: "metric",
        x1: "lo",
        x2: "hi",
        stroke: "status",
        strokeWidth: 2,
      }),
      Plot.dot(rows, { fy: "group", y: "metric", x: "changePct", fill: "status", r: 3.5 }),
      Plot.text(rows, {
        fy: "group",
        y: "metric",
        x: "hi",
        text: (r: Row) => `${formatPct(r.changePct)}  n=${r.iterations.a}/${r.iterations.b}`,
        textAnchor: "start",
        dx: 6,
        fontSize: 9,
        fill: "#374151",
      }),
    ],
  });
  return wrap(title, svg, {
    charts: 1,
    subtitle: "(B - A) / A x 100; bars are 95 % bootstrap intervals over iterations of both runs.",
    caption: "n = iterations in A/B. A change exceeds the noise when its interval excludes 0 " +
      "and it is larger than the run-to-run variation (CV over iterations) of either run.",
  });
}

/**
 * The connection sweep of one workload: overhead % against the number of connections at the
 * sweep's fixed rate (log axis), one panel per metric, with 95 % intervals as bands.
 */
export function overheadVsConnectionsPlot(
  overheads: readonly Overhead[],
  workload: string,
  options: PlotOptions & { metrics?: readonly MetricName[] } = {},
): Figure {
  const os = overheads.filter((o) =>
    o.workload === workload && o.sweep === "connections" && o.connections !== undefined &&
    Number.isFinite(o.overheadPct) && (!options.metrics || options.metrics.includes(o.metric))
  );
  const rate = os[0]?.rate;
  const title = `${workload}: overhead against connections at ${rate ?? "?"} requests/s, ` +
    `with 95 % CI`;
  if (new Set(os.map((o) => o.connections)).size < 2) {
    return notice(`${title}: fewer than two connection counts were measured.`);
  }
  const meshes = meshOrder(os, options.baselineMesh ?? "baseline");
  const rows = os.map((o) => ({
    ...overheadPanel(o),
    connections: o.connections!,
    ...overheadBar(o),
  }));
  const panels = [...new Set(rows.sort((a, b) => a.rank - b.rank).map((r) => r.panel))];
  // One chart per metric, each with its own y scale: one connection count can cost orders of
  // magnitude more than the others (a queue behind one connection), and a shared scale would
  // flatten every other panel.
  const svg = panels.map((panel) => {
    const rs = rows.filter((r) => r.panel === panel);
    return render({
      width: options.width ?? WIDTH,
      height: 230,
      marginLeft: 70,
      marginRight: 20,
      marginTop: 30,
      marginBottom: 40,
      x: { label: "connections (log scale)", type: "log", grid: true },
      y: { label: `${panel}: overhead vs baseline (%)`, grid: true, nice: true },
      color: meshColor(meshes, ""),
      marks: [
        Plot.frame({ stroke: "#e5e7eb" }),
        Plot.ruleY([0], { stroke: "#111827", strokeOpacity: 0.6 }),
        Plot.areaY(rs, {
          x: "connections",
          y1: "lo",
          y2: "hi",
          fill: "mesh",
          fillOpacity: 0.15,
          z: "mesh",
          sort: "connections",
        }),
        Plot.line(rs, {
          x: "connections",
          y: "pct",
          stroke: "mesh",
          z: "mesh",
          sort: "connections",
        }),
        Plot.dot(rs, { x: "connections", y: "pct", fill: "mesh", r: 2.5 }),
      ],
    });
  }).join("\n");
  return wrap(title, svg, {
    charts: panels.length,
    subtitle: "(mesh - baseline) / baseline x 100 at one fixed rate, the client holding " +
      "exactly this many connections; bands are 95 % bootstrap intervals over iterations.",
    caption: `n = ${
      [...new Set(os.map((o) => `${o.iterations.mesh}/${o.iterations.baseline}`))].join(", ")
    } mesh/baseline iterations per point.` + emulationText(os),
  });
}

/**
 * The knee per mesh: the highest ramp rate that held the p99 target (dot, the median over
 * iterations) with the range of the per-iteration knees (line), beside the closed-loop max
 * throughput (a tick, where measured).
 */
export function kneePlot(knees: readonly Knee[], options: PlotOptions = {}): Figure {
  const title = "Knee per mesh: the highest fixed rate that held the p99 target";
  if (knees.length === 0) return notice(`${title}: no knee ramp in this run.`);
  const label = (k: Knee) => `${k.workload} · ${meshLabel(k.mesh, k.emulated)}`;
  const order = [...knees].sort((a, b) =>
    a.workload.localeCompare(b.workload) ||
    (a.mesh === options.baselineMesh ? -1 : b.mesh === options.baselineMesh ? 1 : 0) ||
    a.mesh.localeCompare(b.mesh)
  ).map(label);
  const rows = knees.map((k) => ({
    row: label(k),
    knee: k.kneeRate,
    lo: k.interval[0],
    hi: k.interval[1],
    what: "knee (median, range over iterations)",
  }));
  const mt = knees.filter((k) => k.maxThroughput).map((k) => ({
    row: label(k),
    x: k.maxThroughput!.mean,
    what: "closed-loop max throughput",
  }));
  const svg = render({
    width: options.width ?? WIDTH,
    height: order.length * 34 + 80,
    marginLeft: 220,
    marginRight: 30,
    marginTop: 30,
    marginBottom: 40,
    x: { label: "requests/s", grid: true, nice: true, zero: true },
    y: { domain: order, label: null },
    color: {
      domain: ["knee (median, range over iterations)", "closed-loop max throughput"],
      range: ["#4269d0", "#ef8a17"],
      legend: true,
    },
    marks: [
      Plot.frame({ stroke: "#e5e7eb" }),
      Plot.ruleY(rows, { y: "row", x1: "lo", x2: "hi", stroke: "what", strokeWidth: 3 }),
      Plot.dot(rows, { y: "row", x: "knee", fill: "what", r: 5 }),
      Plot.tickX(mt, { y: "row", x: "x", stroke: "what", strokeWidth: 2 }),
    ],
  });
  const targets = [...new Set(knees.map((k) => `p99 <= ${k.p99TargetMs} ms`))].join(", ");
  return wrap(title, svg, {
    charts: 1,
    subtitle: `Each iteration ramps the fixed rate (${
      [...new Set(knees.map((k) => k.rates.join(", ")))].join("; ")
    } requests/s) and stops at the first step that breaks ${targets}, has its generator ` +
      `fall behind, or loses success rate; its knee is the last step that held. Dot: the ` +
      `median iteration's knee; line: the lowest to the highest iteration's knee.`,
    caption: `Each knee is a lower bound within one ramp step. n = ${
      [...new Set(knees.map((k) => k.iterations.length))].join(", ")
    } iterations per mesh.` + emulationText(knees),
  });
}

/** Mesh, panel label (metric and unit) and panel order of an overhead, for the charts. */
function overheadPanel(o: Overhead): { mesh: string; panel: string; rank: number } {
  return {
    mesh: meshLabel(o.mesh, o.emulated),
    panel: `${overheadLabel(o.metric)}${o.basis === "share-of-baseline-app" ? "" : ` (${o.unit})`}`,
    rank: metricRank(o.metric),
  };
}

/** An overhead's point and 95 % CI bar (a missing bound drawn at the point). */
function overheadBar(o: Overhead): { pct: number; lo: number; hi: number } {
  return {
    pct: o.overheadPct,
    lo: Number.isFinite(o.ci95[0]) ? o.ci95[0] : o.overheadPct,
    hi: Number.isFinite(o.ci95[1]) ? o.ci95[1] : o.overheadPct,
  };
}
