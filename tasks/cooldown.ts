/** Task: the cooldown stage alone, on `--run DIR` or the newest run. */
import { stageCooldown } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "cooldown",
    "Cool-down pause after the tests (profile cool-down seconds).",
    stageCooldown,
  );
}
