/**
 * `deno task infra:check`: Terraform fmt/validate/policy tests, Ansible syntax check and
 * lint, the inventory writer and the roles run on a local test host. No cloud account.
 *
 *   deno task infra:check [--only <name part>]... [--json]
 *
 * Exit codes: 0 all ran checks passed, 1 a check failed, 2 bad flags.
 */
import { parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { checkInfra } from "../lib/infra/mod.ts";
import { consoleLogger } from "../lib/log.ts";

const SPEC: TaskSpec = {
  name: "infra:check",
  description: "Terraform fmt/validate/policy tests, Ansible syntax check and lint, the " +
    "inventory writer and the roles on a local test host (no cloud account).\n" +
    "Exit codes here: 0 all ran checks passed, 1 a check failed, 2 bad flags.",
  flags: {
    only: {
      type: "string",
      arg: "NAME_PART",
      multiple: true,
      help: "only checks whose name contains this (repeatable)",
    },
    json: { type: "boolean", help: "print the results as JSON" },
  },
};

export async function main(args: string[]): Promise<number> {
  const parsed = parseTaskArgs(SPEC, args);
  if (typeof parsed === "number") return parsed;
  const flags = parsed.values as { only?: string[]; json?: boolean };
  const t0 = performance.now();
  const results = await checkInfra({ only: flags.only, log: consoleLogger() });
  const total = Math.round((performance.now() - t0) / 100) / 10;
  if (flags.json) {
    console.log(JSON.stringify({ seconds: total, results }, null, 2));
  } else {
    for (const r of results) {
      console.log(`${r.status.padEnd(7)} ${String(r.seconds).padStart(6)} s  ${r.name}`);
      if (r.status !== "passed") console.log(`        ${r.detail.split("\n").join("\n        ")}`);
    }
  }
  const count = (s: string) => results.filter((r) => r.status === s).length;
  console.log(
    `infra:check: ${count("passed")} checks passed, ${count("failed")} failed, ` +
      `${count("skipped")} skipped (${total} s)`,
  );
  return count("failed") > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
