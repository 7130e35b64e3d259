/**
 * Test helpers: one real control plane per test file, in a temporary directory, skipped
 * with a printed reason only when the binaries are not installed.
 *
 * @module
 */

import { findBinaries, startTestenv, stopTestenv, type Testenv } from "./testenv.ts";

/** Why cluster tests cannot run here (binaries absent), or null when they can. */
export function testenvSkipReason(): string | null {
  const found = findBinaries();
  if (found.ok) return null;
  return `test control plane binaries missing in "${found.binDir}": ${found.missing.join(", ")}` +
    ` (run: bash .ci/install_testenv.sh)`;
}

/** Starts a fresh control plane in a temporary directory. */
export async function startForTest(name: string, nodes = 3): Promise<Testenv> {
  const dir = await Deno.makeTempDir({ prefix: `meshbench-testenv-${name}-` });
  return await startTestenv({ dir, nodes, timeoutMs: 90_000 });
}

/** Stops it and removes its directory. */
export async function stopForTest(env: Testenv): Promise<void> {
  await stopTestenv(env.dir);
  await Deno.remove(env.dir, { recursive: true }).catch(() => {});
}
