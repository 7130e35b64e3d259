/**
 * Finding the infrastructure tools and the environment they run in.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findBinary } from "../binaries.ts";

/** The repository root (two levels above this file). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The Terraform configuration of the design's topology. */
export const TERRAFORM_DIR: string = join(REPO_ROOT, "terraform");

/** The provider-free module that holds every sizing and CIDR guard. */
export const TOPOLOGY_DIR: string = join(TERRAFORM_DIR, "modules", "topology");

/** The Ansible project (site.yml, roles, group_vars). */
export const ANSIBLE_DIR: string = join(REPO_ROOT, "ansible");

/** Default state directory for `infra:up` / `infra:down` (ignored by git). */
export const DEFAULT_STATE_DIR: string = join(REPO_ROOT, ".meshbench", "oci");

/** Scratch space for checks: Terraform data dirs, Ansible temp files (ignored by git). */
export const CACHE_DIR: string = join(REPO_ROOT, ".cache", "infra");

/** Where `.ci/install_infra.sh` puts Ansible. */
export const ANSIBLE_VENV_BIN = "/opt/meshbench/infra-venv/bin";

/**
 * The Terraform-compatible binary: `$MESHBENCH_TERRAFORM`, else `terraform`, else `tofu`.
 * Undefined when none is installed.
 */
export function terraformBinary(): string | undefined {
  const forced = Deno.env.get("MESHBENCH_TERRAFORM");
  if (forced) return forced;
  return findBinary("terraform") ?? findBinary("tofu");
}

/** Environment for Terraform: a per-purpose data dir, and no broken CLI config warnings. */
export function terraformEnv(dataDir: string): Record<string, string> {
  const env: Record<string, string> = { TF_DATA_DIR: dataDir, TF_IN_AUTOMATION: "1" };
  const cfg = Deno.env.get("TF_CLI_CONFIG_FILE");
  if (cfg !== undefined) {
    try {
      Deno.statSync(cfg);
    } catch {
      // A variable naming a missing file only makes Terraform print a warning on every
      // command; empty means "the default location", which may hold a provider mirror.
      env.TF_CLI_CONFIG_FILE = "";
    }
  }
  return env;
}

/** An Ansible program: on PATH, else in the venv `.ci/install_infra.sh` creates. */
export function ansibleBinary(name: string): string | undefined {
  return findBinary(name) ?? findBinary(name, [ANSIBLE_VENV_BIN]);
}

/** Environment for Ansible: the project's ansible.cfg, its venv first on PATH, colour off. */
export function ansibleEnv(extra: Record<string, string> = {}): Record<string, string> {
  const bin = ansibleBinary("ansible-playbook");
  const path = Deno.env.get("PATH") ?? "";
  return {
    ANSIBLE_CONFIG: join(ANSIBLE_DIR, "ansible.cfg"),
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_FORCE_COLOR: "0",
    ANSIBLE_LOCAL_TEMP: join(CACHE_DIR, "ansible-tmp"),
    ANSIBLE_HOME: join(CACHE_DIR, "ansible-home"),
    PY_COLORS: "0",
    NO_COLOR: "1",
    // ansible-lint warns when the interpreter's bin dir is not on PATH.
    PATH: bin ? `${dirname(Deno.realPathSync(bin))}:${path}` : path,
    ...extra,
  };
}
