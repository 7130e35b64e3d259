/** Task: export a run for other tools (CSV for spreadsheets and pandas, SMP for Meshery). */
import {
  checkOutputFile,
  type CliContext,
  EXIT,
  READS_RUN,
  READS_RUN_HELP,
  runDirTask,
  type TaskSpec,
  UsageError,
  warnProblems,
} from "../lib/cli.ts";
import { EXPORT_FORMATS, type ExportFormat, exportRun } from "../lib/export.ts";

const SPEC: TaskSpec = {
  ...READS_RUN,
  name: "export",
  usage: "[RUN_DIR] --format csv|smp",
  description: `Writes the run's records for other tools: csv from the same tidy rows the notebooks
analyse (lib/analysis.ts; columns in docs/analysis.md); smp as Service Mesh Performance messages
(v0.6.1, the format Meshery reads), one experiment per workload, mesh and load point, checked
against schema/smp.schema.json before it is written.
${READS_RUN_HELP}
Files of the run that cannot be read are left out and named on stderr.
Exit codes here: 0 written, 1 could not read the run or write the file, 2 bad input.`,
  flags: {
    ...READS_RUN.flags,
    format: {
      type: "string",
      arg: "csv|smp",
      help: "csv: one row per run record (failed ones too, with their reason): its inputs, " +
        "status and flags, then one column per metric (per-record latency percentiles in ms, " +
        "achieved rate, errors, CPU and memory). smp: Service Mesh Performance (v0.6.1) " +
        "messages per workload, mesh and load point, as Meshery reads them (docs/analysis.md)",
    },
    long: {
      type: "boolean",
      help: "one row per run record and metric instead (runId ... metric,value,unit)",
    },
    output: {
      type: "string",
      arg: "FILE",
      help: "where to write (default RUN_DIR/records.csv, RUN_DIR/rows.csv with --long, " +
        'RUN_DIR/smp.json with --format smp); "-" prints to stdout',
    },
  },
};

/** Refuses a missing or unknown `--format`, and `--long` with smp. */
function checkFormat({ values }: CliContext): void {
  const format = values.format as string | undefined;
  if (format === undefined) {
    throw new UsageError(`Missing --format: expected one of ${EXPORT_FORMATS.join(", ")}`);
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `Invalid --format: expected one of ${EXPORT_FORMATS.join(", ")}, got "${format}"`,
    );
  }
  if (format === "smp" && values.long === true) {
    throw new UsageError('Invalid --long: it applies to --format csv only, got "--format smp"');
  }
}

if (import.meta.main) {
  await runDirTask(SPEC, async (dir, { values }) => {
    const format = values.format as ExportFormat;
    const output = values.output as string | undefined;
    if (output !== undefined && output !== "-") await checkOutputFile(output, "--output");
    const r = await exportRun(dir, {
      format,
      long: values.long === true,
      output: values.output as string | undefined,
    });
    warnProblems(r.problems, " (left out)");
    if (r.path === null) await Deno.stdout.write(new TextEncoder().encode(r.text));
    else {
      console.log(
        `Wrote ${r.rows} ${format === "smp" ? "experiments" : "rows"} to ${r.path}`,
      );
    }
    return EXIT.ok;
  }, { check: checkFormat });
}
