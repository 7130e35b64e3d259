/**
 * SYNTHETIC run records for scale benchmarks only: shaped like real records,
 * drawn from a seeded generator, never presented as measurements.
 *
 * @module
 */
import { HistogramRecorder, summarize } from "../lib/histogram.ts";
import { seededRandom } from "../lib/stats.ts";
import type { RunRecord } from "../lib/types.ts";
import { SCHEMA_VERSION } from "../lib/types.ts";

/** `count` records over workloads x meshes x rates x iterations (5 iterations each). */
export function syntheticRecords(count: number, seed = 1): RunRecord[] {
  const rand = seededRandom(seed);
  const meshes = ["baseline", "sidecar-emu", "node-proxy-emu", "other-emu"];
  const iterations = 5;
  const perWorkload = meshes.length * iterations * 50;
  const workloads = Math.ceil(count / perWorkload);
  const out: RunRecord[] = [];
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  for (let w = 0; w < workloads && out.length < count; w++) {
    for (let r = 0; r < 50 && out.length < count; r++) {
      for (let i = 1; i <= iterations && out.length < count; i++) {
        for (const [mi, mesh] of meshes.entries()) {
          if (out.length >= count) break;
          const h = new HistogramRecorder();
          const scale = 300 * (1 + 0.3 * mi);
          for (let k = 0; k < 2000; k++) h.record(scale * Math.exp(rand() * rand() * 4));
          const latency = h.toHistogram();
          const seq = out.length + 1;
          out.push({
            kind: "meshbench.run",
            schemaVersion: SCHEMA_VERSION,
            runId: "20260101T000000Z-5e7e71",
            target: "local",
            spec: {
              seq,
              workload: `synthetic-${w}`,
              mesh,
              iteration: i,
              point: {
                mode: "fixed-rate",
                tool: "vegeta",
                rate: 100 * (r + 1),
                connections: 8,
                durationS: 5,
              },
            },
            mesh: {
              name: mesh,
              kind: mi === 0 ? "none" : "sidecar",
              emulated: mi > 0,
              version: "synthetic",
              settings: {},
            },
            status: "ok",
            window: {
              start: new Date(t0 + seq * 6000).toISOString(),
              end: new Date(t0 + seq * 6000 + 5000).toISOString(),
            },
            load: {
              tool: "vegeta",
              toolVersion: "synthetic",
              timing: "intended-send",
              requestedRate: 100 * (r + 1),
              achievedRate: 100 * (r + 1) * (1 - rand() * 0.01),
              durationS: 5,
              connections: 8,
              operations: 2000,
              errors: 0,
              errorKinds: {},
              bytesIn: 2_048_000,
              bytesOut: 0,
              latency,
            },
            latency: summarize(latency),
            resources: [
              {
                component: "app",
                name: "server",
                cpuCores: 0.1 + rand() * 0.01,
                cpuSeconds: 0.5,
                memoryPeakMB: 10,
                samples: 25,
              },
              ...(mi > 0
                ? [{
                  component: "data-plane" as const,
                  name: "proxy",
                  cpuCores: 0.05 * mi + rand() * 0.01,
                  cpuSeconds: 0.25,
                  memoryPeakMB: 20,
                  samples: 25,
                }]
                : []),
            ],
            raw: [],
            gitCommit: "synthetic",
          });
        }
      }
    }
  }
  return out;
}
