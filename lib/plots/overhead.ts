/**
 * Overhead charts and tables of one run: each mesh's added cost against the no-mesh
 * baseline with its 95 % bootstrap CI, per load point, against the rate of a sweep, the
 * payload size and the connection count, and the ranking of meshes by that cost.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import {
  formatMs,
  formatNumber,
  formatOverhead,
  formatPct,
  formatShare,
  meshLabel,
  payloadLabel,
  rateLabel,
} from "../format.ts";
import { type Figure, notice, stack, table } from "../figure.ts";
import { costOf, type MetricName, metricRank, overheadLabel } from "../metric_vocabulary.ts";
import type { Overhead } from "../types.ts";
import {
  atRepresentativeRates,
  emulationText,
  meshColor,
  meshOrder,
  panelTitles,
  type PlotOptions,
  render,
  sweepRates,
  tableNote,
  WIDTH,
  wrap,
} from "./chart.ts";

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
