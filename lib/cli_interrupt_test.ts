import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { interruptSignal, leftoverMessage } from "./cli.ts";
import { memoryLogger } from "./log.ts";

Deno.test("a second signal never aborts cleanup; a third exits 130 saying what is left and how to remove it", async () => {
  const log = memoryLogger();
  const exits: number[] = [];
  const exited = Promise.withResolvers<void>();
  const it = interruptSignal(log, {
    exit: (code) => {
      exits.push(code);
      exited.resolve();
    },
  });
  try {
    it.setRun("/tmp/no-such-run");
    it.handle();
    assert(it.signal.aborted, "the first signal aborts the work");
    it.handle();
    assertEquals(exits, [], "the second (deno task's forwarded copy) does not exit");
    assert(log.lines.at(-1)!.includes("Still cleaning up"), String(log.lines.at(-1)));
    it.handle();
    await exited.promise;
    assertEquals(exits, [130]);
    assert(
      log.lines.at(-1)!.includes("deno task cleanup --run /tmp/no-such-run"),
      String(log.lines.at(-1)),
    );
  } finally {
    it.dispose();
  }
});

Deno.test("what a forced exit leaves is named from the run's deployment record", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "local"));
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await Deno.writeTextFile(
      join(dir, "local", "state.json"),
      JSON.stringify({
        processes: [
          { name: "nginx-0", pid: sleeper.pid },
          { name: "gone", pid: 2 ** 22 + 1 },
        ],
      }),
    );
    const msg = leftoverMessage(dir);
    assert(msg.includes(`nginx-0 (pid ${sleeper.pid})`), msg);
    assert(!msg.includes("gone"), msg);
    assert(msg.includes(`deno task cleanup --run ${dir}`), msg);
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
});
