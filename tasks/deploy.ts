/**
 * Task: the deploy stage alone. Without `--run`, it starts a new run directory
 * (checking and installing tools first), so stages can be driven one by one.
 */
import { initRun, prepareNewRun, stageDeploy } from "../lib/pipeline.ts";
import { stageTask } from "./_stage.ts";

if (import.meta.main) {
  await stageTask(
    "deploy",
    "Start servers, meshes and load clients for a run (a new run unless --run DIR is given).",
    stageDeploy,
    {
      // Tools, stale runs, and every port locked and probed before the run exists; the
      // port locks are held until this process exits, when the servers hold the ports.
      createRun: async (cli, deps) => {
        const { runId } = await prepareNewRun(cli.config, deps, "deploy");
        return await initRun(cli.config, cli.sources, deps, { runId, task: "deploy" });
      },
    },
  );
}
