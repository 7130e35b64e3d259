/**
 * The notebooks, executed headless by real Jupyter (nbconvert) with the real Deno
 * kernel against committed fixture results: no cell may fail. Also: outputs are
 * stripped in git, a machine with no results gets an explanation, and a broken run
 * gets its problems named.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { listRunFiles } from "./run_dir.ts";
import {
  ensureDenoKernel,
  executeNotebook,
  executeNotebooks,
  listNotebooks,
  notebookOutputProblems,
} from "./notebooks.ts";

const NAMES = ["01_overview", "02_latency", "03_overhead", "04_resources", "05_compare"];

function text(html: string): string {
  return html.replace(/<style[\s\S]*?<\/style>/g, "").replace(/<[^>]+>/g, " ")
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&").replace(/\s+/g, " ");
}

Deno.test("the notebooks are committed without outputs, on the Deno kernel", async () => {
  const notebooks = await listNotebooks();
  assert.deepEqual(notebooks.map((n) => basename(n, ".ipynb")), NAMES);
  for (const nb of notebooks) assert.deepEqual(await notebookOutputProblems(nb), [], nb);
});

Deno.test("every notebook runs against the committed fixture runs without a cell error", async () => {
  assert.ok(FIXTURE_RUNS.length >= 2, "two fixture runs are committed (one pair to compare)");
  await ensureDenoKernel();
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_" });
  try {
    for (const name of FIXTURE_RUNS) await copyFixtureRun(name, tmp);
    const newest = join(tmp, FIXTURE_RUNS.at(-1)!);
    const results = await executeNotebooks(newest, {
      outDir: join(tmp, "html"),
      onNotebook: (nb, s) => console.log(`${basename(nb)}: ${s.toFixed(1)} s`),
    });
    assert.equal(results.length, NAMES.length);
    const html = Object.fromEntries(
      await Promise.all(
        results.map(async (r) =>
          [basename(r.html, ".html"), await Deno.readTextFile(r.html)] as const
        ),
      ),
    );
    for (const [name, page] of Object.entries(html)) {
      assert.doesNotMatch(page, /Traceback|Stack backtrace|ename/, name);
      assert.match(text(page), /\(emulated\)/, `${name} marks emulated meshes`);
    }
    const charts = (name: string) => (html[name].match(/<svg[^>]*class=\\?"plot-/g) ?? []).length;
    assert.ok(charts("02_latency") >= 2, "latency: percentiles and HDR");
    assert.ok(charts("03_overhead") >= 1, "overhead with CI bars");
    assert.equal(charts("04_resources"), 3, "CPU, memory, CPU per 1k");
    assert.equal(charts("05_compare"), 1, "the change chart");
    assert.match(text(html["05_compare"]), new RegExp(`A: .*${FIXTURE_RUNS.at(-2)}`));
    assert.match(text(html["01_overview"]), /What was measured/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("with no results at all, a notebook explains how to get some", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_nb_empty_" });
  try {
    const nbs = await listNotebooks();
    for (const nb of [nbs[0], nbs[2], nbs[4]]) {
      const out = await executeNotebook(nb, tmp, {
        env: { MESHBENCH_RESULTS: join(tmp, "none"), MESHBENCH_RUN_DIR: "" },
      });
      const page = text(await Deno.readTextFile(out));
      assert.match(page, /No benchmark results were found|No runs at all/, basename(nb));
      assert.match(page, /deno task bench:all/);
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
      assert.match(page, /2 problems reading this run/, r.html);
      assert.ok(page.includes(basename(files[1])), "names the truncated record");
      assert.match(page, /summary\.json is missing/);
      assert.doesNotMatch(page, /Traceback/);
    }
    const latency = await Deno.readTextFile(results[1].html);
    assert.ok((latency.match(/<svg[^>]*class=\\?"plot-/g) ?? []).length >= 2, "valid runs plotted");
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
    await assert.rejects(
      () => executeNotebook(nb, join(tmp, "html")),
      /Notebook "broken.ipynb" failed[\s\S]*cell exploded on purpose/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
