/**
 * The OCI target's lifecycle for `bench:all --target oci`: infrastructure up, cluster set
 * up, the benchmark body, and (unless `keep`) everything torn down, also after a failure.
 *
 * @module
 */
import type { Runner } from "../command.ts";
import type { Logger } from "../target.ts";
import { clusterSetup, type ClusterSetupResult, type Cni } from "./ansible.ts";
import { infraDown, type InfraOutputs, infraUp } from "./terraform.ts";
import { DEFAULT_STATE_DIR } from "./tools.ts";

/** Options for {@linkcode withOciCluster}. */
export interface OciClusterOptions {
  /** The user's filled-in copy of `terraform/meshbench.tfvars.example`. */
  varFile: string;
  /** The mesh under test (picks the CNI), or `cni` directly. */
  mesh?: string;
  cni?: Cni;
  /** Leave the infrastructure up afterwards (`--keep`). */
  keep?: boolean;
  stateDir?: string;
  runDir?: string;
  sshPrivateKey?: string;
  context?: string;
  extraVars?: Record<string, unknown>;
  terraformDir?: string;
  runner?: Runner;
  log?: Logger;
}

/** What the benchmark body gets. */
export interface OciCluster {
  infra: InfraOutputs;
  cluster: ClusterSetupResult;
}

const silentLog: Logger = { info() {}, warn() {}, progress() {} };

/**
 * Runs `body` on a fresh OCI cluster: {@linkcode infraUp}, {@linkcode clusterSetup}, then
 * `body`, then {@linkcode infraDown} unless `keep`. Teardown also runs when any step
 * fails; an error from it is reported together with the step's own error, never instead.
 */
export async function withOciCluster<T>(
  opts: OciClusterOptions,
  body: (cluster: OciCluster) => Promise<T>,
): Promise<T> {
  const log = opts.log ?? silentLog;
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const common = { stateDir, runDir: opts.runDir, runner: opts.runner, log };
  let result: T;
  try {
    const infra = await infraUp({
      ...common,
      varFile: opts.varFile,
      terraformDir: opts.terraformDir,
    });
    const cluster = await clusterSetup({
      ...common,
      mesh: opts.mesh,
      cni: opts.cni,
      context: opts.context,
      sshPrivateKey: opts.sshPrivateKey,
      extraVars: opts.extraVars,
    });
    result = await body({ infra, cluster });
  } catch (e) {
    if (opts.keep) {
      log.warn(`Keeping the infrastructure after a failure (--keep): ${stateDir}`);
      throw e;
    }
    log.warn("A step failed: tearing the infrastructure down");
    try {
      await infraDown(common);
    } catch (down) {
      throw new Error(
        `${(e as Error).message}\n\nThen the teardown failed too: ${(down as Error).message}`,
        { cause: e },
      );
    }
    throw new Error(`${(e as Error).message}\n\nThe infrastructure was torn down.`, { cause: e });
  }
  if (opts.keep) {
    log.info(
      `Keeping the infrastructure (--keep); remove it with: deno task infra:down --state-dir ${stateDir}`,
    );
  } else {
    await infraDown(common);
  }
  return result;
}
