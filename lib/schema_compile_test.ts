import { ok as assert } from "node:assert/strict";
import { VALIDATORS_FILE, validatorsCode } from "./schema_compile.ts";
import { SchemaError, validateSummary } from "./schema.ts";

Deno.test("schema/validators.js is what the schema files compile to", async () => {
  assert(
    (await Deno.readTextFile(VALIDATORS_FILE)) === validatorsCode(),
    "schema/validators.js is out of date: regenerate it with `deno run -A lib/schema_compile.ts`",
  );
});

Deno.test("the compiled summary validator names every problem, not only the first", () => {
  let problems: string[] = [];
  try {
    validateSummary({ kind: "meshbench.summary", schemaVersion: "9", runId: 1 }, "s.json");
  } catch (e) {
    assert(e instanceof SchemaError);
    problems = e.problems;
  }
  for (
    const p of [
      `/schemaVersion must be equal to one of the allowed values (["1","2","3"])`,
      "/runId must be string",
      "/ must have required property 'groups'",
    ]
  ) assert(problems.includes(p), `${p} not in:\n${problems.join("\n")}`);
});
