/**
 * `deno task infra:up`: create the OCI free-tier topology with Terraform.
 *
 *   deno task infra:up --var-file terraform/meshbench.tfvars [--state-dir DIR] [--run DIR]
 *
 * Exit codes: 0 up, 1 failed (what exists is recorded; infra:down removes it), 2 bad flags.
 */
import { FLAGS, parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { infraUp } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const SPEC: TaskSpec = {
  name: "infra:up",
  description: "Creates the OCI free-tier VCN, nodes and optional load balancer with Terraform.\n" +
    "Exit codes here: 0 up, 1 failed (what exists is recorded; infra:down removes it), 2 bad flags.",
  flags: {
    "var-file": {
      type: "string",
      arg: "FILE",
      help: "your copy of terraform/meshbench.tfvars.example (required)",
    },
    "state-dir": {
      type: "string",
      arg: "DIR",
      help: "Terraform/Ansible state (default: .meshbench/oci)",
    },
    run: { ...FLAGS.run, help: "run directory that records the infrastructure" },
    quiet: FLAGS.quiet,
  },
};

export async function main(args: string[]): Promise<number> {
  const parsed = parseTaskArgs(SPEC, args);
  if (typeof parsed === "number") return parsed;
  const flags = parsed.values as {
    "var-file"?: string;
    "state-dir"?: string;
    run?: string;
    quiet?: boolean;
  };
  if (!flags["var-file"]) {
    console.error(
      `error: cannot bring the infrastructure up: "--var-file" is required\n(see --help)`,
    );
    return 2;
  }
  try {
    const out = await infraUp({
      varFile: flags["var-file"],
      stateDir: flags["state-dir"],
      runDir: flags.run,
      log: consoleLogger({ quiet: flags.quiet === true }),
    });
    console.log(JSON.stringify(out.cluster, null, 2));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
