/**
 * Test helpers: one real control plane per test file, in a temporary directory, skipped
 * with a printed reason only when the binaries are not installed.
 *
 * @module
 */

import { findBinaries, startTestenv, stopTestenv, type Testenv } from "./testenv.ts";

/**
 * Why cluster tests cannot run here (binaries absent, metrics-server too when the tests
 * need it), or null when they can.
 */
export function testenvSkipReason(options: { metricsServer?: boolean } = {}): string | null {
  const found = findBinaries(undefined, options);
  if (found.ok) return null;
  return `test control plane binaries missing in "${found.binDir}": ${found.missing.join(", ")}` +
    ` (run: bash .ci/install_testenv.sh)`;
}

/** Starts a fresh control plane in a temporary directory (metrics-server only if asked). */
export async function startForTest(
  name: string,
  nodes = 3,
  options: { metricsServer?: boolean } = {},
): Promise<Testenv> {
  const dir = await Deno.makeTempDir({ prefix: `meshbench-testenv-${name}-` });
  return await startTestenv({ dir, nodes, timeoutMs: 90_000, ...options });
}

/** Stops it and removes its directory. */
export async function stopForTest(env: Testenv): Promise<void> {
  await stopTestenv(env.dir);
  await Deno.remove(env.dir, { recursive: true }).catch(() => {});
}
