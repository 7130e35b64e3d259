/**
 * The infrastructure record: what `infra:up` built, where its Terraform state lives and
 * what phase it reached, so `infra:down` always works from it and a half-built cluster is
 * never left unreported.
 *
 * ```
 * <state dir>/infra.json          this record
 *             terraform.tfstate   Terraform's state (local backend)
 *             tf-data/            Terraform's data dir (providers, backend config)
 *             inventory.yml       Ansible inventory written from the outputs
 *             admin.conf          kubeconfig as fetched from the control plane
 *             kubeconfig          the same, renamed to a named context and public address
 *             known_hosts         SSH host keys of the nodes (accept-new)
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { writeJsonAtomic } from "../run_dir.ts";
import type { ClusterOutput } from "./inventory.ts";
import { parseClusterOutput } from "./inventory.ts";

/** Where an infrastructure's lifecycle stands. */
export type InfraPhase =
  | "applying"
  | "apply-failed"
  | "up"
  | "cluster-setup"
  | "cluster-failed"
  | "cluster-ready"
  | "destroying"
  | "destroy-failed"
  | "down";

/** One lifecycle event, kept in order. */
export interface InfraEvent {
  phase: InfraPhase;
  at: string;
  error?: string;
}

/** Contents of `<state dir>/infra.json`. */
export interface InfraRecord {
  version: 1;
  phase: InfraPhase;
  stateDir: string;
  terraformDir: string;
  terraformBinary: string;
  varFile: string;
  tfStatePath: string;
  tfDataDir: string;
  /** Terraform's `cluster` output once apply succeeded. */
  cluster?: ClusterOutput;
  /** Set by cluster:setup. */
  kubeconfig?: string;
  context?: string;
  cni?: string;
  history: InfraEvent[];
}

/** Path of the record inside a state directory. */
export function recordPath(stateDir: string): string {
  return join(stateDir, "infra.json");
}

const PHASES: InfraPhase[] = [
  "applying",
  "apply-failed",
  "up",
  "cluster-setup",
  "cluster-failed",
  "cluster-ready",
  "destroying",
  "destroy-failed",
  "down",
];

/** Validates a parsed `infra.json`; errors name the field and the quoted value. */
export function parseInfraRecord(data: unknown, source = "infra.json"): InfraRecord {
  const fail = (field: string, why: string): never => {
    throw new Error(`Cannot read infrastructure record ${source}: "${field}" ${why}`);
  };
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    fail("(root)", "must be an object");
  }
  const r = data as Record<string, unknown>;
  if (r.version !== 1) fail("version", `must be 1, got ${JSON.stringify(r.version)}`);
  if (!PHASES.includes(r.phase as InfraPhase)) {
    fail("phase", `must be one of ${PHASES.join(", ")}, got ${JSON.stringify(r.phase)}`);
  }
  for (
    const k of [
      "stateDir",
      "terraformDir",
      "terraformBinary",
      "varFile",
      "tfStatePath",
      "tfDataDir",
    ]
  ) {
    if (typeof r[k] !== "string" || r[k] === "") {
      fail(k, `must be a non-empty string, got ${JSON.stringify(r[k])}`);
    }
  }
  if (!Array.isArray(r.history)) fail("history", "must be an array");
  for (const k of ["kubeconfig", "context", "cni"]) {
    if (r[k] !== undefined && typeof r[k] !== "string") {
      fail(k, `must be a string, got ${JSON.stringify(r[k])}`);
    }
  }
  const rec = { ...r } as unknown as InfraRecord;
  if (r.cluster !== undefined) rec.cluster = parseClusterOutput(r.cluster, `${source} "cluster"`);
  return rec;
}

/** Reads the record of a state directory; undefined when there is none. */
export async function readInfraRecord(stateDir: string): Promise<InfraRecord | undefined> {
  const path = recordPath(stateDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`Cannot parse infrastructure record "${path}": ${(e as Error).message}`);
  }
  return parseInfraRecord(data, `"${path}"`);
}

/** Moves the record to `phase` (appending to its history) and writes it atomically. */
export async function recordPhase(
  record: InfraRecord,
  phase: InfraPhase,
  error?: string,
): Promise<InfraRecord> {
  const event: InfraEvent = { phase, at: new Date().toISOString() };
  if (error !== undefined) event.error = error;
  const next: InfraRecord = { ...record, phase, history: [...record.history, event] };
  // The state dir holds Terraform state, the admin kubeconfig and pinned host keys: the
  // operator's only.
  await Deno.mkdir(record.stateDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(record.stateDir, 0o700);
  await writeJsonAtomic(recordPath(record.stateDir), next);
  return next;
}
