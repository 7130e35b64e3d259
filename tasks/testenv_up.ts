/**
 * `deno task testenv:up`: starts the local test control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok and, unless `--no-metrics-server`,
 * metrics-server serving metrics.k8s.io; with `--real-node`, a real node on this machine:
 * containerd, kubelet, kube-proxy and CoreDNS, see lib/testenv/realnode.ts) and prints `KUBECONFIG=<path>` and
 * `CONTEXT=<name>` for `deno task deploy --target cluster --context <name>`.
 *
 * @module
 */
import { parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { DEFAULT_STATE_DIR, startTestenv, TestenvMissingError } from "../lib/testenv/testenv.ts";

const SPEC: TaskSpec = {
  name: "testenv:up",
  description: "Starts the local test control plane and prints KUBECONFIG= and CONTEXT=.\n" +
    "Exit codes here: 0 up, 1 failed, 2 bad flags, 3 binaries missing (.ci/install_testenv.sh).",
  flags: {
    dir: { type: "string", arg: "DIR", help: `state directory (default: ${DEFAULT_STATE_DIR})` },
    nodes: { type: "string", arg: "N", help: "kwok nodes (default: 3; 0 with --real-node)" },
    "bin-dir": {
      type: "string",
      arg: "DIR",
      help: "where the binaries are (default: .testenv/bin or $MESHBENCH_TESTENV_BIN)",
    },
    "metrics-server": {
      type: "boolean",
      negatable: true,
      help: "serve metrics.k8s.io (default: yes)",
    },
    "real-node": {
      type: "boolean",
      help: "also run a real node here: containerd, kubelet, kube-proxy, CoreDNS (root; " +
        ".ci/install_realnode.sh)",
    },
    "images-dir": {
      type: "string",
      arg: "DIR",
      help: "the real node's image archives (default: .testenv/images)",
    },
  },
};

if (import.meta.main) {
  const parsed = parseTaskArgs(SPEC, Deno.args);
  if (typeof parsed === "number") Deno.exit(parsed);
  const values = parsed.values as {
    dir?: string;
    nodes?: string;
    "bin-dir"?: string;
    "metrics-server"?: boolean;
    "real-node"?: boolean;
    "images-dir"?: string;
  };
  const realNode = values["real-node"] ?? false;
  // kwok nodes: 3 by default, none beside a real node unless asked for.
  const nodes = Number(values.nodes ?? (realNode ? "0" : "3"));
  const min = realNode ? 0 : 1;
  if (!Number.isInteger(nodes) || nodes < min || nodes > 1000) {
    console.error(
      `error: Invalid --nodes: expected an integer from ${min} to 1000, got "${values.nodes}"`,
    );
    Deno.exit(2);
  }
  try {
    const env = await startTestenv({
      dir: values.dir ?? DEFAULT_STATE_DIR,
      nodes,
      binDir: values["bin-dir"],
      metricsServer: values["metrics-server"] ?? true,
      realNode,
      imagesDir: values["images-dir"],
      log: (m) => console.error(m),
    });
    console.log(`KUBECONFIG=${env.kubeconfigPath}`);
    console.log(`CONTEXT=${env.context}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(e instanceof TestenvMissingError ? 3 : 1);
  }
}
