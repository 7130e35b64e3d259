import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { CommandError, realRunner } from "./command.ts";
import { startServer } from "./process.ts";

const MISSING = "meshbench-no-such-binary";

Deno.test("a command that is not installed fails as a CommandError that says so", async () => {
  await rejects(realRunner.run([MISSING, "--version"]), (e: Error) => {
    assertEquals(e instanceof CommandError, true);
    assertEquals(
      e.message,
      `Command failed ("${MISSING}" is not installed or not on PATH): ${MISSING} --version`,
    );
    return true;
  });
});

Deno.test("a server that is not installed fails to start naming the server and the binary", async () => {
  await rejects(
    startServer([MISSING], { name: "the test server", ready: /never/ }),
    { message: `Cannot start the test server: "${MISSING}" is not installed or not on PATH` },
  );
});

Deno.test("a command's non-zero exit throws with the command and its stderr tail", async () => {
  await rejects(realRunner.run(["sh", "-c", "echo boom >&2; exit 3"]), {
    message: "Command failed (exit 3): sh -c echo boom >&2; exit 3\nboom",
  });
  assertEquals((await realRunner.run(["sh", "-c", "exit 3"], { okCodes: [3] })).code, 3);
});
