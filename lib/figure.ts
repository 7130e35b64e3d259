/**
 * Figures as data and HTML: the Jupyter display protocol (a figure shows itself as rich
 * output in a Deno kernel cell), notices, stacks, HTML tables and the stylesheets (of the
 * pages, and of figures inside a notebook, whose page is not ours). Charts
 * are in `plots/`; this module needs neither Observable Plot nor a DOM.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY, notice, table } from "./figure.ts";
 * const t = table("p99", [{ mesh: "istio" }], { columns: [{ header: "mesh", value: (r) => r.mesh }] });
 * if (!t.html.includes("<td>istio</td>")) throw new Error("table");
 * if (notice("No results")[JUPYTER_DISPLAY]()["text/plain"] !== "No results") throw new Error();
 * ```
 *
 * @module
 */
import { formatNumber } from "./format.ts";

/** The symbol the Deno Jupyter kernel looks for to display a value as rich output. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A rendered figure: HTML with inline SVG; displays itself in a Jupyter cell. */
export interface Figure {
  /** What the figure shows, in words. */
  title: string;
  /** Self-contained HTML (a `<figure>` or `<div>`), no scripts, no external resources. */
  html: string;
  /** Number of Observable Plot charts inside `html` (0 for tables and notices). */
  charts: number;
  [JUPYTER_DISPLAY](): Record<string, string>;
}

/**
 * The one stylesheet of meshbench's components: banners, run header, figures, notices and
 * tables. Notebook output carries it alone (emitted once, with the run header); meshbench's own
 * pages carry it inside {@linkcode PAGE_CSS}. Colours are the page's variables where a page
 * defines them, with the same values as fallbacks where none does (a notebook).
 */
export const FIGURE_CSS = `
.mb-banner { margin: 14px 0 8px; padding: 12px 16px; border-radius: 8px; border: 1px solid;
  font-size: 13.5px; }
.mb-banner.emulated { background: #fffbeb; border-color: #f59e0b; color: #78350f; }
.mb-banner.problems { background: #fef2f2; border-color: #ef4444; color: #7f1d1d; }
.mb-banner ul { margin: 6px 0 0; padding-left: 20px; }
.mb-banner code { font-size: 12.5px; word-break: break-all; }
.mb-run-head { font-size: 14px; margin: 4px 0; }
figure.mb-figure { margin: 14px 0 18px; }
figure.mb-figure svg { max-width: 100%; height: auto; }
.mb-title { font-weight: 600; font-size: 14px; margin-bottom: 2px; }
.mb-subtitle, .mb-caption { color: var(--muted, #4b5563); font-size: 12.5px; margin: 2px 0 6px; }
.mb-notice { padding: 10px 14px; border-radius: 6px; background: #f9fafb; border: 1px dashed #9ca3af;
  color: var(--muted, #4b5563); margin: 10px 0; }
.mb-notice.mb-warning { background: #fffbeb; border-color: #f59e0b; color: #78350f; }
.mb-notice.mb-error { background: #fef2f2; border-color: #ef4444; color: #7f1d1d; }
.mb-table-wrap { overflow-x: auto; }
table.mb-table { border-collapse: collapse; width: 100%; font-size: 12px; }
table.mb-table th { text-align: left; border-bottom: 2px solid var(--line, #e5e7eb); padding: 5px 8px;
  color: var(--muted, #4b5563); font-weight: 600; white-space: nowrap; }
table.mb-table td { text-align: left; border-bottom: 1px solid var(--line, #e5e7eb); padding: 4px 8px;
  vertical-align: top; }
table.mb-table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.mb-table .nw { white-space: nowrap; }
table.mb-table tr.significant td { font-weight: 600; }
table.mb-table tr.bad td { color: #991b1b; }
`;

/**
 * The stylesheet of meshbench's own pages (`report.html`, `comparison.html`): the page's
 * layout and variables, then the components' {@linkcode FIGURE_CSS}.
 */
export const PAGE_CSS = `
:root { color-scheme: light; --ink: #111827; --muted: #4b5563; --line: #e5e7eb; --accent: #4269d0; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 24px 20px 64px; }
header.mb-header { background: #111827; color: #f9fafb; padding: 22px 24px; border-radius: 10px; }
header.mb-header h1 { margin: 0 0 4px; font-size: 22px; }
header.mb-header .meta { color: #d1d5db; font-size: 13px; }
header.mb-header .meta span { margin-right: 16px; white-space: nowrap; }
nav.mb-nav { margin: 14px 0 4px; font-size: 13px; }
nav.mb-nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
section { background: white; border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px; margin-top: 18px; }
section h2 { margin: 0 0 6px; font-size: 18px; }
section h3 { margin: 18px 0 4px; font-size: 15px; }
section > p.lead { color: var(--muted); margin: 0 0 10px; }
ul.findings { margin: 6px 0; padding-left: 20px; }
ul.findings li { margin: 4px 0; }
pre.mb-config { background: #f9fafb; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
  font-size: 12px; overflow-x: auto; max-height: 420px; }
footer { color: var(--muted); font-size: 12px; margin-top: 22px; text-align: center; }
${FIGURE_CSS}`;

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** A figure of `html` (already escaped) titled `title`, holding `charts` Plot charts. */
export function makeFigure(title: string, html: string, charts: number): Figure {
  return {
    title,
    html,
    charts,
    [JUPYTER_DISPLAY]() {
      return { "text/html": html, "text/plain": title };
    },
  };
}

/** A figure from HTML the caller built and escaped (tables, lists). */
export function htmlFigure(title: string, html: string): Figure {
  return makeFigure(title, html, 0);
}

/** A short message in place of a figure (no data, no results). */
export function notice(text: string, kind: "info" | "warning" | "error" = "info"): Figure {
  return makeFigure(
    text,
    `<div class="mb-notice mb-${kind}" role="note">${escapeHtml(text)}</div>`,
    0,
  );
}

/** Several figures shown as one (one notebook cell, one report section). */
export function stack(figures: readonly Figure[]): Figure {
  return makeFigure(
    figures.map((f) => f.title).join("; "),
    figures.map((f) => f.html).join("\n"),
    figures.reduce((n, f) => n + f.charts, 0),
  );
}

/** Column of {@linkcode table}: header text and how to read a cell from a row. */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number;
  /** Right-align (numbers). */
  numeric?: boolean;
  /** Keep the cell on one line (names that must not break at hyphens). */
  nowrap?: boolean;
}

/** An HTML table of `rows`; cells are escaped text. */
export function table<T>(
  title: string,
  rows: readonly T[],
  options: { columns: Column<T>[]; caption?: string; rowClass?: (row: T) => string },
): Figure {
  const head = options.columns
    .map((c) => `<th${c.numeric ? ' class="num"' : ""}>${escapeHtml(c.header)}</th>`)
    .join("");
  const body = rows.map((r) => {
    const cls = options.rowClass?.(r);
    const cells = options.columns.map((c) => {
      const v = c.value(r);
      const text = typeof v === "number" ? formatNumber(v) : v;
      const cls = [c.numeric ? "num" : "", c.nowrap ? "nw" : ""].filter(Boolean).join(" ");
      return `<td${cls ? ` class="${cls}"` : ""}>${escapeHtml(text)}</td>`;
    }).join("");
    return `<tr${cls ? ` class="${escapeHtml(cls)}"` : ""}>${cells}</tr>`;
  }).join("");
  const html = `<figure class="mb-figure mb-table-figure">` +
    `<figcaption class="mb-title">${escapeHtml(title)}</figcaption>` +
    `<div class="mb-table-wrap"><table class="mb-table"><thead><tr>${head}</tr></thead>` +
    `<tbody>${body}</tbody></table></div>` +
    (options.caption ? `<p class="mb-caption">${escapeHtml(options.caption)}</p>` : "") +
    `</figure>`;
  return makeFigure(title, html, 0);
}
