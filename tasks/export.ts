/** Task: export a run for other tools (CSV for spreadsheets and pandas). */
import { EXIT, main, parseTaskArgs, runDirArgument, UsageError } from "../lib/cli.ts";
import { EXPORT_FORMATS, type ExportFormat, exportRun } from "../lib/export.ts";

const HELP = `deno task export [RUN_DIR] --format csv [--long] [--output FILE] [--out DIR]

Writes the run's records for other tools, from the same tidy rows the notebooks analyse
(lib/analysis.ts; columns in docs/analysis.md).
  --format csv     one row per run record (failed ones too, with their reason): its inputs,
                   status and flags, then one column per metric (per-record latency
                   percentiles in ms, achieved rate, errors, CPU and memory)
  --long           one row per run record and metric instead (runId ... metric,value,unit)
  --output FILE    where to write (default RUN_DIR/records.csv, or RUN_DIR/rows.csv with
                   --long); "-" prints to stdout
  RUN_DIR          run directory (default: $MESHBENCH_RUN_DIR, else the newest under --out)
  --out DIR        directory that holds run directories (default: results)
  -h, --help       this help
Files of the run that cannot be read are left out and named on stderr.
Exit codes: 0 written, 1 could not read the run or write the file, 2 bad input.`;

if (import.meta.main) {
  await main(HELP, async () => {
    const { values, positionals } = parseTaskArgs(Deno.args, {
      format: { type: "string" },
      long: { type: "boolean" },
      output: { type: "string" },
    });
    if (positionals.length > 1) {
      throw new UsageError(`Expected at most one RUN_DIR, got ${positionals.length}`);
    }
    const format = values.format as string | undefined;
    if (format === undefined) {
      throw new UsageError(`Missing --format: expected one of ${EXPORT_FORMATS.join(", ")}`);
    }
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(
        `Invalid --format: expected one of ${EXPORT_FORMATS.join(", ")}, got "${format}"`,
      );
    }
    const dir = await runDirArgument(positionals[0], (values.out as string) ?? "results");
    const r = await exportRun(dir, {
      format: format as ExportFormat,
      long: values.long === true,
      output: values.output as string | undefined,
    });
    for (const p of r.problems) console.error(`warning: ${p.file}: ${p.problem} (left out)`);
    if (r.path === null) await Deno.stdout.write(new TextEncoder().encode(r.text));
    else console.log(`Wrote ${r.rows} rows to ${r.path}`);
    return EXIT.ok;
  });
}
