/**
 * meshbench's own speed, measured side by side in one run (`deno task bench:self`):
 * (a) max throughput meshbench reports for the baseline vs raw wrk against the
 *     same nginx, alternating, after one unmeasured run of each (the first run after deploy
 *     meets a cold server; unwarmed, it went to meshbench's side every time and cost the mean
 *     ratio ~9 %); meshbench's side samples resources as a real run does. Headline: the
 *     median of the pair ratios (goal >= 0.97), beside the ratio of means;
 * (b) wall time of `bench:all --profile quick` over the sum of its configured
 *     load windows (goal <= 1.15), and over all configured waiting (load + warm-up
 *     + cool-down + gaps);
 * (c) time and peak memory of summary + report over 10,000 synthetic run records
 *     (goal <= 2 s and <= 500 MB peak RSS; CPU seconds are printed too, steadier than
 *     wall time on a shared machine);
 * (d) wall time of executing every analysis notebook headless (Jupyter, Deno kernel)
 *     against copies of the committed fixture runs (goal <= 60 s for all of them).
 * Writes `bench/out/self-<time>.json` and prints a table.
 */
import { join } from "node:path";
import { loadConfig, parseStoredConfig } from "../lib/config.ts";
import { parseOrExit2, taskHelp, type TaskSpec } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { memoryLogger } from "../lib/log.ts";
import { initRun, openRun, stageCleanup, stageDeploy, stageHealth } from "../lib/pipeline.ts";
import { readLocalState } from "../lib/local/target.ts";
import { CLK_TCK, readGroups, ResourceSampler } from "../lib/local/proc.ts";
import { httpWorkload } from "../lib/workloads/http.ts";
import { plannedLoadSeconds } from "../lib/plan.ts";
import { listRunFiles, readJson, readManifest } from "../lib/run_dir.ts";
import type { RunRecord, RunSpec } from "../lib/types.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

async function throughputRatio(rounds: number, durationS: number) {
  const out = await Deno.makeTempDir({ prefix: "meshbench-self-" });
  const { config } = await loadConfig({
    // Only the http workload: no other workloads' servers beside it (a run needs two meshes).
    flags: {
      out,
      workloads: ["http"],
      meshes: ["baseline", "sidecar-emu"],
      "local.basePort": 24000,
    },
  });
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  const runDir = await initRun(config, ["bench/self.ts"], deps);
  try {
    await stageDeploy(runDir, deps);
    await stageHealth(runDir, deps);
    const { ctx } = await openRun(runDir, deps);
    const state = await readLocalState(runDir);
    const port = state.endpoints.http.baseline[0];
    const connections = 16;
    const threads = 2;
    const env = {
      runDir,
      workDir: join(runDir, "local", "http"),
      runner: realRunner,
      config: { ...ctx.config, local: { ...ctx.config.local } },
      log: deps.log,
      signal: deps.signal,
      bin: state.bin,
    };
    const spec: RunSpec = {
      seq: 1,
      workload: "http",
      mesh: "baseline",
      iteration: 1,
      point: { mode: "max-throughput", tool: "wrk", rate: null, connections, durationS },
    };
    const ours: number[] = [];
    const raw: number[] = [];
    // CPU per request of everything on the path: this Deno process (its sampler, parsing),
    // wrk (a reaped child: in Deno's cutime) and nginx (a descendant). Throughput on a shared
    // machine follows other agents' load; CPU per request much less, and on a CPU-bound box
    // throughput goes as its inverse. It includes work after the load window (wrk's Lua done(),
    // parsing, raw files), which costs no throughput: a bound, not the figure.
    const oursCpuUs: number[] = [];
    const rawCpuUs: number[] = [];
    const ticks = () => readGroups([Deno.pid]).get(Deno.pid)!.cpuTicks;
    const measureOurs = async (i: number, record = true) => {
      const t0 = ticks();
      // meshbench's path: its wrk adapter (script, parsing) on one replica, 2 threads, with
      // the resource sampler of the local target's runLoad running beside it.
      const w = { ...httpWorkload, replicas: threads };
      const nginx = state.processes.filter((p) => p.workloads.includes("http") && p.mesh === "")
        .map((p) => ({ name: p.name, component: p.component, pid: p.pid }));
      const sampler = new ResourceSampler(nginx);
      sampler.start();
      let r;
      try {
        r = await w.run(
          env,
          { ...spec, seq: i + 1 },
          [port],
          `raw/self_${i}`,
          (pid) => sampler.add({ name: "loadgen-wrk", component: "loadgen", pid }),
        );
      } finally {
        sampler.stop();
      }
      if (record) {
        ours.push(r.load.achievedRate);
        const requests = r.load.achievedRate * r.load.durationS;
        oursCpuUs.push(((ticks() - t0) / CLK_TCK) * 1e6 / requests);
      }
    };
    const measureRaw = async (record = true) => {
      // Raw wrk, same nginx, same threads and connections, its own report.
      const t0 = ticks();
      const res = await realRunner.run([
        state.bin.wrk,
        `-t${threads}`,
        `-c${connections}`,
        `-d${durationS}s`,
        `http://127.0.0.1:${port}/`,
      ], { timeoutMs: (durationS + 30) * 1000 });
      const m = res.stdout.match(/Requests\/sec:\s+([\d.]+)/);
      if (!m) throw new Error(`Cannot read raw wrk output: ${res.stdout}`);
      const n = res.stdout.match(/(\d+) requests in/);
      if (record) {
        raw.push(Number(m[1]));
        rawCpuUs.push(((ticks() - t0) / CLK_TCK) * 1e6 / Number(n![1]));
      }
    };
    // Unmeasured: the first load after deploy meets cold caches and a fresh nginx.
    await measureOurs(-1, false);
    await measureRaw(false);
    // Alternate which goes first, so drift does not favour one side.
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        await measureOurs(i);
        await measureRaw();
      } else {
        await measureRaw();
        await measureOurs(i);
      }
    }
    const pairRatios = ours.map((o, i) => o / raw[i]).sort((a, b) => a - b);
    const cpuRatios = oursCpuUs.map((o, i) => rawCpuUs[i] / o).sort((a, b) => a - b);
    return {
      ours,
      raw,
      oursCpuUsPerRequest: oursCpuUs,
      rawCpuUsPerRequest: rawCpuUs,
      medianCpuRatio: (cpuRatios[(cpuRatios.length - 1) >> 1] + cpuRatios[cpuRatios.length >> 1]) /
        2,
      ratio: mean(ours) / mean(raw),
      medianPairRatio: (pairRatios[(pairRatios.length - 1) >> 1] +
        pairRatios[pairRatios.length >> 1]) / 2,
    };
  } finally {
    await stageCleanup(runDir, deps);
    await Deno.remove(out, { recursive: true });
  }
}

async function wallRatio() {
  const out = await Deno.makeTempDir({ prefix: "meshbench-self-wall-" });
  const t0 = performance.now();
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "tasks", "bench_all.ts"),
      "--profile",
      "quick",
      "--out",
      out,
      "--quiet",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - t0) / 1000;
  if (p.code !== 0) throw new Error(`bench:all failed: ${new TextDecoder().decode(p.stderr)}`);
  const [dir] = [...Deno.readDirSync(out)].map((e) => join(out, e.name));
  const m = await readManifest(dir);
  const c = parseStoredConfig(m.config, join(dir, "manifest.json"));
  // A batch point's durationS is only a bound: its load window is the job's measured time.
  let load = plannedLoadSeconds(m.plan.filter((r) => r.point.mode !== "batch"));
  for (const f of await listRunFiles(dir)) {
    const r = await readJson(f) as RunRecord;
    if (r.spec.point.mode === "batch" && r.load) load += r.load.durationS;
  }
  const waits = load + c.warmupS + c.cooldownS + c.gapS * (m.plan.length - 1);
  await Deno.remove(out, { recursive: true });
  return {
    wallS: wall,
    loadWindowsS: load,
    configuredS: waits,
    ratio: wall / load,
    ratioAll: wall / waits,
  };
}

async function summaryScale(n: number) {
  const script = join(ROOT, "bench", "summary_scale.ts");
  const run = async (args: string[]) => {
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (p.code !== 0) {
      throw new Error(`summary_scale failed: ${new TextDecoder().decode(p.stderr)}`);
    }
    return JSON.parse(new TextDecoder().decode(p.stdout).trim().split("\n").pop()!);
  };
  const out = await Deno.makeTempDir({ prefix: "meshbench-scale-" });
  try {
    const { runDir } = await run(["generate", String(n), out]);
    return await run(["measure", runDir]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

async function notebookTime() {
  const { copyFixtureRun, FIXTURE_RUNS } = await import("../fixtures/mod.ts");
  const { executeNotebooks } = await import("../lib/notebooks.ts");
  const tmp = await Deno.makeTempDir({ prefix: "meshbench-self-nb-" });
  try {
    for (const name of FIXTURE_RUNS) await copyFixtureRun(name, tmp);
    const started = performance.now();
    const results = await executeNotebooks(join(tmp, FIXTURE_RUNS.at(-1)!), {
      outDir: join(tmp, "html"),
    });
    return {
      totalSeconds: (performance.now() - started) / 1000,
      perNotebook: Object.fromEntries(
        results.map((r) => [r.notebook.split("/").pop()!, Number(r.seconds.toFixed(2))]),
      ),
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

const SPEC: TaskSpec = {
  name: "bench:self",
  description: "meshbench's own speed: (a) throughput vs raw wrk, (b) wall time vs load " +
    "windows, (c) summary + report at 10,000 records, (d) all notebooks on the fixture runs; " +
    "writes bench/out/self-<time>.json.",
  flags: {
    only: { type: "string", arg: "abcd", help: "only these parts (e.g. --only=a, --only=bd)" },
  },
};

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(taskHelp(SPEC));
    Deno.exit(0);
  }
  const parsed = parseOrExit2(SPEC, Deno.args);
  if (typeof parsed === "number") Deno.exit(parsed);
  const only = parsed.values.only as string | undefined;
  if (only !== undefined && !/^[abcd]+$/.test(only)) {
    console.error(
      `error: Invalid --only: expected parts among a, b, c, d (e.g. "bd"), got "${only}"`,
    );
    Deno.exit(2);
  }
  const load = Deno.loadavg();
  const want = (part: string) => !only || only.includes(part);
  console.error("(a) throughput: meshbench vs raw wrk, alternating 6 x 5 s ...");
  const a = want("a") ? await throughputRatio(6, 5) : undefined;
  console.error("(b) wall time of bench:all --profile quick ...");
  const b = want("b") ? await wallRatio() : undefined;
  console.error("(c) summary + report over 10,000 synthetic records ...");
  const c = want("c") ? await summaryScale(10_000) : undefined;
  console.error("(d) every notebook against the fixture runs ...");
  const d = want("d") ? await notebookTime() : undefined;
  const result = {
    at: new Date().toISOString(),
    loadAverageAtStart: load,
    cpuCount: navigator.hardwareConcurrency,
    a,
    b,
    c,
    d,
  };
  await Deno.mkdir(join(ROOT, "bench", "out"), { recursive: true });
  const file = join(ROOT, "bench", "out", `self-${result.at.replace(/[:.]/g, "")}.json`);
  await Deno.writeTextFile(file, JSON.stringify(result, null, 2));
  const ok = (x: boolean) => (x ? "meets goal" : "MISSES goal");
  const lines = [
    `meshbench self-benchmark (load average at start ${load.map((x) => x.toFixed(2)).join(" ")})`,
  ];
  if (a) {
    lines.push(
      `(a) throughput meshbench/raw wrk, median pair ratio: ${
        a.medianPairRatio.toFixed(3)
      } (ratio of means ${a.ratio.toFixed(3)}: ${mean(a.ours).toFixed(0)} vs ${
        mean(a.raw).toFixed(0)
      } req/s)  goal >= 0.97: ${ok(a.medianPairRatio >= 0.97)}`,
      `    CPU per request (Deno + wrk + nginx), raw/meshbench, median pair: ${
        a.medianCpuRatio.toFixed(3)
      } (${median(a.rawCpuUsPerRequest).toFixed(2)} vs ${
        median(a.oursCpuUsPerRequest).toFixed(2)
      } us; meshbench's side includes work after the load window, wrk's Lua done() and parsing, so its cost to throughput is at most this)`,
    );
  }
  if (b) {
    lines.push(
      `(b) bench:all quick wall/load windows: ${b.ratio.toFixed(3)} (${b.wallS.toFixed(1)} s / ${
        b.loadWindowsS.toFixed(1)
      } s); wall/all configured waits ${b.ratioAll.toFixed(3)} (${
        b.configuredS.toFixed(1)
      } s)  goal <= 1.15: ${ok(b.ratio <= 1.15)}`,
    );
  }
  if (c) {
    lines.push(
      `(c) summary+report of ${c.records} records: ${c.totalSeconds.toFixed(2)} s (summary ${
        c.summarySeconds.toFixed(2)
      } s, report ${c.reportSeconds.toFixed(2)} s; CPU ${
        (c.summaryCpuSeconds + c.reportCpuSeconds).toFixed(2)
      } s), peak RSS ${c.peakRssMB.toFixed(0)} MB (after the summary ${
        c.peakRssAfterSummaryMB.toFixed(0)
      } MB)  goal <= 2 s and <= 500 MB: ${ok(c.totalSeconds <= 2 && c.peakRssMB <= 500)}`,
    );
  }
  if (d) {
    lines.push(
      `(d) all ${Object.keys(d.perNotebook).length} notebooks on the fixture runs: ${
        d.totalSeconds.toFixed(1)
      } s (${Object.entries(d.perNotebook).map(([n, t]) => `${n} ${t} s`).join(", ")})  ` +
        `goal <= 60 s: ${ok(d.totalSeconds <= 60)}`,
    );
  }
  lines.push(`written: ${file}`);
  console.log(lines.join("\n"));
}
