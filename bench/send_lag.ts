/**
 * How precise is the local target's HTTP load generator? (`deno task bench:send-lag`)
 *
 * vegeta sends each request a little after its intended time; that send lag is in every
 * response time meshbench reports (timed from the intended send, issue #11 item 4). This
 * runs vegeta at the config's default rate and duration against three real nginx replicas
 * on loopback (as the http workload's baseline) under each candidate generator setting,
 * the candidates interleaved round by round so drift of the machine's load falls on all of
 * them, and prints side by side per candidate: send-lag p50/p99, the baseline's p50 service
 * time (vegeta's own latency, from the actual send: the system's figure, without the lag),
 * the response-time p50 (from the intended send), and the ratio the `generator-limited` flag
 * reads: send-lag p99 / service p50 (goal on an idle 2-core machine: under 10 %), both against
 * the candidate's own service p50 and against the lowest of all candidates (one yardstick:
 * pinning nginx to one CPU slows it, which flatters its own ratio). The candidate with the
 * lowest median over rounds of the common ratio is the one to choose.
 *
 * Candidates: vegeta as it comes; GOMAXPROCS=1; workers fixed at the connection count; vegeta
 * pinned to CPU 1 with the servers free; vegeta pinned to CPU 1 and nginx to CPU 0; the last
 * with GOMAXPROCS=1 too. As a reference beside them, meshbench's own WebSocket client at the
 * same rate against three echo servers (its pacer does not sleep in Go's millisecond epoll
 * timeouts): its send lag against the same yardstick. The figures depend on the machine's load: the load average is
 * printed with them. Writes `bench/out/send-lag-<time>.json`.
 *
 * Flags: `--rounds N` (default 3), `--rate R` and `--duration S` (default: the config's).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CONFIG_DEFAULTS } from "../lib/config_schema.ts";
import { realRunner } from "../lib/command.ts";
import { findBinary } from "../lib/binaries.ts";
import { mergeHistograms, percentile } from "../lib/histogram.ts";
import { sendTimingOf } from "../lib/send_timing.ts";
import { startTestNginx, type TestNginx } from "../lib/testenv/nginx.ts";
import { freePort, type ServerProcess, startServer } from "../lib/process.ts";
import { runWsLoad } from "../lib/tools/ws_client.ts";
import {
  parseVegetaCsv,
  vegetaAttackCommand,
  type VegetaGenerator,
  vegetaResult,
} from "../lib/tools/vegeta.ts";
import type { Histogram } from "../lib/types.ts";

/** A generator setting to measure, and where the servers run beside it. */
export interface Candidate {
  name: string;
  generator: VegetaGenerator;
  /** CPUs nginx is pinned to; free when absent. */
  serverCpus?: string;
}

const CONNECTIONS = CONFIG_DEFAULTS.load.connections;

/** The settings measured, in the order each round runs them. */
export const CANDIDATES: Candidate[] = [
  { name: "vegeta as it comes", generator: {} },
  { name: "GOMAXPROCS=1", generator: { gomaxprocs: 1 } },
  {
    name: `workers=${CONNECTIONS}`,
    generator: { workers: CONNECTIONS, maxWorkers: CONNECTIONS },
  },
  { name: "vegeta on CPU 1", generator: { cpus: "1" } },
  { name: "vegeta CPU 1, nginx CPU 0", generator: { cpus: "1" }, serverCpus: "0" },
  {
    name: "vegeta CPU 1 GOMAXPROCS=1, nginx CPU 0",
    generator: { cpus: "1", gomaxprocs: 1 },
    serverCpus: "0",
  },
];

interface Sample {
  sendLag: Histogram;
  service: Histogram;
  response: Histogram;
}

async function measure(
  c: Candidate,
  rate: number,
  durationS: number,
  dir: string,
): Promise<Sample> {
  const servers: TestNginx[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startTestNginx({ cpus: c.serverCpus }));
    const targets = join(dir, "targets");
    await Deno.writeTextFile(targets, servers.map((s) => `GET ${s.url}\n`).join("\n") + "\n");
    const vegeta = findBinary("vegeta")!;
    const out = join(dir, "out.bin");
    // A short unmeasured warm-up: connections open, nginx's workers paged in.
    await realRunner.run(
      vegetaAttackCommand({
        vegeta,
        targetsFile: targets,
        outFile: out,
        rate: 100,
        durationS: 1,
        connections: CONNECTIONS,
        generator: c.generator,
      }),
      { timeoutMs: 60_000 },
    );
    await realRunner.run(
      vegetaAttackCommand({
        vegeta,
        targetsFile: targets,
        outFile: out,
        rate,
        durationS,
        connections: CONNECTIONS,
        generator: c.generator,
      }),
      { timeoutMs: (durationS + 60) * 1000 },
    );
    const csv = (await realRunner.run([vegeta, "encode", "--to", "csv", out])).stdout;
    const load = vegetaResult(parseVegetaCsv(csv), {
      rate,
      durationS,
      connections: CONNECTIONS,
      toolVersion: "bench",
    });
    if (load.errors > 0) {
      throw new Error(
        `${c.name}: ${load.errors} requests failed ${JSON.stringify(load.errorKinds)}`,
      );
    }
    const t = sendTimingOf(load)!;
    return { sendLag: t.sendLag, service: t.serviceTime!, response: load.latency };
  } finally {
    for (const s of servers) await s.stop();
  }
}

const ms = (us: number) => us / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

/** Send lag and the ratio per candidate, pooled over rounds and per round. */
export interface CandidateFigures {
  name: string;
  generator: VegetaGenerator;
  serverCpus: string | null;
  sendLagP50Ms: number;
  sendLagP99Ms: number;
  serviceP50Ms: number;
  responseP50Ms: number;
  /** Send-lag p99 / its own service p50, %, of the pooled histograms: what the flag reads. */
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
}

/**
 * A reference, not an HTTP candidate: meshbench's own WebSocket client (its pacer waits on a
 * futex in a worker, with sub-millisecond timeouts) at the same rate against three real echo
 * servers: how late a pacer that does not sleep in Go's millisecond epoll timeouts sends on
 * this machine now, the figure a paced HTTP client built the same way could start from.
 */
async function wsReference(rate: number, durationS: number): Promise<Histogram> {
  const echo = new URL("../servers/ws_echo.ts", import.meta.url).pathname;
  const servers: ServerProcess[] = [];
  try {
    const ports = [freePort(), freePort(), freePort()];
    for (const port of ports) {
      servers.push(
        await startServer([Deno.execPath(), "run", "--allow-net", echo, "--port", String(port)], {
          name: "ws_echo",
          ready: /listening on/,
        }),
      );
    }
    const { result } = await runWsLoad(realRunner, {
      urls: ports.map((p) => `ws://127.0.0.1:${p}/`),
      connections: CONNECTIONS,
      rate,
      durationS,
    });
    return sendTimingOf(result)!.sendLag;
  } finally {
    for (const s of servers) await s.stop();
  }
}

/** The WebSocket client's send lag against the same yardstick (no service time of its own). */
export interface WsReferenceFigures {
  name: string;
  sendLagP50Ms: number;
  sendLagP99Ms: number;
  commonRatioPct: number;
  roundRatiosPct: number[];
  medianRoundRatioPct: number;
}

/** Runs every candidate `rounds` times, interleaved, and returns their figures. */
export async function sendLagBench(
  options: { rounds: number; rate: number; durationS: number },
): Promise<{ candidates: CandidateFigures[]; wsReference: WsReferenceFigures }> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-send-lag-" });
  const samples = new Map<string, Sample[]>(CANDIDATES.map((c) => [c.name, []]));
  const wsLags: Histogram[] = [];
  try {
    for (let r = 1; r <= options.rounds; r++) {
      for (const c of CANDIDATES) {
        const s = await measure(c, options.rate, options.durationS, dir);
        samples.get(c.name)!.push(s);
        console.error(
          `round ${r} ${c.name}: send lag p99 ${ms(percentile(s.sendLag, 99)).toFixed(3)} ms, ` +
            `service p50 ${ms(percentile(s.service, 50)).toFixed(3)} ms`,
        );
      }
      const lag = await wsReference(options.rate, options.durationS);
      wsLags.push(lag);
      console.error(
        `round ${r} ws-client reference: send lag p99 ${ms(percentile(lag, 99)).toFixed(3)} ms`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const serviceP50 = (s: Sample) => percentile(s.service, 50);
  const pooledServiceP50 = CANDIDATES.map((c) =>
    percentile(mergeHistograms(samples.get(c.name)!.map((s) => s.service)), 50)
  );
  const reference = Math.min(...pooledServiceP50);
  const roundReference = Array.from(
    { length: options.rounds },
    (_, r) => Math.min(...CANDIDATES.map((c) => serviceP50(samples.get(c.name)![r]))),
  );
  const wsLag = mergeHistograms(wsLags);
  const wsRounds = wsLags.map((l, r) => percentile(l, 99) / roundReference[r] * 100);
  const figures = CANDIDATES.map((c) => {
    const ss = samples.get(c.name)!;
    const rounds = ss.map((s, r) => percentile(s.sendLag, 99) / roundReference[r] * 100);
    const lag = mergeHistograms(ss.map((s) => s.sendLag));
    const service = mergeHistograms(ss.map((s) => s.service));
    const response = mergeHistograms(ss.map((s) => s.response));
    return {
      name: c.name,
      generator: c.generator,
      serverCpus: c.serverCpus ?? null,
      sendLagP50Ms: ms(percentile(lag, 50)),
      sendLagP99Ms: ms(percentile(lag, 99)),
      serviceP50Ms: ms(percentile(service, 50)),
      responseP50Ms: ms(percentile(response, 50)),
      ratioPct: percentile(lag, 99) / percentile(service, 50) * 100,
      commonRatioPct: percentile(lag, 99) / reference * 100,
      roundRatiosPct: rounds,
      medianRoundRatioPct: median(rounds),
    };
  });
  return {
    candidates: figures,
    wsReference: {
      name: "ref: ws-client (futex pacer, WebSocket)",
      sendLagP50Ms: ms(percentile(wsLag, 50)),
      sendLagP99Ms: ms(percentile(wsLag, 99)),
      commonRatioPct: percentile(wsLag, 99) / reference * 100,
      roundRatiosPct: wsRounds,
      medianRoundRatioPct: median(wsRounds),
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string" }, rate: { type: "string" }, duration: { type: "string" } },
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
  if (!findBinary("vegeta") || !findBinary("nginx") || !findBinary("taskset")) {
    console.error("Cannot run bench:send-lag: vegeta, nginx and taskset must be installed");
    Deno.exit(2);
  }
  const loadBefore = Deno.loadavg();
  const { candidates: figures, wsReference: ws } = await sendLagBench({ rounds, rate, durationS });
  const loadAfter = Deno.loadavg();
  console.log(
    `send lag vs the baseline's p50 at ${rate}/s, ${durationS} s x ${rounds} rounds, ` +
      `${navigator.hardwareConcurrency} CPUs, load average ${loadBefore[0].toFixed(1)} -> ${
        loadAfter[0].toFixed(1)
      } (goal on an idle machine: send-lag p99 < 10 % of the baseline p50)`,
  );
  console.log(
    "candidate".padEnd(40) + "lag p50".padStart(9) + "lag p99".padStart(9) +
      "svc p50".padStart(9) + "resp p50".padStart(9) + "  own" + "  common" +
      "  median of rounds (per round)",
  );
  for (const f of figures) {
    console.log(
      f.name.padEnd(40) + f.sendLagP50Ms.toFixed(3).padStart(9) +
        f.sendLagP99Ms.toFixed(3).padStart(9) + f.serviceP50Ms.toFixed(3).padStart(9) +
        f.responseP50Ms.toFixed(3).padStart(9) + `${f.ratioPct.toFixed(0)}%`.padStart(8) +
        `${f.commonRatioPct.toFixed(0)}%`.padStart(8) +
        `${f.medianRoundRatioPct.toFixed(0)}%`.padStart(9) +
        `  (${f.roundRatiosPct.map((x) => x.toFixed(0)).join(", ")})`,
    );
  }
  console.log(
    ws.name.padEnd(40) + ws.sendLagP50Ms.toFixed(3).padStart(9) +
      ws.sendLagP99Ms.toFixed(3).padStart(9) + "-".padStart(9) + "-".padStart(9) +
      "-".padStart(8) + `${ws.commonRatioPct.toFixed(0)}%`.padStart(8) +
      `${ws.medianRoundRatioPct.toFixed(0)}%`.padStart(9) +
      `  (${ws.roundRatiosPct.map((x) => x.toFixed(0)).join(", ")})`,
  );
  const best = [...figures].sort((a, b) => a.medianRoundRatioPct - b.medianRoundRatioPct)[0];
  console.log(
    `ratios: send-lag p99 over the baseline's p50 service time, in %: "own" against the ` +
      `candidate's own, "common" against the lowest of all candidates; lowest median over ` +
      `rounds: ${best.name} (${best.medianRoundRatioPct.toFixed(0)} %)`,
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
        loadAverage: { before: loadBefore, after: loadAfter },
        figures,
        wsReference: ws,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`written ${file}`);
}
