/** Task: execute every analysis notebook headless against a run; HTML beside the run. */
import { basename } from "node:path";
import {
  checkOutDir,
  existingDir,
  EXIT,
  READS_RUN,
  READS_RUN_HELP,
  runDirTask,
  type TaskSpec,
  UsageError,
} from "../lib/cli.ts";
import { executeNotebooks, listNotebooks, NOTEBOOK_DIR } from "../lib/notebooks.ts";

const SPEC: TaskSpec = {
  ...READS_RUN,
  name: "notebooks",
  description:
    `Installs the Deno Jupyter kernel if needed, then executes every notebook in notebooks/
headless (jupyter nbconvert) against RUN_DIR and writes RUN_DIR/notebooks/<name>.html.
A cell error fails the task and names the notebook. The .ipynb files are not modified.
${READS_RUN_HELP}
Needs Jupyter (nbconvert) with Python: .ci/install_analysis.sh installs it.
Exit codes here: 0 all ran, 1 a notebook failed, 2 bad input.`,
  flags: {
    ...READS_RUN.flags,
    "html-dir": {
      type: "string",
      arg: "DIR",
      help: "where the HTML goes (default: RUN_DIR/notebooks)",
    },
    compare: {
      type: "string",
      arg: "RUN_A",
      help: "run that the comparison notebook compares RUN_DIR with (default: the run before " +
        "RUN_DIR in the same folder)",
    },
    only: { type: "string", arg: "a,b", help: "only these notebooks (names without .ipynb)" },
  },
};

if (import.meta.main) {
  await runDirTask(SPEC, async (dir, { values }) => {
    if (values["html-dir"] !== undefined) {
      await checkOutDir(values["html-dir"] as string, undefined, { flag: "--html-dir" });
    }
    if (values.compare !== undefined) await existingDir(values.compare as string, "--compare");
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
