import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { findBinary, installTools, missingTools, toolPath, type ToolSpec } from "./binaries.ts";
import { realRunner } from "./command.ts";

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

Deno.test("a missing tool with an installer script is installed by running that script", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench_script_install_" });
  try {
    const script = `${dir}/install.sh`;
    await Deno.writeTextFile(
      script,
      `set -eu\nprintf '#!/bin/sh\\necho 1.0\\n' > "${dir}/meshbench-toy"\nchmod +x "${dir}/meshbench-toy"\n`,
    );
    const tool: ToolSpec = {
      name: "toy",
      purpose: "test",
      bin: "meshbench-toy",
      version: ["meshbench-toy"],
      install: `bash ${script}`,
      script,
      dirs: [dir],
    };
    assertEquals(missingTools([tool]).map((m) => [m.name, m.autoInstallable]), [["toy", true]]);
    const lines: string[] = [];
    const still = await installTools(realRunner, [tool], (l) => lines.push(l));
    assertEquals(still, []);
    assertEquals(toolPath(tool), `${dir}/meshbench-toy`);
    assert(lines.some((l) => l.includes(script)), lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
