/**
 * `cluster:setup`: the Ansible playbook from fresh nodes to a kubeadm cluster, with
 * streamed progress, the inventory written from Terraform's outputs and the kubeconfig
 * fetched under a named context.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";
import { realRunner, type Runner } from "../command.ts";
import { writeJsonAtomic, writeTextAtomic } from "../run_dir.ts";
import type { Logger } from "../target.ts";
import { controlPlane, renderInventory } from "./inventory.ts";
import { namedKubeconfig } from "./kubeconfig.ts";
import { readInfraRecord, recordPath, recordPhase } from "./state.ts";
import { InfraError } from "./terraform.ts";
import { ANSIBLE_DIR, ansibleBinary, ansibleEnv, DEFAULT_STATE_DIR } from "./tools.ts";

/** The CNIs the playbook can install. */
export type Cni = "flannel" | "cilium";

/** Cilium when Cilium is the mesh under test (it must own the datapath), else Flannel. */
export function cniForMesh(mesh: string | undefined): Cni {
  return mesh !== undefined && /^cilium/i.test(mesh) ? "cilium" : "flannel";
}

/** One host's line of Ansible's PLAY RECAP. */
export interface RecapLine {
  host: string;
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
}

/** Parses the PLAY RECAP lines of an ansible-playbook run. */
export function parseRecap(output: string): RecapLine[] {
  const out: RecapLine[] = [];
  const re =
    /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)/;
  for (const line of output.split("\n")) {
    const m = line.match(re);
    if (m) {
      const [ok, changed, unreachable, failed, skipped] = m.slice(2).map(Number);
      out.push({ host: m[1], ok, changed, unreachable, failed, skipped });
    }
  }
  return out;
}

/** Options for {@linkcode runPlaybook}. */
export interface PlaybookOptions {
  inventory: string;
  extraVars?: Record<string, unknown>;
  check?: boolean;
  runner?: Runner;
  log?: Logger;
  timeoutMs?: number;
  /** Extra ansible-playbook flags. */
  args?: string[];
}

/** What a playbook run reported. */
export interface PlaybookResult {
  recap: RecapLine[];
  /** Sum of `changed` over hosts: 0 on an idempotent re-run. */
  changed: number;
  tasksSeen: number;
}

const silentLog: Logger = { info() {}, warn() {}, progress() {} };

/**
 * Runs a playbook from `ansible/`, streaming each line to the log and counting tasks
 * against `--list-tasks` for progress. Throws with the failed tasks' lines on failure.
 */
export async function runPlaybook(
  playbook: string,
  opts: PlaybookOptions,
): Promise<PlaybookResult> {
  const runner = opts.runner ?? realRunner;
  const log = opts.log ?? silentLog;
  const bin = ansibleBinary("ansible-playbook");
  if (!bin) {
    throw new Error(
      'Cannot run Ansible: "ansible-playbook" is not installed (run .ci/install_infra.sh, ' +
        "or pip install ansible-core)",
    );
  }
  const path = isAbsolute(playbook) ? playbook : join(ANSIBLE_DIR, playbook);
  const base = [bin, "-i", opts.inventory, path];
  if (opts.extraVars) base.push("--extra-vars", JSON.stringify(opts.extraVars));
  const env = ansibleEnv();
  await Deno.mkdir(env.ANSIBLE_LOCAL_TEMP, { recursive: true });
  const listed = await runner.run([...base, "--list-tasks"], {
    env,
    cwd: ANSIBLE_DIR,
    timeoutMs: 120_000,
  });
  const total = listed.stdout.split("\n").filter((l) => /\tTAGS: \[/.test(l)).length;
  let seen = 0;
  const failures: string[] = [];
  let current = "";
  const cmd = [...base, ...(opts.check ? ["--check", "--diff"] : []), ...(opts.args ?? [])];
  let stdout = "";
  try {
    const r = await runner.run(cmd, {
      env,
      cwd: ANSIBLE_DIR,
      timeoutMs: opts.timeoutMs ?? 60 * 60_000,
      onLine: (line) => {
        if (line.trim() === "") return;
        log.info(line);
        const task = line.match(/^TASK \[(.+?)\] \*/);
        if (task) {
          current = task[1];
          seen++;
          if (total > 0) log.progress(current, Math.min(seen, total), total);
        }
        if (/^(fatal|failed):|^\s*(fatal|failed): \[/.test(line) || /UNREACHABLE!/.test(line)) {
          failures.push(`${current}: ${line.trim()}`);
        }
      },
    });
    stdout = r.stdout;
  } catch (e) {
    const detail = failures.length > 0 ? `\nFailed tasks:\n${failures.join("\n")}` : "";
    throw new Error(`Cannot run playbook ${playbook}: ${(e as Error).message}${detail}`, {
      cause: e,
    });
  }
  const recap = parseRecap(stdout);
  if (recap.length === 0) {
    throw new Error(`Cannot read the result of playbook ${playbook}: no PLAY RECAP in its output`);
  }
  return { recap, changed: recap.reduce((s, r) => s + r.changed, 0), tasksSeen: seen };
}

/** Versions the playbook installs, read from `ansible/group_vars/all.yml` plus overrides. */
export interface ClusterVersions {
  kubernetes: string;
  cni: Cni;
  cniVersion: string;
  podCidr: string;
  metricsServer: string;
}

/** Reads the pinned versions from group_vars, applying extra-var overrides. */
export async function clusterVersions(
  cni: Cni,
  overrides: Record<string, unknown> = {},
): Promise<ClusterVersions> {
  const file = join(ANSIBLE_DIR, "group_vars", "all.yml");
  const vars = {
    ...(parse(await Deno.readTextFile(file)) as Record<string, unknown>),
    ...overrides,
  };
  const str = (k: string): string => {
    const v = vars[k];
    if (typeof v !== "string" || v === "") {
      throw new Error(
        `Cannot read "${k}" from ${file}: expected a string, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const cidrs = vars.cni_pod_cidrs as Record<string, string> | undefined;
  const podCidr = typeof vars.pod_cidr === "string" && !vars.pod_cidr.includes("{{")
    ? vars.pod_cidr
    : cidrs?.[cni];
  if (!podCidr) throw new Error(`Cannot find the pod CIDR for CNI "${cni}" in ${file}`);
  return {
    kubernetes: str("kubernetes_version"),
    cni,
    cniVersion: str(cni === "cilium" ? "cilium_version" : "flannel_version"),
    podCidr,
    metricsServer: str("metrics_server_version"),
  };
}

/** Options for {@linkcode clusterSetup}. */
export interface ClusterSetupOptions {
  stateDir?: string;
  /** CNI to install; default from `mesh` via {@linkcode cniForMesh}. */
  cni?: Cni;
  /** The mesh under test, used to pick the CNI when `cni` is not given. */
  mesh?: string;
  /** Name of the kubeconfig context (default `meshbench-oci`). */
  context?: string;
  /** Private key for SSH; default: what ssh-agent or ~/.ssh offers. */
  sshPrivateKey?: string;
  /** Extra variables for the playbook (e.g. `{ kubernetes_version: "1.32.13" }`). */
  extraVars?: Record<string, unknown>;
  runner?: Runner;
  log?: Logger;
  timeoutMs?: number;
  /** When given, `cluster.json` (versions, CNI, nodes) and `infra.json` go there. */
  runDir?: string;
}

/** What {@linkcode clusterSetup} produced. */
export interface ClusterSetupResult {
  kubeconfig: string;
  context: string;
  cni: Cni;
  versions: ClusterVersions;
  inventory: string;
  /** Tasks that changed something (0 when the cluster was already as asked). */
  changed: number;
}

/**
 * Writes the inventory from the recorded Terraform outputs, runs `ansible/site.yml`
 * (node preparation, containerd, pinned kubeadm/kubelet/kubectl, control-plane init with
 * the CNI's pod CIDR, worker joins, CNI, metrics-server) and writes the kubeconfig under
 * a named context pointing at the control plane's public address.
 */
export async function clusterSetup(opts: ClusterSetupOptions = {}): Promise<ClusterSetupResult> {
  const stateDir = resolve(Deno.cwd(), opts.stateDir ?? DEFAULT_STATE_DIR);
  const log = opts.log ?? silentLog;
  let record = await readInfraRecord(stateDir);
  if (!record) {
    throw new Error(
      `Cannot set up the cluster: no infrastructure is recorded in ${stateDir} (run infra:up first)`,
    );
  }
  if (
    !record.cluster ||
    !["up", "cluster-setup", "cluster-failed", "cluster-ready"].includes(record.phase)
  ) {
    throw new Error(
      `Cannot set up the cluster: the infrastructure in ${stateDir} is "${record.phase}", not up ` +
        "(run infra:up first)",
    );
  }
  const cni = opts.cni ?? cniForMesh(opts.mesh);
  const context = opts.context ?? "meshbench-oci";
  const inventory = join(stateDir, "inventory.yml");
  await writeTextAtomic(
    inventory,
    renderInventory(record.cluster, {
      // Ansible runs in ansible/, so a relative key path must be made absolute here.
      sshPrivateKey: opts.sshPrivateKey && resolve(Deno.cwd(), opts.sshPrivateKey),
      knownHostsPath: join(stateDir, "known_hosts"),
    }),
  );
  const adminConf = join(stateDir, "admin.conf");
  const extraVars = { ...opts.extraVars, cni, kubeconfig_fetch_path: adminConf };
  const versions = await clusterVersions(cni, opts.extraVars);
  record = await recordPhase({ ...record, cni }, "cluster-setup");
  if (opts.runDir) await writeJsonAtomic(join(opts.runDir, "infra.json"), record);
  log.info(`Setting up Kubernetes ${versions.kubernetes} with ${cni} ${versions.cniVersion}`);
  let changed: number;
  try {
    const r = await runPlaybook("site.yml", {
      inventory,
      extraVars,
      runner: opts.runner,
      log,
      timeoutMs: opts.timeoutMs,
    });
    changed = r.changed;
    // ansible's fetch writes with the umask (world-readable); this is cluster-admin.
    await Deno.chmod(adminConf, 0o600);
    const master = controlPlane(record.cluster!);
    const kubeconfig = join(stateDir, "kubeconfig");
    await writeTextAtomic(
      kubeconfig,
      namedKubeconfig(await Deno.readTextFile(adminConf), {
        context,
        server: `https://${master.publicIp}:6443`,
      }),
    );
    await Deno.chmod(kubeconfig, 0o600);
    record = await recordPhase({ ...record, kubeconfig, context, cni }, "cluster-ready");
    if (opts.runDir) {
      await writeJsonAtomic(join(opts.runDir, "infra.json"), record);
      await writeJsonAtomic(join(opts.runDir, "cluster.json"), {
        target: "oci",
        context,
        ...versions,
        shape: record.cluster!.shape,
        architecture: record.cluster!.architecture,
        region: record.cluster!.region,
        nodes: record.cluster!.nodes.map(({ publicIp: _p, ...n }) => n),
      });
    }
    log.info(`Cluster ready: KUBECONFIG=${kubeconfig} kubectl --context ${context} get nodes`);
    return { kubeconfig, context, cni, versions, inventory, changed };
  } catch (e) {
    const why = (e as Error).message;
    record = await recordPhase(record, "cluster-failed", why);
    if (opts.runDir) await writeJsonAtomic(join(opts.runDir, "infra.json"), record);
    throw new InfraError(
      `Cannot set up the cluster: ${why}\nThe nodes are still running and recorded in ` +
        `${recordPath(stateDir)}: re-run cluster:setup (it is idempotent), or tear them down ` +
        `with: deno task infra:down --state-dir ${stateDir}`,
      stateDir,
      { cause: e },
    );
  }
}
