/**
 * The two assertions the cluster tests need that node:assert/strict lacks: a string that
 * contains a part (with the whole text on failure) and a rejection that hands back its error
 * for further checks. Everything else comes from node:assert/strict, as in every test.
 *
 * @module
 */

/** Fails unless `text` contains `part`. */
export function assertStringIncludes(text: string, part: string): void {
  if (!text.includes(part)) {
    throw new Error(`Expected to find ${JSON.stringify(part)} in:\n${text}`);
  }
}

/** Awaits `fn`, fails unless it rejects (with an instance of `cls` if given); returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  cls?: new (...args: any[]) => Error,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (cls && !(e instanceof cls)) {
      throw new Error(`Expected ${cls.name}, got ${e instanceof Error ? e.name : typeof e}: ${e}`);
    }
    return e as Error;
  }
  throw new Error("Expected the promise to reject, but it resolved");
}
