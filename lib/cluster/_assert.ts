// Test assertions on node:assert (JSR's @std/assert is out of reach here).
import { deepStrictEqual, ok } from "node:assert/strict";

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  ok(cond, msg ?? "assertion failed");
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  deepStrictEqual(actual, expected, msg ?? "values differ");
}

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
