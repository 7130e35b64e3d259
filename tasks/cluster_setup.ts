/**
 * `deno task cluster:setup`: kubeadm cluster on the nodes infra:up recorded.
 *
 *   deno task cluster:setup [--mesh NAME | --cni flannel|cilium] [--context NAME]
 *                           [--ssh-key FILE] [--state-dir DIR] [--run DIR] [-e key=value]...
 *
 * Exit codes: 0 ready, 1 failed (nodes still recorded), 2 bad flags.
 */
import { parseArgs } from "node:util";
import { clusterSetup, type Cni } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const USAGE = "Usage: deno task cluster:setup [--mesh NAME | --cni flannel|cilium] " +
  "[--context NAME] [--ssh-key FILE] [--state-dir DIR] [--run DIR] [-e key=value]... [--quiet]";

export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        mesh: { type: "string" },
        cni: { type: "string" },
        context: { type: "string" },
        "ssh-key": { type: "string" },
        "state-dir": { type: "string" },
        run: { type: "string" },
        "extra-var": { type: "string", short: "e", multiple: true },
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
      log: consoleLogger({ quiet: flags.quiet }),
    });
    console.log(JSON.stringify(r, null, 2));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
