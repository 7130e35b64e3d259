/** Task: stop and remove exactly what the deploy stage of a run created. */
import { stageCleanup } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "cleanup",
    "Stop and remove what deploy created for --run DIR (or the newest run).",
    stageCleanup,
  );
}
