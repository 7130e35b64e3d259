/** Task: the warmup stage alone, on `--run DIR` or the newest run. */
import { stageWarmup } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "warmup",
    "Unrecorded light load through every mesh path (profile warm-up seconds).",
    stageWarmup,
  );
}
