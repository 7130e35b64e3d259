/**
 * Task: the same tool check `bench:all` runs before starting, printed. Exits 3
 * when something is missing, listing how to install it.
 */
import { EXIT, FLAGS, main, parseCli, type TaskSpec } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { missingMessage, toolPath, versionsOf } from "../lib/binaries.ts";
import { closeTargets, configVocabulary, targetFor } from "../lib/pipeline.ts";

const SPEC: TaskSpec = {
  name: "doctor",
  description: "Checks every tool a run with these options needs (and the options themselves).",
  config: "all",
  flags: { quiet: FLAGS.quiet },
};

if (import.meta.main) {
  await main(
    SPEC,
    async () => {
      const cli = await parseCli(SPEC, { vocabulary: configVocabulary });
      const target = await targetFor(cli.config.target);
      const missing = await target.requirements(cli.config);
      if (target.tools) {
        const tools = target.tools(cli.config);
        const versions = await versionsOf(realRunner, tools);
        for (const t of tools) {
          const path = toolPath(t);
          console.log(
            `${path ? "ok     " : "MISSING"} ${t.name.padEnd(16)} ${path ?? ""}  ${
              path ? versions[t.name] : ""
            }`,
          );
        }
      }
      if (missing.length) {
        console.log(`\n${missingMessage(missing)}`);
        const auto = missing.filter((m) => m.autoInstallable).map((m) => m.name);
        if (auto.length) console.log(`bench:all will install these itself: ${auto.join(", ")}`);
        return EXIT.missingTools;
      }
      console.log(`\nAll tools for target "${cli.config.target}" are present.`);
      return EXIT.ok;
    },
    { close: closeTargets },
  );
}
