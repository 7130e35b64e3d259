/**
 * `deno task testenv:up`: starts the local test control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok and, unless `--no-metrics-server`,
 * metrics-server serving metrics.k8s.io) and prints `KUBECONFIG=<path>` and
 * `CONTEXT=<name>` for `deno task deploy --target cluster --context <name>`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_STATE_DIR, startTestenv, TestenvMissingError } from "../lib/testenv/testenv.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string", default: DEFAULT_STATE_DIR },
      nodes: { type: "string", default: "3" },
      "bin-dir": { type: "string" },
      "metrics-server": { type: "boolean", default: true },
    },
    allowNegative: true,
  });
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1) {
    console.error(`Invalid "--nodes": expected a positive integer, got "${values.nodes}"`);
    Deno.exit(2);
  }
  try {
    const env = await startTestenv({
      dir: values.dir,
      nodes,
      binDir: values["bin-dir"],
      metricsServer: values["metrics-server"],
      log: (m) => console.error(m),
    });
    console.log(`KUBECONFIG=${env.kubeconfigPath}`);
    console.log(`CONTEXT=${env.context}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(e instanceof TestenvMissingError ? 3 : 1);
  }
}
