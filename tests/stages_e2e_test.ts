/** Each stage runs alone as its own task against one run directory, as a user re-runs one. */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { listRunFiles, readJson } from "../lib/run_dir.ts";
import { validateManifest, validateSummary } from "../lib/schema.ts";
import { isAlive } from "../lib/local/proc.ts";
import type { LocalState } from "../lib/local/target.ts";
import { sendTimingOf } from "../lib/send_timing.ts";
import type { RunRecord } from "../lib/types.ts";
import { DEFAULT_SPIN_US } from "../lib/tools/http_client.ts";
import { freeLocal, onlyRunDir, quickConfig, runTask, tempSetup } from "./helpers.ts";

Deno.test({
  name: "deploy, health, warmup, load, cooldown, collect, report, cleanup as separate tasks",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { configFile, out } = await tempSetup(quickConfig({
      iterations: 2,
      meshes: ["baseline", "sidecar-emu"],
      load: {
        rates: [300],
        durationS: 2,
        connections: 4,
        throughput: { enabled: false, durationS: 1, connections: 4 },
      },
      local: await freeLocal({ workloads: ["http"] }),
    }));
    const step = async (task: string, args: string[] = []) => {
      const r = await runTask(`${task}.ts`, args);
      assertEquals(r.code, 0, `${task} failed:\n${r.stderr.slice(-2000)}`);
      return r;
    };
    // Only deploy (which starts the run) takes the config; the stages after it read the
    // run's config from its manifest, and --config or --profile there is refused.
    await step("deploy", ["--config", configFile, "--out", out]);
    const runDir = await onlyRunDir(out);
    const run = ["--run", runDir];
    await step("health", run);
    await step("warmup", run);
    await step("load", run);
    const first = await listRunFiles(runDir);
    assertEquals(first.length, 4);
    // A second load re-run resumes: nothing is measured twice, nothing overwritten.
    await step("load", run);
    assertEquals(await listRunFiles(runDir), first);
    await step("cooldown", run);
    await step("collect", ["--out", out]);
    await step("report", [runDir]);
    await step("cleanup", run);
    const manifest = validateManifest(await readJson(join(runDir, "manifest.json")));
    const names = manifest.stages.map((s) => s.name);
    assertEquals(names, [
      "deploy",
      "health",
      "warmup",
      "load",
      "load",
      "cooldown",
      "collect",
      "report",
      "cleanup",
    ]);
    assert(manifest.stages.every((s) => s.status === "ok" && s.end));
    const summary = validateSummary(await readJson(join(runDir, "summary.json")));
    assert(
      summary.overheads.some((o) => o.metric === "latency_p99_ms" && o.mesh === "sidecar-emu"),
    );
    // Every run of the local HTTP generator (meshbench's client) records how it ran, its send
    // lag and its service time; collect pools them per group and judges each run and group
    // against the baseline's p50.
    for (const f of first) {
      const r = await readJson(f) as RunRecord;
      assertEquals(r.spec.point.tool, "http-client", f);
      const { late, tickDistanceUs, ...generator } = r.load?.extra?.generator as {
        late: Record<string, number>;
        tickDistanceUs: number;
      };
      assertEquals(generator, { spinUs: DEFAULT_SPIN_US, pacing: "sleep", timerSlackNs: 1 }, f);
      // Its schedule's margin from the kernel's tick grid (whole milliseconds): at most half a
      // millisecond, and above 0 at 300/s (due times a third of a millisecond apart mod 1 ms).
      assert(tickDistanceUs > 0 && tickDistanceUs <= 500, `${f}: tickDistanceUs ${tickDistanceUs}`);
      // Its sends more than 10 us late, by cause (how many depends on the machine's load).
      assertEquals(
        Object.keys(late).sort(),
        ["behind", "blocked", "preempted", "stalled", "thresholdUs", "wokeLate"],
        f,
      );
      const timing = sendTimingOf(r.load)!;
      assertEquals(timing.sendLag.total, r.load!.latency.total, f);
      assertEquals(timing.serviceTime!.total, r.load!.latency.total, f);
      // The client's process is sampled as the load generator.
      assert(r.resources.some((x) => x.component === "loadgen" && x.samples > 0), f);
      // Every component's context switches over the window, the node's node-wide.
      for (const x of r.resources) {
        const cs = x.contextSwitches!;
        assertEquals(cs.source, x.component === "node" ? "node-stat" : "task-status", x.name);
        assert(x.component === "node" || cs.total === cs.voluntary! + cs.involuntary!, x.name);
      }
      // The node line names who else used the CPU (possibly nobody), busiest first.
      const others = r.resources.find((x) => x.component === "node")!.otherProcesses!;
      assert(Array.isArray(others) && others.length <= 5, f);
      for (let i = 1; i < others.length; i++) {
        assert(others[i - 1].cpuCores >= others[i].cpuCores, f);
      }
      // The client sidecar's own counters saw exactly the requests of this run (not the
      // warm-up's, not the health checks'), each forwarded once.
      if (r.spec.mesh === "sidecar-emu") {
        const client = r.proxies!.find((p) => p.name === "sidecar-emu-client-sidecar")!;
        assertEquals(client.software, "envoy");
        assertEquals(client.downstreamRequests, r.load!.operations, f);
        assertEquals(client.upstreamRequests, r.load!.operations, f);
        assertEquals(client.retries, 0, f);
        const servers = r.proxies!.filter((p) => p.name.includes("-server-sidecar-"));
        assertEquals(servers.reduce((s, p) => s + p.downstreamRequests!, 0), r.load!.operations);
      } else {
        assertEquals(r.proxies, undefined, "the baseline has no proxy");
      }
    }
    assert(summary.overheads.some((o) => o.metric === "ctx_switches_per_req"));
    for (const g of summary.groups) {
      assert(g.sendLag && g.serviceTime && typeof g.generatorLimited === "boolean", g.mesh);
    }
    assert(summary.runs!.every((e) => typeof e.generatorLimited === "boolean"));
    await Deno.stat(join(runDir, "report.html"));
    const state = await readJson(join(runDir, "local", "state.json")) as LocalState;
    assert(state.stopped && state.processes.every((p) => !isAlive(p.pid)));
    await rejects(Deno.stat(state.statsDir!), "the stats sockets' directory is removed");
  },
});
