import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { findBinary, missingTools, toolPath, type ToolSpec } from "./binaries.ts";

const python = findBinary("python3")!;
const moduleTool = (module: string): ToolSpec => ({
  name: `python module ${module}`,
  purpose: "test",
  bin: python,
  version: [python, "--version"],
  install: `${python} -m pip install ${module}`,
  requires: ["-c", `import ${module}`],
});

Deno.test("a tool with a requires check counts as installed only when the check passes", () => {
  assert(python, "python3 on PATH");
  assertEquals(toolPath(moduleTool("json")), python);
  assertEquals(toolPath(moduleTool("meshbench_no_such_module")), undefined);
  const missing = missingTools([moduleTool("json"), moduleTool("meshbench_no_such_module")]);
  assertEquals(missing.map((m) => [m.name, m.install, m.autoInstallable]), [
    [
      "python module meshbench_no_such_module",
      `${python} -m pip install meshbench_no_such_module`,
      false,
    ],
  ]);
});

Deno.test("an absolute binary path is found as it is, or not at all", () => {
  assertEquals(findBinary(python), python);
  assertEquals(findBinary("/nonexistent/meshbench/python3"), undefined);
});
