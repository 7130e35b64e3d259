/**
 * Resource charts and tables of one run: CPU, memory, CPU per request and context switches
 * per component, and the proxies' own request counters.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { formatNumber, meshLabel, rateLabel } from "../format.ts";
import { type Figure, notice, table } from "../figure.ts";
import type { Component, GroupStats } from "../types.ts";
import {
  atRepresentativeRates,
  emulationText,
  iterationsText,
  meshOrder,
  panelTitles,
  type PlotOptions,
  render,
  tableNote,
  WIDTH,
  wrap,
} from "./chart.ts";

const COMPONENT_COLORS: Record<Component, string> = {
  "control-plane": "#8f5bd6",
  "data-plane": "#ef8a17",
  app: "#4269d0",
  loadgen: "#9ca3af",
  node: "#374151",
};

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
