/**
 * `deno task bench:all --target cluster` end to end on a real node (containerd, kubelet,
 * kube-proxy, CoreDNS on this machine; lib/testenv/realnode.ts), every workload of the design
 * under the baseline and the `envoy-sidecar` mesh, quick profile: what kwok could not show.
 *
 * - **Capacity**: the node allocates 1 CPU (like an OCI free-tier worker; kwok's allocate 8),
 *   so the five workloads do not fit at once: the plan deploys them in blocks, each measured
 *   under every mesh and the baseline, then removed.
 * - **Probes, DNS, exec, runtime**: the kubelet probes the pods, load runs by exec through the
 *   kubelet inside the client pods against the Services' cluster DNS names, and the node's
 *   runtime recorded in provenance is containerd.
 * - **CPU counters**: every resource figure of a load run comes from the kubelet's cumulative
 *   counters (`cpuSource: counters`), not metrics-server's window average.
 * - **Storage**: db runs with no StorageClass on the cluster (Redis on emptyDir).
 * - **Cleanup**: nothing meshbench labelled stays on the cluster, and `testenv:down` leaves
 *   no interface, route, iptables rule, mount, cgroup or process of the node's on the machine.
 *
 * The one cut from the issue's command (`--profile quick` as is): `--iterations 1` instead
 * of the quick profile's 3, so each workload is measured once per mesh (14 runs, not 42).
 * Every defect class above shows in one iteration; three triple the ML Job's minutes (2-3
 * min per Job on the 1-CPU node), and CI's 90 minutes hold the rest of `.ci/run` (about 30
 * min). The full command, with 3 iterations, was run by hand (docs/cluster.md has its figures).
 *
 * Cleans up on failure: the test control plane and node are stopped in `finally` (and on
 * SIGINT/SIGTERM), bench:all is bounded (SIGINT after 40 min, so its own cleanup runs), and
 * the last check is that nothing of the node is left on the machine.
 *
 * Skipped, with the reason printed, without root or the real node's binaries and images
 * (bash .ci/install_realnode.sh). Holds the machine's real-node lock while it runs.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateRunRecord } from "../lib/schema.ts";
import { startTestenv, stopTestenv } from "../lib/testenv/testenv.ts";
import { withRealNodeLock } from "../lib/testenv/realnode.ts";
import { nodeTraces, realNodeSkipReason } from "../lib/testenv/realnode_fixture.ts";
import { connect, disconnect } from "../lib/cluster/kube.ts";
import { MANAGED_SELECTOR } from "../lib/cluster/manifests.ts";
import { onlyRunDir, startTask } from "./helpers.ts";
import { skipReason } from "./skip.ts";

const skip = realNodeSkipReason();
skipReason("real-node end-to-end test", skip);

const MESHES = ["baseline", "envoy-sidecar"];
/** bench:all's bound: it is interrupted (SIGINT: its cleanup runs) after this. */
const BENCH_BOUND_MS = 40 * 60_000;
const WORKLOADS = ["http", "grpc", "websocket", "db", "ml"];

Deno.test({
  name: "bench:all --target cluster on a real node: every workload in deploy blocks that fit " +
    "its 1 CPU, every run ok under the baseline and envoy-sidecar, CPU from the kubelet's " +
    "counters, cleanup and testenv:down leave nothing",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => withRealNodeLock(endToEnd, (m) => console.log(m)),
});

/** Runs bench:all, interrupting it (SIGINT) at {@linkcode BENCH_BOUND_MS}. */
async function benchAll(args: string[]) {
  const child = startTask("bench_all.ts", args);
  const timer = setTimeout(() => {
    console.log(`bench:all still running after ${BENCH_BOUND_MS} ms: interrupting it`);
    child.kill("SIGINT");
  }, BENCH_BOUND_MS);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

async function endToEnd() {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-realnode-e2e-" });
  const before = await nodeTraces(dir);
  assertEquals(before.interfaces, [], "the machine already has a real node's interfaces");
  const t0 = Date.now();
  const secs = () => `${Math.round((Date.now() - t0) / 1000)} s`;
  // Killed from outside (CI's timeout, Ctrl-C): the node still goes, then the process.
  const stopOnSignal = () => {
    console.log("signal: stopping the test environment");
    stopTestenv(dir, { log: (m) => console.log(m) }).finally(() => Deno.exit(130));
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, stopOnSignal);
  try {
    const env = await startTestenv({
      dir,
      realNode: true,
      metricsServer: true,
      timeoutMs: 600_000,
      log: (m) => console.log(m),
    });
    console.log(`e2e: test environment up after ${secs()}`);
    await measure(env);
  } finally {
    await stopTestenv(dir, { log: (m) => console.log(m) });
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, stopOnSignal);
    console.log(`e2e: test environment down after ${secs()}`);
  }
  assertEquals(await nodeTraces(dir), { ...before, processes: [] });
  await Deno.remove(dir, { recursive: true });
}

async function measure(env: { dir: string; context: string; kubeconfigPath: string }) {
  const out = join(env.dir, "results");
  const started = Date.now();
  const r = await benchAll([
    ...["--target", "cluster", "--context", env.context, "--kubeconfig", env.kubeconfigPath],
    ...["--meshes", MESHES.join(","), "--workloads", WORKLOADS.join(",")],
    // One iteration per point instead of the quick profile's 3 (see the module comment).
    ...["--profile", "quick", "--iterations", "1", "--out", out],
  ]);
  console.log(
    `e2e: bench:all exited ${r.code} after ${Math.round((Date.now() - started) / 1000)} s`,
  );
  console.log(
    r.stderr.split("\n").filter((l) => /blocks|capacity|Run \d+ |job: /.test(l)).join("\n"),
  );
  assertEquals(
    r.code,
    0,
    `bench:all failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`,
  );
  const runDir = await onlyRunDir(out);
  const manifest = validateManifest(await readJson(join(runDir, "manifest.json")));
  assertEquals(manifest.status, "complete");
  assert(
    /containerd:\/\//.test(manifest.provenance.tools.nodes),
    manifest.provenance.tools.nodes,
  );

  // Capacity: the whole design does not fit 1 CPU, so it ran in blocks, in order.
  const blocks = manifest.blocks ?? [];
  assert(blocks.length > 1, `expected deploy blocks, got ${JSON.stringify(blocks)}`);
  assertEquals(blocks.flat(), WORKLOADS);
  const blockOf = (w: string) => blocks.findIndex((b) => b.includes(w));
  const order = manifest.plan.map((s) => blockOf(s.workload));
  assertEquals(order, [...order].sort((a, b) => a - b), "each block's runs before the next's");
  const state = await readJson(join(runDir, "cluster.json")) as {
    blockLog: Array<{ workloads: string[]; deployed: string; removed?: string }>;
  };
  assertEquals(state.blockLog.map((b) => b.workloads), blocks);
  assert(state.blockLog.slice(0, -1).every((b) => b.removed), "each block removed before next");

  const records = await Promise.all(
    (await listRunFiles(runDir)).map(async (f) => validateRunRecord(await readJson(f), f)),
  );
  assertEquals(records.length, manifest.plan.length);
  // No run failed. A fixed-rate run that fell short of its rate is "saturated": whether
  // it does depends on the machine's load (2 shared cores here), so it is said, not failed.
  const bad = records.filter((r) => r.status === "failed" || r.status === "interrupted");
  assertEquals(
    bad.map((r) => `${r.spec.seq} ${r.spec.workload} ${r.spec.mesh} ${r.status}: ${r.reason}`),
    [],
  );
  for (const r of records.filter((r) => r.status === "saturated")) {
    console.log(`saturated (machine load): run ${r.spec.seq} ${r.spec.workload} ${r.spec.mesh}`);
  }
  for (const w of WORKLOADS) {
    assertEquals(
      new Set(records.filter((r) => r.spec.workload === w).map((r) => r.spec.mesh)),
      new Set(MESHES),
      `${w} measured under every mesh`,
    );
  }
  // The ML Job completed every pod (under the sidecar too), the WebSocket echoes all came
  // back, and CPU is the kubelet's cumulative counters, differenced over the run.
  for (const rec of records) {
    const what = `run ${rec.spec.seq} (${rec.spec.workload}, ${rec.spec.mesh})`;
    if (rec.spec.workload === "ml") assertEquals(rec.load!.operations, 5, what);
    if (rec.spec.workload === "websocket") assertEquals(rec.load!.errors, 0, what);
    if (rec.spec.workload === "ml") continue;
    const measured = rec.resources.filter((x) => x.component === "app" || x.component === "node");
    assert(measured.length > 0, `${what}: no resources`);
    for (const x of measured) assertEquals(x.cpuSource, "counters", `${what}: ${x.name}`);
  }

  // cleanup (bench:all's last stage) left nothing of meshbench on the cluster.
  const kube = connect(env.context, { kubeconfig: env.kubeconfigPath });
  try {
    const left = await kube.core.listNamespace({ labelSelector: MANAGED_SELECTOR });
    assertEquals(left.items.map((n) => n.metadata?.name), []);
    const pods = await kube.core.listPodForAllNamespaces({ labelSelector: MANAGED_SELECTOR });
    assertEquals(pods.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`), []);
  } finally {
    await disconnect(kube);
  }
}
