/**
 * `deno task cluster:setup`: kubeadm cluster on the nodes infra:up recorded.
 *
 *   deno task cluster:setup [--mesh NAME | --cni flannel|cilium] [--context NAME]
 *                           [--ssh-key FILE] [--state-dir DIR] [--run DIR] [-e key=value]...
 *
 * Exit codes: 0 ready, 1 failed (nodes still recorded), 2 bad flags.
 */
import { FLAGS, parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { clusterSetup, type Cni } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const SPEC: TaskSpec = {
  name: "cluster:setup",
  description: "Forms the kubeadm cluster on the nodes infra:up recorded with Ansible.\n" +
    "Exit codes here: 0 ready, 1 failed (nodes still recorded), 2 bad flags.",
  flags: {
    mesh: {
      type: "string",
      arg: "NAME",
      help: "the mesh under test; picks the CNI when --cni is not given",
    },
    cni: { type: "string", arg: "flannel|cilium", help: "CNI to install (default: from --mesh)" },
    context: {
      type: "string",
      arg: "NAME",
      help: "name of the kubeconfig context (default: meshbench-oci)",
    },
    "ssh-key": {
      type: "string",
      arg: "FILE",
      help: "private key for SSH (default: what ssh-agent or ~/.ssh offers)",
    },
    "state-dir": {
      type: "string",
      arg: "DIR",
      help: "Terraform/Ansible state (default: .meshbench/oci)",
    },
    run: { ...FLAGS.run, help: "run directory that records the cluster" },
    "extra-var": {
      type: "string",
      arg: "key=value",
      short: "e",
      multiple: true,
      help: "extra variable for the playbook (repeatable)",
    },
    quiet: FLAGS.quiet,
  },
};

export async function main(args: string[]): Promise<number> {
  const parsed = parseTaskArgs(SPEC, args);
  if (typeof parsed === "number") return parsed;
  const flags = parsed.values as {
    mesh?: string;
    cni?: string;
    context?: string;
    "ssh-key"?: string;
    "state-dir"?: string;
    run?: string;
    "extra-var"?: string[];
    quiet?: boolean;
  };
  if (flags.cni !== undefined && flags.cni !== "flannel" && flags.cni !== "cilium") {
    console.error(`Cannot parse "--cni": expected "flannel" or "cilium", got "${flags.cni}"`);
    return 2;
  }
  const extraVars: Record<string, string> = {};
  for (const kv of flags["extra-var"] ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) {
      console.error(`Cannot parse "-e": expected key=value, got "${kv}"`);
      return 2;
    }
    extraVars[kv.slice(0, i)] = kv.slice(i + 1);
  }
  try {
    const r = await clusterSetup({
      mesh: flags.mesh,
      cni: flags.cni as Cni | undefined,
      context: flags.context,
      sshPrivateKey: flags["ssh-key"],
      stateDir: flags["state-dir"],
      runDir: flags.run,
      extraVars,
      log: consoleLogger({ quiet: flags.quiet === true }),
    });
    console.log(JSON.stringify(r, null, 2));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
