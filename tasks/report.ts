/** Task: write `report.html` for a run directory (default: the newest under results/). */
import { parseArgs } from "node:util";
import { stageEnded, stageStarted } from "../lib/run_dir.ts";
import { EXIT, main, UsageError } from "../lib/cli.ts";
import { resolveRunDir } from "../lib/load_results.ts";
import { writeReportDetailed } from "../lib/report.ts";

const HELP = `deno task report [RUN_DIR] [--out DIR]

Writes RUN_DIR/report.html: one self-contained page (inline SVG, no scripts, no network) with
latency percentiles per mesh, overhead with 95 % CI bars, throughput, resources and provenance.
Files that are missing or broken are named in the report; what is valid is still shown.

  RUN_DIR        run directory (default: $MESHBENCH_RUN_DIR, else the newest under --out)
  --out DIR      directory that holds run directories (default: results)
  -h, --help     this help
Exit codes: 0 written (problems with the run are warnings), 1 could not write, 2 bad input.`;

/** Parses the arguments of report, notebooks and compare: positionals plus `extra` flags. */
export function parseTaskArgs(
  args: string[],
  extra: Record<string, { type: "string" | "boolean" }> = {},
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" }, ...extra },
      allowPositionals: true,
      strict: true,
    });
    return {
      values: r.values as Record<string, string | boolean | undefined>,
      positionals: r.positionals,
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The run directory named on the command line, checked, or the newest one. */
export async function runDirArgument(given: string | undefined, out: string): Promise<string> {
  if (given !== undefined) {
    try {
      if (!(await Deno.stat(given)).isDirectory) throw new Error();
    } catch {
      throw new UsageError(`Invalid RUN_DIR: "${given}" is not a directory`);
    }
    return given;
  }
  const dir = await resolveRunDir(undefined, { resultsDir: out });
  if (!dir) {
    throw new UsageError(
      `No run directory under "${out}": run "deno task bench:all" first, or name one`,
    );
  }
  return dir;
}

if (import.meta.main) {
  await main(HELP, async () => {
    const { values, positionals } = parseTaskArgs(Deno.args);
    if (positionals.length > 1) {
      throw new UsageError(`Expected at most one RUN_DIR, got ${positionals.length}`);
    }
    const dir = await runDirArgument(positionals[0], (values.out as string) ?? "results");
    // In a run directory the report is a stage: record it in the manifest like the others.
    const isRun = await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false);
    if (isRun) await stageStarted(dir, "report");
    let written;
    try {
      written = await writeReportDetailed(dir);
    } catch (e) {
      if (isRun) await stageEnded(dir, "report", "failed", (e as Error).message);
      throw e;
    }
    if (isRun) await stageEnded(dir, "report", "ok");
    const { path, run } = written;
    for (const p of run.problems) console.error(`warning: ${p.file}: ${p.problem}`);
    console.log(`Report: ${path}`);
    return EXIT.ok;
  });
}
