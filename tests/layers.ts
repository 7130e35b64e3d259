/**
 * The layers of meshbench as data: which modules form each layer and which layers it may
 * import from. Imports point down only: a module imports from its own layer (without a cycle)
 * or from a layer it `may` use, directly or through those layers' own `may`. Checked by
 * `layers_test.ts`; `docs/architecture.md` explains the cut.
 *
 * A new file under a listed folder joins that folder's layer; a new top-level file of `lib/`
 * must be added here (the test says so).
 *
 * @module
 */

/** One layer: its modules (a folder ending in "/" or one file) and the layers below it. */
export interface Layer {
  name: string;
  paths: string[];
  may: string[];
}

export const LAYERS: Layer[] = [
  {
    name: "core",
    paths: [
      "lib/types.ts",
      "lib/quantity.ts",
      "lib/stats.ts",
      "lib/histogram.ts",
      "lib/command.ts",
      "lib/binaries.ts",
      "lib/process.ts",
      "lib/format.ts",
      "lib/send_timing.ts",
      "lib/rank_tests.ts",
      "lib/metric_vocabulary.ts",
      "lib/metric_values.ts",
      "lib/config_schema.ts",
      "lib/schema.ts",
      "lib/schema_compile.ts",
      "schema/",
      "lib/run_dir.ts",
      "lib/run_owner.ts",
      "lib/config.ts",
      "lib/target.ts",
      "lib/workload.ts",
      "lib/log.ts",
      "lib/plan.ts",
      "lib/provenance.ts",
      "lib/proxy_counters.ts",
      "lib/envoy.ts",
    ],
    may: [],
  },
  // Load-tool adapters: build a command, parse its output into a LoadResult.
  { name: "tools", paths: ["lib/tools/", "servers/"], may: ["core"] },
  // Pure analysis of run directories: summaries, comparisons, their terminal text.
  {
    name: "analysis",
    paths: [
      "lib/summary.ts",
      "lib/_summary_worker.ts",
      "lib/other_load.ts",
      "lib/knee.ts",
      "lib/summary_text.ts",
      "lib/load_results.ts",
      "lib/compare.ts",
      "lib/gate.ts",
      "lib/smp.ts",
      "lib/notebooks.ts",
    ],
    may: ["core"],
  },
  // HTML, charts and the Jupyter display protocol (Observable Plot, linkedom).
  {
    name: "reports",
    paths: [
      "lib/figure.ts",
      "lib/plots/",
      "lib/report.ts",
      "lib/compare_report.ts",
      "lib/analysis.ts",
      "lib/export.ts",
    ],
    may: ["analysis"],
  },
  { name: "workloads", paths: ["lib/workloads/"], may: ["tools"] },
  { name: "infra", paths: ["lib/infra/"], may: ["core"] },
  { name: "testenv", paths: ["lib/testenv/"], may: ["core"] },
  {
    name: "targets",
    paths: ["lib/local/", "lib/cluster/", "lib/targets.ts"],
    may: ["workloads"],
  },
  { name: "pipeline", paths: ["lib/pipeline.ts"], may: ["targets", "reports", "infra"] },
  // The tasks' shared command line (flags, exit codes, run directory argument).
  { name: "cli", paths: ["lib/cli.ts"], may: ["analysis"] },
  { name: "tasks", paths: ["tasks/"], may: ["pipeline", "cli", "testenv"] },
  // Tests, benchmarks and fixtures may use anything; nothing above may use them.
  {
    name: "harness",
    paths: ["bench/", "tests/", "fixtures/"],
    may: ["tasks"],
  },
];

/** Test files and test data belong to the harness wherever they are. */
export const HARNESS_FILE = /(_test\.ts|\/testdata\/.*)$/;

/** Packages that only one branch of the layers may import directly. */
export const PACKAGE_HOMES: Record<string, string[]> = {
  "@observablehq/plot": ["reports"],
  "linkedom": ["reports"],
  "@kubernetes/client-node": ["targets", "testenv"],
  "playwright-core": ["harness"],
};

/**
 * Imports that break the layers today, each with the reason, to be removed (issue #14 item
 * 4): the test fails when one is still listed but gone, so this list only shrinks. Do not
 * add to it.
 */
export const KNOWN_VIOLATIONS: Array<{ from: string; to: string; why: string }> = [];
