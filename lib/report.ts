/**
 * `report.html`: one self-contained page per run directory (inline SVG from the
 * charts of `plots/`, inline CSS, no scripts, no network) with latency
 * percentiles, overheads with CI bars, throughput, resources and provenance.
 * A run directory with missing or broken files still gets a report: it says which
 * file is wrong and why, and shows what is valid.
 *
 * @module
 */
import { dirname, isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type LoadedRun,
  loadRun,
  loadRunRows,
  NO_RESULTS_HELP,
  resolveRunDir,
} from "./load_results.ts";
import { atRepresentativeRates, sweepRates } from "./plots/chart.ts";
import {
  latencyDistributionPlot,
  latencyPercentilePlot,
  latencyVsRatePlot,
} from "./plots/latency.ts";
import {
  overheadPlot,
  overheadTable,
  overheadVsConnectionsPlot,
  overheadVsPayloadPlot,
  overheadVsRatePlot,
  payloadSizes,
  rankMeshes,
} from "./plots/overhead.ts";
import { kneePlot, throughputPlot } from "./plots/throughput.ts";
import { proxyCountersTable, resourcePlot, resourceTable } from "./plots/resources.ts";
import {
  escapeHtml,
  type Figure,
  FIGURE_CSS,
  htmlFigure,
  notice,
  PAGE_CSS,
  table,
} from "./figure.ts";
import {
  formatAddedLatency,
  formatNumber,
  formatOverhead,
  formatPct,
  meshLabel,
  payloadLabel,
  rateLabel,
} from "./format.ts";
import {
  headlineMetric,
  latencyMetric,
  METRIC_FAMILIES,
  metricsOf,
  overheadLabel,
} from "./metric_vocabulary.ts";
import { writeTextChunksAtomic } from "./run_dir.ts";
import type { Manifest, Overhead, RunRow, RunSpec, Summary } from "./types.ts";
import { kneeCriteriaText, kneeText } from "./knee.ts";

/** A run as the report reads it: full records, or only the rows it lists of them. */
type ReportRun = LoadedRun<RunRow>;

function section(id: string, title: string, lead: string, figures: Figure[]): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>` +
    (lead ? `<p class="lead">${escapeHtml(lead)}</p>` : "") +
    figures.map((f) => f.html).join("\n") + `</section>`;
}

/** Workloads present in a loaded run (summary or records), sorted. */
export function workloadsOf(run: ReportRun): string[] {
  const fromSummary = run.summary?.groups.map((g) => g.workload) ?? [];
  return [...new Set([...fromSummary, ...run.runs.map((r) => r.spec.workload)])].sort();
}

/** One sentence per workload and load point: meshes ranked by headline overhead. */
export function findings(run: ReportRun): string[] {
  const s = run.summary;
  if (!s) return [];
  const out: string[] = [...kneeFindings(run)];
  for (const w of workloadsOf(run)) {
    const os = s.overheads.filter((o) => o.workload === w);
    // The highest latency percentile measured, else throughput (see the vocabulary).
    const metric = headlineMetric([...new Set(os.map((o) => o.metric))]);
    if (!metric) continue;
    // A sweep gets a sentence at its representative rates; the charts have every rate.
    const all = os.filter((o) => o.metric === metric);
    const rates = [...new Set(atRepresentativeRates(all).kept.map((o) => o.rate))]
      .sort((a, b) => (a ?? Infinity) - (b ?? Infinity));
    const payloads = [...new Set(all.map((o) => o.payloadBytes))]
      .sort((a, b) => (a ?? 0) - (b ?? 0));
    const protocols = [...new Set(all.map((o) => o.httpProtocol))]
      .sort((a, b) => (a ?? "").localeCompare(b ?? ""));
    for (const rate of rates) {
      for (
        const [payloadBytes, httpProtocol] of payloads.flatMap((b) =>
          protocols.map((p) => [b, p] as const)
        )
      ) {
        const ranked = rankMeshes(os, { workload: w, metric, rate, payloadBytes, httpProtocol });
        if (ranked.length === 0) continue;
        const parts = ranked.map((o) => {
          const n = o.ciMethod === "too-few-iterations"
            ? `n=${o.iterations.mesh}/${o.iterations.baseline}: too few iterations for an interval`
            : `95 % CI ${formatPct(o.ci95[0])} to ${formatPct(o.ci95[1])}, n=${o.iterations.mesh}`;
          const added = formatAddedLatency(o);
          return `${meshLabel(o.mesh, o.emulated)} ${formatOverhead(o)} ` +
            `(${n}${o.noisyBaseline ? ", noisy baseline" : ""}${o.saturated ? ", saturated" : ""}${
              o.generatorLimited ? ", generator-limited" : ""
            })` +
            (added ? `, ${added} added` : "");
        });
        out.push(
          `${w} @ ${rateLabel(rate)}${
            payloadBytes === undefined ? "" : `, ${payloadLabel(payloadBytes)} payload`
          }${httpProtocol === "h2c" ? " over h2c" : ""}, ${
            overheadLabel(metric)
          } vs ${s.baselineMesh}: ` +
            parts.join("; "),
        );
      }
    }
  }
  return out;
}

/**
 * The knee per workload as one headline sentence: each mesh's highest fixed rate that held
 * the p99 target, with its range over iterations and the closed-loop max throughput beside it.
 */
export function kneeFindings(run: ReportRun): string[] {
  const knees = run.summary?.knees ?? [];
  return [...new Set(knees.map((k) => k.workload))].map((w) => {
    const ks = knees.filter((k) => k.workload === w)
      .sort((a, b) => b.kneeRate - a.kneeRate || a.mesh.localeCompare(b.mesh));
    return `${w} knee (${kneeCriteriaText(ks[0])}): ` +
      ks.map((k) => `${meshLabel(k.mesh, k.emulated)} ${kneeText(k)}`).join("; ");
  });
}

/** The connection sweep's overheads as a table: one row per mesh and connection count. */
export function connectionSweepTable(overheads: readonly Overhead[]): Figure {
  const os = overheads.filter((o) => o.sweep === "connections");
  const keys = [...new Set(os.map((o) => `${o.workload}|${o.mesh}|${o.connections}`))];
  const rows = keys.map((k) => {
    const [workload, mesh, c] = k.split("|");
    const of = (metric: string) =>
      os.find((o) =>
        o.workload === workload && o.mesh === mesh && o.connections === Number(c) &&
        o.metric === metric
      );
    return {
      workload,
      mesh,
      connections: Number(c),
      p50: of(latencyMetric(50)),
      p99: of(latencyMetric(99)),
    };
  }).sort((a, b) =>
    a.workload.localeCompare(b.workload) || a.mesh.localeCompare(b.mesh) ||
    a.connections - b.connections
  );
  const pct = (o: Overhead | undefined) =>
    o
      ? `${formatOverhead(o)}${
        o.ciMethod === "too-few-iterations"
          ? ""
          : ` (${formatPct(o.ci95[0])} to ${formatPct(o.ci95[1])})`
      }${o.saturated ? " SAT" : ""}`
      : "-";
  return table("Connection sweep: latency overhead by connections", rows, {
    columns: [
      { header: "workload", value: (r) => r.workload },
      { header: "mesh", value: (r) => meshLabel(r.mesh, r.p99?.emulated ?? false) },
      { header: "connections", value: (r) => r.connections, numeric: true },
      { header: "p50 overhead (95 % CI)", value: (r) => pct(r.p50), nowrap: true },
      { header: "p99 overhead (95 % CI)", value: (r) => pct(r.p99), nowrap: true },
      { header: "p99 added", value: (r) => (r.p99 ? formatAddedLatency(r.p99) : "-") },
    ],
    caption: `At ${
      [...new Set(os.map((o) => rateLabel(o.rate)))].join(", ")
    }, the load client holding exactly this many connections. SAT: a run could not hold ` +
      "the rate.",
  });
}

/** A knee's rate in words: `below 500/s` for 0 (even the ramp's first step broke). */
function kneeRateLabel(k: { rates: number[] }, rate: number): string {
  return rate === 0 ? `below ${rateLabel(k.rates[0])}` : rateLabel(rate);
}

/** The knees as a table: per mesh, the median knee, its range, each iteration's stop. */
export function kneeTable(run: ReportRun): Figure {
  const knees = run.summary?.knees ?? [];
  return table("Knee per mesh", knees, {
    columns: [
      { header: "workload", value: (k) => k.workload },
      { header: "mesh", value: (k) => meshLabel(k.mesh, k.emulated) },
      { header: "knee (median)", value: (k) => kneeRateLabel(k, k.kneeRate), numeric: true },
      {
        header: "range over iterations",
        value: (k) => `${kneeRateLabel(k, k.interval[0])} to ${kneeRateLabel(k, k.interval[1])}`,
        nowrap: true,
      },
      {
        header: "closed-loop max",
        value: (k) => (k.maxThroughput ? rateLabel(Math.round(k.maxThroughput.mean)) : "-"),
        numeric: true,
      },
      {
        header: "where each iteration stopped",
        value: (k) =>
          k.iterations.map((i) =>
            `#${i.iteration}: ${
              i.brokeAt === null
                ? "held every step"
                : `${rateLabel(i.brokeAt)} ${i.reasons.join(", ")}`
            }`
          ).join(" | "),
      },
    ],
    caption:
      "A knee below the first step: even the ramp's first step broke. Each knee is a lower bound " +
      "within one ramp step; the interval is the range of the per-iteration knees, not a " +
      "confidence interval.",
  });
}

/** Overhead charts of one workload: latency, then throughput, then resources. */
export function overheadFigures(
  overheads: readonly Overhead[],
  workload: string,
  baselineMesh: string,
): Figure[] {
  const os = overheads.filter((o) => o.workload === workload);
  // A sweep of several rates reads best as a line against rate, with the panels of the
  // representative rates after it.
  const sweep = sweepRates(os, workload).length > 1;
  // Likewise several payload sizes: a line against payload size first.
  const payloads = payloadSizes(os, workload).length > 1;
  return METRIC_FAMILIES.map((f) => metricsOf(f))
    .filter((ms) => os.some((o) => ms.includes(o.metric)))
    .flatMap((metrics) => [
      ...(payloads && os.some((o) => o.payloadBytes !== undefined && metrics.includes(o.metric))
        ? [overheadVsPayloadPlot(os, workload, { baselineMesh, metrics })]
        : []),
      ...(sweep && os.some((o) => o.rate !== null && metrics.includes(o.metric))
        ? [overheadVsRatePlot(os, workload, { baselineMesh, metrics })]
        : []),
      overheadPlot(os, workload, { baselineMesh, metrics }),
    ]);
}

/**
 * The run rows with collect's per-run `generatorLimited` flag: run records do not carry it
 * (it needs the baseline's pooled p50), the summary's run index does.
 */
function withIndexFlags(run: ReportRun): readonly RunRow[] {
  const flags = new Map((run.summary?.runs ?? []).map((e) => [e.spec.seq, e.generatorLimited]));
  return run.runs.map((r) =>
    r.generatorLimited !== undefined || flags.get(r.spec.seq) === undefined
      ? r
      : { ...r, generatorLimited: flags.get(r.spec.seq) }
  );
}

/** Rows of the runs table before it lists only the runs that are not ok. */
export const RUNS_TABLE_LIMIT = 300;

/** A table of every run record: status, achieved rate, per-run percentiles. */
export function runsTable(all: readonly RunRow[], limit = RUNS_TABLE_LIMIT): Figure {
  // A sweep can have thousands of runs: list the first `limit`, and every run that is not ok.
  const runs = all.filter((r, i) => i < limit || r.status !== "ok");
  const shown = runs.length < all.length
    ? ` Showing ${runs.length} of ${all.length}: the first ${limit} and every run that is not ` +
      `ok; runs/ has them all.`
    : "";
  return table(`Individual runs (${all.length})`, runs, {
    columns: [
      { header: "#", value: (r) => r.spec.seq, numeric: true },
      { header: "workload", value: (r) => r.spec.workload },
      { header: "mesh", value: (r) => meshLabel(r.mesh.name, r.mesh.emulated) },
      { header: "rate", value: (r) => rateLabel(r.spec.point.rate, r.spec.point.mode) },
      { header: "iter", value: (r) => r.spec.iteration, numeric: true },
      {
        header: "status",
        value: (r) =>
          r.status + (r.generatorLimited ? " (generator-limited)" : "") +
          (r.reason ? `: ${r.reason}` : ""),
      },
      { header: "achieved/s", value: (r) => r.load ? r.load.achievedRate : "-", numeric: true },
      { header: "p50 ms", value: (r) => r.latency ? r.latency.p50Ms : "-", numeric: true },
      { header: "p99 ms", value: (r) => r.latency ? r.latency.p99Ms : "-", numeric: true },
      { header: "errors", value: (r) => r.load ? r.load.errors : "-", numeric: true },
      { header: "tool", value: (r) => r.load ? `${r.load.tool} (${r.load.timing})` : "-" },
    ],
    rowClass: (r) => r.status === "ok" ? "" : "bad",
    caption: "Every measured run in execution order (baseline and meshes interleaved). " +
      "Percentiles per run are shown for inspection only; the charts use merged histograms. " +
      "Generator-limited: the run's send-lag p99 is above the configured share of the " +
      "baseline's p50, so its latencies carry the load generator's lateness." +
      shown,
  });
}

/** Provenance of a run: environment, meshes as measured, stages, effective config. */
export function provenanceFigures(run: ReportRun): Figure[] {
  const m = run.manifest;
  if (!m) return [notice("No valid manifest.json: provenance is unknown.", "warning")];
  const p = m.provenance;
  const rows: Array<[string, string]> = [
    ["run id", m.runId],
    ["target", m.target],
    ["profile", m.profile],
    ["status", m.status + (m.reason ? `: ${m.reason}` : "")],
    ["created", m.createdAt],
    ["updated", m.updatedAt],
    ["git commit", `${p.gitCommit}${p.gitDirty ? " (dirty working tree)" : ""}`],
    ["meshbench", p.meshbenchVersion],
    ["deno", p.deno],
    ["host", `${p.hostname}: ${p.os}, kernel ${p.kernel}`],
    ["CPU", `${p.cpuModel} x ${p.cpuCount}`],
    ["memory", `${formatNumber(p.memoryMB)} MB`],
    [
      "load average at start",
      Array.isArray(p.loadAverage) ? p.loadAverage.map((x) => x.toFixed(2)).join(" / ") : "-",
    ],
    ["tools", Object.entries(p.tools ?? {}).map(([k, v]) => `${k} ${v}`).join(", ") || "-"],
    ["started by", p.startedBy],
    ["plan", `${m.plan.length} runs, seed ${m.planSeed}`],
    ["config sources", (m.configSources ?? []).join(" < ") || "-"],
  ];
  const meshes = new Map<string, RunRow["mesh"]>();
  for (const r of run.runs) meshes.set(r.mesh.name, r.mesh);
  const figs: Figure[] = [
    table("Environment and inputs", rows, {
      columns: [{ header: "what", value: (r) => r[0] }, { header: "value", value: (r) => r[1] }],
    }),
  ];
  if (meshes.size) {
    figs.push(table("Meshes as measured", [...meshes.values()], {
      columns: [
        { header: "mesh", value: (x) => x.name },
        { header: "kind", value: (x) => x.kind },
        { header: "version", value: (x) => x.version },
        { header: "emulated", value: (x) => x.emulated ? "yes: local stand-in" : "no" },
        {
          header: "settings",
          value: (x) => Object.entries(x.settings).map(([k, v]) => `${k}=${v}`).join(", ") || "-",
        },
      ],
    }));
  }
  figs.push(table("Stages", m.stages, {
    columns: [
      { header: "stage", value: (s) => s.name },
      { header: "status", value: (s) => s.status },
      { header: "start", value: (s) => s.start },
      { header: "end", value: (s) => s.end ?? "-" },
      { header: "error", value: (s) => s.error ?? "" },
    ],
    rowClass: (s) => s.status === "failed" || s.status === "interrupted" ? "bad" : "",
  }));
  const config = JSON.stringify(m.config, null, 2);
  figs.push(htmlFigure(
    "Effective configuration",
    `<figure class="mb-figure"><figcaption class="mb-title">Effective configuration` +
      `</figcaption><pre class="mb-config">${escapeHtml(config)}</pre></figure>`,
  ));
  return figs;
}

/** What a run measured: workloads, meshes, load points, iterations, tools, durations. */
export function planTable(run: ReportRun): Figure {
  const specs = run.manifest?.plan ?? run.runs.map((r) => r.spec);
  if (specs.length === 0) return notice("No plan and no run records: nothing was measured.");
  // One row per workload and kind of load; a rate sweep is one row with its range.
  const keyOf = (s: RunSpec) =>
    `${s.workload}|${s.point.mode}|${s.point.tool}|${s.point.connections}|${s.point.durationS}|${
      s.point.sweep ?? ""
    }|${s.point.payloadBytes ?? ""}|${s.point.httpProtocol ?? ""}`;
  interface Row {
    spec: RunSpec;
    rates: Set<number>;
    meshes: Set<string>;
    iterations: Set<number>;
    planned: number;
    ok: number;
  }
  const rows = new Map<string, Row>();
  for (const s of specs) {
    const k = keyOf(s);
    const e = rows.get(k) ??
      { spec: s, rates: new Set(), meshes: new Set(), iterations: new Set(), planned: 0, ok: 0 };
    if (s.point.rate !== null) e.rates.add(s.point.rate);
    e.meshes.add(s.mesh);
    e.iterations.add(s.iteration);
    e.planned++;
    rows.set(k, e);
  }
  for (const r of run.runs) {
    const e = rows.get(keyOf(r.spec));
    if (e && r.status === "ok") e.ok++;
  }
  const emulated = new Map(run.runs.map((r) => [r.mesh.name, r.mesh.emulated]));
  const load = (e: Row) => {
    const p = e.spec.point;
    const rates = [...e.rates].sort((x, y) => x - y);
    const rate = rates.length === 0
      ? p.mode
      : rates.length === 1
      ? rateLabel(rates[0])
      : `${rates.length} rates, ${rateLabel(rates[0])} to ${rateLabel(rates.at(-1)!)}`;
    const series = p.sweep === "knee"
      ? " · knee ramp"
      : p.sweep === "connections"
      ? " · connection sweep"
      : p.payloadBytes !== undefined
      ? ` · POST ${formatNumber(p.payloadBytes)} B body${p.httpProtocol === "h2c" ? " · h2c" : ""}`
      : "";
    return `${rate} · ${p.tool} · ${p.connections} conn · ${p.durationS} s${series}`;
  };
  return table(`What was measured (${specs.length} planned runs)`, [...rows.values()], {
    columns: [
      { header: "workload", value: (e) => e.spec.workload },
      { header: "load", value: load },
      {
        header: "meshes",
        value: (e) => [...e.meshes].map((m) => meshLabel(m, emulated.get(m) ?? false)).join(", "),
      },
      { header: "iterations", value: (e) => e.iterations.size, numeric: true },
      { header: "runs ok / planned", value: (e) => `${e.ok} / ${e.planned}`, numeric: true },
    ],
    caption: "Baseline and mesh runs are interleaved in a seeded random order (see Provenance). " +
      "A knee ramp runs a mesh's next step only while its earlier steps held: its planned " +
      "steps above a broken one are not run.",
  });
}

/** One row per run directory: id, target, profile, status, runs, emulated. */
export function runCatalog(runs: readonly ReportRun[]): Figure {
  if (runs.length === 0) return notice(NO_RESULTS_HELP, "warning");
  return table(`Run directories (${runs.length})`, runs, {
    columns: [
      { header: "run id", value: (r) => r.runId },
      { header: "target", value: (r) => r.manifest?.target ?? r.summary?.target ?? "?" },
      { header: "profile", value: (r) => r.manifest?.profile ?? "?" },
      { header: "status", value: (r) => r.manifest?.status ?? "no manifest" },
      { header: "created", value: (r) => r.manifest?.createdAt ?? "?" },
      { header: "runs", value: (r) => r.runs.length, numeric: true },
      { header: "emulated meshes", value: (r) => r.emulated ? "yes" : "no" },
      { header: "problems", value: (r) => r.problems.length, numeric: true },
    ],
    rowClass: (r) => r.problems.length ? "bad" : "",
  });
}

/** A loaded run for a notebook, and the header that says what it is (or how to get one). */
export interface OpenedRun {
  run: LoadedRun | null;
  /** Run header, emulation and problem banners; or the how-to-get-results help. */
  status: Figure;
}

/**
 * Opens the run a notebook should analyse: `dir`, else `$MESHBENCH_RUN_DIR`, else the
 * newest under `$MESHBENCH_RESULTS` (default: the repository's `results/`). With no
 * run at all, `run` is null and `status` explains how to get results.
 */
export async function openRun(dir?: string): Promise<OpenedRun> {
  const resolved = await resolveRunDir(dir, { resultsDir: resultsDir() });
  if (!resolved) return { run: null, status: notice(NO_RESULTS_HELP, "warning") };
  const run = await loadRun(resolved);
  const m = run.manifest;
  const head = `<div class="mb-run-head"><strong>Run ${escapeHtml(run.runId)}</strong> · ` +
    `target ${escapeHtml(m?.target ?? run.summary?.target ?? "unknown")} · ` +
    `${m ? `profile ${escapeHtml(m.profile)} · status ${escapeHtml(runStatus(m))} · ` : ""}` +
    `${run.runs.length} run records · <code>${escapeHtml(run.dir)}</code></div>`;
  return {
    run,
    status: htmlFigure(
      `Run ${run.runId}`,
      `<style>${FIGURE_CSS}</style>${head}${emulationHtml(run)}${problemsHtml(run)}`,
    ),
  };
}

/** Where notebooks look for run directories. */
export function resultsDir(): string {
  return Deno.env.get("MESHBENCH_RESULTS") ??
    join(dirname(dirname(fileURLToPath(import.meta.url))), "results");
}

/**
 * The run's status in words. A run still "running" whose only running stage is the
 * report is being reported on by its own pipeline: its final status comes after.
 */
export function runStatus(m: Manifest): string {
  if (m.status !== "running") return m.status + (m.reason ? ` (${m.reason})` : "");
  const running = m.stages.filter((s) => s.status === "running").map((s) => s.name);
  if (running.length === 1 && running[0] === "report") {
    const failed = m.stages.some((s) => s.status === "failed" || s.status === "interrupted");
    return `finishing (report written by the run itself${
      failed ? "; a stage failed, see Provenance" : "; every stage so far ok"
    })`;
  }
  return "running";
}

/** Banner and list of every file problem, or "" when there are none. */
export function problemsHtml(run: ReportRun): string {
  if (run.problems.length === 0) return "";
  // Files inside the run directory are named relative to it (the header names the run).
  const name = (file: string) => {
    const rel = relative(run.dir, file);
    return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
  };
  const items = run.problems.map((p) =>
    `<li><code>${escapeHtml(name(p.file))}</code>: ${escapeHtml(p.problem)}</li>`
  ).join("");
  return `<div class="mb-banner problems" role="alert"><strong>${run.problems.length} ` +
    `problem${run.problems.length === 1 ? "" : "s"} reading this run</strong> ` +
    `(<code>${escapeHtml(run.dir)}</code>). Files that cannot be read are left out; ` +
    `suspect data is kept and named here.<ul>${items}</ul></div>`;
}

/** Banner naming the emulated meshes, or "" when no mesh is emulated. */
export function emulationHtml(run: ReportRun): string {
  const names = new Set<string>();
  for (const g of run.summary?.groups ?? []) if (g.emulated) names.add(g.mesh);
  for (const r of run.runs) if (r.mesh.emulated) names.add(r.mesh.name);
  if (!run.emulated && names.size === 0) return "";
  return `<div class="mb-banner emulated" role="note"><strong>Emulated meshes.</strong> ` +
    `${escapeHtml([...names].sort().join(", ") || "Some meshes")} in this run ` +
    `${names.size === 1 ? "is a local emulation" : "are local emulations"}: real proxies ` +
    `on loopback standing in for the mesh, not the mesh itself. Their figures show the ` +
    `method working and the cost of the stand-in; they are not measurements of ` +
    `${names.size === 1 ? "that product" : "those products"}. Every chart labels them ` +
    `"(emulated)".</div>`;
}

/** The saturation tolerance (%) the run's load stage used, from its manifest's config. */
export function saturationPctOf(m: Manifest | null): number | undefined {
  const v = m?.config?.saturationPct;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Renders the report of a loaded run directory as one HTML page (pure). */
export function renderReport(run: ReportRun, options: { generatedAt?: string } = {}): string {
  return renderReportParts(run, options).join("");
}

/**
 * {@linkcode renderReport}'s page in pieces (the head, each section, the tail) that join to
 * it: written one after the other, a page of 10,000 runs (5 MB) is never one string copied
 * whole and encoded whole beside its sections.
 */
export function renderReportParts(
  run: ReportRun,
  options: { generatedAt?: string } = {},
): string[] {
  const s = run.summary;
  const m = run.manifest;
  const baselineMesh = s?.baselineMesh ?? "baseline";
  const workloads = workloadsOf(run);
  const generatedAt = options.generatedAt ?? new Date().toISOString();
  const sections: string[] = [];

  const lines = findings(run);
  sections.push(section(
    "summary",
    "Summary",
    s
      ? `What the meshes cost against the no-mesh baseline (${baselineMesh}), at the ` +
        `headline latency percentile, as a change in % and as the milliseconds the mesh ` +
        `adds. Meshes ranked from least to most overhead.`
      : "",
    s
      ? [
        lines.length
          ? htmlFigure(
            "Findings",
            `<ul class="findings">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>`,
          )
          : notice("The summary has no overhead figures (no baseline to compare with?)."),
        ...(s.notes.length
          ? [notice(`Notes from the summary: ${s.notes.join(" | ")}`, "warning")]
          : []),
        planTable(run),
      ]
      : [notice(
        "No valid summary.json, so there are no pooled figures or overheads. " +
          "The valid individual runs are listed under Runs below.",
        "warning",
      )],
  ));

  if (s?.knees?.length) {
    sections.push(section(
      "knee",
      "Knee",
      "The highest fixed rate each mesh held while keeping the p99 target, with the load " +
        "generator on time and the success rate intact: a ramp per iteration that stops at " +
        "the first step breaking any of the three (Nighthawk's advice), beside the closed-loop " +
        "max throughput, which says how much a mesh carries, not at what latency.",
      [kneePlot(s.knees, { baselineMesh }), kneeTable(run)],
    ));
  }
  if (s && s.groups.length === 0) {
    sections.push(section("results", "Results", "", [
      notice(
        "No measured results to pool: the run produced no usable run records. " +
          "See the problems above and the Runs and Provenance sections.",
        "warning",
      ),
    ]));
  }
  if (s && s.groups.length > 0) {
    sections.push(section(
      "latency",
      "Latency",
      "Percentiles per mesh at each target rate, then the full distribution: mesh " +
        "overhead tends to sit in the tail.",
      workloads.flatMap((w) => [
        ...(sweepRates(s.groups, w).length > 1
          ? [latencyVsRatePlot(s.groups, w, { baselineMesh })]
          : []),
        latencyPercentilePlot(s.groups, w, { baselineMesh }),
        latencyDistributionPlot(s.groups, w, { baselineMesh }),
      ]),
    ));
    sections.push(section(
      "overhead",
      "Overhead",
      "Overhead % of each mesh against the baseline, with 95 % bootstrap intervals " +
        "over iterations. Few iterations give wide intervals; they are shown, not hidden.",
      [
        ...workloads.flatMap((w) => overheadFigures(s.overheads, w, baselineMesh)),
        s.overheads.length ? overheadTable(s.overheads) : notice("No overhead figures."),
      ],
    ));
    if (s.connectionSweep?.overheads.length) {
      const sweep = s.connectionSweep.overheads;
      sections.push(section(
        "connections",
        "Connections",
        "Overhead at one fixed rate as the load client's connections grow: fewer requests " +
          "share each connection at more connections, and a proxy's per-connection work, " +
          "queueing and pooling show here (Envoy's p50 at 1,000/s grew from 0.74 ms over one " +
          "connection to 5.7 ms over 100, envoyproxy/envoy#5536).",
        [
          ...[...new Set(sweep.map((o) => o.workload))].map((w) =>
            overheadVsConnectionsPlot(sweep, w, {
              baselineMesh,
              metrics: [latencyMetric(50), latencyMetric(99)],
            })
          ),
          connectionSweepTable(sweep),
        ],
      ));
    }
    sections.push(section(
      "throughput",
      "Throughput",
      "",
      [throughputPlot(s.groups, { baselineMesh, saturationPct: saturationPctOf(m) })],
    ));
    sections.push(section(
      "resources",
      "Resources",
      "CPU and memory of the control plane, the data plane (proxies) and the application " +
        "during the load window; CPU also per 1,000 requests.",
      [
        resourcePlot(s.groups, "cpuCores", { baselineMesh }),
        resourcePlot(s.groups, "memoryPeakMB", { baselineMesh }),
        resourcePlot(s.groups, "cpuSecondsPer1k", { baselineMesh }),
        s.groups.some((g) => g.resources.length) ? resourceTable(s.groups) : notice(
          "No resource samples.",
        ),
      ],
    ));
    sections.push(section(
      "kernel",
      "What the proxies and the kernel pay per request",
      "Context switches of the application and the mesh per completed request (each run's " +
        "own switches over its own requests; the load generator and the node apart), and " +
        "each proxy's own request and connection counters: retries, resets and connection " +
        "pooling show there.",
      [
        resourcePlot(s.groups, "ctxSwitchesPerOp", { baselineMesh }),
        proxyCountersTable(s.groups),
      ],
    ));
  }
  sections.push(section(
    "runs",
    "Runs",
    "",
    [run.runs.length ? runsTable(withIndexFlags(run)) : notice("No valid run records.", "warning")],
  ));
  sections.push(section("provenance", "Provenance", "", provenanceFigures(run)));

  const title = `meshbench report: ${run.runId}`;
  const meta = [
    `run <strong>${escapeHtml(run.runId)}</strong>`,
    `target ${escapeHtml(m?.target ?? s?.target ?? "unknown")}`,
    m ? `profile ${escapeHtml(m.profile)}` : "",
    m ? `status ${escapeHtml(runStatus(m))}` : "",
    `${run.runs.length} runs`,
    `report generated ${escapeHtml(generatedAt)}`,
  ].filter(Boolean).map((x) => `<span>${x}</span>`).join(" ");
  const nav = [
    ...(s ? [["summary", "Summary"]] : []),
    ...(s?.knees?.length ? [["knee", "Knee"]] : []),
    ...(s?.groups.length
      ? [
        ["latency", "Latency"],
        ["overhead", "Overhead"],
        ...(s.connectionSweep?.overheads.length ? [["connections", "Connections"]] : []),
        ["throughput", "Throughput"],
        ["resources", "Resources"],
        ["kernel", "Per request"],
      ]
      : []),
    ["runs", "Runs"],
    ["provenance", "Provenance"],
  ].map(([id, t]) => `<a href="#${id}">${t}</a>`).join("");
  const head = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
<header class="mb-header"><h1>Service mesh overhead report</h1><div class="meta">${meta}</div></header>
${emulationHtml(run)}
${problemsHtml(run)}
<nav class="mb-nav">${nav}</nav>
`;
  const tail = `
<footer>meshbench · ${escapeHtml(run.dir)} · self-contained: no scripts, no network</footer>
</main>
</body>
</html>
`;
  return [head, ...sections.flatMap((x, i) => i ? ["\n", x] : [x]), tail];
}

/**
 * Reads `manifest.json`, `summary.json` and `runs/*.json` of `runDir` and writes
 * `<runDir>/report.html` atomically; returns its path. Problems with the files are
 * shown in the report, not thrown; only an unwritable or missing directory throws.
 */
export async function writeReport(
  runDir: string,
  options: { summary?: Summary } = {},
): Promise<string> {
  return (await writeReportDetailed(runDir, options)).path;
}

/**
 * {@linkcode writeReport}, also returning the run as read (for its problems). With
 * `options.summary` (the summary collect just built and wrote, handed over by the pipeline)
 * `summary.json` is not read back: see {@linkcode loadRunRows}.
 */
export async function writeReportDetailed(
  runDir: string,
  options: { summary?: Summary } = {},
): Promise<{ path: string; run: ReportRun }> {
  const run = await loadRunRows(runDir, options);
  const path = join(runDir, "report.html");
  try {
    await writeTextChunksAtomic(path, renderReportParts(run));
  } catch (e) {
    throw new Error(`Cannot write report "${path}": ${(e as Error).message}`);
  }
  return { path, run };
}
