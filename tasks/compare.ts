/** Task: compare two run directories; print and write the changes that exceed the noise. */
import {
  checkOutDir,
  existingDir,
  EXIT,
  main,
  parseCli,
  type TaskSpec,
  UsageError,
} from "../lib/cli.ts";
import { formatComparison } from "../lib/compare.ts";
import { writeComparison } from "../lib/compare_report.ts";
import { formatGate, GATE_ALPHA, isGateAlpha } from "../lib/gate.ts";

/** The value of `--gate-alpha`: a number strictly between 0 and 1. */
function parseGateAlpha(text: string): number {
  const alpha = Number(text);
  if (text.trim() === "" || !isGateAlpha(alpha)) {
    throw new UsageError(
      `Invalid --gate-alpha: expected a family-wise level between 0 and 1 (exclusive), got ${
        JSON.stringify(text)
      }`,
    );
  }
  return alpha;
}

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
With --gate, a verdict per metric by Chromium Pinpoint's rule over the per-iteration values
(the smaller p-value of Mann-Whitney U and Kolmogorov-Smirnov; different at p <= 0.01, same
above a threshold that shrinks with the iterations, else "inconclusive, run more"); the gate
fails when a metric is different in its bad direction by more than its alert threshold and
its exact permutation p-value, Holm-adjusted over every gating metric, is at most the
family-wise level (--gate-alpha, default 0.01; docs/compare.md).
Exit codes here: 0 compared (and the gate passed), 1 a run could not be read or the gate
failed (--gate), 2 bad input, 4 changes (--fail-on-change).`,
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
    gate: {
      type: "boolean",
      help: "print a verdict per metric (different, same, inconclusive) and exit 1 when a " +
        "metric is different in its bad direction beyond its alert threshold at the " +
        "family-wise level (CI gate)",
    },
    "gate-alpha": {
      type: "string",
      arg: "LEVEL",
      help: `family-wise level of the gate: the most often two runs with no real difference ` +
        `fail it (default ${GATE_ALPHA}; 0 < LEVEL < 1)`,
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
    const gateAlpha = values["gate-alpha"] === undefined
      ? undefined
      : parseGateAlpha(values["gate-alpha"] as string);
    const [a, b] = await Promise.all(positionals.map((p) => existingDir(p, "RUN_DIR")));
    if (values.out !== undefined) {
      await checkOutDir(values.out as string, undefined, { flag: "--out" });
    }
    const r = await writeComparison(a, b, { out: values.out as string | undefined, gateAlpha });
    console.log(formatComparison(r.comparison, { all: values.all === true }));
    if (values.gate) console.log(`\n${formatGate(r.comparison.gate)}`);
    console.log(`\nWrote ${r.json}\n      ${r.html}`);
    if (values.gate && r.comparison.gate.failed) return EXIT.failed;
    const changed = r.comparison.differences.some((d) => d.exceedsNoise) ||
      r.comparison.overheadChanges.some((o) => o.exceedsNoise);
    return values["fail-on-change"] && changed ? 4 : EXIT.ok;
  });
}
