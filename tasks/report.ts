/** Task: write `report.html` for a run directory (default: the newest under results/). */
import { stageEnded, stageStarted } from "../lib/run_dir.ts";
import {
  EXIT,
  READS_RUN,
  READS_RUN_HELP,
  runDirTask,
  type TaskSpec,
  warnProblems,
} from "../lib/cli.ts";
import { writeReportDetailed } from "../lib/report.ts";

const SPEC: TaskSpec = {
  ...READS_RUN,
  name: "report",
  description: `Writes RUN_DIR/report.html: one self-contained page (inline SVG, no scripts, no
network) with latency percentiles per mesh, overhead with 95 % CI bars, throughput, resources and
provenance. Files that are missing or broken are named in the report; what is valid is still shown.
${READS_RUN_HELP}
Exit codes here: 0 written (problems with the run are warnings), 1 could not write, 2 bad input.`,
};

if (import.meta.main) {
  await runDirTask(SPEC, async (dir) => {
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
    warnProblems(run.problems);
    console.log(`Report: ${path}`);
    return EXIT.ok;
  });
}
