/**
 * Task: stop and remove exactly what meshbench created.
 * - With `--run DIR` (or the newest run): what that run's deploy created.
 * - `--target cluster --context NAME` without `--run`: every namespace and
 *   cluster object on that cluster carrying meshbench's labels, and nothing else.
 */
import {
  EXIT,
  FLAGS,
  interruptSignal,
  main,
  parseCli,
  resolveRunDir,
  type TaskSpec,
} from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { closeTargets, recoverStaleRuns, stageCleanup, targetFor } from "../lib/pipeline.ts";
import { claimRun, isStale, markStaleInterrupted, releaseRun } from "../lib/run_owner.ts";

const SPEC: TaskSpec = {
  name: "cleanup",
  description: `Stops and removes what meshbench created: for --run DIR (default: the newest run),
what its deploy started (a run whose meshbench was killed is then marked interrupted, and so is
every other such run under --out); with --target cluster --context NAME and no --run, everything
on that cluster labelled as meshbench's (and only that).`,
  config: ["target", "context", "kubeconfig", "out"],
  flags: { run: FLAGS.run, quiet: FLAGS.quiet },
};

if (import.meta.main) {
  await main(SPEC, async () => {
    const cli = await parseCli(SPEC);
    const { signal, dispose, setRun } = interruptSignal(cli.log);
    try {
      // A target that keeps things outside run directories (a cluster) cleans them all.
      const target = cli.values.run === undefined ? await targetFor(cli.config.target) : undefined;
      if (target?.cleanupAll) {
        console.log(await target.cleanupAll(cli.config, cli.log));
        return EXIT.ok;
      }
      const deps = { runner: realRunner, log: cli.log, signal };
      const runDir = await resolveRunDir(cli);
      setRun(runDir);
      cli.log.info(`Run directory: ${runDir}`);
      const before = await claimRun(runDir, "cleanup");
      try {
        await stageCleanup(runDir, deps);
        // A run whose meshbench was killed is finished now: say so in its manifest.
        if (isStale(before)) {
          await markStaleInterrupted(runDir, "deno task cleanup", before.owner);
        }
      } finally {
        await releaseRun(runDir);
      }
      // Other runs under --out left behind by a killed meshbench: clean them too.
      await recoverStaleRuns(cli.config.out, deps, "deno task cleanup");
      return EXIT.ok;
    } finally {
      dispose();
    }
  }, { close: closeTargets });
}
