/**
 * Exports a run for other tools. `csv`: one row per run record (failed ones too) with
 * a column per metric, for spreadsheets and pandas; with `long`, one row per record and
 * metric (the tidy rows of {@linkcode ./analysis.ts}). Both come from the same rows the
 * notebooks analyse. `smp`: the run as Service Mesh Performance messages, the format
 * Meshery reads ({@linkcode ./smp.ts}), checked against `schema/smp.schema.json` before
 * it is written.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { recordsCsv, rowsCsv, tidyRuns } from "./analysis.ts";
import { type FileProblem, loadRun } from "./load_results.ts";
import { writeTextAtomic } from "./run_dir.ts";
import { validateSmp } from "./schema.ts";
import { smpDocument } from "./smp.ts";

/** Export formats. */
export const EXPORT_FORMATS = ["csv", "smp"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Options of {@linkcode exportRun}. */
export interface ExportOptions {
  format: ExportFormat;
  /** One row per record and metric instead of one per record (csv). */
  long?: boolean;
  /**
   * Where to write (default `<runDir>/records.csv`, `rows.csv` with `long`, `smp.json` for
   * smp); `-` for none.
   */
  output?: string;
}

/** What {@linkcode exportRun} wrote. */
export interface ExportResult {
  /** The file written, or null when the text was only returned (`output: "-"`). */
  path: string | null;
  text: string;
  /** Data rows written (without the header); for smp, experiments. */
  rows: number;
  /** Files of the run that could not be read: their records are not in the export. */
  problems: FileProblem[];
}

/**
 * Reads `runDir` and writes its export. A file that cannot be read leaves its record
 * out and is listed in `problems`; a run with no run record at all is an error.
 */
export async function exportRun(runDir: string, options: ExportOptions): Promise<ExportResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(options.format)) {
    throw new RangeError(
      `Cannot export: format must be one of ${EXPORT_FORMATS.join(", ")}, got "${options.format}"`,
    );
  }
  const run = await loadRun(runDir);
  const missing = run.problems.find((p) => p.file === runDir);
  if (missing) throw new Error(`Cannot export ${runDir}: ${missing.problem}`);
  const data = tidyRuns([run]);
  if (data.records.length === 0) {
    throw new Error(
      `Cannot export ${runDir}: it has no valid run record` +
        (run.problems.length ? ` (${run.problems.map((p) => p.problem).join("; ")})` : ""),
    );
  }
  let text: string;
  let rows: number;
  let file: string;
  if (options.format === "smp") {
    const doc = smpDocument(run);
    if (doc.experiments.length === 0) {
      throw new Error(`Cannot export ${runDir} as SMP: no run record has a load result`);
    }
    validateSmp(doc, `SMP export of ${runDir}`);
    text = JSON.stringify(doc, null, 2) + "\n";
    rows = doc.experiments.length;
    file = "smp.json";
  } else {
    text = options.long ? rowsCsv(data.rows) : recordsCsv(data);
    rows = options.long ? data.rows.length : data.records.length;
    file = options.long ? "rows.csv" : "records.csv";
  }
  const output = options.output ?? join(runDir, file);
  if (output === "-") return { path: null, text, rows, problems: run.problems };
  try {
    await writeTextAtomic(output, text);
  } catch (e) {
    throw new Error(`Cannot write export "${output}": ${(e as Error).message}`);
  }
  return { path: resolve(output), text, rows, problems: run.problems };
}
