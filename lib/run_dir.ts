/**
 * The run directory: stages talk only through its files, so any stage can re-run alone.
 *
 * ```
 * <out>/<run-id>/manifest.json   effective config, provenance, plan, stage log
 *                runs/*.json      one RunRecord per measured run
 *                raw/*            tool output as it came
 *                summary.json     overheads with CIs
 *                report.html
 * ```
 * Files are written atomically (temp file + rename); a run directory is never reused.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Manifest, RunRecord, StageEntry, StageName, StageStatus } from "./types.ts";

/** Sortable run id: UTC timestamp plus a short random hash. */
export function newRunId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const hash = crypto.getRandomValues(new Uint8Array(3));
  return `${ts}-${[...hash].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Writes `data` as JSON via a temp file and rename, so readers never see half a file. */
export async function writeJsonAtomic(path: string, data: unknown): Promise<void> {
  await writeTextChunksAtomic(path, readableChunks(data));
}

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === "object" && !Array.isArray(x) &&
  typeof (x as { toJSON?: unknown }).toJSON !== "function";

/**
 * {@linkcode stringifyReadable} of `data` plus a final newline, in pieces: an object's
 * properties, and the elements of its arrays of objects, one at a time, so a 50 MB
 * summary is never one string (the same bytes as `stringifyReadable(data) + "\n"`).
 */
export function* readableChunks(data: unknown): Generator<string> {
  if (!isPlainObject(data)) {
    yield stringifyReadable(data) + "\n";
    return;
  }
  const keys = Object.keys(data).filter((k) => {
    const v = data[k];
    return v !== undefined && typeof v !== "function" && typeof v !== "symbol";
  });
  if (keys.length === 0) {
    yield "{}\n";
    return;
  }
  yield "{";
  for (const [i, k] of keys.entries()) {
    const v = data[k];
    yield `${i ? "," : ""}\n  ${JSON.stringify(k)}: `;
    if (Array.isArray(v) && v.length > 0 && !isFlat(v) && v.every(isPlainObject)) {
      yield "[";
      for (const [j, x] of v.entries()) {
        yield `${j ? "," : ""}\n    ${readable(x, String(j), "    ", []) ?? "null"}`;
      }
      yield "\n  ]";
    } else {
      yield readable(v, k, "  ", []) ?? "null";
    }
  }
  yield "\n}\n";
}

/**
 * Writes text given in pieces via a temp file in the same directory and an atomic rename,
 * encoding about 1 MB at a time (a large text is never encoded whole).
 */
export async function writeTextChunksAtomic(
  path: string,
  chunks: Iterable<string>,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      const encoder = new TextEncoder();
      let pending: string[] = [];
      let size = 0;
      for (const chunk of chunks) {
        pending.push(chunk);
        size += chunk.length;
        // Write in pieces of about 1 MB: few system calls, little held.
        if (size >= 1 << 20) {
          await writeAll(file, encoder.encode(pending.join("")));
          pending = [];
          size = 0;
        }
      }
      if (pending.length) await writeAll(file, encoder.encode(pending.join("")));
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

const isScalar = (x: unknown) => x === null || typeof x !== "object";

function isFlat(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  // Plain loops: summary.json has millions of histogram numbers to look at.
  for (const x of v) {
    if (isScalar(x)) continue;
    if (!Array.isArray(x)) return false;
    for (const y of x) if (!isScalar(y)) return false;
  }
  return true;
}

/**
 * JSON indented for people, with arrays of scalars (and of scalar pairs, like
 * histogram buckets) kept on one line: readable and several times smaller and
 * faster to read back than fully indented JSON. The same text as
 * `JSON.stringify(data, null, 2)` with every flat array as `JSON.stringify(array)`.
 */
export function stringifyReadable(data: unknown): string {
  return readable(data, "", "", []) ?? "null";
}

/**
 * The readable JSON of `value` (the property `key` of its holder) whose lines after the
 * first are indented by `gap`; undefined where JSON leaves the value out. Flat arrays,
 * summary.json's millions of histogram numbers, go to the native stringifier whole: a
 * replacer function would be called once for every number (seconds for 10,000 runs).
 */
function readable(value: unknown, key: string, gap: string, open: object[]): string | undefined {
  if (
    value !== null && (typeof value === "object" || typeof value === "bigint") &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    value = (value as { toJSON: (key: string) => unknown }).toJSON(key);
  }
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (isFlat(value)) return JSON.stringify(value);
  if (value instanceof Number || value instanceof String || value instanceof Boolean) {
    return JSON.stringify(value);
  }
  if (open.includes(value)) throw new TypeError("Converting circular structure to JSON");
  open.push(value);
  const inner = gap + "  ";
  const parts: string[] = [];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      parts.push(readable(value[i], String(i), inner, open) ?? "null");
    }
  } else {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const text = readable(o[k], k, inner, open);
      if (text !== undefined) parts.push(`${JSON.stringify(k)}: ${text}`);
    }
  }
  open.pop();
  if (parts.length === 0) return Array.isArray(value) ? "[]" : "{}";
  const [start, end] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${start}\n${inner}${parts.join(`,\n${inner}`)}\n${gap}${end}`;
}

/** Writes text via a temp file in the same directory and an atomic rename. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Creates `<out>/<runId>/` with its subfolders; refuses to reuse an existing one.
 * Returns the absolute path: child processes run with other working directories
 * (nginx `-p`, redis `dir`), so a relative run directory would be joined twice.
 */
export async function createRunDir(out: string, runId: string): Promise<string> {
  await Deno.mkdir(out, { recursive: true });
  const dir = resolve(out, runId);
  try {
    await Deno.mkdir(dir);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new Error(
        `Cannot create run directory "${dir}": it already exists (never overwritten)`,
      );
    }
    throw e;
  }
  await Deno.mkdir(join(dir, "runs"));
  await Deno.mkdir(join(dir, "raw"));
  return dir;
}

/**
 * The run directory a reading names, if it names one: `given` (called `what` in errors),
 * else `$MESHBENCH_RUN_DIR`. Undefined: the reader takes the newest ({@linkcode newestRunDir}).
 */
export function namedRunDir(
  given: string | undefined,
  what: string,
): { dir: string; what: string } | undefined {
  if (given !== undefined) return { dir: given, what };
  const env = Deno.env.get("MESHBENCH_RUN_DIR");
  return env ? { dir: env, what: "MESHBENCH_RUN_DIR" } : undefined;
}

/** The newest run directory under `out` (run ids sort by time, absolute), or undefined. */
export async function newestRunDir(out: string): Promise<string | undefined> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(out)) {
      if (e.isDirectory && /^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(e.name)) names.push(e.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  names.sort();
  return names.length ? resolve(out, names[names.length - 1]) : undefined;
}

/** Reads a JSON file; errors name the file. */
export async function readJson(path: string): Promise<unknown> {
  return parseJson(await readText(path), path);
}

/** Reads a text file; a missing file is an error that names it. */
export async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Cannot read "${path}": no such file`);
    throw e;
  }
}

/** Parses the JSON text of file `path`; errors name the file. */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`Cannot parse "${path}": ${(e as Error).message}`);
  }
}

export function manifestPath(runDir: string): string {
  return join(runDir, "manifest.json");
}

/** Reads the manifest of a run directory (shape checked by `schema.ts` callers). */
export async function readManifest(runDir: string): Promise<Manifest> {
  const m = await readJson(manifestPath(runDir)) as Manifest;
  if (m?.kind !== "meshbench.manifest") {
    throw new Error(`Cannot use "${manifestPath(runDir)}": not a meshbench manifest`);
  }
  return m;
}

/** Read-modify-write of the manifest; one writer at a time within this process. */
let manifestLock: Promise<unknown> = Promise.resolve();
export function updateManifest(
  runDir: string,
  change: (m: Manifest) => void,
): Promise<Manifest> {
  const next = manifestLock.then(async () => {
    const m = await readManifest(runDir);
    change(m);
    m.updatedAt = new Date().toISOString();
    await writeJsonAtomic(manifestPath(runDir), m);
    return m;
  });
  manifestLock = next.catch(() => {});
  return next;
}

/** Marks a stage as started (a re-run of a stage appends a new entry). */
export function stageStarted(runDir: string, name: StageName): Promise<Manifest> {
  return updateManifest(runDir, (m) => {
    m.stages.push({ name, status: "running", start: new Date().toISOString() });
  });
}

/** Closes the latest entry of a stage. */
export function stageEnded(
  runDir: string,
  name: StageName,
  status: StageStatus,
  error?: string,
): Promise<Manifest> {
  return updateManifest(runDir, (m) => {
    const entry = [...m.stages].reverse().find((s: StageEntry) =>
      s.name === name && s.status === "running"
    );
    const end = new Date().toISOString();
    if (entry) {
      entry.status = status;
      entry.end = end;
      if (error) entry.error = error;
    } else {
      m.stages.push({ name, status, start: end, end, ...(error ? { error } : {}) });
    }
  });
}

/** File stem of a run record: the design's `<family>_test_*` names, labels kept in fields. */
export function runFileStem(r: Pick<RunRecord, "spec">): string {
  const s = r.spec;
  const rate = s.point.rate === null ? s.point.mode : `${s.point.rate}rps`;
  const payload = (s.point.payloadBytes === undefined ? "" : `_${s.point.payloadBytes}B`) +
    (s.point.httpProtocol === "h2c" ? "_h2c" : "");
  return `${s.workload}_test_${
    String(s.seq).padStart(4, "0")
  }_${s.mesh}_${rate}${payload}_i${s.iteration}`;
}

/** Writes one run record under `runs/`; never replaces an existing record. */
export async function writeRunRecord(runDir: string, record: RunRecord): Promise<string> {
  const path = join(runDir, "runs", `${runFileStem(record)}.json`);
  try {
    await Deno.lstat(path);
    throw new Error(`Cannot write run record "${path}": it already exists (never overwritten)`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await writeJsonAtomic(path, record);
  return path;
}

/** Lists run record files (sorted by execution order). */
export function listRunFiles(runDir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    // Read in one go: the async iterator took 50-70 ms for 10,000 records, this 11-17 ms.
    for (const e of Deno.readDirSync(join(runDir, "runs"))) {
      if (e.isFile && e.name.endsWith(".json")) files.push(join(runDir, "runs", e.name));
    }
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? Promise.resolve([]) : Promise.reject(e);
  }
  return Promise.resolve(files.sort());
}
