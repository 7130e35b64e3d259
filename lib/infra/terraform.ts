/**
 * `infra:up` and `infra:down`: Terraform apply/destroy with streamed progress, a record
 * written before anything is created, and errors that say what is left and how to remove it.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { CommandError, realRunner, type Runner } from "../command.ts";
import { writeJsonAtomic, writeTextAtomic } from "../run_dir.ts";
import type { Logger } from "../target.ts";
import { type ClusterOutput, parseClusterOutput, renderInventory } from "./inventory.ts";
import { type InfraRecord, readInfraRecord, recordPath, recordPhase } from "./state.ts";
import { DEFAULT_STATE_DIR, TERRAFORM_DIR, terraformBinary, terraformEnv } from "./tools.ts";

/** An infrastructure step failed; the message says what is left and what to run. */
export class InfraError extends Error {
  constructor(message: string, readonly stateDir: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InfraError";
  }
}

/** Options shared by the infrastructure stages. */
export interface InfraOptions {
  /** Where state, record, inventory and kubeconfig live (default `.meshbench/oci`). */
  stateDir?: string;
  /** Terraform configuration (default `terraform/`). */
  terraformDir?: string;
  /** Terraform or OpenTofu binary (default: found on PATH). */
  terraformBinary?: string;
  runner?: Runner;
  /** Progress and streamed tool output. */
  log?: Logger;
  /** Per Terraform command (default 40 minutes: A1 capacity can be slow to come). */
  timeoutMs?: number;
  /** When given, the record is copied to `<runDir>/infra.json` after each stage. */
  runDir?: string;
}

/** Options for {@linkcode infraUp}. */
export interface InfraUpOptions extends InfraOptions {
  /** The user's variables file (a filled-in copy of `terraform/meshbench.tfvars.example`). */
  varFile: string;
}

/** Options for {@linkcode infraDown}. */
export interface InfraDownOptions extends InfraOptions {
  /** Overrides the variables file recorded by infra:up (e.g. after moving it). */
  varFile?: string;
}

/** What {@linkcode infraUp} built. */
export interface InfraOutputs {
  stateDir: string;
  recordPath: string;
  tfStatePath: string;
  /** Ansible inventory written from the outputs (cluster:setup rewrites it with its options). */
  inventory: string;
  cluster: ClusterOutput;
}

const DEFAULT_TIMEOUT_MS = 40 * 60_000;

const silentLog: Logger = { info() {}, warn() {}, progress() {} };

function tfBinary(opts: InfraOptions): string {
  const bin = opts.terraformBinary ?? terraformBinary();
  if (!bin) {
    throw new Error(
      'Cannot run Terraform: neither "terraform" nor "tofu" is on PATH ' +
        "(install Terraform >= 1.7, or run .ci/install_infra.sh to build OpenTofu)",
    );
  }
  return bin;
}

/** Counts Terraform's progress lines: "Plan: N to add, M to change, K to destroy." and "... complete". */
export class TerraformProgress {
  total = 0;
  done = 0;
  constructor(private readonly mode: "apply" | "destroy") {}
  /** Feeds one output line; returns true when the count changed. */
  feed(line: string): boolean {
    const plan = line.match(/Plan: (\d+) to add, (\d+) to change, (\d+) to destroy/);
    if (plan) {
      const [add, change, destroy] = plan.slice(1).map(Number);
      this.total = this.mode === "destroy" ? destroy : add + change + destroy;
      return true;
    }
    if (/: (Creation|Modifications|Destruction) complete after /.test(line)) {
      this.done = Math.min(this.done + 1, Math.max(this.total, this.done + 1));
      return true;
    }
    return false;
  }
}

function streamTo(log: Logger, progress?: TerraformProgress, label = "") {
  return (line: string) => {
    if (line.trim() === "") return;
    log.info(line);
    if (progress?.feed(line) && progress.total > 0) {
      log.progress(label, Math.min(progress.done, progress.total), progress.total);
    }
  };
}

async function copyToRunDir(record: InfraRecord, runDir?: string): Promise<void> {
  if (runDir) await writeJsonAtomic(join(runDir, "infra.json"), record);
}

/**
 * Managed resources still in a Terraform state file (empty when there is no state).
 * Reads the file itself, so it works even when `terraform init` never finished.
 */
export async function stateResources(tfStatePath: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(tfStatePath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  let state: { resources?: Array<Record<string, unknown>> };
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new Error(`Cannot parse Terraform state "${tfStatePath}": ${(e as Error).message}`);
  }
  const out: string[] = [];
  for (const r of state.resources ?? []) {
    if (r.mode !== "managed") continue;
    const instances = Array.isArray(r.instances) ? r.instances : [];
    const prefix = r.module ? `${r.module}.` : "";
    for (const i of instances as Array<Record<string, unknown>>) {
      const key = i.index_key === undefined ? "" : `[${JSON.stringify(i.index_key)}]`;
      out.push(`${prefix}${r.type}.${r.name}${key}`);
    }
  }
  return out;
}

async function init(
  runner: Runner,
  bin: string,
  record: InfraRecord,
  log: Logger,
  timeoutMs: number,
) {
  await runner.run(
    [
      bin,
      `-chdir=${record.terraformDir}`,
      "init",
      "-input=false",
      "-no-color",
      "-reconfigure",
      `-backend-config=path=${record.tfStatePath}`,
    ],
    { env: terraformEnv(record.tfDataDir), timeoutMs, onLine: streamTo(log) },
  );
}

function abs(path: string): string {
  return isAbsolute(path) ? path : resolve(Deno.cwd(), path);
}

/**
 * Brings the infrastructure up: `terraform init` and `apply` against the user's variables
 * file, then reads the `cluster` output. The record in the state directory is written
 * before Terraform starts, so a failure at any point leaves `infra:down` able to remove
 * whatever was created; the thrown {@linkcode InfraError} says so.
 */
export async function infraUp(opts: InfraUpOptions): Promise<InfraOutputs> {
  const runner = opts.runner ?? realRunner;
  const log = opts.log ?? silentLog;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stateDir = abs(opts.stateDir ?? DEFAULT_STATE_DIR);
  const varFile = abs(opts.varFile);
  try {
    await Deno.stat(varFile);
  } catch {
    throw new Error(
      `Cannot bring the infrastructure up: "varFile" ${
        JSON.stringify(opts.varFile)
      } does not exist ` +
        "(copy terraform/meshbench.tfvars.example and fill it in)",
    );
  }
  const bin = tfBinary(opts);
  const previous = await readInfraRecord(stateDir);
  const base: InfraRecord = {
    version: 1,
    phase: "applying",
    stateDir,
    terraformDir: abs(opts.terraformDir ?? TERRAFORM_DIR),
    terraformBinary: bin,
    varFile,
    tfStatePath: join(stateDir, "terraform.tfstate"),
    tfDataDir: join(stateDir, "tf-data"),
    history: previous?.history ?? [],
  };
  let record = await recordPhase(base, "applying");
  await copyToRunDir(record, opts.runDir);
  log.info(`Infrastructure state: ${stateDir}`);
  const progress = new TerraformProgress("apply");
  try {
    await init(runner, bin, record, log, timeoutMs);
    await runner.run(
      [
        bin,
        `-chdir=${record.terraformDir}`,
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        `-var-file=${varFile}`,
      ],
      {
        env: terraformEnv(record.tfDataDir),
        timeoutMs,
        onLine: streamTo(log, progress, "terraform apply"),
      },
    );
    const out = await runner.run(
      [bin, `-chdir=${record.terraformDir}`, "output", "-no-color", "-json", "cluster"],
      { env: terraformEnv(record.tfDataDir), timeoutMs: 120_000 },
    );
    let data: unknown;
    try {
      data = JSON.parse(out.stdout);
    } catch (e) {
      throw new Error(`Cannot parse "terraform output -json cluster": ${(e as Error).message}`);
    }
    const cluster = parseClusterOutput(data);
    const inventory = join(stateDir, "inventory.yml");
    await writeTextAtomic(
      inventory,
      renderInventory(cluster, { knownHostsPath: join(stateDir, "known_hosts") }),
    );
    record = await recordPhase({ ...record, cluster }, "up");
    await copyToRunDir(record, opts.runDir);
    log.info(
      `Infrastructure up: ${cluster.nodes.map((n) => `${n.name} ${n.publicIp}`).join(", ")}`,
    );
    return {
      stateDir,
      recordPath: recordPath(stateDir),
      tfStatePath: record.tfStatePath,
      inventory,
      cluster,
    };
  } catch (e) {
    const why = e instanceof CommandError ? e.message : (e as Error).message;
    record = await recordPhase(record, "apply-failed", why);
    await copyToRunDir(record, opts.runDir);
    const left = await stateResources(record.tfStatePath).catch(() => undefined);
    const leftText = left === undefined
      ? "Some resources may exist"
      : left.length === 0
      ? "No resources were created"
      : `${left.length} resources exist (${left.slice(0, 6).join(", ")}${
        left.length > 6 ? ", ..." : ""
      })`;
    throw new InfraError(
      `Cannot bring the infrastructure up: ${why}\n${leftText}; they are recorded in ` +
        `${recordPath(stateDir)}. Remove them with: deno task infra:down --state-dir ${stateDir}`,
      stateDir,
      { cause: e },
    );
  }
}

/** What {@linkcode infraDown} did. */
export interface InfraDownResult {
  stateDir: string;
  /** False when the state directory recorded nothing to destroy. */
  destroyed: boolean;
}

/** Files of a cluster that must not outlive its nodes, relative to the state dir. */
export const CLUSTER_FILES = ["known_hosts", "inventory.yml", "admin.conf", "kubeconfig"];

async function removeClusterFiles(stateDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of CLUSTER_FILES) {
    try {
      await Deno.remove(join(stateDir, name));
      removed.push(name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return removed;
}

/**
 * Tears down everything recorded in the state directory with `terraform destroy`, then
 * checks the state is empty and removes the cluster's files (host keys, inventory,
 * kubeconfigs). Works from the record alone, whatever phase it reached.
 */
export async function infraDown(opts: InfraDownOptions = {}): Promise<InfraDownResult> {
  const runner = opts.runner ?? realRunner;
  const log = opts.log ?? silentLog;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stateDir = abs(opts.stateDir ?? DEFAULT_STATE_DIR);
  let record = await readInfraRecord(stateDir);
  if (!record) {
    let stateExists = true;
    try {
      await Deno.stat(join(stateDir, "terraform.tfstate"));
    } catch {
      stateExists = false;
    }
    if (stateExists) {
      throw new InfraError(
        `Cannot tear the infrastructure down: ${stateDir} holds a terraform.tfstate but no ` +
          `infra.json record; run "terraform destroy" there by hand`,
        stateDir,
      );
    }
    log.info(`Nothing to tear down: no infrastructure is recorded in ${stateDir}`);
    return { stateDir, destroyed: false };
  }
  if (record.phase === "down") {
    log.info(`Nothing to tear down: ${recordPath(stateDir)} says it is already down`);
    return { stateDir, destroyed: false };
  }
  const varFile = opts.varFile ? abs(opts.varFile) : record.varFile;
  try {
    await Deno.stat(varFile);
  } catch {
    throw new InfraError(
      `Cannot tear the infrastructure down: the variables file ${JSON.stringify(varFile)} ` +
        "recorded by infra:up is gone; pass it again with --var-file",
      stateDir,
    );
  }
  const bin = opts.terraformBinary ?? record.terraformBinary;
  record = await recordPhase({ ...record, varFile }, "destroying");
  await copyToRunDir(record, opts.runDir);
  const progress = new TerraformProgress("destroy");
  try {
    await init(runner, bin, record, log, timeoutMs);
    await runner.run(
      [
        bin,
        `-chdir=${record.terraformDir}`,
        "destroy",
        "-input=false",
        "-no-color",
        "-auto-approve",
        `-var-file=${varFile}`,
      ],
      {
        env: terraformEnv(record.tfDataDir),
        timeoutMs,
        onLine: streamTo(log, progress, "terraform destroy"),
      },
    );
    const left = await stateResources(record.tfStatePath);
    if (left.length > 0) {
      throw new Error(`terraform destroy left ${left.length} resources: ${left.join(", ")}`);
    }
  } catch (e) {
    const why = (e as Error).message;
    record = await recordPhase(record, "destroy-failed", why);
    await copyToRunDir(record, opts.runDir);
    throw new InfraError(
      `Cannot tear the infrastructure down: ${why}\nThe resources are still recorded in ` +
        `${recordPath(stateDir)}; fix the cause and run infra:down again. Until then they may ` +
        "be billed outside the free tier.",
      stateDir,
      { cause: e },
    );
  }
  // The nodes are gone: their pinned host keys (a new node may reuse an address), the
  // inventory and the cluster's admin credentials go with them.
  const removed = await removeClusterFiles(stateDir);
  if (removed.length > 0) log.info(`Removed ${removed.join(", ")} from ${stateDir}`);
  const { cluster: _cluster, ...rest } = record;
  record = await recordPhase(rest as InfraRecord, "down");
  await copyToRunDir(record, opts.runDir);
  log.info(`Infrastructure down: nothing is left in ${record.tfStatePath}`);
  return { stateDir, destroyed: true };
}
