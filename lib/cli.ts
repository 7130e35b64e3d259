/**
 * The CLI contract shared by every stage task:
 * `[--target local|cluster|oci] [--config FILE] [--profile quick|standard|full] [--out DIR]`
 * plus stage-specific flags. Flags feed the one config merge; errors exit 2.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.ts";
import type { BenchConfig } from "./config.ts";
import { CommandError, killAllChildren } from "./command.ts";
import { consoleLogger } from "./log.ts";
import { type Logger, MissingToolsError } from "./target.ts";
import { newestRunDir } from "./run_dir.ts";
import { resolveRunDir as resolveResultsRunDir } from "./load_results.ts";

/** Exit codes, documented in the README. */
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

const COMMON = {
  target: { type: "string" },
  config: { type: "string" },
  profile: { type: "string" },
  out: { type: "string" },
  context: { type: "string" },
  kubeconfig: { type: "string" },
  qos: { type: "string" },
  workloads: { type: "string" },
  meshes: { type: "string" },
  iterations: { type: "string" },
  duration: { type: "string" },
  rates: { type: "string" },
  seed: { type: "string" },
  run: { type: "string" },
  "var-file": { type: "string" },
  keep: { type: "boolean" },
  "state-dir": { type: "string" },
  "ssh-key": { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help text of the common flags. */
export const COMMON_HELP = `Options:
  --target local|cluster|oci  where to run (default: local)
  --config FILE               YAML config (see bench.example.yaml)
  --profile quick|standard|full
                              quick (default): short runs; standard: the design's 10 s warm-up,
                              5 s cool-down, 5 iterations, 30 s load; full: a rate sweep
  --out DIR                   directory that holds run directories (default: results)
  --context NAME              kubeconfig context (required for --target cluster)
  --kubeconfig FILE           kubeconfig file (default: $KUBECONFIG or ~/.kube/config)
  --qos burstable|guaranteed  cluster: QoS of the benchmark pods and sidecars (default:
                              burstable, to fit the free tier; guaranteed per METHODOLOGY 10)
  --workloads a,b             subset of http, grpc, websocket, db, ml (default: all five)
  --meshes a,b                meshes, the baseline included
  --iterations N              iterations per load point
  --duration S                seconds per fixed-rate run
  --rates R1,R2               fixed rates (requests per second)
  --seed N                    seed of the run order and the bootstrap
  --run DIR                   existing run directory (stage tasks; default: the newest)
  --var-file FILE             oci: your copy of terraform/meshbench.tfvars.example
  --keep                      oci: leave the infrastructure up afterwards
  --state-dir DIR             oci: Terraform/Ansible state (default: .meshbench/oci)
  --ssh-key FILE              oci: private key for the nodes
  --quiet                     warnings only
  -h, --help                  this help
Environment: MESHBENCH_TARGET, MESHBENCH_PROFILE, MESHBENCH_OUT, MESHBENCH_CONTEXT,
  MESHBENCH_SEED, MESHBENCH_WORKLOADS, MESHBENCH_MESHES (defaults < file < env < flags).
Exit codes: 0 ok, 1 run failed, 2 bad input, 3 missing tools, 130 interrupted.`;

function num(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `Invalid --${flag}: expected ${integer ? "an integer" : "a number"}, got "${v}"`,
    );
  }
  return n;
}

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter((s) => s);
}

/** Parsed common flags plus the merged config. */
export interface CliContext {
  config: BenchConfig;
  sources: string[];
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  log: Logger;
}

/** Parses flags (common + `extra`) and merges config. Throws UsageError/ConfigError. */
export async function parseCli(
  args: string[],
  extra: Record<string, { type: "string" | "boolean" }> = {},
): Promise<CliContext> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...COMMON, ...extra },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const s = (k: string) => v[k] as string | undefined;
  const flags: Record<string, unknown> = {
    target: s("target"),
    profile: s("profile"),
    out: s("out"),
    "cluster.context": s("context"),
    "cluster.kubeconfig": s("kubeconfig"),
    "cluster.qos": s("qos"),
    workloads: list(s("workloads")),
    meshes: list(s("meshes")),
    iterations: num("iterations", s("iterations"), true),
    "load.durationS": num("duration", s("duration")),
    "load.rates": list(s("rates"))?.map((r) => num("rates", r)!),
    seed: num("seed", s("seed"), true),
    "oci.varFile": s("var-file"),
    "oci.keep": v.keep === true ? true : undefined,
    "oci.stateDir": s("state-dir"),
    "oci.sshKey": s("ssh-key"),
  };
  const { config, sources } = await loadConfig({
    file: s("config"),
    env: Deno.env.toObject(),
    flags,
  });
  return {
    config,
    sources,
    values: v,
    positionals: parsed.positionals,
    log: consoleLogger({ quiet: v.quiet === true }),
  };
}

/** The run directory a stage works on (absolute): `--run DIR`, or the newest under `out`. */
export async function resolveRunDir(cli: CliContext): Promise<string> {
  const explicit = cli.values.run as string | undefined;
  if (explicit) {
    try {
      await Deno.stat(`${explicit}/manifest.json`);
    } catch {
      throw new UsageError(
        `Invalid --run: "${explicit}" has no manifest.json (not a run directory)`,
      );
    }
    return resolve(explicit);
  }
  const newest = await newestRunDir(cli.config.out);
  if (!newest) {
    throw new UsageError(
      `No run directory under "${cli.config.out}": start one with "deno task bench:all" or "deno task deploy"`,
    );
  }
  return newest;
}

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
    return resolve(given);
  }
  const dir = await resolveResultsRunDir(undefined, { resultsDir: out });
  if (!dir) {
    throw new UsageError(
      `No run directory under "${out}": run "deno task bench:all" first, or name one`,
    );
  }
  return resolve(dir);
}

/**
 * Installs SIGINT/SIGTERM handlers that abort the returned signal (the pipeline
 * then cleans up and keeps results); a second signal kills children and exits.
 */
export function interruptSignal(log: Logger): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const handler = () => {
    count++;
    if (count === 1) {
      log.warn("Interrupted: stopping load, cleaning up, keeping results (Ctrl-C again to force)");
      ac.abort();
    } else {
      killAllChildren(500).finally(() => Deno.exit(EXIT.interrupted));
    }
  };
  Deno.addSignalListener("SIGINT", handler);
  Deno.addSignalListener("SIGTERM", handler);
  return {
    signal: ac.signal,
    dispose: () => {
      Deno.removeSignalListener("SIGINT", handler);
      Deno.removeSignalListener("SIGTERM", handler);
    },
  };
}

/**
 * Runs a task's main; maps errors to exit codes with one clear message, no stack trace.
 * `options.close` releases what the task holds open (the pipeline's `closeTargets`) before
 * the process exits.
 */
export async function main(
  help: string,
  fn: () => Promise<number>,
  options: { close?: () => Promise<void> } = {},
): Promise<never> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(help);
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
