/**
 * Docs that run and that resolve: the test task runs the `@example` blocks, and comments
 * cite only documents that are in the repository.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { repoFiles, ROOT } from "./helpers.ts";

/** Documents cited by a short name in comments ("METHODOLOGY rule 4"), and where they are. */
const CITED_NAMES: Record<string, string> = { METHODOLOGY: "docs/methodology.md" };

const sources = () =>
  repoFiles(["lib", "tasks", "bench", "tests", "fixtures", "servers"], (p) => p.endsWith(".ts"));

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("comments cite only documents that are in the repository", async () => {
  const missing: string[] = [];
  for (const f of await sources()) {
    const text = await Deno.readTextFile(join(ROOT, f));
    for (const m of text.matchAll(/[\w./-]+\.md\b/g)) {
      const ok = await exists(join(ROOT, m[0])) || await exists(join(ROOT, dirname(f), m[0]));
      if (!ok) missing.push(`${f}: ${m[0]}`);
    }
    for (const m of text.matchAll(/\b([A-Z]{4,})(?:\.md)? (?:rules?|principles?) \d/g)) {
      const doc = CITED_NAMES[m[1]];
      if (!doc || !await exists(join(ROOT, doc))) missing.push(`${f}: ${m[0]}`);
    }
  }
  assertEquals(missing, []);
});

Deno.test("deno task test runs the @example blocks of the doc comments", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const test = config.tasks.test.command as string;
  assert(/deno test [^&]*--doc/.test(test), test);
});
