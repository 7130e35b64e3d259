/**
 * Executes the analysis notebooks (`notebooks/*.ipynb`, Deno kernel) headless
 * against one run directory with Jupyter's nbconvert, writing one HTML file per
 * notebook beside the run. A cell error fails the notebook, loudly. The `.ipynb`
 * files themselves are never written to, so their outputs stay stripped in git.
 *
 * @module
 */
import { isExecutable } from "./binaries.ts";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CommandError, realRunner, type Runner } from "./command.ts";

/** The repository's notebook directory. */
export const NOTEBOOK_DIR = join(dirname(dirname(fileURLToPath(import.meta.url))), "notebooks");

/** Notebooks in `dir`, in name order (the numbered order they are meant to be read in). */
export async function listNotebooks(dir = NOTEBOOK_DIR): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ipynb")) out.push(join(dir, e.name));
  }
  return out.sort();
}

/** The `jupyter` to use: `$MESHBENCH_JUPYTER`, else Debian's, else the one on PATH. */
export function jupyterCommand(): string {
  const env = Deno.env.get("MESHBENCH_JUPYTER");
  if (env) return env;
  return isExecutable("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter";
}

/** PATH with the directory of `jupyter` first, so `deno jupyter --install` finds the same one. */
function pathFor(jupyter: string): string {
  const path = Deno.env.get("PATH") ?? "";
  return jupyter.includes("/") ? `${dirname(jupyter)}:${path}` : path;
}

/**
 * Makes sure Jupyter has the Deno kernel, installing it with `deno jupyter --install`
 * when it is missing. Returns whether it was already there.
 */
export async function ensureDenoKernel(
  runner: Runner = realRunner,
): Promise<"present" | "installed"> {
  const jupyter = jupyterCommand();
  const list = async () => {
    const r = await runner.run([jupyter, "kernelspec", "list", "--json"]);
    let specs: unknown;
    try {
      specs = JSON.parse(r.stdout);
    } catch {
      throw new Error(
        `Cannot read the Jupyter kernel list from "${jupyter} kernelspec list --json": ` +
          `got "${r.stdout.slice(0, 80)}"`,
      );
    }
    return Object.keys((specs as { kernelspecs?: object }).kernelspecs ?? {});
  };
  if ((await list()).includes("deno")) return "present";
  await runner.run([Deno.execPath(), "jupyter", "--install"], {
    env: { PATH: pathFor(jupyter) },
  });
  if (!(await list()).includes("deno")) {
    throw new Error(
      `Cannot install the Deno Jupyter kernel: "deno jupyter --install" ran, ` +
        `but "${jupyter} kernelspec list" still has no "deno" kernel`,
    );
  }
  return "installed";
}

/** One executed notebook. */
export interface NotebookResult {
  notebook: string;
  html: string;
  seconds: number;
}

/** Options of {@linkcode executeNotebooks}. */
export interface ExecuteOptions {
  /** Where the HTML goes (default `<runDir>/notebooks`). */
  outDir?: string;
  /** Notebook files to run (default: every notebook in `notebooks/`). */
  notebooks?: string[];
  /** Per-cell timeout (default 120 s). */
  cellTimeoutS?: number;
  /** Extra environment for the kernel (e.g. `MESHBENCH_COMPARE_A`). */
  env?: Record<string, string>;
  runner?: Runner;
  /** Progress. */
  onNotebook?: (notebook: string, seconds: number) => void;
  /** Told when a notebook is executed again because outputs went missing (default: stderr). */
  onRetry?: (why: string) => void;
}

/** Options of {@linkcode executeNotebook}. */
export interface NotebookOptions {
  /** Per-cell timeout (default 120 s). */
  cellTimeoutS?: number;
  /** Environment for the kernel (`MESHBENCH_RUN_DIR`, `MESHBENCH_COMPARE_A`, ...). */
  env?: Record<string, string>;
  runner?: Runner;
}

/**
 * Environment variable naming a file to which `display()` (lib/analysis.ts) appends one
 * line per output it sends, so the runner can tell whether the kernel delivered them all.
 */
export const DISPLAY_LOG_ENV = "MESHBENCH_DISPLAY_LOG";

/** Display outputs in an executed notebook. */
function displayOutputs(executed: string): number {
  const nb = JSON.parse(Deno.readTextFileSync(executed)) as {
    cells: Array<{ outputs?: Array<{ output_type?: string }> }>;
  };
  return nb.cells.reduce(
    (n, c) => n + (c.outputs ?? []).filter((o) => o.output_type === "display_data").length,
    0,
  );
}

/**
 * Executes one notebook headless (nbconvert, Deno kernel) and writes
 * `<outDir>/<name>.html`; returns its path. A cell error throws, naming the notebook
 * and quoting the failing cell and its error.
 *
 * The Deno kernel publishes a cell's "idle" without first draining the outputs the cell
 * queued, and nbconvert stops listening at "idle": on a loaded machine a chart could go
 * missing without an error. Each output `display()` sends is also counted in a file; an
 * execution whose notebook holds fewer outputs than were sent is run again (at most
 * `attempts` times, each said), then fails naming the loss.
 */
export async function executeNotebook(
  notebook: string,
  outDir: string,
  options: NotebookOptions & { attempts?: number; onRetry?: (why: string) => void } = {},
): Promise<string> {
  const runner = options.runner ?? realRunner;
  const jupyter = jupyterCommand();
  const name = basename(notebook, ".ipynb");
  await Deno.mkdir(outDir, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "meshbench_nb_run_" });
  const run = async (cmd: string[], env: Record<string, string> = {}) => {
    try {
      await runner.run(cmd, {
        cwd: dirname(resolve(notebook)),
        env: { ...options.env, ...env, PATH: pathFor(jupyter) },
        timeoutMs: 10 * 60_000,
      });
    } catch (e) {
      if (e instanceof CommandError) {
        throw new Error(
          `Notebook "${basename(notebook)}" failed (exit ${e.code}):\n${e.stderrTail}`,
        );
      }
      throw e;
    }
  };
  try {
    const attempts = options.attempts ?? 3;
    const executed = join(work, `${name}.ipynb`);
    for (let attempt = 1;; attempt++) {
      const log = join(work, `displays-${attempt}.log`);
      await Deno.writeTextFile(log, "");
      await run([
        jupyter,
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.kernel_name=deno",
        `--ExecutePreprocessor.timeout=${options.cellTimeoutS ?? 120}`,
        // After a cell's reply nbclient waits for the rest of its output (until "idle") only
        // `iopub_timeout` seconds, 4 by default, then drops it silently: wait as long as a
        // cell may run, and fail loudly past that.
        `--ExecutePreprocessor.iopub_timeout=${options.cellTimeoutS ?? 120}`,
        "--ExecutePreprocessor.raise_on_iopub_timeout=True",
        "--output-dir",
        work,
        "--output",
        name,
        resolve(notebook),
      ], { [DISPLAY_LOG_ENV]: log });
      const sent = (await Deno.readTextFile(log)).split("\n").filter((l) => l !== "").length;
      const got = displayOutputs(executed);
      if (got >= sent) break;
      const why = `Notebook "${basename(notebook)}": the kernel delivered ${got} of the ${sent} ` +
        `outputs its cells sent (it reported "idle" before the rest)`;
      if (attempt >= attempts) throw new Error(`${why}, in each of ${attempts} executions`);
      options.onRetry?.(`${why}; executing it again (${attempt + 1} of ${attempts})`);
    }
    await run([
      jupyter,
      "nbconvert",
      "--to",
      "html",
      "--output-dir",
      resolve(outDir),
      "--output",
      name,
      executed,
    ]);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return join(resolve(outDir), `${name}.html`);
}

/**
 * Installs the Deno kernel if needed, then executes each notebook headless against
 * `runDir` (given to the kernel as `MESHBENCH_RUN_DIR`) and writes
 * `<outDir>/<name>.html`. Throws on the first notebook with a cell error, naming it.
 */
export async function executeNotebooks(
  runDir: string,
  options: ExecuteOptions = {},
): Promise<NotebookResult[]> {
  const runner = options.runner ?? realRunner;
  const absRun = resolve(runDir);
  try {
    if (!(await Deno.stat(absRun)).isDirectory) throw new Error("not a directory");
  } catch {
    throw new Error(`Cannot execute notebooks: run directory "${runDir}" does not exist`);
  }
  await ensureDenoKernel(runner);
  const notebooks = options.notebooks ?? await listNotebooks();
  if (notebooks.length === 0) {
    throw new Error(`Cannot execute notebooks: none found in "${NOTEBOOK_DIR}"`);
  }
  const outDir = resolve(options.outDir ?? join(absRun, "notebooks"));
  const results: NotebookResult[] = [];
  for (const nb of notebooks) {
    const started = performance.now();
    const html = await executeNotebook(nb, outDir, {
      cellTimeoutS: options.cellTimeoutS,
      env: { ...options.env, MESHBENCH_RUN_DIR: absRun },
      runner,
      onRetry: options.onRetry ?? ((why) => console.error(`warning: ${why}`)),
    });
    const seconds = (performance.now() - started) / 1000;
    options.onNotebook?.(nb, seconds);
    results.push({ notebook: nb, html, seconds });
  }
  return results;
}

/**
 * Problems with a notebook file as committed: not on the Deno kernel, outputs or
 * execution counts left in, or a cell without a final newline.
 */
export async function notebookOutputProblems(path: string): Promise<string[]> {
  const nb = JSON.parse(await Deno.readTextFile(path)) as {
    cells: Array<{
      cell_type: string;
      source?: string | string[];
      outputs?: unknown[];
      execution_count?: number | null;
    }>;
    metadata?: { kernelspec?: { name?: string } };
  };
  const problems: string[] = [];
  if (nb.metadata?.kernelspec?.name !== "deno") {
    problems.push(`kernel is "${nb.metadata?.kernelspec?.name}", expected "deno"`);
  }
  nb.cells.forEach((c, i) => {
    // `deno fmt --check` (Deno 2.9) reports a cell whose source lacks a final newline as
    // unformatted in a fresh checkout, though `deno fmt` writes the same bytes back.
    const src = Array.isArray(c.source) ? c.source.join("") : c.source ?? "";
    if (src !== "" && !src.endsWith("\n")) problems.push(`cell ${i} does not end with a newline`);
    if (c.cell_type !== "code") return;
    if ((c.outputs ?? []).length) problems.push(`cell ${i} has ${c.outputs!.length} output(s)`);
    if (c.execution_count !== null && c.execution_count !== undefined) {
      problems.push(`cell ${i} has execution_count ${c.execution_count}`);
    }
  });
  return problems;
}
