/**
 * Task: every stage on a new run (deploy, health, warm-up, load, cool-down,
 * collect, report, cleanup), then a one-screen summary and where the report is.
 */
import { EXIT, FLAGS, interruptSignal, main, parseCli, type TaskSpec } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { benchAll, benchAllOci, closeTargets, configVocabulary } from "../lib/pipeline.ts";
import { formatSummary } from "../lib/summary_text.ts";

const SPEC: TaskSpec = {
  name: "bench:all",
  description: `Measures mesh overhead end to end: added latency (p50/p95/p99/max), lost throughput
and proxy CPU/memory versus the no-mesh baseline, each with a 95 % confidence interval.
On the local target (default) the meshes are EMULATIONS (Envoy sidecars, HAProxy node proxies), not Istio/Linkerd/Cilium.
Always a new run directory under --out.`,
  config: "all",
  flags: { quiet: FLAGS.quiet },
  createsRun: true,
};

if (import.meta.main) {
  await main(SPEC, async () => {
    const cli = await parseCli(SPEC, { vocabulary: configVocabulary });
    const { signal, dispose, setRun } = interruptSignal(cli.log);
    try {
      const deps = { runner: realRunner, log: cli.log, signal, runStarted: setRun };
      const r = cli.config.target === "oci"
        ? await benchAllOci(cli.config, cli.sources, deps)
        : await benchAll(cli.config, cli.sources, deps);
      if (r.summary) console.log(formatSummary(r.summary));
      console.log(`\nRun directory: ${r.runDir}`);
      if (r.reportPath) console.log(`Report:        ${r.reportPath}`);
      console.log(`Status:        ${r.status}${r.reason ? ` (${r.reason})` : ""}`);
      if (r.status === "interrupted") return EXIT.interrupted;
      return r.status === "complete" ? EXIT.ok : EXIT.failed;
    } finally {
      dispose();
    }
  }, { close: closeTargets });
}
