/**
 * What every chart of the report shares: Observable Plot rendered to inline SVG with a
 * linkedom document (no browser, no network), the figure frame with title, subtitle and
 * caption, mesh order and colours, and the choice of representative rates for panels.
 * The charts themselves are grouped by subject beside it: `latency.ts`, `overhead.ts`,
 * `throughput.ts`, `resources.ts` and `comparison.ts`.
 *
 * Each chart returns a {@linkcode Figure} (`../figure.ts`): self-contained HTML that the
 * report inlines and that a Deno Jupyter cell displays (`display` in `../analysis.ts`).
 * Every figure names its units and iteration counts, and marks emulated meshes. The
 * notebooks draw their own charts with `Plot.plot` calls in plain sight.
 *
 * @example
 * ```ts
 * import { representativeRates } from "./chart.ts";
 * const rates = representativeRates([100, 500, 1000]);
 * if (rates.join() !== "100,500,1000") throw new Error(`three rates fit: ${rates}`);
 * ```
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { meshLabel, rateLabel } from "../format.ts";
import { escapeHtml, type Figure, makeFigure } from "../figure.ts";
import type { GroupStats } from "../types.ts";

/** Colour of the no-mesh baseline in every chart. */
const BASELINE_COLOR = "#6b7280";

/** Colours of the meshes, in order of first appearance (after the baseline). */
const MESH_COLORS = ["#4269d0", "#ef8a17", "#3ca951", "#d62d7a", "#8f5bd6", "#1fa5b5", "#a0522d"];

/** Width of every chart, in CSS pixels. */
export const WIDTH = 880;

// linkedom's typings lean on DOM lib types that Deno does not load: keep it opaque.
let doc: unknown;
function document(): unknown {
  doc ??= (parseHTML("<!doctype html><html><head></head><body></body></html>") as unknown as {
    document: unknown;
  }).document;
  return doc;
}

/** A figure of a chart body (rendered SVG) framed by title, subtitle and caption. */
export function wrap(
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
export function meshOrder(
  items: ReadonlyArray<{ mesh: string; emulated: boolean }>,
  baseline: string,
) {
  const seen = new Map<string, string>();
  for (const i of items) seen.set(i.mesh, meshLabel(i.mesh, i.emulated));
  const names = [...seen.keys()].sort((a, b) =>
    a === baseline ? -1 : b === baseline ? 1 : a.localeCompare(b)
  );
  return names.map((n) => seen.get(n)!);
}

/** A colour scale that keeps each mesh's colour fixed across all charts. */
export function meshColor(labels: string[], baselineLabel: string) {
  let i = 0;
  const range = labels.map((l) => l === baselineLabel ? BASELINE_COLOR : MESH_COLORS[i++ % 7]);
  return { domain: labels, range, legend: true };
}

/** Renders an Observable Plot chart to SVG markup with the shared linkedom document. */
export function render(options: Plot.PlotOptions): string {
  const el = Plot.plot({ ...options, document: document() as never }) as unknown as {
    outerHTML: string;
  };
  return el.outerHTML;
}

/** Panel titles drawn above each facet's frame (instead of a side axis that gets cut). */
export function panelTitles(panels: string[]) {
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

/** Rate labels sorted by their rate (max-throughput and batch labels last). */
export function sortRates(rates: Iterable<string>, groups: ReadonlyArray<GroupStats>): string[] {
  const byLabel = new Map<string, number>();
  for (const g of groups) byLabel.set(rateLabel(g.rate, g.mode), g.rate ?? Infinity);
  return [...new Set(rates)].sort((a, b) => (byLabel.get(a) ?? 0) - (byLabel.get(b) ?? 0));
}

/** How many iterations each point of a chart holds, in words. */
export function iterationsText(groups: ReadonlyArray<{ iterations: number }>): string {
  const ns = [...new Set(groups.map((g) => g.iterations))].sort((a, b) => a - b);
  if (ns.length === 0) return "no iterations";
  return ns.length === 1
    ? `${ns[0]} iteration${ns[0] === 1 ? "" : "s"} per point`
    : `${ns[0]}-${ns[ns.length - 1]} iterations per point`;
}

/** The caption sentence that names the emulated meshes of a chart (empty when none). */
export function emulationText(items: ReadonlyArray<{ emulated: boolean; mesh: string }>): string {
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
    if (i.rate === null) continue;
    const rates = byWorkload.get(i.workload);
    if (rates) rates.push(i.rate);
    else byWorkload.set(i.workload, [i.rate]);
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

/** A representative-rates note reworded for a table (whose full data is in summary.json). */
export function tableNote(note: string): string {
  return note.replace("Panels show", "Tables show").replace(
    "the rate-sweep chart has them all",
    "summary.json has every figure",
  );
}
