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
import { closeTargets, recoverStaleRuns, stageCleanup } from "../lib/pipeline.ts";
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
      if (cli.config.target !== "local" && cli.values.run === undefined) {
        const { connect, disconnect } = await import("../lib/cluster/kube.ts");
        const { cleanupCluster } = await import("../lib/cluster/deploy.ts");
        const kube = connect(cli.config.cluster.context, {
          kubeconfig: cli.config.cluster.kubeconfig || undefined,
        });
        try {
          const report = await cleanupCluster(kube, { log: (m) => cli.log.info(m) });
          console.log(
            `Removed from context "${cli.config.cluster.context}": namespaces ${
              report.namespaces.join(", ") || "(none)"
            }${report.clusterObjects.length ? `; ${report.clusterObjects.join(", ")}` : ""}`,
          );
        } finally {
          await disconnect(kube);
        }
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
