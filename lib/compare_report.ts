/**
 * A comparison of two runs ({@linkcode compareRuns}) as figures and a self-contained HTML
 * page, and the task's files: `comparison.json` and `comparison.html`.
 *
 * @module
 */
import { join, relative } from "node:path";
import { type CompareOptions, compareRuns, type Comparison, diffLabel } from "./compare.ts";
import {
  formatAddedLatency,
  formatMs,
  formatNumber,
  formatPct,
  meshLabel,
  rateLabel,
} from "./format.ts";
import { gateLabel, LOW_THRESHOLD } from "./gate.ts";
import { loadRun } from "./load_results.ts";
import { metricLabel, overheadLabel } from "./metric_vocabulary.ts";
import { comparisonPlot } from "./plots/comparison.ts";
import {
  escapeHtml,
  type Figure,
  FIGURE_CSS,
  htmlFigure,
  notice,
  PAGE_CSS,
  table,
} from "./figure.ts";
import { writeJsonAtomic, writeTextAtomic } from "./run_dir.ts";
import type { Overhead } from "./types.ts";

/** The comparison as figures: banners, the change chart and the tables. */
export function comparisonFigures(c: Comparison): Figure[] {
  const changes = c.differences.map((d) => ({
    group: `${d.workload} · ${meshLabel(d.mesh, d.emulated)} @ ${rateLabel(d.rate, d.mode)}`,
    metric: metricLabel(d.metric),
    changePct: d.changePct,
    ci95: d.ci95,
    exceedsNoise: d.exceedsNoise,
    iterations: d.iterations,
  }));
  const banners: Figure[] = [htmlFigure("Styles", `<style>${FIGURE_CSS}</style>`)];
  if (c.a.emulated || c.b.emulated) {
    banners.push(notice(
      'Meshes marked "(emulated)" are local stand-ins (proxies on loopback), not the real mesh.',
      "warning",
    ));
  }
  for (const side of [c.a, c.b]) {
    const ps = c.problems.filter((p) => p.file === side.dir || p.file.startsWith(`${side.dir}/`));
    if (ps.length === 0) continue;
    const items = ps.map((p) =>
      `<li><code>${escapeHtml(relative(side.dir, p.file) || p.file)}</code>: ${
        escapeHtml(p.problem)
      }</li>`
    ).join("");
    banners.push(htmlFigure(
      `Problems in ${side.runId}`,
      `<div class="mb-banner problems"><strong>${ps.length} problem${
        ps.length === 1 ? "" : "s"
      } in run ${escapeHtml(side.runId)}</strong> (<code>${escapeHtml(side.dir)}</code>)` +
        `<ul>${items}</ul></div>`,
    ));
  }
  const only = [
    ...(c.onlyIn.a.length ? [notice(`Only in A: ${c.onlyIn.a.join("; ")}`)] : []),
    ...(c.onlyIn.b.length ? [notice(`Only in B: ${c.onlyIn.b.join("; ")}`)] : []),
  ];
  return [
    ...banners,
    comparisonPlot(changes, { title: `Change from A (${c.a.runId}) to B (${c.b.runId})` }),
    table("Every metric compared", c.differences, {
      columns: [
        { header: "what", value: diffLabel },
        { header: "A", value: (d) => `${formatNumber(d.a)} ${d.unit}`, numeric: true },
        { header: "B", value: (d) => `${formatNumber(d.b)} ${d.unit}`, numeric: true },
        { header: "change", value: (d) => formatPct(d.changePct), numeric: true },
        {
          header: "change in ms [95 % CI]",
          value: (d) =>
            d.deltaMs === undefined
              ? "-"
              : `${formatMs(d.deltaMs)} [${formatMs(d.deltaMsCi95![0])}, ${
                formatMs(d.deltaMsCi95![1])
              }]`,
          numeric: true,
        },
        {
          header: "95 % CI",
          value: (d) => `${formatPct(d.ci95[0])} to ${formatPct(d.ci95[1])}`,
          numeric: true,
        },
        { header: "noise (CV)", value: (d) => `${d.noisePct.toFixed(1)} %`, numeric: true },
        { header: "n (A/B)", value: (d) => `${d.iterations.a}/${d.iterations.b}` },
        { header: "verdict", value: (d) => d.exceedsNoise ? "exceeds noise" : d.note ?? "noise" },
      ],
      rowClass: (d) => d.exceedsNoise ? "significant" : "",
    }),
    table("Gate verdicts (compare --gate)", c.gate.results, {
      caption: `Pinpoint's rule over per-iteration values: the smaller p-value of Mann-Whitney U ` +
        `and Kolmogorov-Smirnov; different at p <= ${LOW_THRESHOLD}, same above the high ` +
        "threshold, else inconclusive. A regression (different, the bad way, beyond the " +
        "alert threshold, and its exact permutation p-value at or below the level after " +
        `Holm's correction over the ${c.gate.family.size} gating tests; family-wise level ` +
        `${c.gate.family.alpha}) fails the gate. ${
          c.gate.family.canFail ? "" : "With these iterations this comparison cannot fail. "
        }${c.gate.failed ? "This comparison FAILS the gate." : "This comparison passes the gate."}`,
      columns: [
        { header: "what", value: gateLabel },
        { header: "change", value: (r) => formatPct(r.changePct), numeric: true },
        { header: "better", value: (r) => r.better },
        {
          header: "alert",
          value: (r) => r.alertThresholdPct === null ? "off" : `${r.alertThresholdPct} %`,
          numeric: true,
        },
        { header: "p", value: (r) => r.pValue.toPrecision(2), numeric: true },
        { header: "exact p", value: (r) => r.pPermutation.toPrecision(2), numeric: true },
        {
          header: "Holm p",
          value: (r) => r.pHolm === null ? "-" : r.pHolm.toPrecision(2),
          numeric: true,
        },
        { header: "same above", value: (r) => String(r.highThreshold), numeric: true },
        { header: "n (A/B)", value: (r) => `${r.values.a.length}/${r.values.b.length}` },
        { header: "verdict", value: (r) => r.regression ? `${r.verdict}: regression` : r.verdict },
      ],
      rowClass: (r) => r.regression ? "significant" : "",
    }),
    c.overheadChanges.length
      ? table("Overheads vs baseline, A and B", c.overheadChanges, {
        columns: [
          {
            header: "what",
            value: (o) =>
              `${o.workload} · ${meshLabel(o.mesh, o.emulated)} · ${overheadLabel(o.metric)} @ ` +
              rateLabel(o.rate),
          },
          { header: "A", value: (o) => overheadText(o.a) },
          { header: "B", value: (o) => overheadText(o.b) },
          { header: "verdict", value: (o) => o.exceedsNoise ? "changed" : "intervals overlap" },
        ],
        rowClass: (o) => o.exceedsNoise ? "significant" : "",
      })
      : notice("No overhead figures in common."),
    ...only,
  ];
}

function overheadText(o: Overhead): string {
  const added = formatAddedLatency(o);
  return `${formatPct(o.overheadPct)} [${formatPct(o.ci95[0])}, ${formatPct(o.ci95[1])}]` +
    (added ? `; ${added} added` : "");
}

/** The comparison as a self-contained HTML page (no scripts, no network). */
export function renderComparison(c: Comparison): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>meshbench comparison: ${escapeHtml(c.a.runId)} vs ${escapeHtml(c.b.runId)}</title>
<style>${PAGE_CSS}</style></head><body><main>
<h1>Run comparison</h1>
<p>A: <code>${escapeHtml(c.a.dir)}</code> (${escapeHtml(c.a.target)}) &middot; B: <code>${
    escapeHtml(c.b.dir)
  }</code> (${escapeHtml(c.b.target)})</p>
<section>${comparisonFigures(c).map((f) => f.html).join("\n")}</section>
</main></body></html>
`;
}

/** Where {@linkcode writeComparison} wrote its files. */
export interface ComparisonFiles {
  comparison: Comparison;
  json: string;
  html: string;
}

/**
 * Loads run directories A and B, compares them and writes `comparison.json` and
 * `comparison.html` into `options.out` (default `results/comparisons/<A>_vs_<B>`).
 */
export async function writeComparison(
  dirA: string,
  dirB: string,
  options: CompareOptions & { out?: string } = {},
): Promise<ComparisonFiles> {
  const [a, b] = await Promise.all([loadRun(dirA), loadRun(dirB)]);
  for (const run of [a, b]) {
    if (run.runs.length === 0) {
      const why = run.problems.map((p) => `${p.file}: ${p.problem}`).join("; ");
      throw new Error(`Cannot compare "${run.dir}": it has no valid run records (${why})`);
    }
  }
  const comparison = compareRuns(a, b, options);
  const out = options.out ?? join("results", "comparisons", `${a.runId}_vs_${b.runId}`);
  await Deno.mkdir(out, { recursive: true });
  const json = join(out, "comparison.json");
  const html = join(out, "comparison.html");
  await writeJsonAtomic(json, comparison);
  await writeTextAtomic(html, renderComparison(comparison));
  return { comparison, json, html };
}
