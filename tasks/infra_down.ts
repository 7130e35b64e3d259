/**
 * `deno task infra:down`: destroy everything recorded in the state directory.
 *
 *   deno task infra:down [--state-dir DIR] [--var-file FILE] [--run DIR]
 *
 * Exit codes: 0 down (or nothing recorded), 1 failed (still recorded), 2 bad flags.
 */
import { parseArgs } from "node:util";
import { infraDown } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const USAGE =
  "Usage: deno task infra:down [--state-dir DIR] [--var-file FILE] [--run DIR] [--quiet]";

export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        "state-dir": { type: "string" },
        "var-file": { type: "string" },
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
  try {
    await infraDown({
      stateDir: flags["state-dir"],
      varFile: flags["var-file"],
      runDir: flags.run,
      log: consoleLogger({ quiet: flags.quiet }),
    });
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
