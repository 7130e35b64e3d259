/**
 * One way for a test to say it cannot run here. `skipReason(test, reason)` prints
 * `SKIP <test>: <reason>` and returns the reason (for `ignore: reason !== null`), or null when
 * there is nothing missing. Under `CI_NO_SKIP=1`, which `.ci/run` sets, it
 * throws instead: CI installs every part the tests need, so a skip there means an install
 * broke, and "CI passed" must never mean "CI skipped the real-node run". The skips CI
 * tolerates are listed in `ALLOWED_IN_CI`, each with why.
 *
 * @module
 */

/**
 * The environment variable that turns a skip into a failure (set by `.ci/run`). Not a
 * `MESHBENCH_` name: the tests' own bench:all runs inherit it, and meshbench refuses a
 * `MESHBENCH_` variable it does not know.
 */
export const REQUIRE_ALL_ENV = "CI_NO_SKIP";

/** Tests CI may skip, and why it cannot install what they need. */
export const ALLOWED_IN_CI: Readonly<Record<string, string>> = {
  "Linkerd chart test": "Linkerd's charts are on no registry CI can reach (not on the Go " +
    "module proxy, npm, PyPI or crates.io); run from a linkerd/linkerd2 checkout by hand",
};

/** Prints why `test` is skipped and returns `reason`; throws under CI (above). */
export function skipReason(test: string, reason: string | null): string | null {
  if (reason === null) return null;
  if (Deno.env.get(REQUIRE_ALL_ENV) === "1" && !(test in ALLOWED_IN_CI)) {
    throw new Error(
      `${test} would be skipped (${reason}), but ${REQUIRE_ALL_ENV}=1 requires every test ` +
        `to run: an install step of .ci/run did not provide what it needs`,
    );
  }
  console.log(`SKIP ${test}: ${reason}`);
  return reason;
}

/** The skip reason for tests that need these binaries (`found` maps name to path or undefined). */
export function missingBinaries(found: Record<string, string | undefined>): string | null {
  const missing = Object.entries(found).filter(([, p]) => !p).map(([name]) => name);
  return missing.length ? `${missing.join(", ")} not found (run: bash .ci/run's installs)` : null;
}
