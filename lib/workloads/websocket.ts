/**
 * The design's websocket-benchmark: three WebSocket echo servers (`servers/ws_echo.ts`) and
 * meshbench's own open-loop client (`lib/tools/ws_client.ts`, in its own Deno process):
 * {@linkcode WS_CONNECTIONS} long-lived connections sharing each configured rate (messages
 * per second), latency from each message's scheduled send time. The emulated L7 proxies must
 * carry the HTTP/1.1 upgrade (`ws` protocol); L4 proxies carry it as bytes.
 *
 * Connections go round-robin over the replicas on the baseline, and all to the client proxy
 * under a mesh (which spreads them over the replicas).
 *
 * @module
 */
import { join, relative } from "node:path";
import { checkWarmup, type Workload, type WorkloadEnv } from "../workload.ts";
import { runWsLoad } from "../tools/ws_client.ts";
import type { LoadPoint } from "../types.ts";

/** Long-lived connections per run; each configured rate is shared between them. */
export const WS_CONNECTIONS = 50;
/** Bytes per message. */
export const WS_MESSAGE_BYTES = 64;
const ECHO_SERVER = new URL("../../servers/ws_echo.ts", import.meta.url).pathname;

const urls = (ports: number[]) => ports.map((p) => `ws://127.0.0.1:${p}/`);

/** One message round trip on a fresh connection to each port, or it throws saying why. */
export async function wsProbe(ports: number[], timeoutMs = 3000): Promise<void> {
  for (const url of urls(ports)) {
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`WebSocket probe of ${url} failed: no echo within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => ws.send("meshbench-probe");
      ws.onmessage = (e) => {
        clearTimeout(timer);
        ws.onclose = () => {};
        ws.close();
        if (e.data === "meshbench-probe") resolve();
        else {reject(
            new Error(`WebSocket probe of ${url} failed: echo was ${JSON.stringify(e.data)}`),
          );}
      };
      ws.onerror = (e) => {
        clearTimeout(timer);
        reject(
          new Error(
            `WebSocket probe of ${url} failed: ${(e as ErrorEvent).message ?? "socket error"}`,
          ),
        );
      };
    });
  }
}

async function load(
  env: WorkloadEnv,
  ports: number[],
  rate: number,
  durationS: number,
  connections: number,
  onLoadgen?: (pid: number) => void,
) {
  return await runWsLoad(env.runner, {
    urls: urls(ports),
    connections,
    rate,
    durationS,
    messageBytes: WS_MESSAGE_BYTES,
  }, { signal: env.signal, onSpawn: onLoadgen });
}

export const websocketWorkload: Workload = {
  name: "websocket",
  namespace: "websocket-benchmark",
  protocol: "ws",
  replicas: 3,
  tools: [],
  points(config): LoadPoint[] {
    return config.load.rates.map((rate) => ({
      mode: "fixed-rate",
      tool: "ws-client",
      rate,
      connections: WS_CONNECTIONS,
      durationS: config.load.durationS,
    }));
  },
  // The same points in pods: fixed message rates over long-lived connections.
  pod: { driver: "ws-client", points: (config) => websocketWorkload.points(config) },
  server(_env, index, port) {
    return Promise.resolve({
      cmd: [
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-net",
        ECHO_SERVER,
        "--port",
        String(port),
        "--name",
        `ws-${index}`,
      ],
    });
  },
  async probe(_env, ports) {
    await wsProbe(ports);
  },
  async warmup(env, ports, seconds) {
    if (seconds <= 0) return;
    const { result } = await load(env, ports, 100, seconds, 10);
    checkWarmup("WebSocket", "messages", ports, result);
  },
  async run(env, spec, ports, rawStem, onLoadgen) {
    const p = spec.point;
    const { result, raw } = await load(env, ports, p.rate!, p.durationS, p.connections, onLoadgen);
    const path = join(env.runDir, `${rawStem}.ws-client.json`);
    await Deno.writeTextFile(path, raw);
    return { load: result, raw: [relative(env.runDir, path)] };
  },
};
