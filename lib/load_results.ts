/**
 * Reads run directories for the report, the notebooks and `compare`: every file is
 * taken as `unknown` and checked; what is wrong is reported per file (which file,
 * what is wrong) and everything valid is kept. Nothing here throws for a bad
 * result file: a missing, truncated or malformed file becomes a {@linkcode FileProblem}.
 *
 * @example
 * ```ts
 * import { loadRun } from "./load_results.ts";
 * const run = await loadRun("/nonexistent/run");
 * if (run.problems[0].file !== "/nonexistent/run") throw new Error("problem names the dir");
 * ```
 *
 * @module
 */
import { basename, join } from "node:path";
import { type BenchConfig, readStoredConfig } from "./config.ts";
import { listRunFiles, namedRunDir, newestRunDir } from "./run_dir.ts";
import { SchemaError, validateManifest, validateRunRecord, validateSummary } from "./schema.ts";
import {
  packSummary,
  summarizeRuns,
  summarySettings,
  type SummaryWorker,
  unpackSummary,
} from "./summary.ts";
import { bucketValueAt, compactHistogram } from "./histogram.ts";
import type {
  Manifest,
  ReadRunRecord,
  RunIndexEntry,
  RunRecord,
  RunRow,
  StoredSummary,
  Summary,
} from "./types.ts";

/** Something wrong with one file of a run directory. */
export interface FileProblem {
  /** Path of the file (or directory) concerned. */
  file: string;
  /** What is wrong, in words, quoting the offending value. */
  problem: string;
}

/**
 * A run directory as read: what was valid, and what was not. `R` is what is kept per
 * run: full records ({@linkcode loadRun}), or the rows the report lists
 * ({@linkcode loadRunRows}).
 */
export interface LoadedRun<R extends RunRow = RunRecord> {
  dir: string;
  /** From the manifest, else the summary, else the directory name. */
  runId: string;
  manifest: Manifest | null;
  summary: Summary | null;
  /** Valid run records, in execution order. */
  runs: R[];
  /** Files that could not be used, and why. Empty when everything was read. */
  problems: FileProblem[];
  /** True when any mesh in the run is a local emulation. */
  emulated: boolean;
  /**
   * True when `summary` was recomputed here from the valid run records because
   * `summary.json` was missing or unusable (an interrupted run).
   */
  summaryDerived: boolean;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The value at a JSON pointer (`/spec/point/rate`), or undefined. */
function at(value: unknown, pointer: string): unknown {
  let v: unknown = value;
  for (const raw of pointer.split("/").slice(1)) {
    if (raw === "") continue;
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    v = (v !== null && typeof v === "object") ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/**
 * Problems of `value` against a schema validator of `schema.ts` (empty when valid),
 * each with the offending value quoted: `/spec/point/rate must be number, got "fast"`.
 */
function schemaProblems(
  validate: (data: unknown, file?: string) => unknown,
  value: unknown,
): string[] {
  try {
    validate(value);
    return [];
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    return e.problems
      // "must match "then" schema" only repeats the conditional requirement above it.
      .filter((p) => !/must match "(then|else)" schema$/.test(p))
      .map((p) => {
        const pointer = p.split(" ")[0];
        const v = at(value, pointer);
        return v === undefined || /required property/.test(p) || typeof v === "object"
          ? p
          : `${p}, got ${show(v)}`;
      });
  }
}

/** Problems with a value that should be a `manifest.json` (empty when valid). */
export function manifestProblems(value: unknown): string[] {
  return schemaProblems(validateManifest, value);
}

/** Problems with a value that should be a run record (empty when valid). */
export function runRecordProblems(value: unknown): string[] {
  return schemaProblems(validateRunRecord, value);
}

/** Problems with a value that should be a `summary.json` (empty when valid). */
export function summaryProblems(value: unknown): string[] {
  return schemaProblems(validateSummary, value);
}

/** Share of 0 µs latencies above which a record is flagged (a request takes time). */
const ZERO_LATENCY_LIMIT = 0.01;

/**
 * A warning when a run's latencies cannot be right: more than 1 % of requests at 0 µs
 * means the tool or its adapter mis-timed them. The record is kept, and said to be suspect.
 */
export function implausibleLatency(record: ReadRunRecord): string | undefined {
  const h = record.load?.latency;
  if (!h || h.total === 0) return undefined;
  const zeros = bucketValueAt(h, 0) === 0 ? h.counts[0] : 0;
  if (zeros / h.total <= ZERO_LATENCY_LIMIT) return undefined;
  return `${(100 * zeros / h.total).toFixed(1)} % of the ${h.total} latencies are 0 µs, which ` +
    `no request takes: the "${record.load!.tool}" timing (${record.load!.timing}) is suspect, ` +
    `and so are the percentiles of this run`;
}

/** The run index entry of a valid record read from `file` (see `Summary.runs`). */
export function runIndexEntry(file: string, record: ReadRunRecord): RunIndexEntry {
  const { spec, mesh, status, reason, load, latency } = record;
  const warning = implausibleLatency(record);
  return {
    file: basename(file),
    spec,
    mesh,
    status,
    ...(reason !== undefined ? { reason } : {}),
    ...(load
      ? {
        load: {
          tool: load.tool,
          timing: load.timing,
          achievedRate: load.achievedRate,
          errors: load.errors,
        },
      }
      : {}),
    ...(latency ? { latency } : {}),
    ...(warning ? { warning } : {}),
  };
}

/**
 * The run index of `summary.json`: an entry per valid record, `files[i]` being the
 * path `records[i]` was read from, in execution order.
 */
export function runIndex(records: readonly RunRecord[], files: readonly string[]): RunIndexEntry[] {
  return records.map((r, i) => runIndexEntry(files[i], r)).sort((a, b) => a.spec.seq - b.spec.seq);
}

function joinProblems(ps: string[]): string {
  return `does not match its schema: ${ps.slice(0, 5).join("; ")}` +
    (ps.length > 5 ? `; and ${ps.length - 5} more` : "");
}

type Read = { ok: true; value: unknown } | { ok: false; problem: string };

/** The text of file `path`, or the error reading it. */
function readTextOrError(path: string): Promise<string | Error> {
  return Deno.readTextFile(path).catch((e: Error) => e);
}

async function readJsonFile(path: string, what: string): Promise<Read> {
  return parseRead(await readTextOrError(path), what);
}

/** A file's text (or the error reading it) as JSON, or what is wrong with it, in words. */
function parseRead(text: string | Error, what: string): Read {
  if (text instanceof Error) {
    if (text instanceof Deno.errors.NotFound) return { ok: false, problem: `${what} is missing` };
    return { ok: false, problem: `cannot read ${what}: ${text.message}` };
  }
  if (text.trim() === "") {
    return { ok: false, problem: `${what} is empty (the run was probably interrupted)` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return {
      ok: false,
      problem: `${what} is not valid JSON (truncated or corrupted?): ${(e as Error).message}`,
    };
  }
}

/**
 * Reads and checks run record files, handing each valid record to `use` with its path, in
 * the order given, and holding none (collect pools 10,000 records this way). Files are read
 * synchronously: record files are small (an asynchronous read cost twice the CPU of a
 * synchronous one for 10,000 of them). Returns what is wrong with each file that is not a
 * valid record, never silence. The one reader of `runs/*.json`: collect, resume, the report,
 * the notebooks and compare all read records through it.
 */
export function forEachRecordFile(
  files: readonly string[],
  use: (record: RunRecord, file: string) => void,
): Promise<FileProblem[]> {
  try {
    return Promise.resolve(readRecordFiles(files, use));
  } catch (e) {
    return Promise.reject(e);
  }
}

function readRecordFiles(
  files: readonly string[],
  use: (record: RunRecord, file: string) => void,
): FileProblem[] {
  const problems: FileProblem[] = [];
  for (const file of files) {
    let text: string | Error;
    try {
      text = Deno.readTextFileSync(file);
    } catch (e) {
      text = e as Error;
    }
    const r = parseRead(text, basename(file));
    if (!r.ok) {
      problems.push({ file, problem: r.problem });
      continue;
    }
    const ps = runRecordProblems(r.value);
    if (ps.length) {
      problems.push({ file, problem: joinProblems(ps) });
      continue;
    }
    use(r.value as RunRecord, file);
  }
  return problems;
}

/**
 * `record` with its latency histogram's buckets compact ({@linkcode compactHistogram}): what
 * collect's worker hands back of a record it read (the arrays' buffers are moved, not copied,
 * and no number array of them is kept).
 */
export function leanRecord(record: RunRecord): ReadRunRecord {
  if (!record.load) return record;
  const { values: _, counts: __, ...latency } = record.load.latency;
  return {
    ...record,
    load: { ...record.load, latency: { ...latency, ...compactHistogram(record.load.latency) } },
  };
}

/** Fewer record files than this are all read on one thread (a worker takes ~0.1 s to start). */
export const SHARED_READ_MIN_FILES = 256;

/**
 * {@linkcode forEachRecordFile} with the last 42 % of `files` read, parsed and checked on
 * collect's `worker` while this thread reads the rest (the worker starts later, and its
 * records are rebuilt here from its message): `use` sees the same records in the same file
 * order (the worker's with their latency buckets in typed arrays, see
 * {@linkcode leanRecord}), and the problems are the same, in the same order.
 */
export async function forEachRecordFileShared(
  files: readonly string[],
  use: (record: ReadRunRecord, file: string) => void,
  worker: SummaryWorker,
): Promise<FileProblem[]> {
  const cut = Math.ceil(files.length * 0.58);
  const theirs = worker.request<
    { records: ReadRunRecord[]; files: string[]; problems: FileProblem[] }
  >({ read: files.slice(cut) });
  // Awaited below, after this thread's half; a failure then is not an unhandled rejection.
  theirs.catch(() => {});
  const mine = await forEachRecordFile(files.slice(0, cut), use);
  const read = await theirs;
  read.records.forEach((r, i) => use(r, read.files[i]));
  return [...mine, ...read.problems];
}

/**
 * {@linkcode forEachRecordFile} over the records of run directory `runDir`; the problems
 * as notes, `<file>: <what is wrong>`.
 */
export async function forEachRunRecord(
  runDir: string,
  use: (record: RunRecord, file: string) => void,
): Promise<string[]> {
  const problems = await forEachRecordFile(await listRunFiles(runDir), use);
  return problems.map((p) => `${p.file}: ${p.problem}`);
}

/** Every valid run record of `runDir` with its file, in file order, and notes on the rest. */
export async function readRunRecords(
  runDir: string,
): Promise<{ records: RunRecord[]; files: string[]; notes: string[] }> {
  const records: RunRecord[] = [];
  const files: string[] = [];
  const notes = await forEachRunRecord(runDir, (record, file) => {
    records.push(record);
    files.push(file);
  });
  return { records, files, notes };
}

/**
 * Reads one run directory: `manifest.json`, `summary.json` and `runs/*.json`.
 * Never throws for a bad or missing file; see {@linkcode LoadedRun.problems}.
 */
export function loadRun(dir: string): Promise<LoadedRun> {
  return readRunDir(dir, false) as Promise<LoadedRun>;
}

/**
 * {@linkcode loadRun} for the report: per run only what the report lists. A valid
 * `summary.json` with a run index (written by collect) stands in for the records it
 * lists; only files under `runs/` that the index does not name (invalid when collect
 * read them, or newer) are read and checked, and index entries whose file is gone are
 * left out, so the runs and problems are those {@linkcode loadRun} would give.
 * `options.summary` is the summary collect just built in this process (the pipeline hands
 * it over): it stands for `summary.json` without reading and parsing the file collect wrote
 * from it, and is checked against the schema only where JSON would change it (a NaN is null
 * in the file).
 */
export function loadRunRows(
  dir: string,
  options: { summary?: Summary } = {},
): Promise<LoadedRun<RunRow>> {
  return readRunDir(dir, true, options.summary);
}

/** A value JSON leaves out of an object (and writes as null in an array). */
const unwritten = (v: unknown) =>
  v === undefined || typeof v === "function" || typeof v === "symbol";

/**
 * `value` as a reader of its JSON gets it: numbers that are not finite become null, -0 becomes 0
 * and properties JSON leaves out (undefined) are left out, key order kept. Only the objects and
 * arrays that change are copied: the rest (most of a summary) is `value`'s own, shared.
 * Histograms (objects with `values` and `counts`) are handed over as they are: unpacked on first
 * read if they are lazy, and never holding a number JSON would change.
 */
function asJson(value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? value + 0 : null;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const read = unwritten(v) ? null : asJson(v);
      if (!out && !Object.is(read, v)) out = value.slice(0, i);
      out?.push(read);
    }
    return out ?? value;
  }
  if ("values" in value && "counts" in value) return value;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const v = object[keys[i]];
    const read = unwritten(v) ? undefined : asJson(v);
    if (!out && (read === undefined || !Object.is(read, v))) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]] = object[keys[j]];
    }
    if (out && read !== undefined) out[keys[i]] = read;
  }
  return out ?? value;
}

/**
 * The summary collect just built, as the report would read it back from the `summary.json`
 * collect wrote from it (see {@linkcode asJson}); `summary` is left as it is, and the parts that
 * need no change are shared with it (the report only reads them).
 */
export function summaryAsRead(summary: Summary): Summary {
  return asJson(summary) as Summary;
}

async function readRunDir(
  dir: string,
  useIndex: boolean,
  handed?: Summary,
): Promise<LoadedRun<RunRow>> {
  const problems: FileProblem[] = [];
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) {
      problems.push({ file: dir, problem: `"${dir}" is not a directory` });
    }
  } catch {
    problems.push({ file: dir, problem: `run directory "${dir}" does not exist` });
  }
  if (problems.length) {
    return {
      dir,
      runId: basename(dir),
      manifest: null,
      summary: null,
      runs: [],
      problems,
      emulated: false,
      summaryDerived: false,
    };
  }

  let manifest: Manifest | null = null;
  const mPath = join(dir, "manifest.json");
  const m = await readJsonFile(mPath, "manifest.json");
  if (!m.ok) problems.push({ file: mPath, problem: m.problem });
  else {
    const ps = manifestProblems(m.value);
    if (ps.length) problems.push({ file: mPath, problem: joinProblems(ps) });
    else manifest = m.value as Manifest;
  }

  let summary: Summary | null = null;
  const sPath = join(dir, "summary.json");
  if (handed) {
    // Handed over by the pipeline: what collect wrote to summary.json, not read back. Collect
    // built it, so it is not checked again, unless JSON changes it (a NaN written as null):
    // then it is checked as the file would be, which the schema may refuse.
    const read = summaryAsRead(handed);
    const ps = read === handed ? [] : summaryProblems(packSummary(read));
    if (ps.length) problems.push({ file: sPath, problem: joinProblems(ps) });
    else summary = read;
  }
  const s = handed ? undefined : await readJsonFile(sPath, "summary.json");
  if (s && !s.ok) {
    problems.push({
      file: sPath,
      problem: s.problem +
        (s.problem.endsWith("missing")
          ? " (the collect stage has not run or did not finish: `deno task collect`)"
          : ""),
    });
  } else if (s) {
    const ps = summaryProblems(s.value);
    if (ps.length) {
      problems.push({ file: sPath, problem: joinProblems(ps) });
    } else summary = unpackSummary(s.value as StoredSummary);
  }

  const runs: RunRow[] = [];
  const files = await listRunFiles(dir).catch((e: Error) => {
    problems.push({ file: join(dir, "runs"), problem: `cannot list run records: ${e.message}` });
    return [] as string[];
  });
  const index = new Map((useIndex && summary?.runs || []).map((e) => [e.file, e]));
  // Problems in file order, whether a file was read or stood in for by the index.
  const byFile = new Map<string, FileProblem[]>();
  const note = (p: FileProblem) => byFile.set(p.file, [...byFile.get(p.file) ?? [], p]);
  for (const f of files) {
    const indexed = index.get(basename(f));
    if (!indexed) continue;
    const { file: _, warning, ...row } = indexed;
    runs.push(row);
    if (warning) note({ file: f, problem: warning });
  }
  const unread = files.filter((f) => !index.has(basename(f)));
  const bad = await forEachRecordFile(unread, (record, f) => {
    runs.push(record);
    const implausible = implausibleLatency(record);
    if (implausible) note({ file: f, problem: implausible });
  });
  for (const p of bad) note(p);
  for (const f of files) problems.push(...byFile.get(f) ?? []);
  runs.sort((a, b) => a.spec.seq - b.spec.seq);
  if (files.length === 0 && manifest?.plan.length) {
    problems.push({
      file: join(dir, "runs"),
      problem: `no run records, but the manifest plans ${manifest.plan.length} runs`,
    });
  }
  const stuck = manifest?.stages.filter((st) => st.status === "running" && st.name !== "report")
    .map((st) => st.name) ?? [];
  if (manifest && (manifest.status === "failed" || manifest.status === "interrupted")) {
    problems.push({
      file: mPath,
      problem: `the run is "${manifest.status}"${manifest.reason ? `: ${manifest.reason}` : ""}` +
        ` (${runs.length} of ${manifest.plan.length} planned runs have a valid record)`,
    });
  } else if (manifest?.status === "running" && stuck.length) {
    // A run still "running" outside its report stage is in progress, or was killed.
    problems.push({
      file: mPath,
      problem: `the run has not finished: stage ${stuck.join(", ")} is still marked running ` +
        `(in progress, or killed without cleanup); ${runs.length} of ` +
        `${manifest.plan.length} planned runs have a valid record`,
    });
  }
  // Rows come from the index only when there is a summary, so runs[0] is a full record here.
  const runId = manifest?.runId ?? summary?.runId ?? (runs[0] as RunRecord | undefined)?.runId ??
    basename(dir);
  let summaryDerived = false;
  if (!summary && runs.length > 0) {
    // Without a summary there is no index: every entry of `runs` is a full record.
    const stored = readStoredConfig(manifest?.config);
    for (const p of stored.problems) problems.push({ file: mPath, problem: p });
    summary = deriveSummary(runId, manifest, stored.config, runs as RunRecord[]);
    summaryDerived = true;
  }
  const emulated = (summary?.emulated ?? false) || runs.some((r) => r.mesh.emulated);
  return { dir, runId, manifest, summary, runs, problems, emulated, summaryDerived };
}

/**
 * Pools valid run records into a summary with the run's own settings (baseline,
 * noise threshold, bootstrap) from the manifest, for a run whose `summary.json`
 * is missing or broken. Its notes say it was recomputed.
 */
function deriveSummary(
  runId: string,
  manifest: Manifest | null,
  config: BenchConfig,
  runs: RunRecord[],
): Summary {
  return summarizeRuns(runs, {
    runId,
    target: manifest?.target ?? runs[0].target,
    // A stored config written before a setting existed has its default (readStoredConfig).
    ...summarySettings(config),
    notes: [
      `summary.json was not usable: these figures were recomputed by the reader from the ` +
      `${runs.length} valid run records.`,
    ],
  });
}

/** Reads several run directories (in the order given). */
export function loadRuns(dirs: readonly string[]): Promise<LoadedRun[]> {
  return Promise.all(dirs.map(loadRun));
}

/** Run directories under `resultsDir` (those with a manifest or run records), oldest first. */
export async function listRunDirs(resultsDir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(resultsDir)) {
      if (!e.isDirectory) continue;
      const dir = join(resultsDir, e.name);
      const has = async (p: string) => await Deno.stat(join(dir, p)).then(() => true, () => false);
      if (await has("manifest.json") || await has("runs")) out.push(dir);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** The run directory to analyse: `explicit`, else `$MESHBENCH_RUN_DIR`, else the newest. */
export async function resolveRunDir(
  explicit?: string,
  options: { resultsDir?: string } = {},
): Promise<string | undefined> {
  return namedRunDir(explicit || undefined, "argument")?.dir ??
    await newestRunDir(options.resultsDir ?? "results");
}

/** How to get results, for a notebook or report opened with none. */
export const NO_RESULTS_HELP = "No benchmark results were found. Run one with " +
  "`deno task bench:all --target local --profile quick` (a few minutes on a laptop; local " +
  "meshes are emulations), then open this notebook again, or point it at a run directory " +
  "with MESHBENCH_RUN_DIR=results/<run-id>. Fixture results ship in fixtures/.";
