/**
 * The WebSocket client's own ceiling: the highest message rate meshbench's client
 * (`lib/tools/ws_client.ts`) sustains against the echo servers on loopback with no mesh in
 * between, while its timing is still sane. The rates the websocket workload tests must stay
 * well below it, or the client (not the mesh) would be what the results measure.
 *
 * A rate passes when every message is echoed (0 errors), the achieved rate is within 2 % of
 * the requested one, the client's own median send lag (actual minus scheduled send time) is
 * at most 0.5 ms (a client that cannot keep up falls behind on every message, so its median
 * grows), and the round-trip p99 is at most 50 ms (sane; the tail also moves with whatever
 * else the machine runs, so it gets room). The ceiling is the highest rate of the ladder
 * below which every step passed; the ladder stops at the first failure unless --keep-going.
 *
 * Measured on the 2-core dev machine (Debian 12, Deno 2.9, 50 connections, 3 echo servers on
 * the same cores, other developers' work running, load average about 7), two ladders a minute
 * apart: one passed up to 96,000 messages/s (send lag p50 0.36 ms, client 0.76 cores) and fell
 * behind at 128,000/s (achieved 117,203/s, send lag p50 7.9 ms); the other stopped at 32,000/s
 * on a round-trip p99 of 102 ms (send lag p50 still 0.16 ms: the machine's noise, not the
 * client). So the ceiling is 16,000-96,000/s; the profiles test at most 2,000/s, 8-48x below.
 *
 * ```sh
 * deno task bench:ws-ceiling [--connections 50] [--duration 3] [--rates 1000,2000,...]
 *                            [--servers 3] [--keep-going]
 * ```
 *
 * Writes `bench/out/ws_client_ceiling.json` and prints a table.
 *
 * @module
 */
import { EXIT, parseTaskArgs, type TaskSpec } from "../lib/cli.ts";
import { realRunner } from "../lib/command.ts";
import { summarize } from "../lib/histogram.ts";
import type { Histogram } from "../lib/types.ts";
import { runWsLoad } from "../lib/tools/ws_client.ts";
import { freePort, startServer } from "../lib/process.ts";
import { WS_CONNECTIONS, WS_MESSAGE_BYTES } from "../lib/workloads/websocket.ts";
import { PROFILES } from "../lib/config.ts";

const CLK_TCK = 100;

/** CPU seconds a process has used so far, from /proc (undefined once it is gone). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** One step of the ladder. */
export interface CeilingStep {
  rate: number;
  achieved: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  sendLagP50Ms: number;
  sendLagP99Ms: number;
  clientCpuCores: number;
  pass: boolean;
  why: string;
}

const SPEC: TaskSpec = {
  name: "bench:ws-ceiling",
  description: "The WebSocket load client's own ceiling (messages/s) against echo servers on " +
    "loopback.",
  flags: {
    connections: {
      type: "string",
      arg: "N",
      help: `connections (1 to 10000; default: ${WS_CONNECTIONS})`,
    },
    duration: {
      type: "string",
      arg: "S",
      help: "seconds per rate (above 0, at most 600; default: 3)",
    },
    rates: {
      type: "string",
      arg: "R1,R2",
      help: "message rates (1 to 1000000; default: 1000,2000,...,128000)",
    },
    servers: { type: "string", arg: "N", help: "echo servers (1 to 64; default: 3)" },
    "keep-going": { type: "boolean", help: "go on past the first rate that misses" },
  },
};

async function main() {
  const parsed = parseTaskArgs(SPEC, Deno.args);
  if (typeof parsed === "number") Deno.exit(parsed);
  const values = {
    connections: String(WS_CONNECTIONS),
    duration: "3",
    rates: "1000,2000,4000,8000,16000,32000,64000,96000,128000",
    servers: "3",
    "keep-going": false,
    ...parsed.values,
  } as {
    connections: string;
    duration: string;
    rates: string;
    servers: string;
    "keep-going": boolean;
  };
  const number = (name: string, text: string, max: number, integer = true): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || !(n > 0) || n > max || (integer && !Number.isInteger(n))) {
      console.error(
        `error: Invalid --${name}: expected ${integer ? "an integer" : "a number"} above 0 ` +
          `and at most ${max}, got "${text}"`,
      );
      Deno.exit(EXIT.usage);
    }
    return n;
  };
  const connections = number("connections", values.connections, 10000);
  const durationS = number("duration", values.duration, 600, false);
  const rates = values.rates.split(",").map((r) => number("rates", r.trim(), 1_000_000));
  const nServers = number("servers", values.servers, 64);

  const echo = new URL("../servers/ws_echo.ts", import.meta.url).pathname;
  const ports = Array.from({ length: nServers }, () => freePort());
  const servers = await Promise.all(
    ports.map((port) =>
      startServer(
        [Deno.execPath(), "run", "--quiet", "--allow-net", echo, "--port", String(port)],
        {
          name: `ws_echo:${port}`,
          ready: /listening on/,
        },
      )
    ),
  );
  const steps: CeilingStep[] = [];
  try {
    for (const rate of rates) {
      let pid = 0;
      let lastCpu = 0;
      const sampler = setInterval(() => {
        const c = pid ? cpuSeconds(pid) : undefined;
        if (c !== undefined) lastCpu = c;
      }, 100);
      const t0 = performance.now();
      let run;
      try {
        run = await runWsLoad(realRunner, {
          urls: ports.map((p) => `ws://127.0.0.1:${p}/`),
          connections,
          rate,
          durationS,
          messageBytes: WS_MESSAGE_BYTES,
        }, { onSpawn: (p) => (pid = p) });
      } finally {
        clearInterval(sampler);
      }
      const wallS = (performance.now() - t0) / 1000;
      const r = run.result;
      const lat = summarize(r.latency);
      const lag = summarize(r.extra?.sendLag as Histogram);
      const why: string[] = [];
      if (r.errors > 0) why.push(`${r.errors} errors ${JSON.stringify(r.errorKinds)}`);
      if (r.achievedRate < rate * 0.98) why.push(`achieved ${r.achievedRate.toFixed(0)}/s`);
      if (lag.p50Ms > 0.5) why.push(`send lag p50 ${lag.p50Ms} ms`);
      if (lat.p99Ms > 50) why.push(`round-trip p99 ${lat.p99Ms} ms`);
      const step: CeilingStep = {
        rate,
        achieved: Math.round(r.achievedRate),
        errors: r.errors,
        p50Ms: lat.p50Ms,
        p99Ms: lat.p99Ms,
        sendLagP50Ms: lag.p50Ms,
        sendLagP99Ms: lag.p99Ms,
        // Over the whole process life (start-up and connection set-up included): an upper bound.
        clientCpuCores: Math.round((lastCpu / wallS) * 100) / 100,
        pass: why.length === 0,
        why: why.join("; ") || "ok",
      };
      steps.push(step);
      console.log(
        `${String(rate).padStart(6)}/s  achieved ${String(step.achieved).padStart(6)}/s  ` +
          `p50 ${step.p50Ms.toFixed(3)} ms  p99 ${step.p99Ms.toFixed(3)} ms  ` +
          `send-lag p50 ${step.sendLagP50Ms.toFixed(3)} p99 ${
            step.sendLagP99Ms.toFixed(3)
          } ms  client CPU ${step.clientCpuCores} ` +
          `cores  ${step.pass ? "PASS" : `FAIL (${step.why})`}`,
      );
      if (!step.pass && !values["keep-going"]) break;
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  // The highest rate below which every step passed.
  const firstFail = steps.findIndex((s) => !s.pass);
  const ceiling = (firstFail === -1 ? steps : steps.slice(0, firstFail)).at(-1)?.rate ?? 0;
  const highestTested = Math.max(
    ...Object.values(PROFILES).flatMap((p) => (p.load?.rates ?? []) as number[]),
    500,
  );
  const out = {
    kind: "meshbench.bench.ws-client-ceiling",
    at: new Date().toISOString(),
    connections,
    durationS,
    servers: nServers,
    messageBytes: WS_MESSAGE_BYTES,
    steps,
    ceilingMessagesPerS: ceiling,
    highestProfileRate: highestTested,
    headroom: ceiling / highestTested,
  };
  const dir = new URL("./out/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}ws_client_ceiling.json`, JSON.stringify(out, null, 2) + "\n");
  console.log(
    `\nCeiling: ${ceiling} messages/s with ${connections} connections on this machine ` +
      `(${nServers} echo servers on the same cores); the profiles test at most ${highestTested}/s: ` +
      `headroom x${(ceiling / highestTested).toFixed(1)}`,
  );
  if (ceiling < highestTested * 3) {
    console.log("WARNING: less than 3x headroom: the websocket results may measure the client");
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
