/**
 * `deno task infra:up`: create the OCI free-tier topology with Terraform.
 *
 *   deno task infra:up --var-file terraform/meshbench.tfvars [--state-dir DIR] [--run DIR]
 *
 * Exit codes: 0 up, 1 failed (what exists is recorded; infra:down removes it), 2 bad flags.
 */
import { parseArgs } from "node:util";
import { infraUp } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const USAGE = "Usage: deno task infra:up --var-file FILE [--state-dir DIR] [--run DIR] [--quiet]";

export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        "var-file": { type: "string" },
        "state-dir": { type: "string" },
        run: { type: "string" },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`Cannot parse flags: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (!flags["var-file"]) {
    console.error(`Cannot bring the infrastructure up: "--var-file" is required\n${USAGE}`);
    return 2;
  }
  try {
    const out = await infraUp({
      varFile: flags["var-file"],
      stateDir: flags["state-dir"],
      runDir: flags.run,
      log: consoleLogger({ quiet: flags.quiet }),
    });
    console.log(JSON.stringify(out.cluster, null, 2));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
