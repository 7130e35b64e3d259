/**
 * One assertion style in every test: named imports from `node:assert/strict`, with
 * `deepStrictEqual` read as `assertEquals` and `ok` as `assert`, plus its own `match`,
 * `doesNotMatch`, `throws`, `doesNotThrow` and `rejects`. No default or namespace import
 * (`assert.equal(...)`), no loose or duplicate names (`equal`, `deepEqual`, `strictEqual`), no
 * second assertion library. The cluster tests' `_assert.ts` adds only the two checks node
 * lacks.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join, relative } from "node:path";
import { repoFiles, ROOT } from "./helpers.ts";

/** Names a test may import from node:assert/strict, as they are read in the tests. */
const ALLOWED = new Set([
  "deepStrictEqual as assertEquals",
  "ok as assert",
  "match",
  "doesNotMatch",
  "throws",
  "doesNotThrow",
  "rejects",
]);
/** What `lib/cluster/_assert.ts` may export: the checks node:assert/strict does not have. */
const OWN_HELPERS = ["assertRejects", "assertStringIncludes"];

/** Every test file and test helper module of the repository, relative to its root. */
function testModules(): Promise<string[]> {
  return repoFiles(
    ["lib", "tasks", "bench", "tests", "fixtures"],
    (p) => p.endsWith("_test.ts") || (p.startsWith("tests/") && p.endsWith(".ts")),
  );
}

/** What is wrong with the assertion imports and calls of one module's source. */
export function assertionStyleProblems(source: string): string[] {
  const problems: string[] = [];
  const imports = /import\s+(type\s+)?([^;]*?)\s+from\s+"([^"]+)"/g;
  for (const m of source.matchAll(imports)) {
    const [, , what, from] = m;
    if (
      /(^|\/|:)(@std\/assert|assert|chai|expect)(\/|$|@)/.test(from) &&
      from !== "node:assert/strict"
    ) {
      problems.push(`imports assertions from "${from}" (use node:assert/strict)`);
      continue;
    }
    if (from === "node:assert/strict") {
      if (!what.startsWith("{")) {
        problems.push(`imports node:assert/strict as "${what}" (import named functions)`);
        continue;
      }
      for (const name of what.slice(1, -1).split(",").map((s) => s.trim()).filter(Boolean)) {
        if (!ALLOWED.has(name.replace(/\s+/g, " "))) {
          problems.push(
            `imports "${name}" from node:assert/strict (one of: ${[...ALLOWED].join(", ")})`,
          );
        }
      }
    }
  }
  const namespaced = /\bassert\.(\w+)\(/.exec(source);
  if (namespaced) problems.push(`calls assert.${namespaced[1]}(...) (use the named imports)`);
  return problems;
}

Deno.test("the style check refuses a default import, assert.equal and a second library", () => {
  assertEquals(
    assertionStyleProblems('import assert from "node:assert/strict";\nassert.equal(1, 1);'),
    [
      'imports node:assert/strict as "assert" (import named functions)',
      "calls assert.equal(...) (use the named imports)",
    ],
  );
  assertEquals(
    assertionStyleProblems('import { assertEquals } from "jsr:@std/assert";'),
    ['imports assertions from "jsr:@std/assert" (use node:assert/strict)'],
  );
  assertEquals(assertionStyleProblems('import { equal, ok } from "node:assert/strict";').length, 2);
  assertEquals(
    assertionStyleProblems(
      'import {\n  deepStrictEqual as assertEquals,\n  ok as assert,\n  rejects,\n} from "node:assert/strict";',
    ),
    [],
  );
});

Deno.test("every test asserts in the one style: named node:assert/strict imports", async () => {
  const files = await testModules();
  assert(files.length > 80, `found only ${files.length} test modules`);
  const problems: string[] = [];
  // This file's own samples of the wrong style are strings, not imports.
  for (const f of files.filter((f) => f !== "tests/assertion_style_test.ts")) {
    for (const p of assertionStyleProblems(await Deno.readTextFile(join(ROOT, f)))) {
      problems.push(`${f}: ${p}`);
    }
  }
  assertEquals(problems, []);
});

Deno.test("the cluster tests' own assertion module adds only what node:assert/strict lacks", async () => {
  const path = join(ROOT, "lib/cluster/_assert.ts");
  const source = await Deno.readTextFile(path);
  const exported = [...source.matchAll(/export (?:async )?function (\w+)/g)].map((m) => m[1])
    .sort();
  assertEquals(exported, OWN_HELPERS, relative(ROOT, path));
  assertEquals([...source.matchAll(/^export /gm)].length, OWN_HELPERS.length);
});
