/**
 * meshbench's own speed, measured side by side in one run (`deno task bench:self`):
 * (a) max throughput meshbench reports for the baseline vs raw wrk against the
 *     same nginx, in rotating order, after one unmeasured run of each (the first run after
 *     deploy meets a cold server; unwarmed, it went to meshbench's side every time and cost
 *     the mean ratio ~9 %); meshbench's side samples resources as a real run does. A third
 *     side runs meshbench's wrk command line bare (its Lua script, `--latency`, `--timeout`;
 *     no adapter, no sampler), and a fourth meshbench's adapter without the sampler, so a gap
 *     is placed on the command line, the adapter's process or the sampler. Each round runs the
 *     four sides back to back (a block), so the headline is
 *     the median of the rounds' ratios meshbench/raw (goal >= 0.97), with the sign test's
 *     interval, beside the ratio of the medians (which ignores the rounds); with each side's
 *     CPU seconds (Deno, wrk, nginx) per run;
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
import { ConfigError, loadConfig, parseStoredConfig } from "../lib/config.ts";
import { main, parseArgsFor, type TaskSpec, UsageError } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { consoleLogger, memoryLogger } from "../lib/log.ts";
import {
  closeTargets,
  initRun,
  openRun,
  preflight,
  stageCleanup,
  stageDeploy,
  stageHealth,
} from "../lib/pipeline.ts";
import { readLocalState } from "../lib/local/target.ts";
import { CLK_TCK, readGroups, ResourceSampler } from "../lib/local/proc.ts";
import { httpWorkload } from "../lib/workloads/http.ts";
import { parseWrk, wrkCommand, wrkScript } from "../lib/tools/wrk.ts";
import { plannedLoadSeconds } from "../lib/plan.ts";
import { listRunFiles, newRunId, readJson, readManifest } from "../lib/run_dir.ts";
import { portFree, portPlan, reservePorts } from "../lib/local/ports.ts";
import type { RunRecord, RunSpec } from "../lib/types.ts";

const ROOT = new URL("..", import.meta.url).pathname;
interface CpuSeconds {
  deno: number;
  wrk: number;
  nginx: number;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

/**
 * The distribution-free interval for the median of `xs` (the sign test's): the k-th lowest to
 * the k-th highest value, with k the largest whose coverage, 1 - 2 P(Binomial(n, 1/2) < k),
 * is at least 95 % (or k = 1, the widest there is, when n is too small for 95 %).
 */
export function medianInterval(xs: number[]): { lo: number; hi: number; coverage: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  // P(Binomial(n, 1/2) <= j) for j = 0 .. n.
  const cdf: number[] = [];
  let c = 1;
  let acc = 0;
  for (let j = 0; j <= n; j++) {
    if (j > 0) c = c * (n - j + 1) / j;
    acc += c / 2 ** n;
    cdf.push(acc);
  }
  let k = 1;
  while (k + 1 <= (n + 1) / 2 && 1 - 2 * cdf[k] >= 0.95) k++;
  return { lo: s[k - 1], hi: s[n - k], coverage: 1 - 2 * cdf[k - 1] };
}

/** Only the http workload: no other workloads' servers beside it (a run needs two meshes). */
const HTTP_ONLY = { workloads: ["http"], meshes: ["baseline", "sidecar-emu"] };

/**
 * The http workload's config on a port range free now and locked for this run as bench:all
 * locks its own (a random range below the ephemeral ports, retried), so the bench never shares
 * a fixed port with another run or a test.
 */
async function freeRange(out: string) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const basePort = 20_000 + 100 * Math.floor(Math.random() * 120);
    const { config } = await loadConfig({
      flags: { out, ...HTTP_ONLY, "local.basePort": basePort },
    });
    if (!portPlan(config).every((p) => portFree(p.port))) continue;
    const runId = newRunId();
    try {
      const { release } = await reservePorts(config, { runId, runDir: join(out, runId) });
      return { config, runId, release };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e; // taken meanwhile: try another range
    }
  }
  throw new Error("Cannot run bench:self (a): no free port range found in 50 tries");
}

async function throughputRatio(rounds: number, durationS: number) {
  const deps = { runner: realRunner, log: memoryLogger(), signal: new AbortController().signal };
  // As bench:all: install what is missing and can be (Envoy with its script), else stop with
  // the list (MissingToolsError: one message, exit 3) before anything is created.
  await preflight((await loadConfig({ flags: HTTP_ONLY })).config, {
    ...deps,
    log: consoleLogger(),
  });
  const out = await Deno.makeTempDir({ prefix: "meshbench-self-" });
  const { config, runId, release } = await freeRange(out).catch(async (e) => {
    await Deno.remove(out, { recursive: true });
    throw e;
  });
  const runDir = await initRun(config, ["bench/self.ts"], deps, { runId });
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
    const url = `http://127.0.0.1:${port}/`;
    const nginx = state.processes.filter((p) => p.workloads.includes("http") && p.mesh === "")
      .map((p) => ({ name: p.name, component: p.component, pid: p.pid }));
    // CPU seconds of each process of one run: this Deno process itself (sampler, spawn,
    // parsing), wrk (a reaped child: the change in Deno's cutime + cstime) and nginx (its
    // group). On a shared machine throughput follows other agents' load; CPU seconds much less.
    const stat = () => {
      const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
      return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
    };
    const nginxTicks = () => {
      const r = readGroups(nginx.map((n) => n.pid));
      return nginx.reduce((s, n) => s + (r.get(n.pid)?.cpuTicks ?? 0), 0);
    };
    type Side = "raw" | "cmd" | "adapter" | "ours";
    const sides: Side[] = ["raw", "cmd", "adapter", "ours"];
    const runs: Record<Side, Array<{ rate: number; wrkRate: number; cpu: CpuSeconds }>> = {
      raw: [],
      cmd: [],
      adapter: [],
      ours: [],
    };
    /** wrk's own "Requests/sec" line: the same reading for every side. */
    const wrkRate = (stdout: string) => {
      const m = stdout.match(/Requests\/sec:\s+([\d.]+)/);
      if (!m) throw new Error(`Cannot read wrk's Requests/sec in: ${stdout.slice(-300)}`);
      return Number(m[1]);
    };
    const script = join(env.workDir, "self-wrk.lua");
    await Deno.writeTextFile(script, wrkScript([]));
    const measure = async (side: Side, i: number) => {
      const s0 = stat();
      const n0 = nginxTicks();
      let rate: number;
      let stdout: string;
      if (side === "raw") {
        // Raw wrk, same nginx, same threads and connections, its own report.
        stdout = (await realRunner.run(
          [state.bin.wrk, `-t${threads}`, `-c${connections}`, `-d${durationS}s`, url],
          { timeoutMs: (durationS + 30) * 1000 },
        )).stdout;
        rate = wrkRate(stdout);
      } else if (side === "cmd") {
        // meshbench's wrk command line (its Lua script, --latency, --timeout), run bare:
        // no adapter, no sampler. Rate as meshbench reads it.
        stdout = (await realRunner.run(
          wrkCommand({ wrk: state.bin.wrk, script, url, threads, connections, durationS }),
          { timeoutMs: (durationS + 30) * 1000 },
        )).stdout;
        rate = parseWrk(stdout, { connections, toolVersion: "self" }).achievedRate;
      } else {
        // meshbench's path: its wrk adapter (script, parsing) on one replica, 2 threads, with
        // the resource sampler of the local target's runLoad running beside it ("ours"), or
        // without it ("adapter": what the sampler costs is the difference).
        const w = { ...httpWorkload, replicas: threads };
        const sampler = side === "ours" ? new ResourceSampler(nginx) : null;
        sampler?.start();
        let r;
        try {
          r = await w.run(
            env,
            { ...spec, seq: i + 1 },
            [port],
            `raw/self_${side}_${i}`,
            (pid) => sampler?.add({ name: "loadgen-wrk", component: "loadgen", pid }),
          );
        } finally {
          sampler?.stop();
        }
        rate = r.load.achievedRate;
        stdout = await Deno.readTextFile(join(runDir, r.raw[0]));
      }
      const s1 = stat();
      const cpu = {
        deno: (s1.self - s0.self) / CLK_TCK,
        wrk: (s1.children - s0.children) / CLK_TCK,
        nginx: (nginxTicks() - n0) / CLK_TCK,
      };
      return { rate, wrkRate: wrkRate(stdout), cpu };
    };
    // Unmeasured: the first load after deploy meets cold caches and a fresh nginx.
    for (const side of sides) await measure(side, -1);
    // Rotate which goes first, so drift does not favour one side.
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(i + k) % sides.length];
        runs[side].push(await measure(side, i));
      }
    }
    const stats = (side: Side) => {
      const rs = runs[side];
      const cpu = (f: (c: CpuSeconds) => number) => median(rs.map((r) => f(r.cpu)));
      return {
        rates: rs.map((r) => r.rate),
        wrkRates: rs.map((r) => r.wrkRate),
        medianRate: median(rs.map((r) => r.rate)),
        cpuSecondsMedian: {
          deno: cpu((c) => c.deno),
          wrk: cpu((c) => c.wrk),
          nginx: cpu((c) => c.nginx),
        },
        // All three processes, per request wrk counted: steadier than throughput under load.
        cpuUsPerRequest: median(
          rs.map((r) => (r.cpu.deno + r.cpu.wrk + r.cpu.nginx) * 1e6 / (r.wrkRate * durationS)),
        ),
      };
    };
    const raw = stats("raw");
    const cmd = stats("cmd");
    const adapter = stats("adapter");
    const ours = stats("ours");
    // Each round runs the three sides back to back (a block): the ratio within a round leaves
    // out what drifts from round to round (other processes' load), so the estimate is the
    // median of the rounds' ratios, with the sign test's interval (no assumption about the
    // noise, which comes in bursts of other processes).
    const pairs = (side: Side) => runs[side].map((r, i) => r.rate / runs.raw[i].rate);
    const pair = (side: Side) => median(pairs(side));
    return {
      rounds,
      durationS,
      threads,
      connections,
      raw,
      cmd,
      ours,
      // Headline: meshbench's reported max throughput over raw wrk's, the median of the
      // rounds' ratios; the ratio of the medians (which ignores the rounds) beside it.
      medianPairRatio: pair("ours"),
      pairRatios: pairs("ours"),
      pairInterval: medianInterval(pairs("ours")),
      ratio: ours.medianRate / raw.medianRate,
      cmdPairRatios: pairs("cmd"),
      // Each side takes each place in the order equally often only when rounds % 4 == 0.
      orderBalanced: rounds % sides.length === 0,
      cmdRatio: cmd.medianRate / raw.medianRate,
      cmdPairRatio: pair("cmd"),
      adapterRatio: adapter.medianRate / raw.medianRate,
      adapterPairRatio: pair("adapter"),
      adapter,
    };
  } finally {
    await stageCleanup(runDir, deps);
    release();
    await Deno.remove(out, { recursive: true });
  }
}

async function wallRatio() {
  const out = await Deno.makeTempDir({ prefix: "meshbench-self-wall-" });
  const t0 = performance.now();
  // The runner throws with the command and its stderr tail when bench:all fails.
  await realRunner.run([
    Deno.execPath(),
    "run",
    "-A",
    join(ROOT, "tasks", "bench_all.ts"),
    "--profile",
    "quick",
    "--out",
    out,
    "--quiet",
  ], { cwd: ROOT });
  const wall = (performance.now() - t0) / 1000;
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
    const { stdout } = await realRunner.run([Deno.execPath(), "run", "-A", script, ...args], {
      cwd: ROOT,
    });
    return JSON.parse(stdout.trim().split("\n").pop()!);
  };
  const out = await Deno.makeTempDir({ prefix: "meshbench-scale-" });
  try {
    const { runDir } = await run(["generate", String(n), out]);
    const measured = await run(["measure", runDir]);
    return { ...measured, breakdown: await run(["breakdown", runDir]) };
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
    rounds: {
      type: "string",
      arg: "N",
      help: "(a): rounds of the four sides (default 8; a multiple of 4 balances their order)",
    },
    seconds: { type: "string", arg: "S", help: "(a): seconds of each wrk run (default 5)" },
  },
};

if (import.meta.main) {
  // Errors end as one line on stderr and an exit code (bad flags 2, missing tools 3, else 1).
  await main(SPEC, () => selfBench(parseArgsFor(SPEC, Deno.args).values), {
    close: closeTargets,
  });
}

async function selfBench(values: Record<string, unknown>): Promise<number> {
  const only = values.only as string | undefined;
  if (only !== undefined && !/^[abcd]+$/.test(only)) {
    throw new UsageError(
      `Invalid --only: expected parts among a, b, c, d (e.g. "bd"), got "${only}"`,
    );
  }
  const count = (name: "rounds" | "seconds", fallback: number) => {
    const v = values[name] as string | undefined;
    if (v === undefined) return fallback;
    if (!/^[1-9]\d*$/.test(v)) {
      throw new UsageError(`Invalid --${name}: expected a positive integer, got "${v}"`);
    }
    return Number(v);
  };
  const rounds = count("rounds", 8);
  const seconds = count("seconds", 5);
  const load = Deno.loadavg();
  const want = (part: string) => !only || only.includes(part);
  const part = async <T>(p: string, what: string, fn: () => Promise<T>) => {
    if (!want(p)) return undefined;
    console.error(`(${p}) ${what} ...`);
    return await fn();
  };
  const a = await part(
    "a",
    `throughput: meshbench vs raw wrk, ${rounds} rounds x 4 sides x ${seconds} s`,
    () => throughputRatio(rounds, seconds),
  );
  const b = await part("b", "wall time of bench:all --profile quick", wallRatio);
  const c = await part(
    "c",
    "summary + report over 10,000 synthetic records",
    () => summaryScale(10_000),
  );
  const d = await part("d", "every notebook against the fixture runs", notebookTime);
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
    const cpu = (x: typeof a.raw) =>
      `Deno ${x.cpuSecondsMedian.deno.toFixed(2)}, wrk ${x.cpuSecondsMedian.wrk.toFixed(2)}, ` +
      `nginx ${x.cpuSecondsMedian.nginx.toFixed(2)} s; ${x.cpuUsPerRequest.toFixed(2)} us/request`;
    lines.push(
      `(a) max throughput meshbench/raw wrk, median of the rounds' ratios: ${
        a.medianPairRatio.toFixed(3)
      } (sign-test interval ${a.pairInterval.lo.toFixed(3)}-${a.pairInterval.hi.toFixed(3)}, ${
        (a.pairInterval.coverage * 100).toFixed(0)
      } %, over ${a.rounds} rounds${
        a.pairInterval.lo < 0.97 && a.pairInterval.hi >= 0.97 ? "; it holds 0.97" : ""
      })  goal >= 0.97: ${ok(a.medianPairRatio >= 0.97)}`,
      `    ratio of the medians (ignores the rounds): ${a.ratio.toFixed(3)} (${
        a.ours.medianRate.toFixed(0)
      } vs ${a.raw.medianRate.toFixed(0)} req/s)${
        a.orderBalanced
          ? ""
          : "; rounds not a multiple of 4: each side's place in the order is unbalanced"
      }`,
      `    rounds' ratios: ${a.pairRatios.map((x) => x.toFixed(3)).join(" ")}`,
      `    meshbench's wrk command line run bare / raw wrk: median of the rounds' ratios ${
        a.cmdPairRatio.toFixed(3)
      } (ratio of the medians ${a.cmdRatio.toFixed(3)}, ${a.cmd.medianRate.toFixed(0)} req/s)`,
      `    meshbench's adapter without the sampler / raw wrk: median of the rounds' ratios ${
        a.adapterPairRatio.toFixed(3)
      } (ratio of the medians ${a.adapterRatio.toFixed(3)}, ${
        a.adapter.medianRate.toFixed(0)
      } req/s)`,
      `    CPU seconds per ${a.durationS} s run (medians of ${a.rounds}): raw wrk: ${cpu(a.raw)}`,
      `      meshbench's command line bare: ${cpu(a.cmd)}`,
      `      meshbench's adapter without the sampler: ${cpu(a.adapter)}`,
      `      meshbench (adapter + sampler): ${cpu(a.ours)}`,
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
    const cpu = c.summaryCpuSeconds + c.reportCpuSeconds;
    lines.push(
      `(c) summary + report of ${c.records} records: wall ${c.totalSeconds.toFixed(2)} s, CPU ${
        cpu.toFixed(2)
      } s (summary ${c.summarySeconds.toFixed(2)} s / CPU ${
        c.summaryCpuSeconds.toFixed(2)
      } s, report ${c.reportSeconds.toFixed(2)} s / CPU ${
        c.reportCpuSeconds.toFixed(2)
      } s); peak RSS ${c.peakRssMB.toFixed(0)} MB (after the summary ${
        c.peakRssAfterSummaryMB.toFixed(0)
      } MB)`,
      `    goal <= 2 s: wall ${ok(c.totalSeconds <= 2)}, CPU ${ok(cpu <= 2)}; goal <= 500 MB: ${
        ok(c.peakRssMB <= 500)
      }`,
      `    where the CPU goes (pieces run one by one): ${
        Object.entries(c.breakdown as Record<string, { cpuSeconds: number }>)
          .map(([k, v]) => `${k} ${v.cpuSeconds.toFixed(2)} s`).join(", ")
      }`,
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
  return 0;
}
