/**
 * Shared body of the single-stage tasks: parse the common flags, find the run
 * directory, run one stage from `lib/pipeline.ts`, map the outcome to an exit code.
 *
 * @module
 */
import { COMMON_HELP, EXIT, interruptSignal, main, parseCli, resolveRunDir } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { closeTargets, type Deps } from "../lib/pipeline.ts";

/** Runs `stage` against `--run DIR` (or the newest run) as a task. */
export function stageTask(
  name: string,
  description: string,
  stage: (runDir: string, deps: Deps) => Promise<unknown>,
  options: {
    createRun?: (cli: Awaited<ReturnType<typeof parseCli>>, deps: Deps) => Promise<string>;
  } = {},
): Promise<never> {
  return main(`deno task ${name} [options]\n\n${description}\n\n${COMMON_HELP}`, async () => {
    const cli = await parseCli(Deno.args);
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
