/** Task: the load stage alone, on `--run DIR` or the newest run. */
import { stageLoad } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "load",
    "Run every planned measurement; runs already recorded are skipped (resume).",
    stageLoad,
  );
}
