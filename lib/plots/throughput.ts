/**
 * Throughput charts of one run: achieved against requested rate per mesh (saturated
 * points marked) and the knee of a rate sweep.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { formatNumber, meshLabel, rateLabel } from "../format.ts";
import { type Figure, notice, stack } from "../figure.ts";
import type { GroupStats } from "../types.ts";
import type { Knee } from "../knee.ts";
import {
  atRepresentativeRates,
  emulationText,
  iterationsText,
  meshColor,
  meshOrder,
  panelTitles,
  type PlotOptions,
  render,
  WIDTH,
  wrap,
} from "./chart.ts";

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
