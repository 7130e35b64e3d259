/** Task: the health stage alone, on `--run DIR` or the newest run. */
import { stageHealth } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "health",
    "Wait (bounded) until every workload answers through every mesh.",
    stageHealth,
  );
}
