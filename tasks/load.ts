/** Task: the load stage alone, on `--run DIR` or the newest run. */
import { EXIT } from "../lib/cli.ts";
import { stageLoad } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "load",
    "Run every planned measurement; runs already recorded are skipped (resume).",
    stageLoad,
    // The README's exit codes: a failed measured run (now or in an earlier, resumed
    // invocation) fails the task.
    {
      exitCode: (r) => {
        const { failed, failedEarlier } = r as { failed: number; failedEarlier: number };
        return failed + failedEarlier > 0 ? EXIT.failed : EXIT.ok;
      },
    },
  );
}
