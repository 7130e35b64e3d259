/**
 * How precise is the local target's HTTP load generator? (`deno task bench:send-lag`)
 *
 * An open-loop generator sends each request a little after its intended time; that send lag is
 * in every response time meshbench reports (timed from the intended send, issue #11 item 4).
 * This runs vegeta under each candidate setting and meshbench's own HTTP client
 * (`lib/tools/http_client.ts`) under each of its own, side by side, at the config's default
 * rate, connections and duration against the same three real nginx replicas on loopback (as
 * the http workload's baseline), the candidates interleaved round by round so drift of the
 * machine's load falls on all of them. Per candidate it prints: send-lag p50/p90/p99, the
 * client's pool-wait p99 (waiting for a free connection: in its response time, not its lag), the
 * baseline's p50 service time (from the actual send: the system's figure, without the lag),
 * the response-time p50 (from the intended send), the generator's own CPU (cores, from
 * `/usr/bin/time`), and the ratio the `generator-limited` flag reads: send-lag p99 / service p50
 * (goal on an idle 2-core machine: under 10 %), both against the candidate's own service p50
 * and against the lowest of all candidates (one yardstick: pinning nginx to one CPU slows it,
 * which flatters its own ratio; and each tool times service from its own send). The candidate
 * with the lowest median over rounds of the common ratio is the one to choose.
 *
 * Candidates: vegeta as it comes; GOMAXPROCS=1; workers fixed at the connection count; vegeta
 * pinned to CPU 1 with the servers free; vegeta pinned to CPU 1 and nginx to CPU 0; the last
 * with GOMAXPROCS=1 too; the client with no spin, a 50 us spin and its default spin before
 * each due time; the client's pacing thread under SCHED_FIFO (needs CAP_SYS_NICE); the client
 * pinned to CPU 1 and nginx to CPU 0; and the floors, each with and without SCHED_FIFO, sending
 * nothing, whose lateness is the machine's: the client's pacing primitives alone
 * (`_pacer_floor.ts`), and the same loop in C (`_pacer_floor.c`, clock_nanosleep and a spin on
 * clock_gettime, built with `cc`; skipped, saying so, when there is no `cc`): the floor without
 * V8, Deno or FFI; and that loop never sleeping (spinning from due time to due time, a whole
 * core), whose lateness is only what interrupts and the hypervisor take from a running thread.
 * For the client and the floor it also prints the sends more than 10 us late by cause (behind,
 * woke late, preempted, stalled; see `LateCause`). The figures depend on the
 * machine's load: the load average is printed with them. Writes
 * `bench/out/send-lag-<time>.json`.
 *
 * Flags: `--rounds N` (default 3), `--rate R` and `--duration S` (default: the config's),
 * `--only a,b` (candidates whose names contain one of these, case-insensitive).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CONFIG_DEFAULTS } from "../lib/config_schema.ts";
import { realRunner } from "../lib/command.ts";
import { findBinary } from "../lib/binaries.ts";
import { HistogramRecorder, mergeHistograms, percentile } from "../lib/histogram.ts";
import { sendTimingOf } from "../lib/send_timing.ts";
import { startTestNginx, type TestNginx } from "../lib/testenv/nginx.ts";
import type { Runner } from "../lib/command.ts";
import { DEFAULT_SPIN_US, effectiveSpinUs, runHttpLoad } from "../lib/tools/http_client.ts";
import {
  parseVegetaCsv,
  vegetaAttackCommand,
  type VegetaGenerator,
  vegetaResult,
} from "../lib/tools/vegeta.ts";
import type { Histogram } from "../lib/types.ts";

/** How a candidate generates the load: vegeta under some setting, or meshbench's client. */
export type Generator =
  | { kind: "vegeta"; settings: VegetaGenerator }
  | {
    kind: "http-client";
    spinUs: number;
    cpus?: string;
    rtPriority?: number;
    /** False: the schedule at whatever phase it starts (the client aligns it by default). */
    tickAlign?: boolean;
    /** The client's `neverSleep`: its pacing thread spins from due time to due time. */
    neverSleep?: boolean;
  }
  /** The client's pacing alone, nothing sent (`bench/_pacer_floor.ts`): the machine's floor. */
  | { kind: "pacer-floor"; spinUs: number; rtPriority?: number }
  /**
   * The same loop in C (`bench/_pacer_floor.c`, built with `cc`): the machine's floor without
   * V8, Deno or FFI in it.
   */
  | {
    kind: "c-floor";
    spinUs: number;
    rtPriority?: number;
    /**
     * Its schedule's phase (`_pacer_floor.c`'s `align`): `tick` (as the client, the default),
     * `none`, or microseconds after a tick point.
     */
    align?: string;
    /**
     * Spin from due time to due time, never sleeping (a whole core): `spinUs` is ignored and
     * no wake-up can be late.
     */
    neverSleep?: boolean;
  };

/** A generator that sends nothing: a floor, whose lateness is the machine's. */
const isFloor = (g: Generator) => g.kind === "pacer-floor" || g.kind === "c-floor";

/** A generator setting to measure, and where the servers run beside it. */
export interface Candidate {
  name: string;
  generator: Generator;
  /** CPUs nginx is pinned to; free when absent. */
  serverCpus?: string;
}

const CONNECTIONS = CONFIG_DEFAULTS.load.connections;
const vegeta = (settings: VegetaGenerator): Generator => ({ kind: "vegeta", settings });
const client = (spinUs: number, cpus?: string, rtPriority?: number): Generator => ({
  kind: "http-client",
  spinUs,
  ...(cpus !== undefined ? { cpus } : {}),
  ...(rtPriority !== undefined ? { rtPriority } : {}),
});

/** The settings measured, in the order each round runs them. */
export const CANDIDATES: Candidate[] = [
  { name: "vegeta as it comes", generator: vegeta({}) },
  { name: "vegeta GOMAXPROCS=1", generator: vegeta({ gomaxprocs: 1 }) },
  {
    name: `vegeta workers=${CONNECTIONS}`,
    generator: vegeta({ workers: CONNECTIONS, maxWorkers: CONNECTIONS }),
  },
  { name: "vegeta on CPU 1", generator: vegeta({ cpus: "1" }) },
  { name: "vegeta CPU 1, nginx CPU 0", generator: vegeta({ cpus: "1" }), serverCpus: "0" },
  {
    name: "vegeta CPU 1 GOMAXPROCS=1, nginx CPU 0",
    generator: vegeta({ cpus: "1", gomaxprocs: 1 }),
    serverCpus: "0",
  },
  { name: "http-client spin 0", generator: client(0) },
  { name: "http-client spin 50 us", generator: client(50) },
  { name: `http-client spin ${DEFAULT_SPIN_US} us (default)`, generator: client(DEFAULT_SPIN_US) },
  {
    name: `http-client spin ${DEFAULT_SPIN_US} us, phase not tick-aligned`,
    generator: { kind: "http-client", spinUs: DEFAULT_SPIN_US, tickAlign: false },
  },
  {
    name: "http-client never sleeping (spins from due time to due time)",
    generator: { kind: "http-client", spinUs: DEFAULT_SPIN_US, neverSleep: true },
  },
  {
    // The spinning pacer on a CPU of its own, the servers on the other: what a machine with a
    // core to spare for the generator would do (here it leaves the servers one core).
    name: "http-client never sleeping, CPU 1, nginx CPU 0",
    generator: { kind: "http-client", spinUs: DEFAULT_SPIN_US, neverSleep: true, cpus: "1" },
    serverCpus: "0",
  },
  {
    name: `http-client spin ${DEFAULT_SPIN_US} us SCHED_FIFO`,
    generator: client(DEFAULT_SPIN_US, undefined, 10),
  },
  {
    name: `http-client spin ${DEFAULT_SPIN_US} us CPU 1, nginx CPU 0`,
    generator: client(DEFAULT_SPIN_US, "1"),
    serverCpus: "0",
  },
  {
    name: `pacer floor spin ${DEFAULT_SPIN_US} us (no sends)`,
    generator: { kind: "pacer-floor", spinUs: DEFAULT_SPIN_US },
  },
  {
    name: `pacer floor spin ${DEFAULT_SPIN_US} us SCHED_FIFO (no sends)`,
    generator: { kind: "pacer-floor", spinUs: DEFAULT_SPIN_US, rtPriority: 10 },
  },
  {
    name: `C floor spin ${DEFAULT_SPIN_US} us (no sends, no V8)`,
    generator: { kind: "c-floor", spinUs: DEFAULT_SPIN_US },
  },
  {
    name: `C floor spin ${DEFAULT_SPIN_US} us SCHED_FIFO (no sends, no V8)`,
    generator: { kind: "c-floor", spinUs: DEFAULT_SPIN_US, rtPriority: 10 },
  },
  {
    name: `C floor spin ${DEFAULT_SPIN_US} us, due 20 us after a tick (no sends, no V8)`,
    generator: { kind: "c-floor", spinUs: DEFAULT_SPIN_US, align: "20" },
  },
  {
    // A spin longer than any interval: the loop never sleeps, so no wake-up can be late; what
    // is late here is the CPU taken from a running thread (interrupts, the hypervisor).
    name: "C floor never sleeping (spins from due time to due time; no sends, no V8)",
    generator: { kind: "c-floor", spinUs: DEFAULT_SPIN_US, neverSleep: true },
  },
];

/** The C compiler the `C floor` candidates are built with, or null when there is none. */
export function cCompiler(): string | null {
  return findBinary("cc") ?? null;
}

/**
 * Builds `bench/_pacer_floor.c` into `dir` with `cc` (optimized, as the client's pacing is);
 * returns the executable's path. Throws with the compiler's output when the build fails.
 */
export async function buildCFloor(cc: string, dir: string): Promise<string> {
  const out = join(dir, "pacer_floor");
  const source = new URL("./_pacer_floor.c", import.meta.url).pathname;
  const r = await new Deno.Command(cc, { args: ["-O2", "-o", out, source], stderr: "piped" })
    .output();
  if (!r.success) {
    throw new Error(`Cannot build ${source} with ${cc}: ${new TextDecoder().decode(r.stderr)}`);
  }
  return out;
}

interface Sample {
  sendLag: Histogram;
  /** Service and response times: none for the pacer floor, which sends nothing. */
  service: Histogram | null;
  response: Histogram | null;
  /** The client's wait for a free connection (not in its send lag); vegeta records none. */
  poolWait?: Histogram;
  /** CPU-seconds the generator process used per second of the run (user + system). */
  cpuCores: number;
  /** The client's sends more than `thresholdUs` late, by cause; vegeta records none. */
  late?: Record<string, number>;
}

/**
 * A runner that runs each command under `/usr/bin/time` and keeps the CPU-seconds it used
 * (`cpu()`): how much of the 2 cores the generator itself takes from the servers.
 */
function timedRunner() {
  let cpuS = 0;
  const runner: Runner = {
    async run(cmd, options) {
      const r = await realRunner.run(
        ["/usr/bin/time", "-f", "meshbench-cpu %U %S", ...cmd],
        options,
      );
      const m = /meshbench-cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
      if (!m) throw new Error(`No CPU time from /usr/bin/time: ${r.stderr.slice(-200)}`);
      cpuS = Number(m[1]) + Number(m[2]);
      return r;
    },
  };
  return { runner, cpu: () => cpuS };
}

async function measureVegeta(
  settings: VegetaGenerator,
  urls: string[],
  rate: number,
  durationS: number,
  dir: string,
): Promise<Sample> {
  const targets = join(dir, "targets");
  await Deno.writeTextFile(targets, urls.map((u) => `GET ${u}\n`).join("\n") + "\n");
  const bin = findBinary("vegeta")!;
  const out = join(dir, "out.bin");
  const attack = (r: number, d: number) =>
    vegetaAttackCommand({
      vegeta: bin,
      targetsFile: targets,
      outFile: out,
      rate: r,
      durationS: d,
      connections: CONNECTIONS,
      generator: settings,
    });
  // A short unmeasured warm-up: connections open, nginx's workers paged in.
  await realRunner.run(attack(100, 1), { timeoutMs: 60_000 });
  const timed = timedRunner();
  await timed.runner.run(attack(rate, durationS), { timeoutMs: (durationS + 60) * 1000 });
  const csv = (await realRunner.run([bin, "encode", "--to", "csv", out])).stdout;
  const load = vegetaResult(parseVegetaCsv(csv), {
    rate,
    durationS,
    connections: CONNECTIONS,
    toolVersion: "bench",
  });
  if (load.errors > 0) {
    throw new Error(`vegeta: ${load.errors} requests failed ${JSON.stringify(load.errorKinds)}`);
  }
  const t = sendTimingOf(load)!;
  return {
    sendLag: t.sendLag,
    service: t.serviceTime!,
    response: load.latency,
    cpuCores: timed.cpu() / durationS,
  };
}

async function measureClient(
  g: Extract<Generator, { kind: "http-client" }>,
  urls: string[],
  rate: number,
  durationS: number,
): Promise<Sample> {
  const options = {
    urls,
    connections: CONNECTIONS,
    spinUs: g.spinUs,
    ...(g.rtPriority !== undefined ? { rtPriority: g.rtPriority } : {}),
    ...(g.tickAlign !== undefined ? { tickAlign: g.tickAlign } : {}),
    ...(g.neverSleep ? { neverSleep: true } : {}),
  };
  const process = g.cpus !== undefined ? { cpus: g.cpus } : {};
  await runHttpLoad(realRunner, { ...options, rate: 100, durationS: 1 }, { process });
  const timed = timedRunner();
  const { result } = await runHttpLoad(timed.runner, { ...options, rate, durationS }, { process });
  if (result.errors > 0) {
    throw new Error(
      `http-client: ${result.errors} requests failed ${JSON.stringify(result.errorKinds)}`,
    );
  }
  const t = sendTimingOf(result)!;
  return {
    sendLag: t.sendLag,
    service: t.serviceTime!,
    response: result.latency,
    poolWait: result.extra?.poolWait as Histogram,
    cpuCores: timed.cpu() / durationS,
    late: (result.extra?.generator as { late?: Record<string, number> } | undefined)?.late,
  };
}

/** The client's pacing alone, in a process of its own: its lag and late causes, its CPU. */
async function measureFloor(
  g: Extract<Generator, { kind: "pacer-floor" }>,
  rate: number,
  durationS: number,
): Promise<Sample> {
  const timed = timedRunner();
  const args = JSON.stringify({ rate, durationS, spinUs: g.spinUs, rtPriority: g.rtPriority ?? 0 });
  const r = await timed.runner.run([
    Deno.execPath(),
    "run",
    "--quiet",
    "--allow-ffi",
    "--allow-read",
    new URL("./_pacer_floor.ts", import.meta.url).pathname,
    args,
  ], { timeoutMs: (durationS + 60) * 1000 });
  const out = JSON.parse(r.stdout) as { sendLag: Histogram; late: Record<string, number> };
  return {
    sendLag: out.sendLag,
    service: null,
    response: null,
    cpuCores: timed.cpu() / durationS,
    late: out.late,
  };
}

/** The C floor (`_pacer_floor.c`, built as `exe`): its lag and late causes, its CPU. */
async function measureCFloor(
  g: Extract<Generator, { kind: "c-floor" }>,
  exe: string,
  rate: number,
  durationS: number,
): Promise<Sample> {
  const timed = timedRunner();
  const r = await timed.runner.run([
    exe,
    String(rate),
    String(Math.round(rate * durationS)),
    // A spin as long as the interval: each due time's wake-up is the previous due time.
    String(g.neverSleep ? Math.ceil(1e6 / rate) : effectiveSpinUs(g.spinUs, rate)),
    String(g.rtPriority ?? 0),
    g.align ?? "tick",
  ], { timeoutMs: (durationS + 60) * 1000 });
  const out = JSON.parse(r.stdout) as { lagNs: number[]; late: Record<string, number> };
  const lag = new HistogramRecorder();
  for (const ns of out.lagNs) lag.record(ns / 1000);
  return {
    sendLag: lag.toHistogram(),
    service: null,
    response: null,
    cpuCores: timed.cpu() / durationS,
    late: out.late,
  };
}

const ms = (us: number) => us / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

/** The late-send counts of a candidate's samples added up (the threshold kept as it is). */
function sumLate(ss: Sample[]): Record<string, number> | null {
  if (!ss.every((s) => s.late)) return null;
  const out: Record<string, number> = {};
  for (const s of ss) {
    for (const [k, v] of Object.entries(s.late!)) {
      out[k] = k === "thresholdUs" ? v : (out[k] ?? 0) + v;
    }
  }
  return out;
}

/** Send lag and the ratio per candidate, pooled over rounds and per round. */
export interface CandidateFigures {
  name: string;
  generator: Generator;
  serverCpus: string | null;
  sendLagP50Ms: number;
  sendLagP90Ms: number;
  sendLagP99Ms: number;
  /** p99 of the client's wait for a free connection (not in its send lag); null for vegeta. */
  poolWaitP99Ms: number | null;
  /** Null for the pacer floor (it sends nothing). */
  serviceP50Ms: number | null;
  responseP50Ms: number | null;
  /** Median over rounds of the generator's CPU use (cores: CPU-seconds per second). */
  cpuCores: number;
  /**
   * Send-lag p99 / its own service p50, %, of the pooled histograms: what the flag reads (the
   * pacer floor's, against the common yardstick).
   */
  ratioPct: number;
  /**
   * Send-lag p99 / the lowest pooled service p50 of all candidates, %: the same yardstick for
   * every candidate (pinning nginx to one CPU slows the servers, which would flatter its own
   * ratio). Candidates are chosen by the median of this over rounds.
   */
  commonRatioPct: number;
  /** The common ratio of each round (against that round's lowest service p50). */
  roundRatiosPct: number[];
  medianRoundRatioPct: number;
  /**
   * The client's sends later than `thresholdUs`, by cause, summed over rounds (see
   * `LateCause` in lib/tools/_http_shared.ts); null for vegeta.
   */
  late: Record<string, number> | null;
}

/**
 * Runs every candidate `rounds` times, interleaved, and returns their figures. In each round,
 * the candidates that leave nginx unpinned load the same three nginx replicas one after
 * another (and those that pin it, a set pinned to its CPU), so vegeta and the client are
 * measured against the same servers.
 */
export async function sendLagBench(
  options: { rounds: number; rate: number; durationS: number; candidates?: Candidate[] },
): Promise<{ candidates: CandidateFigures[] }> {
  const candidates = options.candidates ?? CANDIDATES;
  const dir = await Deno.makeTempDir({ prefix: "meshbench-send-lag-" });
  const samples = new Map<string, Sample[]>(candidates.map((c) => [c.name, []]));
  const placements = [...new Set(candidates.map((c) => c.serverCpus))];
  try {
    let cFloor: string | null = null;
    if (candidates.some((c) => c.generator.kind === "c-floor")) {
      const cc = cCompiler();
      if (cc === null) throw new Error("The C floor candidates need a C compiler (cc)");
      cFloor = await buildCFloor(cc, dir);
    }
    for (let r = 1; r <= options.rounds; r++) {
      for (const cpus of placements) {
        const servers: TestNginx[] = [];
        try {
          for (let i = 0; i < 3; i++) servers.push(await startTestNginx({ cpus }));
          const urls = servers.map((s) => s.url);
          for (const c of candidates.filter((c) => c.serverCpus === cpus)) {
            const g = c.generator;
            const s = g.kind === "vegeta"
              ? await measureVegeta(g.settings, urls, options.rate, options.durationS, dir)
              : g.kind === "pacer-floor"
              ? await measureFloor(g, options.rate, options.durationS)
              : g.kind === "c-floor"
              ? await measureCFloor(g, cFloor!, options.rate, options.durationS)
              : await measureClient(g, urls, options.rate, options.durationS);
            samples.get(c.name)!.push(s);
            console.error(
              `round ${r} ${c.name}: send lag p50 ${ms(percentile(s.sendLag, 50)).toFixed(3)} p99 ${
                ms(percentile(s.sendLag, 99)).toFixed(3)
              } ms, service p50 ${
                s.service ? ms(percentile(s.service, 50)).toFixed(3) : "-"
              } ms, CPU ${s.cpuCores.toFixed(3)} cores${
                s.late ? `, late ${JSON.stringify(s.late)}` : ""
              }`,
            );
          }
        } finally {
          for (const s of servers) await s.stop();
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // The yardstick: the lowest service p50 of the candidates that send (the floor sends none).
  const senders = candidates.filter((c) => !isFloor(c.generator));
  const pooled = (c: Candidate, pick: (s: Sample) => Histogram | null) =>
    isFloor(c.generator) ? null : mergeHistograms(samples.get(c.name)!.map((s) => pick(s)!));
  const reference = Math.min(...senders.map((c) => percentile(pooled(c, (s) => s.service)!, 50)));
  const roundReference = Array.from(
    { length: options.rounds },
    (_, r) => Math.min(...senders.map((c) => percentile(samples.get(c.name)![r].service!, 50))),
  );
  const figures = candidates.map((c) => {
    const ss = samples.get(c.name)!;
    const rounds = ss.map((s, r) => percentile(s.sendLag, 99) / roundReference[r] * 100);
    const lag = mergeHistograms(ss.map((s) => s.sendLag));
    const service = pooled(c, (s) => s.service);
    const response = pooled(c, (s) => s.response);
    return {
      name: c.name,
      generator: c.generator,
      serverCpus: c.serverCpus ?? null,
      sendLagP50Ms: ms(percentile(lag, 50)),
      sendLagP90Ms: ms(percentile(lag, 90)),
      sendLagP99Ms: ms(percentile(lag, 99)),
      poolWaitP99Ms: ss[0]?.poolWait
        ? ms(percentile(mergeHistograms(ss.map((s) => s.poolWait!)), 99))
        : null,
      serviceP50Ms: service ? ms(percentile(service, 50)) : null,
      responseP50Ms: response ? ms(percentile(response, 50)) : null,
      cpuCores: median(ss.map((s) => s.cpuCores)),
      ratioPct: percentile(lag, 99) / (service ? percentile(service, 50) : reference) * 100,
      commonRatioPct: percentile(lag, 99) / reference * 100,
      roundRatiosPct: rounds,
      medianRoundRatioPct: median(rounds),
      late: sumLate(ss),
    };
  });
  return { candidates: figures };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string" },
      rate: { type: "string" },
      duration: { type: "string" },
      only: { type: "string" },
    },
  });
  const int = (flag: string, v: string | undefined, def: number) => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!(n > 0) || !Number.isInteger(n)) {
      console.error(`Cannot run bench:send-lag: --${flag} must be a positive integer, got "${v}"`);
      Deno.exit(2);
    }
    return n;
  };
  const rounds = int("rounds", values.rounds, 3);
  const rate = int("rate", values.rate, CONFIG_DEFAULTS.load.rates[0]);
  const durationS = int("duration", values.duration, CONFIG_DEFAULTS.load.durationS);
  const only = values.only?.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x);
  let candidates = only
    ? CANDIDATES.filter((c) => only.some((o) => c.name.toLowerCase().includes(o)))
    : CANDIDATES;
  if (candidates.length === 0) {
    console.error(
      `Cannot run bench:send-lag: --only "${values.only}" matches no candidate of: ${
        CANDIDATES.map((c) => c.name).join("; ")
      }`,
    );
    Deno.exit(2);
  }
  const cc = cCompiler();
  if (cc === null && candidates.some((c) => c.generator.kind === "c-floor")) {
    console.error(
      "bench:send-lag: skipping the C floor candidates: no C compiler (cc) on PATH to build " +
        "bench/_pacer_floor.c",
    );
    candidates = candidates.filter((c) => c.generator.kind !== "c-floor");
  }
  if (candidates.every((c) => isFloor(c.generator))) {
    console.error(
      `Cannot run bench:send-lag: --only "${values.only}" names only floors (or C floors that cannot be built here), which send ` +
        "nothing: add a sending candidate (its service time is the yardstick)",
    );
    Deno.exit(2);
  }
  for (const tool of ["vegeta", "nginx", "taskset", "/usr/bin/time"]) {
    if (!findBinary(tool) && !(tool.startsWith("/") && await Deno.stat(tool).catch(() => null))) {
      console.error(`Cannot run bench:send-lag: ${tool} must be installed`);
      Deno.exit(2);
    }
  }
  const loadBefore = Deno.loadavg();
  const { candidates: figures } = await sendLagBench({ rounds, rate, durationS, candidates });
  const loadAfter = Deno.loadavg();
  console.log(
    `send lag vs the baseline's p50 at ${rate}/s, ${CONNECTIONS} connections, ${durationS} s x ${rounds} rounds, ` +
      `${navigator.hardwareConcurrency} CPUs, load average ${loadBefore[0].toFixed(1)} -> ${
        loadAfter[0].toFixed(1)
      } (goal on an idle machine: send-lag p99 < 10 % of the baseline p50)`,
  );
  console.log(
    "candidate".padEnd(44) + "lag p50".padStart(9) + "lag p90".padStart(9) +
      "lag p99".padStart(9) + "pool p99".padStart(9) +
      "svc p50".padStart(9) + "resp p50".padStart(9) + "  cores" + "       own" + "    common" +
      "  median of rounds (per round)",
  );
  for (const f of figures) {
    console.log(
      f.name.padEnd(44) + f.sendLagP50Ms.toFixed(3).padStart(9) +
        f.sendLagP90Ms.toFixed(3).padStart(9) + f.sendLagP99Ms.toFixed(3).padStart(9) +
        (f.poolWaitP99Ms === null ? "-" : f.poolWaitP99Ms.toFixed(3)).padStart(9) +
        (f.serviceP50Ms === null ? "-" : f.serviceP50Ms.toFixed(3)).padStart(9) +
        (f.responseP50Ms === null ? "-" : f.responseP50Ms.toFixed(3)).padStart(9) +
        f.cpuCores.toFixed(3).padStart(7) +
        `${f.ratioPct.toFixed(0)}%`.padStart(10) +
        `${f.commonRatioPct.toFixed(0)}%`.padStart(10) +
        `${f.medianRoundRatioPct.toFixed(0)}%`.padStart(9) +
        `  (${f.roundRatiosPct.map((x) => x.toFixed(0)).join(", ")})`,
    );
  }
  for (const f of figures.filter((f) => f.late)) {
    const { thresholdUs, ...causes } = f.late!;
    console.log(
      `${f.name}: sends more than ${thresholdUs} us late, by cause, over all rounds: ${
        Object.entries(causes).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
    );
  }
  const best = [...figures].sort((a, b) => a.medianRoundRatioPct - b.medianRoundRatioPct)[0];
  console.log(
    `lag (the pacer's lateness), pool (the client's wait for a free connection, in its ` +
      `response time, not its lag) and svc (the ` +
      `baseline's p50 service time, from the actual send) in ms; cores: the ` +
      `generator's CPU-seconds per second; ratios: send-lag p99 over the baseline's p50 ` +
      `service time, in %: "own" against the candidate's own, "common" against the lowest of ` +
      `all candidates; lowest median over rounds: ${best.name} (${
        best.medianRoundRatioPct.toFixed(0)
      } %)`,
  );
  const outDir = new URL("./out/", import.meta.url).pathname;
  await Deno.mkdir(outDir, { recursive: true });
  const file = join(outDir, `send-lag-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        rate,
        durationS,
        rounds,
        connections: CONNECTIONS,
        loadAverage: { before: loadBefore, after: loadAfter },
        figures,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`written ${file}`);
}
