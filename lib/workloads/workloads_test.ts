/**
 * End-to-end quick runs of the grpc, websocket, redis and ml workloads (and http with vegeta) on
 * the local target, through all three meshes, with the real servers, proxies and load tools; and runs where a
 * server or a proxy dies mid-run.
 */
import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { loadConfig } from "../config.ts";
import { readLocalState } from "../local/target.ts";
import { memoryLogger } from "../log.ts";
import { benchAll } from "../pipeline.ts";
import { readRunRecords } from "../load_results.ts";
import type { Logger } from "../target.ts";
import type { RunRecord } from "../types.ts";
import { configDefaults } from "../config_schema.ts";
import { pointsOn } from "../workload.ts";
import { splitEvenly } from "./grpc.ts";
import { registeredWorkloads } from "./mod.ts";
import { LOCAL_VEGETA_GENERATOR } from "./http.ts";

const MESHES = ["baseline", "sidecar-emu", "node-proxy-emu"];

async function quickConfig(
  workload: string,
  out: string,
  basePort: number,
  extra: Record<string, unknown> = {},
) {
  const { config, sources } = await loadConfig({
    flags: {
      workloads: [workload],
      meshes: MESHES,
      iterations: 1,
      warmupS: 1,
      cooldownS: 0,
      gapS: 0,
      "load.rates": [200],
      "load.durationS": 1.5,
      "load.throughput.durationS": 1,
      "local.basePort": basePort,
      out,
      ...extra,
    },
  });
  return { config, sources };
}

async function bench(
  workload: string,
  basePort: number,
  log: Logger = memoryLogger(),
  extra: Record<string, unknown> = {},
) {
  const out = await Deno.makeTempDir({ prefix: `meshbench-${workload}-` });
  const { config, sources } = await quickConfig(workload, out, basePort, extra);
  const result = await benchAll(config, sources, {
    runner: realRunner,
    log,
    signal: new AbortController().signal,
  });
  const { records, notes } = await readRunRecords(result.runDir);
  return { result, records, notes, out };
}

async function assertRawFiles(runDir: string, r: RunRecord) {
  assert(r.raw.length > 0, `run ${r.spec.seq} lists raw output`);
  for (const f of r.raw) {
    const st = await Deno.stat(join(runDir, f));
    assert(st.size > 0, `raw file ${f} is empty`);
  }
}

function quickTest(
  workload: string,
  basePort: number,
  check: (r: RunRecord) => void,
  extra: Record<string, unknown> = {},
  how = "",
) {
  Deno.test({
    name: `bench:all quick on the local target: ${workload} through every mesh${how}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { result, records, notes, out } = await bench(
        workload,
        basePort,
        memoryLogger(),
        extra,
      );
      try {
        assertEquals(result.status, "complete", result.reason ?? "");
        assertEquals(notes, [], "every run record validates against the schema");
        assert(records.length >= 3);
        assertEquals([...new Set(records.map((r) => r.spec.mesh))].sort(), [...MESHES].sort());
        for (const r of records) {
          assertEquals(r.status, "ok", `${r.spec.mesh} ${r.spec.point.mode}: ${r.reason}`);
          assertEquals(r.spec.workload, workload);
          assert(r.load, "a load result");
          assertEquals(
            r.load.errors,
            0,
            `${r.spec.mesh} ${r.spec.point.mode}: ${JSON.stringify(r.load.errorKinds)} ${
              JSON.stringify(r.load.extra?.errorMessages ?? "")
            }`,
          );
          assert(r.load.latency.total > 0);
          await assertRawFiles(result.runDir, r);
          check(r);
          if (r.spec.mesh !== "baseline") {
            assert(
              r.resources.some((u) => u.component === "data-plane"),
              "proxy resources sampled",
            );
          }
        }
        const names = [...Deno.readDirSync(join(result.runDir, "runs"))].map((e) => e.name);
        assert(names.every((n) => n.startsWith(`${workload}_test_`)), names.join(", "));
        assert(result.summary, "a summary");
        assert(result.summary!.groups.some((g) => g.workload === workload));
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
}

quickTest("grpc", 24000, (r) => {
  assertEquals(r.load!.tool, "ghz");
  if (r.spec.point.mode === "fixed-rate") {
    assertEquals(r.load!.operations, 300);
    assertEquals(r.load!.requestedRate, 200);
  }
});

quickTest("websocket", 24100, (r) => {
  assertEquals(r.load!.tool, "ws-client");
  assertEquals(r.load!.timing, "intended-send");
  assertEquals(r.load!.operations, 300);
  const conns = r.load!.extra?.connections as { opened: number; failed: number };
  assertEquals(conns.failed, 0);
  assertEquals(conns.opened, 50);
});

// The http workload's default generator (meshbench's client) runs in the stages and bench:all
// tests; vegeta, still selectable, here.
quickTest(
  "http",
  24600,
  (r) => {
    if (r.spec.point.mode !== "fixed-rate") return assertEquals(r.load!.tool, "wrk");
    assertEquals(r.spec.point.tool, "vegeta");
    assertEquals(r.load!.tool, "vegeta");
    assertEquals(r.load!.extra?.generator, LOCAL_VEGETA_GENERATOR);
    assertEquals(r.load!.operations, 300);
  },
  { "local.httpGenerator": "vegeta" },
  " with vegeta as its fixed-rate generator",
);

quickTest("db", 24200, (r) => {
  assertEquals(r.load!.tool, "redis-benchmark");
  assertEquals(r.load!.extra?.clients, 2);
  const per = r.load!.extra?.perCommand as Array<{ test: string }>;
  assertEquals(per.map((c) => c.test).sort(), ["GET", "INCR", "LPOP", "LPUSH", "SET"]);
});

quickTest("ml", 24300, (r) => {
  assertEquals(r.spec.point.mode, "batch");
  assertEquals(r.load!.operations, 5);
  assertEquals(r.load!.connections, 2);
  const per = r.load!.extra?.perCompletion as Array<{ ok: boolean; accuracy: number }>;
  assertEquals(per.length, 5);
  for (const c of per) assert(c.ok && c.accuracy > 0.6, JSON.stringify(c));
  // The five training processes are sampled as the application.
  const jobs = r.resources.filter((u) => u.component === "app" && u.name.startsWith("ml-job-"));
  assertEquals(jobs.length, 5, JSON.stringify(r.resources.map((u) => u.name)));
});

/**
 * A logger that, when the first run of `mesh` starts, kills the process group of the process
 * named `victim` (from the deployment's recorded state) after `delayMs`.
 */
function killer(runDir: () => string | undefined, mesh: string, victim: string, delayMs: number) {
  const base = memoryLogger();
  let fired = false;
  const killed: { pid?: number; error?: string } = {};
  const log: Logger = {
    ...base,
    progress(label, done, total) {
      base.progress(label, done, total);
      if (fired || !label.includes(` ${mesh} `)) return;
      fired = true;
      setTimeout(async () => {
        try {
          const dir = runDir();
          if (!dir) throw new Error("no run directory yet");
          const p = (await readLocalState(dir)).processes.find((x) => x.name === victim);
          if (!p) throw new Error(`no process named ${victim}`);
          Deno.kill(-p.pid, "SIGKILL");
          killed.pid = p.pid;
        } catch (e) {
          killed.error = (e as Error).message;
        }
      }, delayMs);
    },
  };
  return { log, killed };
}

function newestDir(out: string): string | undefined {
  const names = [...Deno.readDirSync(out)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  return names.length ? join(out, names.at(-1)!) : undefined;
}

/**
 * Kills `victim` `delayMs` into the first run under `mesh`. That run must fail naming the dead
 * component; every planned run is still attempted and recorded; runs that do not go through
 * the dead component (`survivors`) stay ok.
 */
function dyingTest(
  workload: string,
  basePort: number,
  mesh: string,
  victim: string,
  delayMs: number,
  survivors: string[],
) {
  Deno.test({
    name: `${workload}: ${victim} dying mid-run fails that run with the reason; the rest go on`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const out = await Deno.makeTempDir({ prefix: `meshbench-${workload}-dying-` });
      try {
        const { config, sources } = await quickConfig(workload, out, basePort);
        const { log, killed } = killer(() => newestDir(out), mesh, victim, delayMs);
        const result = await benchAll(config, sources, {
          runner: realRunner,
          log,
          signal: new AbortController().signal,
        });
        assertEquals(killed.error, undefined);
        assert(killed.pid, `${victim} was killed`);
        assertEquals(result.status, "failed");
        const { records, notes } = await readRunRecords(result.runDir);
        assertEquals(notes, [], "failed runs validate against the schema too");
        const planned = JSON.parse(
          await Deno.readTextFile(join(result.runDir, "manifest.json")),
        ).plan.length;
        assertEquals(records.length, planned, "every planned run was attempted and recorded");
        const failed = records.filter((r) => r.status === "failed")
          .sort((a, b) => a.spec.seq - b.spec.seq);
        assert(failed.length > 0, "a failed run");
        assertEquals(failed[0].spec.mesh, mesh);
        match(failed[0].reason ?? "", new RegExp(`died during the run: .*${victim}`));
        for (const r of records.filter((r) => survivors.includes(r.spec.mesh))) {
          assertEquals(r.status, "ok", `${r.spec.mesh} ${r.spec.point.mode}: ${r.reason}`);
        }
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
}

dyingTest("grpc", 24400, "sidecar-emu", "sidecar-emu-client-sidecar", 500, [
  "baseline",
  "node-proxy-emu",
]);
dyingTest("websocket", 24500, "baseline", "websocket-server-1", 500, []);

Deno.test("splitEvenly splits a rate or a count into parts that add up", () => {
  assertEquals(splitEvenly(200, 3), [67, 67, 66]);
  assertEquals(splitEvenly(300, 3), [100, 100, 100]);
  assertEquals(splitEvenly(2, 3), [1, 1, 0]);
});

Deno.test("a workload declares it takes the sweeps and the knee exactly when its points carry them", () => {
  const config = configDefaults();
  config.load.sweep.connections = [1, 16];
  config.load.sweep.payloadsBytes = [1024];
  config.knee.enabled = true;
  for (const w of registeredWorkloads()) {
    const sites = w.pod ? ["process", "pod"] as const : ["process"] as const;
    for (const site of sites) {
      const points = pointsOn(w, site, config);
      const swept = points.some((p) => p.sweep === "connections") &&
        points.some((p) => p.sweep === "knee");
      assertEquals(swept, w.sweeps === true, `${w.name} (${site})`);
    }
  }
});
