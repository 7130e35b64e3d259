/**
 * `deno task infra:down`: destroy everything recorded in the state directory.
 *
 *   deno task infra:down [--state-dir DIR] [--var-file FILE] [--run DIR]
 *
 * Exit codes: 0 down (or nothing recorded), 1 failed (still recorded), 2 bad flags.
 */
import { FLAGS, parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { infraDown } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const SPEC: TaskSpec = {
  name: "infra:down",
  description: "Destroys everything infra:up recorded in the state directory.\n" +
    "Exit codes here: 0 down (or nothing recorded), 1 failed (still recorded), 2 bad flags.",
  flags: {
    "state-dir": {
      type: "string",
      arg: "DIR",
      help: "Terraform/Ansible state (default: .meshbench/oci)",
    },
    "var-file": { type: "string", arg: "FILE", help: "the variables infra:up used" },
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
  try {
    await infraDown({
      stateDir: flags["state-dir"],
      varFile: flags["var-file"],
      runDir: flags.run,
      log: consoleLogger({ quiet: flags.quiet === true }),
    });
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
