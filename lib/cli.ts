/**
 * One command-line grammar for every task (`tasks/*.ts`): each task declares the flags it
 * takes (config flags come from the config schema, the rest from the task), and the same
 * parser refuses, with exit 2 and the list of what the task takes, an unknown flag, a flag
 * that does not apply to the task, a flag given twice, a missing value, extra positionals
 * and an unknown `MESHBENCH_*` variable, before anything starts.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { ConfigError, configValueFromText, didYouMean, loadConfig, rangeText } from "./config.ts";
import type { BenchConfig, ConfigVocabulary } from "./config.ts";
import { CONFIG_ENV, CONFIG_FLAGS, configFields, knownEnv, schemaAt } from "./config_schema.ts";
import { CommandError, killAllChildren } from "./command.ts";
import { consoleLogger } from "./log.ts";
import { type Logger, MissingToolsError } from "./target.ts";
import { namedRunDir, newestRunDir } from "./run_dir.ts";
import { pidAlive } from "./run_owner.ts";

/** Exit codes, documented in the README and docs/cli.md. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  missingTools: 3,
  interrupted: 130,
} as const;

/** A command-line problem: exits 2 with the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A flag a task takes. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** Name of the argument in help (string flags). */
  arg?: string;
  help: string;
  /** One-letter alias (`-e`). */
  short?: string;
  /** May be given more than once; the values collect in order. */
  multiple?: boolean;
  /** Also takes `--no-NAME`. */
  negatable?: boolean;
}

/** What a task takes on its command line. */
export interface TaskSpec {
  /** The `deno task` name. */
  name: string;
  /** Positionals in the usage line, e.g. `[RUN_DIR]`. */
  usage?: string;
  description: string;
  /**
   * Config fields the task takes as flags: `"all"` (with `--config FILE`), or these flag
   * names (as the schema's `x-flag` names them).
   */
  config?: "all" | readonly string[];
  /** The task's own flags. */
  flags?: Record<string, FlagSpec>;
  /** How many positionals, and what they are called in errors. */
  positionals?: { min: number; max: number; name: string };
  /** The positional names the run directory, like `--run` (report, notebooks, export). */
  runPositional?: boolean;
  /** The task creates a run directory under `out` (checked before anything starts). */
  createsRun?: boolean;
  /** Help lines after the flags (environment, exit codes). */
  epilogue?: string;
}

/** Flags several tasks share, declared once. */
export const FLAGS = {
  run: {
    type: "string",
    arg: "DIR",
    help: "existing run directory (default: the newest under --out)",
  },
  quiet: { type: "boolean", help: "warnings only" },
  config: { type: "string", arg: "FILE", help: "YAML config (see bench.example.yaml)" },
} as const satisfies Record<string, FlagSpec>;

/**
 * What a task that reads one run (report, notebooks, export) declares, spread into its
 * {@linkcode TaskSpec}: `[RUN_DIR]` or `--run DIR`, resolved by {@linkcode runDirArgument};
 * its description says so with {@linkcode READS_RUN_HELP}.
 */
export const READS_RUN = {
  usage: "[RUN_DIR]",
  config: ["out"],
  flags: { run: FLAGS.run },
  positionals: { min: 0, max: 1, name: "RUN_DIR" },
  runPositional: true,
} as const satisfies Partial<TaskSpec>;

/** The help line of {@linkcode READS_RUN}. */
export const READS_RUN_HELP =
  "RUN_DIR (or --run DIR): default $MESHBENCH_RUN_DIR, else the newest under --out.";

const HELP_FLAG: FlagSpec = { type: "boolean", short: "h", help: "this help" };

/** Flag name -> config field path, for every field that has a flag. */
const CONFIG_FLAG_PATHS = CONFIG_FLAGS;

function configFlagSpec(flag: string): FlagSpec {
  const node = schemaAt(CONFIG_FLAG_PATHS[flag].split("."))!;
  const arg = node["x-arg"] ??
    (node.enum ? node.enum.join("|") : node.type === "integer" ? "N" : "VALUE");
  const range = rangeText(node.items ?? node);
  const help = `${node.description ?? ""}${range ? ` (${range})` : ""}`;
  return node.type === "boolean" ? { type: "boolean", help } : { type: "string", arg, help };
}

/** Every flag the task takes, config flags first, by name. */
export function taskFlags(spec: TaskSpec): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = {};
  if (spec.config === "all") out.config = FLAGS.config;
  const names = spec.config === "all" ? Object.keys(CONFIG_FLAG_PATHS) : spec.config ?? [];
  for (const n of names) out[n] = configFlagSpec(n);
  Object.assign(out, spec.flags ?? {});
  out.help = HELP_FLAG;
  return out;
}

function isConfigFlag(spec: TaskSpec, name: string): boolean {
  return name in CONFIG_FLAG_PATHS && !(name in (spec.flags ?? {}));
}

function flagList(spec: TaskSpec): string {
  return Object.entries(taskFlags(spec)).map(([n, f]) =>
    `${f.short ? `-${f.short}, ` : ""}--${n}${f.negatable ? ` / --no-${n}` : ""}`
  ).join(", ");
}

/** Words of `text` in lines of at most `width`, each after `indent` spaces. */
function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let cur = "";
  for (const w of text.split(/\s+/)) {
    if (cur && indent + cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.join(`\n${" ".repeat(indent)}`);
}

/** The help text of a task, from its declaration. */
export function taskHelp(spec: TaskSpec): string {
  const flags = taskFlags(spec);
  const rows = Object.entries(flags).map(([n, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${n}${f.negatable ? `, --no-${n}` : ""}${
      f.type === "string" ? ` ${f.arg ?? "VALUE"}` : ""
    }`;
    const help = wrap(f.help, 33);
    return left.length >= 30
      ? `  ${left}\n${" ".repeat(33)}${help}`
      : `  ${left.padEnd(31)}${help}`;
  });
  const env = Object.entries(CONFIG_ENV).filter(([, path]) =>
    Object.keys(flags).some((n) => CONFIG_FLAG_PATHS[n] === path)
  ).map(([name]) => name);
  return [
    `deno task ${spec.name}${spec.usage ? ` ${spec.usage}` : ""} [options]`,
    "",
    spec.description.trim(),
    "",
    "Options:",
    ...rows,
    ...(env.length
      ? [`Environment: ${wrap(`${env.join(", ")} (defaults < file < env < flags).`, 13)}`]
      : []),
    ...(spec.epilogue ? [spec.epilogue.trim()] : []),
    "Exit codes: 0 ok, 1 run failed, 2 bad input, 3 missing tools, 130 interrupted " +
    "(docs/cli.md).",
  ].join("\n");
}

/** What the parser found. */
export interface ParsedArgs {
  /** Flag values by name: strings, booleans, or lists for `multiple` flags. */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Refuses `MESHBENCH_*` variables meshbench does not read, listing the known ones. */
export function checkEnv(env: Record<string, string>): void {
  const known = knownEnv();
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("MESHBENCH_") || known.includes(name)) continue;
    throw new UsageError(
      `Unknown environment variable ${name}=${JSON.stringify(env[name])}${
        didYouMean(name, known).replaceAll('"', "")
      } (known: ${known.join(", ")}); unset it`,
    );
  }
}

/**
 * Parses `args` as `spec` declares. Throws UsageError for anything it does not take, a flag
 * given twice, a flag without its value, a value given to a boolean flag, or the wrong number
 * of positionals.
 */
export function parseArgsFor(spec: TaskSpec, args: readonly string[]): ParsedArgs {
  const flags = taskFlags(spec);
  const task = `deno task ${spec.name}`;
  const takes = () => `${task} takes: ${flagList(spec)}`;
  const values: ParsedArgs["values"] = {};
  const given: Record<string, string[]> = {};
  const positionals: string[] = [];
  const byShort = Object.fromEntries(
    Object.entries(flags).filter(([, f]) => f.short).map(([n, f]) => [f.short!, n]),
  );
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | undefined;
    let written: string;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
      written = `--${name}`;
    } else if (/^-[^-\d.]/.test(a)) {
      written = a.slice(0, 2);
      name = byShort[a[1]] ?? a.slice(1);
      inline = a.length > 2 ? a.slice(2).replace(/^=/, "") : undefined;
      if (!byShort[a[1]]) {
        throw new UsageError(`Unknown flag ${written} for ${task}; ${takes()}`);
      }
    } else {
      positionals.push(a);
      continue;
    }
    let negated = false;
    if (!(name in flags) && name.startsWith("no-") && flags[name.slice(3)]?.negatable) {
      name = name.slice(3);
      negated = true;
    }
    const f = flags[name];
    if (!f) {
      const known = Object.keys(flags);
      const elsewhere = name in CONFIG_FLAG_PATHS || name in FLAGS;
      throw new UsageError(
        elsewhere
          ? `${written} does not apply to ${task}; ${takes()}`
          : `Unknown flag ${written} for ${task}${
            didYouMean(name, known).replaceAll('"', "").replace("mean ", "mean --")
          }; ${takes()}`,
      );
    }
    let value: string | boolean;
    if (f.type === "boolean") {
      if (inline !== undefined) {
        throw new UsageError(`${written} takes no value, got ${JSON.stringify(inline)}`);
      }
      value = !negated;
    } else {
      const next = inline ?? args[i + 1];
      if (next === undefined || (inline === undefined && next.startsWith("--"))) {
        throw new UsageError(
          `${written} needs a value (${written} ${f.arg ?? "VALUE"})${
            next !== undefined ? `, got the flag ${next}` : ""
          }`,
        );
      }
      if (inline === undefined) i++;
      value = next;
    }
    (given[name] ??= []).push(typeof value === "string" ? JSON.stringify(value) : written);
    if (f.multiple) {
      values[name] = [...((values[name] as string[] | undefined) ?? []), String(value)];
    } else if (given[name].length > 1) {
      throw new UsageError(
        `--${name} is given ${given[name].length} times (${given[name].join(", ")}): give it once`,
      );
    } else values[name] = value;
  }
  const p = spec.positionals ?? { min: 0, max: 0, name: "" };
  if (positionals.length > p.max) {
    throw new UsageError(
      p.max === 0
        ? `${task} takes no positional arguments, got ${
          positionals.map((x) => JSON.stringify(x)).join(" ")
        }; ${takes()}`
        : `${task} takes at most ${p.max} ${p.name}, got ${positionals.length}: ${
          positionals.map((x) => JSON.stringify(x)).join(" ")
        }`,
    );
  }
  if (positionals.length < p.min) {
    throw new UsageError(`${task} needs ${p.name}, got ${positionals.length}`);
  }
  return { values, positionals };
}

/** Parsed flags plus the merged config. */
export interface CliContext {
  config: BenchConfig;
  sources: string[];
  values: ParsedArgs["values"];
  positionals: string[];
  log: Logger;
}

/**
 * Parses a task's command line and environment as `spec` declares, and merges the config
 * from the flags it takes. Throws UsageError/ConfigError (exit 2) before anything starts.
 */
export async function parseCli(
  spec: TaskSpec,
  options: {
    /** Default: `Deno.args`. */
    args?: readonly string[];
    /** Default: the process environment. */
    env?: Record<string, string>;
    /**
     * Workload and mesh names to accept, from the registries (the pipeline's
     * `configVocabulary`); without it names are checked later, by the target.
     */
    vocabulary?: () => Promise<ConfigVocabulary>;
  } = {},
): Promise<CliContext> {
  const args = options.args ?? Deno.args;
  const env = options.env ?? Deno.env.toObject();
  checkEnv(env);
  const { values, positionals } = parseArgsFor(spec, args);
  const flags: Record<string, unknown> = {};
  const flagText: Record<string, { flag: string; text: string }> = {};
  // A named run brings its own config (its manifest): config flags would be ignored, so they
  // are refused, `--out` too (it only says where to look for the newest run).
  const runNamed = values.run !== undefined || (spec.runPositional && positionals.length > 0);
  const named = values.run !== undefined ? "--run" : "RUN_DIR";
  for (const [name, v] of Object.entries(values)) {
    if (!(isConfigFlag(spec, name) || name === "config") || v === undefined) continue;
    if (runNamed) {
      throw new UsageError(
        `--${name} does not apply with ${named}: ${
          name === "out"
            ? "--out only says where to find the newest run"
            : "a run keeps its config in its manifest.json"
        }`,
      );
    }
    if (name === "config") continue;
    const path = CONFIG_FLAG_PATHS[name];
    flags[path] = typeof v === "boolean"
      ? v
      : configValueFromText(path, v as string, `command-line flag --${name}`);
    flagText[path] = { flag: name, text: String(v) };
  }
  const vocab = spec.config === "all" ? await options.vocabulary?.() : undefined;
  // A task that takes some config fields reads only their variables: MESHBENCH_TARGET in the
  // environment is no business of `report`.
  const taken = Object.keys(taskFlags(spec)).map((n) => CONFIG_FLAG_PATHS[n]);
  const { config, sources, where } = await loadConfig({
    file: values.config as string | undefined,
    env: spec.config === "all" ? env : Object.fromEntries(
      Object.entries(env).filter(([k]) => !(k in CONFIG_ENV) || taken.includes(CONFIG_ENV[k])),
    ),
    flags,
    flagText,
    vocabulary: vocab,
  });
  if (spec.createsRun && !runNamed) {
    await checkOutDir(config.out, where("out"));
  }
  await checkInputFiles(config, where);
  return {
    config,
    sources,
    values,
    positionals,
    log: consoleLogger({ quiet: values.quiet === true }),
  };
}

/**
 * Checks that `out` can hold a new run directory, creating nothing: it is a directory, or
 * does not exist under a writable directory. Throws ConfigError naming "out" and the value.
 */
export async function checkOutDir(
  out: string,
  where?: string,
  options: { flag?: string } = {},
): Promise<void> {
  const fail = (msg: string): never => {
    const text = `${msg}, got ${JSON.stringify(out)}`;
    if (options.flag) throw new UsageError(`Invalid ${options.flag}: ${text}`);
    throw new ConfigError("out", text, where);
  };
  if (options.flag) {
    if (out === "") fail("expected a directory, not an empty string");
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u001f\u007f]/u.test(out)) fail("expected no control characters");
  }
  let dir = resolve(out);
  for (;;) {
    try {
      const info = await Deno.stat(dir);
      if (!info.isDirectory) {
        fail(
          dir === resolve(out)
            ? "expected a directory, but it is a file"
            : `expected a directory under a directory, but "${dir}" is a file`,
        );
      }
      break;
    } catch (e) {
      if (e instanceof ConfigError || e instanceof UsageError) throw e;
      if (e instanceof Deno.errors.NotFound) {
        if (dirname(dir) === dir) fail("no part of the path exists");
        dir = dirname(dir);
        continue;
      }
      if (e instanceof Deno.errors.NotADirectory) {
        fail("expected a directory under a directory, but a part of the path is a file");
      }
      fail(`cannot inspect "${dir}": ${(e as Error).message}`);
    }
  }
  // Writable? Create and remove a probe directory: the only way that also covers read-only
  // file systems and ACLs.
  try {
    await Deno.remove(await Deno.makeTempDir({ dir, prefix: ".meshbench-probe-" }));
  } catch (e) {
    fail(`cannot create a directory in "${dir}" (${(e as Error).message})`);
  }
}

/** Files the config names for meshbench to read (`x-file` fields) exist, when set. */
async function checkInputFiles(
  config: BenchConfig,
  where: (path: string) => string,
): Promise<void> {
  for (const { path, node } of configFields()) {
    if (!node["x-file"]) continue;
    const file = path.split(".").reduce<unknown>(
      (v, k) => (v as Record<string, unknown>)[k],
      config,
    ) as string;
    if (file === "") continue;
    const info = await Deno.stat(file).catch((e: Error) => e);
    if (info instanceof Error || !info.isFile) {
      throw new ConfigError(
        path,
        `expected a file to read, got ${JSON.stringify(file)} (${
          info instanceof Error ? info.message : "a directory"
        })`,
        where(path),
      );
    }
  }
}

/**
 * Checks a file a task will write (`export --output FILE`): a path without control
 * characters, not a directory, in an existing directory that can be written. Creates nothing.
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  const fail = (msg: string): never => {
    throw new UsageError(`Invalid ${flag}: ${msg}, got ${JSON.stringify(path)}`);
  };
  if (path === "") fail("expected a file name, not an empty string");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/u.test(path)) fail("expected no control characters");
  const info = await Deno.stat(path).catch(() => undefined);
  if (info?.isDirectory) fail("expected a file, but it is a directory");
  const parent = dirname(resolve(path));
  const dir = await Deno.stat(parent).catch(() => undefined);
  if (!dir?.isDirectory) fail(`expected a file in an existing directory ("${parent}" is none)`);
  await checkOutDir(parent, undefined, { flag });
}

/** The run directory a stage works on (absolute): `--run DIR`, or the newest under `out`. */
export async function resolveRunDir(cli: CliContext): Promise<string> {
  const explicit = cli.values.run as string | undefined;
  if (explicit !== undefined) {
    try {
      await Deno.stat(`${explicit}/manifest.json`);
    } catch {
      throw new UsageError(
        `Invalid --run: ${JSON.stringify(explicit)} has no manifest.json (not a run directory)`,
      );
    }
    return resolve(explicit);
  }
  return await newestRunIn(cli.config.out);
}

/** The newest run directory under `out`; a usage error naming `out` when there is none. */
export async function newestRunIn(out: string): Promise<string> {
  try {
    if (!(await Deno.stat(out)).isDirectory) {
      throw new ConfigError("out", `expected a directory, got ${JSON.stringify(out)} (a file)`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
  }
  const newest = await newestRunDir(out);
  if (!newest) {
    throw new UsageError(
      `No run directory under ${
        JSON.stringify(out)
      }: start one with "deno task bench:all" or "deno task deploy", or name one with --run`,
    );
  }
  return resolve(newest);
}

/** What {@linkcode interruptSignal} returns. */
export interface Interrupt {
  /** Aborted at the first SIGINT/SIGTERM: stop load, clean up, keep results. */
  signal: AbortSignal;
  /** Names the run being worked on, for the message of a forced exit. */
  setRun(runDir: string): void;
  /** Handles one signal (what the listeners call; tests call it directly). */
  handle(): void;
  /** Removes the listeners. */
  dispose(): void;
}

/**
 * What a forced exit leaves behind of `runDir`, and the command that removes it.
 * Reads the local deployment record; on other targets only the command is known.
 */
export function leftoverMessage(runDir: string | undefined): string {
  if (!runDir) return "nothing was started yet";
  const how = `remove it with: deno task cleanup --run ${runDir}`;
  let processes: { name: string; pid: number }[] | undefined;
  try {
    const state = JSON.parse(Deno.readTextFileSync(join(runDir, "local", "state.json")));
    processes = (state.processes as { name: string; pid: number }[]).filter((p) => pidAlive(p.pid));
  } catch { /* not a local run, or nothing deployed */ }
  if (processes === undefined) return `what run ${runDir} deployed may be left; ${how}`;
  if (processes.length === 0) {
    return `no process of run ${runDir} is left; to mark it finished, run: deno task cleanup --run ${runDir}`;
  }
  return `left running: ${processes.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}; ${how}`;
}

/**
 * Installs SIGINT/SIGTERM handlers. The first signal aborts the returned signal: the
 * pipeline stops load, cleans up, and keeps what it measured. A terminal's Ctrl-C
 * reaches the whole process group and `deno task` forwards it again, so one key press
 * can arrive as two signals: the second never aborts cleanup, it only says that
 * cleanup is under way. A third forces the exit, after saying what is left and how
 * to remove it.
 */
export function interruptSignal(
  log: Logger,
  options: { exit?: (code: number) => void } = {},
): Interrupt {
  const ac = new AbortController();
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  let count = 0;
  let runDir: string | undefined;
  const handle = () => {
    count++;
    if (count === 1) {
      log.warn("Interrupted: stopping load, cleaning up, keeping results");
      ac.abort();
    } else if (count === 2) {
      log.warn(
        "Still cleaning up (stopping what was started, writing the summary): one more Ctrl-C " +
          "forces the exit and may leave processes running",
      );
    } else if (count === 3) {
      log.warn(`Forced exit: ${leftoverMessage(runDir)}`);
      killAllChildren(500).finally(() => exit(EXIT.interrupted));
    }
  };
  Deno.addSignalListener("SIGINT", handle);
  Deno.addSignalListener("SIGTERM", handle);
  return {
    signal: ac.signal,
    setRun: (dir) => {
      runDir = dir;
    },
    handle,
    dispose: () => {
      Deno.removeSignalListener("SIGINT", handle);
      Deno.removeSignalListener("SIGTERM", handle);
    },
  };
}

/** `-h`/`--help` among the flags (not after `--`). */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Runs a task's main; maps errors to exit codes with one clear message, no stack trace.
 * `options.close` releases what the task holds open (the pipeline's `closeTargets`) before
 * the process exits.
 */
export async function main(
  help: string | TaskSpec,
  fn: () => Promise<number>,
  options: { close?: () => Promise<void> } = {},
): Promise<never> {
  if (wantsHelp(Deno.args)) {
    console.log(typeof help === "string" ? help : taskHelp(help));
    Deno.exit(EXIT.ok);
  }
  let code: number;
  try {
    code = await fn();
  } catch (e) {
    const err = e as Error;
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(`error: ${err.message}\n(see --help)`);
      code = EXIT.usage;
    } else if (err.name === "RunBusyError") {
      // Another live meshbench owns the run: bad input here, and nothing was touched.
      console.error(`error: ${err.message}`);
      code = EXIT.usage;
    } else if (e instanceof MissingToolsError) {
      console.error(`error: ${err.message}`);
      code = EXIT.missingTools;
    } else if (e instanceof CommandError) {
      console.error(`error: ${err.message}`);
      code = EXIT.failed;
    } else {
      console.error(`error: ${err.message}`);
      if (Deno.env.get("MESHBENCH_DEBUG")) console.error(err.stack);
      code = EXIT.failed;
    }
  }
  try {
    await options.close?.();
  } catch (e) {
    console.error(`warning: closing connections failed: ${(e as Error).message}`);
  }
  await killAllChildren(1000);
  Deno.exit(code);
}

/**
 * For tasks that return an exit code themselves (infra, testenv, benchmarks): parses as
 * `spec` declares; or, for `--help`, prints the task's help and returns 0; or, for bad
 * input, prints the error and returns 2. A number means: stop with that exit code.
 */
export function parseTaskArgs(
  spec: TaskSpec,
  args: readonly string[],
  env: Record<string, string> = Deno.env.toObject(),
): ParsedArgs | number {
  if (wantsHelp(args)) {
    console.log(taskHelp(spec));
    return EXIT.ok;
  }
  try {
    checkEnv(env);
    return parseArgsFor(spec, args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n(see --help)`);
    return EXIT.usage;
  }
}

/**
 * The run directory of a reading task (report, notebooks, export): `--run DIR` or the
 * RUN_DIR positional (not both), else `$MESHBENCH_RUN_DIR`, else the newest under `out`.
 */
export async function runDirArgument(cli: CliContext): Promise<string> {
  const flag = cli.values.run as string | undefined;
  if (flag !== undefined && cli.positionals.length > 0) {
    throw new UsageError(
      `Give the run directory once: --run ${JSON.stringify(flag)} and RUN_DIR ${
        JSON.stringify(cli.positionals[0])
      } were both given`,
    );
  }
  const named = namedRunDir(flag ?? cli.positionals[0], flag !== undefined ? "--run" : "RUN_DIR");
  if (named) return await existingDir(named.dir, named.what);
  return await newestRunIn(cli.config.out);
}

/**
 * Runs a task that reads one run directory (report, notebooks, export; `READS_RUN` in its
 * spec): parses its command line, lets `check` refuse bad flags before the run directory is
 * looked for, finds the run directory ({@linkcode runDirArgument}), then returns `body`'s
 * exit code.
 */
export function runDirTask(
  spec: TaskSpec,
  body: (dir: string, cli: CliContext) => Promise<number>,
  options: { check?: (cli: CliContext) => void } = {},
): Promise<never> {
  return main(spec, async () => {
    const cli = await parseCli(spec);
    options.check?.(cli);
    return await body(await runDirArgument(cli), cli);
  });
}

/** Says on stderr, one line each, what is wrong with files of a run (`note`: appended). */
export function warnProblems(
  problems: ReadonlyArray<{ file: string; problem: string }>,
  note = "",
): void {
  for (const p of problems) console.error(`warning: ${p.file}: ${p.problem}${note}`);
}

/** `dir` (absolute) when it is a directory; a usage error naming `what` otherwise. */
export async function existingDir(dir: string, what: string): Promise<string> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error();
  } catch {
    throw new UsageError(`Invalid ${what}: ${JSON.stringify(dir)} is not a directory`);
  }
  return resolve(dir);
}
