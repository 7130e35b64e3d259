/** Task: execute every analysis notebook headless against a run; HTML beside the run. */
import { basename } from "node:path";
import { EXIT, main, parseTaskArgs, runDirArgument, UsageError } from "../lib/cli.ts";
import { executeNotebooks, listNotebooks, NOTEBOOK_DIR } from "../lib/notebooks.ts";

const HELP =
  `deno task notebooks [RUN_DIR] [--out DIR] [--html-dir DIR] [--compare RUN_A] [--only a,b]

Installs the Deno Jupyter kernel if needed, then executes every notebook in notebooks/
headless (jupyter nbconvert) against RUN_DIR and writes RUN_DIR/notebooks/<name>.html.
A cell error fails the task and names the notebook. The .ipynb files are not modified.

  RUN_DIR          run directory (default: $MESHBENCH_RUN_DIR, else the newest under --out)
  --out DIR        directory that holds run directories (default: results)
  --html-dir DIR   where the HTML goes (default: RUN_DIR/notebooks)
  --compare RUN_A  run that the comparison notebook compares RUN_DIR with
                   (default: the run before RUN_DIR in the same folder)
  --only a,b       only these notebooks (names without .ipynb)
  -h, --help       this help
Needs Jupyter (nbconvert) with Python: .ci/install_analysis.sh installs it.
Exit codes: 0 all ran, 1 a notebook failed, 2 bad input.`;

if (import.meta.main) {
  await main(HELP, async () => {
    const { values, positionals } = parseTaskArgs(Deno.args, {
      "html-dir": { type: "string" },
      compare: { type: "string" },
      only: { type: "string" },
    });
    if (positionals.length > 1) {
      throw new UsageError(`Expected at most one RUN_DIR, got ${positionals.length}`);
    }
    const dir = await runDirArgument(positionals[0], (values.out as string) ?? "results");
    let notebooks: string[] | undefined;
    if (values.only) {
      const all = await listNotebooks();
      const wanted = (values.only as string).split(",").map((s) => s.trim()).filter(Boolean);
      notebooks = wanted.map((w) => {
        const nb = all.find((n) => basename(n, ".ipynb") === w);
        if (!nb) throw new UsageError(`Invalid --only: no notebook "${w}" in ${NOTEBOOK_DIR}`);
        return nb;
      });
    }
    const compare = values.compare as string | undefined;
    const results = await executeNotebooks(dir, {
      outDir: values["html-dir"] as string | undefined,
      notebooks,
      env: compare ? { MESHBENCH_COMPARE_A: compare } : {},
      onNotebook: (nb, s) => console.log(`ran ${basename(nb)} in ${s.toFixed(1)} s`),
    });
    for (const r of results) console.log(`  ${r.html}`);
    return EXIT.ok;
  });
}
