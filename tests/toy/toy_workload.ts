/**
 * A toy workload, defined in this file only: a Deno HTTP server and a sequential fetch
 * client that times every request as processes; in pods, the same server from its manifest
 * (`toy.yaml`, beside this file) loaded by fortio, with a baseline twin namespace.
 *
 * @module
 */
import { join } from "node:path";
import { HistogramRecorder } from "../../lib/histogram.ts";
import type { Workload, WorkloadEnv } from "../../lib/workload.ts";

const SERVER = new URL("./toy_server.ts", import.meta.url).pathname;

async function get(port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
  const body = await res.text();
  if (res.status !== 200 || body !== "ok") {
    throw new Error(`toy probe of 127.0.0.1:${port}: status ${res.status}, body "${body}"`);
  }
}

/** `count` requests spread over `ports`, each timed in microseconds. */
async function drive(ports: number[], count: number) {
  const rec = new HistogramRecorder();
  const times: number[] = [];
  let errors = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    try {
      await get(ports[i % ports.length]);
      const us = (performance.now() - t0) * 1000;
      rec.record(us);
      times.push(us);
    } catch {
      errors++;
    }
  }
  return { rec, times, errors };
}

export const toyWorkload: Workload = {
  name: "toy",
  namespace: "toy-benchmark",
  protocol: "http",
  replicas: 2,
  tools: [],
  points: (config) => [{
    mode: "fixed-rate",
    tool: "toy-client",
    rate: config.load.rates[0],
    connections: 1,
    durationS: config.load.durationS,
  }],
  pod: {
    driver: "fortio",
    points: (config) => [{
      mode: "fixed-rate",
      tool: "fortio",
      rate: config.load.rates[0],
      connections: 1,
      durationS: config.load.durationS,
    }],
    fortio: (namespace) => ({
      address: `http://toy-server.${namespace}.svc.cluster.local:80/`,
      protocol: "http",
    }),
    manifest: "tests/toy/toy.yaml",
    baseline: { namespace: "baseline-toy", nodePortOffset: 0 },
  },
  server: (_env: WorkloadEnv, _index: number, port: number) =>
    Promise.resolve({ cmd: [Deno.execPath(), "run", "--allow-net", SERVER, String(port)] }),
  async probe(_env, ports) {
    for (const p of ports) await get(p);
  },
  async warmup(_env, ports, seconds) {
    if (seconds > 0) await drive(ports, 5);
  },
  async run(env, spec, ports, rawStem) {
    const count = Math.max(1, Math.round(spec.point.rate! * spec.point.durationS));
    const t0 = performance.now();
    const { rec, times, errors } = await drive(ports, count);
    const durationS = (performance.now() - t0) / 1000;
    const raw = `${rawStem}.txt`;
    await Deno.mkdir(join(env.runDir, "raw"), { recursive: true });
    await Deno.writeTextFile(join(env.runDir, raw), times.map((t) => t.toFixed(1)).join("\n"));
    return {
      load: {
        tool: "toy-client",
        toolVersion: "1",
        timing: "closed-loop",
        requestedRate: spec.point.rate,
        achievedRate: times.length / durationS,
        durationS,
        connections: 1,
        operations: count,
        errors,
        errorKinds: errors ? { fetch: errors } as Record<string, number> : {},
        bytesIn: times.length * 2,
        bytesOut: 0,
        latency: rec.toHistogram(),
      },
      raw: [raw],
    };
  },
};
