/**
 * `deno task testenv:down`: stops the local test control plane started by
 * `deno task testenv:up` (only the processes it recorded) and removes its etcd data.
 *
 * @module
 */
import { parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { DEFAULT_STATE_DIR, stopTestenv } from "../lib/testenv/testenv.ts";

const SPEC: TaskSpec = {
  name: "testenv:down",
  description: "Stops the local test control plane started by testenv:up (only what it " +
    "recorded).\nExit codes here: 0 stopped (or nothing was running), 1 failed, 2 bad flags.",
  flags: {
    dir: { type: "string", arg: "DIR", help: `state directory (default: ${DEFAULT_STATE_DIR})` },
  },
};

if (import.meta.main) {
  const parsed = parseTaskArgs(SPEC, Deno.args);
  if (typeof parsed === "number") Deno.exit(parsed);
  try {
    const dir = (parsed.values.dir as string | undefined) ?? DEFAULT_STATE_DIR;
    const stopped = await stopTestenv(dir, { log: (m) => console.error(m) });
    console.log(stopped.length ? `stopped: ${stopped.join(", ")}` : "nothing was running");
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
