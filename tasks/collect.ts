/** Task: the collect stage alone, on `--run DIR` or the newest run. */
import { stageCollect } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "collect",
    "Pool run records into summary.json: overheads with 95 % bootstrap CIs.",
    stageCollect,
  );
}
