/**
 * A run as Service Mesh Performance (SMP) documents, the format Meshery reads
 * (github.com/service-mesh-performance/service-mesh-performance, `protos/`, release v0.6.1:
 * `service_mesh_performance.proto`, `service_mesh.proto`, `metadata.proto`). SMP has no
 * message that holds a whole benchmark, so the export is a list of experiments, one per
 * (workload, mesh, load point) pooled over its iterations, each made of SMP messages:
 * `PerformanceTestConfig` (load generator, protocol, connections, rate, duration),
 * `PerformanceTestResult` (start and end, latency percentiles in ms, achieved rate),
 * `ServiceMeshConfig` (mesh type and version, mTLS, sidecar/data-plane and control-plane CPU
 * and memory; absent for the baseline, which has no mesh, as Meshery stores a no-mesh
 * result) and `EnvironmentConfig` (nodes, the application's CPU and memory). Field names are
 * the protos' own (snake_case, as in SMP's example result YAML; protobuf JSON parsers
 * accept them); enums are written by name. `schema/smp.schema.json` transcribes those
 * messages and a test validates every export against it.
 *
 * @module
 */
import { mean as histogramMean, mergeHistograms, percentile } from "./histogram.ts";
import { usableByPoint } from "./compare.ts";
import type { LoadedRun } from "./load_results.ts";
import type { Component, RunRecord } from "./types.ts";
import type { Measured } from "./metric_values.ts";

/** The SMP release whose protos this export follows. */
export const SMP_VERSION = "v0.6.1";

/** SMP's `ServiceMesh.Type` for the meshes meshbench knows; others are `INVALID_MESH`. */
const MESH_TYPES: Record<string, string> = {
  istio: "ISTIO",
  "istio-ambient": "ISTIO",
  linkerd: "LINKERD",
  cilium: "CILIUM_SERVICE_MESH",
  "cilium-l7": "CILIUM_SERVICE_MESH",
};

/** SMP's `Client.Protocol` per workload (WebSocket starts as HTTP; Redis is plain TCP). */
const PROTOCOLS: Record<string, string> = {
  http: "PROTOCOL_HTTP",
  websocket: "PROTOCOL_HTTP",
  inference: "PROTOCOL_HTTP",
  grpc: "PROTOCOL_GRPC",
  db: "PROTOCOL_TCP",
};

/** One experiment: the SMP messages of one (workload, mesh, load point). */
export interface SmpExperiment {
  performance_test_config: Record<string, unknown>;
  performance_test_result: Record<string, unknown>;
  /** Absent for the baseline (no mesh). */
  service_mesh_config?: Record<string, unknown>;
  environment_config: Record<string, unknown>;
}

/** The export: meshbench's wrapper around SMP messages. */
export interface SmpDocument {
  kind: "meshbench.smp";
  smp_version: string;
  run_id: string;
  target: string;
  experiments: SmpExperiment[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function componentUse(rs: readonly RunRecord[], components: readonly Component[]) {
  const perRecord = rs.map((r) => {
    const xs = r.resources.filter((x) => components.includes(x.component));
    return {
      count: new Set(xs.map((x) => x.name)).size,
      cores: xs.reduce((s, x) => s + x.cpuCores, 0),
      mb: xs.reduce((s, x) => s + x.memoryPeakMB, 0),
    };
  });
  if (perRecord.every((p) => p.count === 0)) return undefined;
  return {
    count: Math.max(...perRecord.map((p) => p.count)),
    cpu_mcores: Math.round(mean(perRecord.map((p) => p.cores)) * 1000),
    mem_mb: Math.round(mean(perRecord.map((p) => p.mb))),
  };
}

function protocolOf(r: RunRecord): string {
  return PROTOCOLS[r.spec.workload] ?? "PROTOCOL_INVALID";
}

/** One experiment from the measured records of one (workload, mesh, load point). */
function experiment(run: LoadedRun, rs: Measured[]): SmpExperiment {
  const first = rs[0];
  const p = first.spec.point;
  // A payload point's size and an h2c point's protocol make the point (SMP has no HTTP/2
  // protocol value: `PROTOCOL_HTTP` with the `http_protocol` label).
  const id = `${run.runId}/${first.spec.workload}/${first.spec.mesh}/${p.mode}/${p.tool}/` +
    `${p.rate ?? "max"}${p.payloadBytes === undefined ? "" : `/${p.payloadBytes}B`}${
      p.httpProtocol ? `/${p.httpProtocol}` : ""
    }`;
  const labels: Record<string, string> = {
    workload: first.spec.workload,
    mesh: first.mesh.name,
    mesh_kind: first.mesh.kind,
    emulated: String(first.mesh.emulated),
    load_mode: p.mode,
    timing: first.load.timing,
    target: first.target,
    iterations: String(rs.length),
    ...(p.payloadBytes !== undefined ? { payload_bytes: String(p.payloadBytes) } : {}),
    ...(p.httpProtocol ? { http_protocol: p.httpProtocol } : {}),
  };
  const h = mergeHistograms(rs.map((r) => r.load.latency));
  const ms = (us: number) => us / 1000;
  const starts = rs.map((r) => r.window.start).sort();
  const ends = rs.map((r) => r.window.end).sort();
  const meshed = first.mesh.kind !== "none";
  const app = componentUse(rs, ["app"]);
  const dataPlane = componentUse(rs, ["data-plane"]);
  const controlPlane = componentUse(rs, ["control-plane"]);
  const settings = first.mesh.settings;
  const mtls = typeof settings.mtls === "string"
    ? !/^(off|disabled|none)/i.test(settings.mtls)
    : undefined;
  const threads = typeof settings.proxyThreads === "number" ? settings.proxyThreads : undefined;
  return {
    performance_test_config: {
      smp_version: SMP_VERSION,
      id,
      name: `${first.spec.workload} through ${first.mesh.name}`,
      labels,
      clients: [{
        internal: false,
        load_generator: `${first.load.tool} ${first.load.toolVersion}`.trim(),
        protocol: protocolOf(first),
        connections: p.connections,
        ...(p.rate !== null ? { rps: p.rate } : {}),
      }],
      duration: `${p.durationS}s`,
    },
    performance_test_result: {
      smp_version: SMP_VERSION,
      id,
      labels,
      start_time: starts[0],
      end_time: ends[ends.length - 1],
      latencies_ms: {
        min: ms(h.min),
        average: ms(histogramMean(h)),
        p50: ms(percentile(h, 50)),
        p90: ms(percentile(h, 90)),
        p99: ms(percentile(h, 99)),
        max: ms(h.max),
      },
      actual_qps: mean(rs.map((r) => r.load.achievedRate)),
      test_id: run.runId,
      ...(meshed ? { mesh_config_id: `${run.runId}/${first.mesh.name}` } : {}),
      env_id: `${run.runId}/${first.target}`,
    },
    ...(meshed
      ? {
        service_mesh_config: {
          smp_version: SMP_VERSION,
          id: `${run.runId}/${first.mesh.name}`,
          labels: {
            mesh: first.mesh.name,
            mesh_kind: first.mesh.kind,
            emulated: String(first.mesh.emulated),
          },
          ...(dataPlane
            ? {
              sidecar: { ...dataPlane, rps: Math.round(mean(rs.map((r) => r.load.achievedRate))) },
            }
            : {}),
          ...(controlPlane ? { mesh_control_plane: controlPlane } : {}),
          ...(mtls !== undefined ? { mtls_enabled: mtls } : {}),
          ...(threads !== undefined ? { proxy_concurrency: threads } : {}),
          mesh_build: first.mesh.version,
          mesh_type: {
            type: first.mesh.emulated
              ? "INVALID_MESH"
              : MESH_TYPES[first.mesh.name] ?? "INVALID_MESH",
            version: first.mesh.version,
            labels: {
              name: first.mesh.name,
              kind: first.mesh.kind,
              emulated: String(first.mesh.emulated),
            },
          },
        },
      }
      : {}),
    environment_config: {
      smp_version: SMP_VERSION,
      id: `${run.runId}/${first.target}`,
      labels: {
        target: first.target,
        ...(run.manifest
          ? { kernel: run.manifest.provenance.kernel, cpu: run.manifest.provenance.cpuModel }
          : {}),
      },
      ...(run.manifest
        ? {
          nodes: [{
            type: run.manifest.provenance.hostname,
            cores: run.manifest.provenance.cpuCount,
            mem_mb: Math.round(run.manifest.provenance.memoryMB),
          }],
        }
        : {}),
      ...(app ? { individual_workloads: [{ name: first.spec.workload, ...app }] } : {}),
    },
  };
}

/**
 * The run's measured records (ok or saturated, with a load result) as an SMP export, one
 * experiment per (workload, mesh, load point) in the order first measured.
 */
export function smpDocument(run: LoadedRun): SmpDocument {
  return {
    kind: "meshbench.smp",
    smp_version: SMP_VERSION,
    run_id: run.runId,
    target: run.manifest?.target ?? run.runs[0]?.target ?? "unknown",
    experiments: [...usableByPoint(run).values()].map((rs) => experiment(run, rs)),
  };
}
