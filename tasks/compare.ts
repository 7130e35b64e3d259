/** Task: compare two run directories; print and write the changes that exceed the noise. */
import { checkOutDir, existingDir, EXIT, main, parseCli, type TaskSpec } from "../lib/cli.ts";
import { formatComparison } from "../lib/compare.ts";
import { writeComparison } from "../lib/compare_report.ts";

const SPEC: TaskSpec = {
  name: "compare",
  usage: "RUN_A RUN_B",
  description:
    `Compares two runs (before/after a change, or the same plan on two clusters). For every
workload, mesh and load point in both, the change of each metric from A to B with a 95 %
bootstrap interval over the iterations of both; a change exceeds the noise when its interval
excludes zero, it is larger than the run-to-run variation (CV over iterations) and each side
has 2+ iterations. Also compares overheads vs the baseline.
Prints the changes that exceed the noise and writes comparison.json and comparison.html.
Exit codes here: 0 compared, 1 a run could not be read, 2 bad input, 4 changes
(--fail-on-change).`,
  flags: {
    out: {
      type: "string",
      arg: "DIR",
      help: "where to write (default: results/comparisons/<A>_vs_<B>)",
    },
    all: {
      type: "boolean",
      help: "print every metric, not only the changes that exceed the noise",
    },
    "fail-on-change": {
      type: "boolean",
      help: "exit 4 when any change exceeds the noise (for CI regression checks)",
    },
  },
  positionals: { min: 2, max: 2, name: "two run directories RUN_A RUN_B" },
};

if (import.meta.main) {
  await main(SPEC, async () => {
    const { values, positionals } = await parseCli(SPEC);
    const [a, b] = await Promise.all(positionals.map((p) => existingDir(p, "RUN_DIR")));
    if (values.out !== undefined) {
      await checkOutDir(values.out as string, undefined, { flag: "--out" });
    }
    const r = await writeComparison(a, b, { out: values.out as string | undefined });
    console.log(formatComparison(r.comparison, { all: values.all === true }));
    console.log(`\nWrote ${r.json}\n      ${r.html}`);
    const changed = r.comparison.differences.some((d) => d.exceedsNoise) ||
      r.comparison.overheadChanges.some((o) => o.exceedsNoise);
    return values["fail-on-change"] && changed ? 4 : EXIT.ok;
  });
}
