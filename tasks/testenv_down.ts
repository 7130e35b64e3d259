/**
 * `deno task testenv:down`: stops the local test control plane started by
 * `deno task testenv:up` (only the processes it recorded) and removes its etcd data.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_STATE_DIR, stopTestenv } from "../lib/testenv/testenv.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { dir: { type: "string", default: DEFAULT_STATE_DIR } },
  });
  try {
    const stopped = await stopTestenv(values.dir, { log: (m) => console.error(m) });
    console.log(stopped.length ? `stopped: ${stopped.join(", ")}` : "nothing was running");
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
