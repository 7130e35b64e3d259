/**
 * The chart of a comparison between two runs: each change in % with its 95 % bootstrap CI,
 * marked when it exceeds the noise.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { formatPct } from "../format.ts";
import { type Figure, notice } from "../figure.ts";
import { panelTitles, render, WIDTH, wrap } from "./chart.ts";

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
