/** Task: compare two run directories; print and write the changes that exceed the noise. */
import { EXIT, main, parseTaskArgs, runDirArgument, UsageError } from "../lib/cli.ts";
import { formatComparison } from "../lib/compare.ts";
import { writeComparison } from "../lib/compare_report.ts";

const HELP = `deno task compare RUN_A RUN_B [--out DIR] [--all] [--fail-on-change]

Compares two runs (before/after a change, or the same plan on two clusters). For every
workload, mesh and load point in both, the change of each metric from A to B with a 95 %
bootstrap interval over the iterations of both; a change exceeds the noise when its interval
excludes zero, it is larger than the run-to-run variation (CV over iterations) and each side
has 2+ iterations. Also compares overheads vs the baseline.
Prints the changes that exceed the noise and writes comparison.json and comparison.html.

  --out DIR         where to write (default: results/comparisons/<A>_vs_<B>)
  --all             print every metric, not only the changes that exceed the noise
  --fail-on-change  exit 4 when any change exceeds the noise (for CI regression checks)
  -h, --help        this help
Exit codes: 0 compared, 1 a run could not be read, 2 bad input, 4 changes (--fail-on-change).`;

if (import.meta.main) {
  await main(HELP, async () => {
    const { values, positionals } = parseTaskArgs(Deno.args, {
      all: { type: "boolean" },
      "fail-on-change": { type: "boolean" },
    });
    if (positionals.length !== 2) {
      throw new UsageError(`Expected two run directories RUN_A RUN_B, got ${positionals.length}`);
    }
    const [a, b] = await Promise.all(positionals.map((p) => runDirArgument(p, "results")));
    const r = await writeComparison(a, b, { out: values.out as string | undefined });
    console.log(formatComparison(r.comparison, { all: values.all === true }));
    console.log(`\nWrote ${r.json}\n      ${r.html}`);
    const changed = r.comparison.differences.some((d) => d.exceedsNoise) ||
      r.comparison.overheadChanges.some((o) => o.exceedsNoise);
    return values["fail-on-change"] && changed ? 4 : EXIT.ok;
  });
}
