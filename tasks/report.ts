/** Task: write `report.html` for a run directory (default: the newest under results/). */
import { stageEnded, stageStarted } from "../lib/run_dir.ts";
import { EXIT, main, parseTaskArgs, runDirArgument, UsageError } from "../lib/cli.ts";
import { writeReportDetailed } from "../lib/report.ts";

const HELP = `deno task report [RUN_DIR] [--out DIR]

Writes RUN_DIR/report.html: one self-contained page (inline SVG, no scripts, no network) with
latency percentiles per mesh, overhead with 95 % CI bars, throughput, resources and provenance.
Files that are missing or broken are named in the report; what is valid is still shown.

  RUN_DIR        run directory (default: $MESHBENCH_RUN_DIR, else the newest under --out)
  --out DIR      directory that holds run directories (default: results)
  -h, --help     this help
Exit codes: 0 written (problems with the run are warnings), 1 could not write, 2 bad input.`;

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
