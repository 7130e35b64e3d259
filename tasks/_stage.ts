/**
 * Shared body of the single-stage tasks: parse the flags the stage takes, find the run
 * directory, run one stage from `lib/pipeline.ts`, map the outcome to an exit code.
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
  } = {},
): Promise<never> {
  const spec = stageSpec(name, description, options.createRun !== undefined);
  return main(spec, async () => {
    const cli = await parseCli(spec, { vocabulary: configVocabulary });
    const { signal, dispose } = interruptSignal(cli.log);
    const deps: Deps = { runner: realRunner, log: cli.log, signal };
    try {
      const runDir = cli.values.run === undefined && options.createRun
        ? await options.createRun(cli, deps)
        : await resolveRunDir(cli);
      cli.log.info(`Run directory: ${runDir}`);
      await stage(runDir, deps);
      return signal.aborted ? EXIT.interrupted : EXIT.ok;
    } finally {
      dispose();
    }
  }, { close: closeTargets });
}
