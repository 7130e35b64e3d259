/**
 * Shared body of the single-stage tasks: parse the flags the stage takes, find the run
 * directory, own it while the stage runs, run one stage from `lib/pipeline.ts`, map the
 * outcome to an exit code.
 *
 * @module
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
import { closeTargets, configVocabulary, type Deps } from "../lib/pipeline.ts";
import { claimRun, describeOwner, isStale, releaseRun } from "../lib/run_owner.ts";

/** What a stage task takes: `--run DIR` or `--out DIR` (the newest run there), `--quiet`. */
export function stageSpec(name: string, description: string, createsRun = false): TaskSpec {
  return {
    name,
    description,
    // A stage on an existing run reads the run's config from its manifest: only `out`
    // (where to find the newest run) applies. A stage that starts a run takes every field.
    config: createsRun ? "all" : ["out"],
    flags: { run: FLAGS.run, quiet: FLAGS.quiet },
    createsRun,
  };
}

/** Runs `stage` against `--run DIR` (or the newest run) as a task. */
export function stageTask(
  name: string,
  description: string,
  stage: (runDir: string, deps: Deps) => Promise<unknown>,
  options: {
    createRun?: (cli: Awaited<ReturnType<typeof parseCli>>, deps: Deps) => Promise<string>;
    /** Exit code for what the stage returned (default: 0, or 130 when interrupted). */
    exitCode?: (result: unknown) => number;
  } = {},
): Promise<never> {
  const spec = stageSpec(name, description, options.createRun !== undefined);
  return main(spec, async () => {
    const cli = await parseCli(spec, { vocabulary: configVocabulary });
    const { signal, dispose, setRun } = interruptSignal(cli.log);
    const deps: Deps = { runner: realRunner, log: cli.log, signal, runStarted: setRun };
    let runDir: string | undefined;
    try {
      if (cli.values.run === undefined && options.createRun) {
        runDir = await options.createRun(cli, deps);
      } else {
        runDir = await resolveRunDir(cli);
        const before = await claimRun(runDir, name);
        if (isStale(before)) {
          cli.log.warn(
            `Taking over run ${runDir}: ${describeOwner(before.owner!)} is gone (killed?)`,
          );
        }
      }
      setRun(runDir);
      cli.log.info(`Run directory: ${runDir}`);
      const result = await stage(runDir, deps);
      if (signal.aborted) return EXIT.interrupted;
      return options.exitCode ? options.exitCode(result) : EXIT.ok;
    } finally {
      if (runDir) await releaseRun(runDir);
      dispose();
    }
  }, { close: closeTargets });
}
