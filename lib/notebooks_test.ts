/**
 * The notebooks, executed headless by real Jupyter (nbconvert) with the real Deno
 * kernel against committed fixture results: no cell may fail. Also: outputs are
 * stripped in git, a machine with no results gets an explanation, and a broken run
 * gets its problems named.
 */
import {
  deepStrictEqual as assertEquals,
  doesNotMatch,
  match,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { listRunFiles } from "./run_dir.ts";
import {
  ensureDenoKernel,
  executeNotebook,
  executeNotebooks,
  listNotebooks,
  NOTEBOOK_DIR,
  notebookOutputProblems,
} from "./notebooks.ts";

const toFileUrl = (path: string) => pathToFileURL(path).href;

const NAMES = [
  "01_overview",
  "02_latency",
  "03_overhead",
  "04_resources",
  "05_compare",
  "06_across_runs",
  "07_explore",
  "08_targets",
];

/** Figure builders of lib/plots/, lib/report.ts and lib/compare.ts that draw charts. */
const CHART_BUILDERS =
  /\b(latencyPercentilePlot|latencyDistributionPlot|latencyVsRatePlot|overheadPlot|overheadVsRatePlot|overheadFigures|throughputPlot|resourcePlot|comparisonPlot|comparisonFigures|kneePlot|overheadVsConnectionsPlot)\(/;

/** What the committed fixture runs do not have: these cells show a notice there. */
const NOT_IN_FIXTURES = /(^|>)\s*No (knees|connection-sweep overheads) to show\./;

/** Statistics each notebook computes in its own cells, on the rows. */
const VISIBLE_STATISTICS: Record<string, string[]> = {
  "02_latency": ["mergeHistograms(", "percentileMs(", "ss.sampleStandardDeviation("],
  "03_overhead": [
    "new HistogramSet(",
    "bootstrapOverheads(",
    "overheadSeed(",
    "cvPct(",
    "ss.quantile(",
  ],
  "04_resources": ["ss.mean(", "ss.sampleStandardDeviation("],
  "05_compare": ["changeExceedsNoise("],
  "06_across_runs": ["analyseResults(", "new HistogramSet(", "ss.quantile("],
  "07_explore": ["mergeHistograms(", "ss.linearRegression(", "data.histogram(one)"],
  "08_targets": ["analyseResults(", "ss.mean(", "ss.median("],
};

interface ExecutedCell {
  /** The cell's source as the page shows it (tags stripped). */
  input: string;
  /** Observable Plot charts among its outputs. */
  charts: number;
  output: string;
}

/** The code cells of a notebook executed to HTML by nbconvert, with their outputs. */
function executedCells(page: string): ExecutedCell[] {
  return page.split(/<div\s+class="jp-Cell jp-CodeCell/).slice(1).map((chunk) => {
    const at = chunk.search(/class="jp-Cell-outputWrapper|class="jp-OutputArea/);
    const input = at < 0 ? chunk : chunk.slice(0, at);
    const output = at < 0 ? "" : chunk.slice(at);
    return {
      // Highlighted code is split into spans: drop the tags without adding spaces.
      input: unescape(input.replace(/<[^>]+>/g, "")),
      charts: (output.match(/<svg[^>]*class=\\?"plot-/g) ?? []).length,
      output: text(output),
    };
  });
}

async function notebookCells(path: string): Promise<Array<{ type: string; source: string }>> {
  const nb = JSON.parse(await Deno.readTextFile(path)) as {
    cells: Array<{ cell_type: string; source: string | string[] }>;
  };
  return nb.cells.map((c) => ({
    type: c.cell_type,
    source: Array.isArray(c.source) ? c.source.join("") : c.source,
  }));
}

function unescape(html: string): string {
  return html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function text(html: string): string {
  return html.replace(/<style[\s\S]*?<\/style>/g, "").replace(/<[^>]+>/g, " ")
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&").replace(/\s+/g, " ");
}

Deno.test("the notebooks are committed without outputs, on the Deno kernel", async () => {
  const notebooks = await listNotebooks();
  assertEquals(notebooks.map((n) => basename(n, ".ipynb")), NAMES);
  for (const nb of notebooks) assertEquals(await notebookOutputProblems(nb), [], nb);
});

Deno.test("every chart of every notebook is a Plot.plot call in its own cell, on the tidy rows", async () => {
  for (const nb of await listNotebooks()) {
    const cells = (await notebookCells(nb)).filter((c) => c.type === "code");
    const name = basename(nb);
    for (const c of cells) {
      doesNotMatch(
        c.source,
        CHART_BUILDERS,
        `${name}: a finished chart builder in\n${c.source}`,
      );
      if (!c.source.includes("Plot.plot(")) continue;
      match(
        c.source,
        /Plot\.plot\(\{[\s\S]*document,[\s\S]*marks: \[/,
        `${name}: spec in sight`,
      );
    }
    assert(cells.some((c) => c.source.includes("Plot.plot(")), `${name} draws a chart`);
    const all = cells.map((c) => c.source).join("\n");
    match(all, /from "\.\.\/lib\/analysis\.ts"/, `${name} reads the tidy rows`);
  }
});

Deno.test("every notebook's code type-checks against lib/ (a moved or renamed export fails here)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_check_" });
  const root = dirname(NOTEBOOK_DIR);
  try {
    const files: string[] = [];
    for (const nb of await listNotebooks()) {
      // The cells of a notebook share one scope, in order: one module of them all.
      const code = (await notebookCells(nb)).filter((c) => c.type === "code")
        .map((c) => c.source).join("\n")
        .replaceAll('from "../lib/', `from "${toFileUrl(join(root, "lib"))}/`);
      const file = join(tmp, `${basename(nb, ".ipynb")}.ts`);
      await Deno.writeTextFile(file, `${code}\nexport {};\n`);
      files.push(file);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", join(root, "deno.json"), ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const errors = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, errors.replaceAll(`file://${tmp}/`, ""));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("every notebook runs against the committed fixture runs without a cell error", async () => {
  assert(FIXTURE_RUNS.length >= 2, "two fixture runs are committed (one pair to compare)");
  await ensureDenoKernel();
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_" });
  try {
    for (const name of FIXTURE_RUNS) await copyFixtureRun(name, tmp);
    const newest = join(tmp, FIXTURE_RUNS.at(-1)!);
    const results = await executeNotebooks(newest, {
      outDir: join(tmp, "html"),
      onNotebook: (nb, s) => console.log(`${basename(nb)}: ${s.toFixed(1)} s`),
    });
    const total = results.reduce((t, r) => t + r.seconds, 0);
    console.log(`all ${results.length} notebooks: ${total.toFixed(1)} s`);
    assertEquals(results.length, NAMES.length);
    const html = Object.fromEntries(
      await Promise.all(
        results.map(async (r) =>
          [basename(r.html, ".html"), await Deno.readTextFile(r.html)] as const
        ),
      ),
    );
    for (const [name, page] of Object.entries(html)) {
      doesNotMatch(page, /Traceback|Stack backtrace|ename/, name);
      match(text(page), /\(emulated\)/, `${name} marks emulated meshes`);
    }
    const started = performance.now();
    for (const name of NAMES) {
      const cells = executedCells(html[name]);
      const sources = (await notebookCells(join(NOTEBOOK_DIR, `${name}.ipynb`)))
        .filter((c) => c.type === "code");
      assertEquals(cells.length, sources.length, `${name}: every code cell is on the page`);
      for (const c of cells) {
        // A cell that shows a chart holds its specification; a cell that holds one showed it.
        if (c.charts > 0) {
          match(c.input, /Plot\.plot\(\{/, `${name}: chart without its spec`);
        }
        // The committed runs have no knee ramp and no connection sweep: those cells say so,
        // and the synthetic run below checks that they draw.
        if (c.input.includes("Plot.plot({") && !NOT_IN_FIXTURES.test(c.output)) {
          assert(c.charts >= 1, `${name}: no chart from\n${c.input.slice(0, 300)}\n${c.output}`);
        }
      }
    }
    for (const [name, calls] of Object.entries(VISIBLE_STATISTICS)) {
      const inputs = executedCells(html[name]).map((c) => c.input).join("\n");
      for (const call of calls) assert(inputs.includes(call), `${name} shows ${call}`);
    }
    match(
      text(html["02_latency"]),
      /The p99 of (\d+) of \1 load points equals the summary's/,
    );
    const recomputed = text(html["03_overhead"]);
    match(recomputed, /Recomputed here vs summary\.json/);
    match(text(html["05_compare"]), new RegExp(`A: .*${FIXTURE_RUNS.at(-2)}`));
    match(text(html["01_overview"]), /What was measured/);
    // The cross-run notebook puts both committed runs side by side.
    const across = text(html["06_across_runs"]);
    match(across, new RegExp(`${FIXTURE_RUNS.length} runs from`));
    for (const id of FIXTURE_RUNS) assert(across.includes(id), `06_across_runs shows ${id}`);
    match(across, new RegExp(`from to .* ${FIXTURE_RUNS[0]} ${FIXTURE_RUNS[1]}`));
    match(text(html["08_targets"]), /Only local runs here/);
    // The fixture's inference records carry context switches and the proxies' counters.
    const resources = executedCells(html["04_resources"]);
    const switchCell = resources.find((c) => c.input.includes("switchesPerRequest"));
    assert((switchCell?.charts ?? 0) >= 1, "the context switches per request chart");
    match(switchCell!.output, /Context switches per request, every class/);
    match(switchCell!.output, /inference @ 20\/s, 1 KB/);
    const proxyCell = resources.find((c) => c.input.includes("data.proxies"));
    match(proxyCell!.output, /data\.proxies .*(envoy|haproxy)/i);
    // 03_overhead repeats the focus overhead's added ms and its interval beside summary.json's,
    // and its overheads table lists every latency overhead's deltaMs with its interval.
    const summary = JSON.parse(await Deno.readTextFile(join(newest, "summary.json"))) as {
      overheads: Array<{ metric: string; deltaMs: number | null; deltaMsCi95: number[] | null }>;
    };
    const added = summary.overheads.filter((o) => typeof o.deltaMs === "number" && o.deltaMsCi95);
    assert(added.length >= 8, `${added.length} overheads with added ms`);
    const num = "(-?[\\d.,]+)";
    const focus = new RegExp(
      `added \\(ms\\) ${num} ${num} added, 95 % CI low \\(ms\\) ${num} ${num} ` +
        `added, 95 % CI high \\(ms\\) ${num} ${num}`,
    ).exec(recomputed);
    assert(focus, "03_overhead recomputes the added ms and its interval");
    const [here, inSummary] = [[1, 3, 5], [2, 4, 6]].map((ix) =>
      ix.map((i) => Number(focus[i].replaceAll(",", "")))
    );
    assertEquals(here, inSummary, "recomputed here = summary.json");
    const printedAs = (x: number, shown: number) =>
      Math.abs(x - shown) <= Math.abs(x) * 0.006 + 0.0006;
    const shows = (figures: number[], o: (typeof added)[number]) =>
      [o.deltaMs!, ...o.deltaMsCi95!].every((x, i) => printedAs(x, figures[i]));
    assert(added.some((o) => shows(inSummary, o)), `${inSummary} is a summary.json figure`);
    const rows = [
      ...recomputed.matchAll(
        new RegExp(
          `latency_\\w+_ms ms ${num} ${num} ${num} ${num} ${num} ${num} ${num} ${num}`,
          "g",
        ),
      ),
    ].map((m) => m.slice(6, 9).map((x) => Number(x.replaceAll(",", ""))));
    for (const o of added) {
      assert(rows.some((r) => shows(r, o)), `03_overhead lists ${o.metric}: ${o.deltaMs}`);
    }
    console.log(`checked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("with no results at all, every notebook explains how to get some", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_empty_" });
  try {
    for (const nb of await listNotebooks()) {
      const out = await executeNotebook(nb, tmp, {
        env: { MESHBENCH_RESULTS: join(tmp, "none"), MESHBENCH_RUN_DIR: "" },
      });
      const html = await Deno.readTextFile(out);
      const page = text(html);
      match(page, /No benchmark results were found|No runs at all/, basename(nb));
      match(page, /deno task bench:all/);
      doesNotMatch(html, /Traceback|Stack backtrace|ename/, basename(nb));
      assert(
        executedCells(html).every((c) => c.charts === 0),
        `${basename(nb)}: no empty chart`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a broken run: the notebooks name each bad file and show what is valid", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_broken_" });
  try {
    const dir = await writeSyntheticRun(tmp, { samples: 500 });
    const files = await listRunFiles(dir);
    await Deno.writeTextFile(files[1], '{"kind": "meshbench.run", "spec": ');
    await Deno.remove(join(dir, "summary.json"));
    const nbs = await listNotebooks();
    const results = await executeNotebooks(dir, {
      notebooks: [nbs[0], nbs[1]],
      outDir: join(tmp, "html"),
    });
    for (const r of results) {
      const page = text(await Deno.readTextFile(r.html));
      match(page, /2 problems reading this run/, r.html);
      assert(page.includes(basename(files[1])), "names the truncated record");
      match(page, /summary\.json is missing/);
      doesNotMatch(page, /Traceback/);
    }
    const latency = await Deno.readTextFile(results[1].html);
    assert((latency.match(/<svg[^>]*class=\\?"plot-/g) ?? []).length >= 2, "valid runs plotted");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("with a local and a cluster run, the targets notebook puts them side by side", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_targets_" });
  try {
    for (const name of FIXTURE_RUNS) await copyFixtureRun(name, tmp);
    // SYNTHETIC (its run id is dated 2000-01-01): the committed runs are all local.
    await writeSyntheticRun(tmp, { samples: 300, target: "cluster", rates: [500] });
    const nb = join(NOTEBOOK_DIR, "08_targets.ipynb");
    const out = await executeNotebook(nb, join(tmp, "html"), {
      env: { MESHBENCH_RESULTS: tmp, MESHBENCH_RUN_DIR: "" },
    });
    const html = await Deno.readTextFile(out);
    const page = text(html);
    match(page, /3 runs from .*; targets: cluster, local\./);
    doesNotMatch(page, /Only local runs here/);
    // The committed local runs hold 63 and 117 records (the newer one also has inference).
    match(page, /Per target target runs records .* cluster 1 9 .* local 2 180/);
    match(
      page,
      /cluster sidecar http @ 500\/s/,
      `the cluster's sidecars, by kind: ${
        page.slice(page.indexOf("Mean p99"), page.indexOf("Mean p99") + 300)
      }`,
    );
    match(page, /local sidecar http @ 500\/s/, "the local sidecar emulation, by kind");
    const cells = executedCells(html);
    assert(cells.filter((c) => c.charts > 0).length >= 2, "overhead and baseline charts");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a cell error fails the notebook and names it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_fail_" });
  try {
    const nb = join(tmp, "broken.ipynb");
    await Deno.writeTextFile(
      nb,
      JSON.stringify({
        cells: [{
          cell_type: "code",
          execution_count: null,
          metadata: {},
          outputs: [],
          source: ['throw new Error("cell exploded on purpose")'],
        }],
        metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 4,
      }),
    );
    await rejects(
      () => executeNotebook(nb, join(tmp, "html")),
      /Notebook "broken.ipynb" failed[\s\S]*cell exploded on purpose/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A runner that records commands and plays nbconvert: `--to notebook` writes a notebook
 * holding `delivered` display outputs after logging `sent` in the display log. */
function playNbconvert(sent: number, delivered: number) {
  const calls: string[][] = [];
  const runner = {
    run: async (cmd: string[], opts?: { env?: Record<string, string> }) => {
      calls.push(cmd);
      if (cmd.includes("notebook")) {
        const at = (flag: string) => cmd[cmd.indexOf(flag) + 1];
        await Deno.writeTextFile(opts!.env!.MESHBENCH_DISPLAY_LOG, "1\n".repeat(sent));
        const outputs = Array.from({ length: delivered }, () => ({ output_type: "display_data" }));
        await Deno.writeTextFile(
          join(at("--output-dir"), `${at("--output")}.ipynb`),
          JSON.stringify({ cells: [{ cell_type: "code", outputs }] }),
        );
      }
      return { code: 0, stdout: "", stderr: "" };
    },
  };
  return { calls, runner };
}

Deno.test("the notebook runner waits for a cell's late output as long as a cell may run, then fails loudly", async () => {
  // nbclient's default drops output still in flight 4 s after a cell's reply: the command
  // must wait on the kernel's idle instead, and raise.
  const { calls, runner } = playNbconvert(3, 3);
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_args_" });
  try {
    await executeNotebook(join(tmp, "x.ipynb"), tmp, { runner, cellTimeoutS: 300 });
    assertEquals(calls.length, 2, "execute once, then render");
    assert(calls[0].includes("--ExecutePreprocessor.timeout=300"), calls[0].join(" "));
    assert(calls[0].includes("--ExecutePreprocessor.iopub_timeout=300"), calls[0].join(" "));
    assert(
      calls[0].includes("--ExecutePreprocessor.raise_on_iopub_timeout=True"),
      calls[0].join(" "),
    );
    assert(calls[1].includes("html"), calls[1].join(" "));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("outputs the kernel sent after reporting idle are not lost silently: executed again, then a named failure", async () => {
  const { calls, runner } = playNbconvert(3, 2);
  const retries: string[] = [];
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_lost_" });
  try {
    await rejects(
      () =>
        executeNotebook(join(tmp, "x.ipynb"), tmp, {
          runner,
          attempts: 3,
          onRetry: (w) => retries.push(w),
        }),
      /x\.ipynb": the kernel delivered 2 of the 3 outputs .* in each of 3 executions/,
    );
    assertEquals(calls.length, 3, "three executions, no page rendered from a short notebook");
    assertEquals(retries.length, 2);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the knee per mesh and the overhead against connections are charts in the notebooks", async () => {
  await ensureDenoKernel();
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_knee_" });
  try {
    const dir = await writeSyntheticRun(tmp, {
      samples: 300,
      rates: [200],
      sweepConnections: [1, 16, 64],
      kneeRates: [500, 1000, 2000, 4000, 8000],
    });
    const nbs = await listNotebooks();
    const results = await executeNotebooks(dir, {
      notebooks: nbs.filter((nb) => /0[13]_/.test(basename(nb))),
      outDir: join(tmp, "html"),
    });
    assertEquals(results.length, 2);
    const [overview, overhead] = await Promise.all(results.map((r) => Deno.readTextFile(r.html)));
    const kneeCell = executedCells(overview).find((c) => c.input.includes("kneeTable(run!)"));
    assert((kneeCell?.charts ?? 0) >= 1, "the knee chart");
    match(text(kneeCell!.output), /Knee per mesh.*where each iteration stopped/);
    const sweepCell = executedCells(overhead).find((c) => c.input.includes("connectionSweepTable"));
    assert((sweepCell?.charts ?? 0) >= 1, "the overhead-vs-connections chart");
    match(text(sweepCell!.output), /Connection sweep: latency overhead by connections/);
    // The per-rate views keep the standard point only: one load point, 200/s.
    match(text(overhead), /Recomputed here vs summary\.json/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
