/**
 * Task: the deploy stage alone. Without `--run`, it starts a new run directory
 * (checking and installing tools first), so stages can be driven one by one.
 */
import { initRun, preflight, stageDeploy } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "deploy",
    "Start servers, meshes and load clients for a run (a new run unless --run DIR is given).",
    stageDeploy,
    {
      createRun: async (cli, deps) => {
        await preflight(cli.config, deps);
        return await initRun(cli.config, cli.sources, deps);
      },
    },
  );
}
