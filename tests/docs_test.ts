/**
 * Docs that run and that resolve: the test task runs the `@example` blocks, and comments
 * cite only documents that are in the repository.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { ROOT } from "./helpers.ts";

/** Documents cited by a short name in comments ("METHODOLOGY rule 4"), and where they are. */
const CITED_NAMES: Record<string, string> = { METHODOLOGY: "docs/methodology.md" };

async function sources(): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string) {
    for await (const e of Deno.readDir(join(ROOT, rel))) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory && p !== "fixtures/runs") await walk(p);
      else if (e.isFile && p.endsWith(".ts")) out.push(p);
    }
  }
  for (const d of ["lib", "tasks", "bench", "tests", "fixtures", "servers"]) await walk(d);
  return out;
}

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
