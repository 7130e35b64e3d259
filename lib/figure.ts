/**
 * Figures as data and HTML: the Jupyter display protocol (a figure shows itself as rich
 * output in a Deno kernel cell), notices, stacks, HTML tables and their stylesheet. Charts
 * are in `plots.ts`; this module needs neither Observable Plot nor a DOM.
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
 * Styles of banners, notices and tables for pages that do not bring their own (notebook
 * output): notebooks emit them once, with the run header.
 */
export const FIGURE_CSS = `
.mb-banner { margin: 8px 0; padding: 10px 14px; border-radius: 8px; border: 1px solid; }
.mb-banner.emulated { background: #fffbeb; border-color: #f59e0b; color: #78350f; }
.mb-banner.problems { background: #fef2f2; border-color: #ef4444; color: #7f1d1d; }
.mb-run-head { font-size: 14px; margin: 4px 0; }
.mb-title { font-weight: 600; margin-bottom: 2px; }
.mb-subtitle, .mb-caption { color: #4b5563; font-size: 12.5px; margin: 2px 0 6px; }
.mb-notice { padding: 10px 14px; border-radius: 6px; border: 1px dashed #9ca3af; margin: 8px 0; }
.mb-notice.mb-warning { background: #fffbeb; border-color: #f59e0b; }
table.mb-table td, table.mb-table th { text-align: left; }
table.mb-table td.num, table.mb-table th.num { text-align: right; }
table.mb-table .nw, table.mb-table .num { white-space: nowrap; }
table.mb-table tr.significant td { font-weight: 600; }
table.mb-table tr.bad td { color: #991b1b; }
`;

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
