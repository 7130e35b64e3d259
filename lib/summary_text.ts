/**
 * The one-screen text summary printed at the end of a run.
 *
 * @module
 */
import {
  latencyMetric,
  type MetricName,
  metricSpec,
  oneScreenMetrics,
} from "./metric_vocabulary.ts";
import type { Overhead, Summary } from "./types.ts";
import { kneeCriteriaText, kneeText } from "./knee.ts";
import { payloadLabel } from "./format.ts";

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const sign = (x: number) => (x > 0 ? "+" : "");

/** Milliseconds to about three significant digits. */
function ms(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  return x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

function cell(o: Overhead | undefined): string {
  if (!o) return "-";
  const flags = `${o.saturated ? " SAT" : ""}${o.noisyBaseline ? " NOISY" : ""}${
    o.generatorLimited ? " GEN" : ""
  }`;
  const single = o.ciMethod === "too-few-iterations";
  const pct = `${sign(o.overheadPct)}${fmt(o.overheadPct)}%`;
  const added = typeof o.deltaMs === "number"
    ? ` ${sign(o.deltaMs)}${ms(o.deltaMs)}ms` +
      (single || !o.deltaMsCi95 ? "" : ` [${ms(o.deltaMsCi95[0])}, ${ms(o.deltaMsCi95[1])}]`)
    : "";
  if (single) return `${pct}${added} (n=1: no CI)${flags}`;
  return `${pct} [${fmt(o.ci95[0])}, ${fmt(o.ci95[1])}]${added}${flags}`;
}

/** Overheads per workload and mesh as a fixed-width table. */
export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  lines.push(
    `meshbench summary, run ${s.runId} (${s.target})${
      s.emulated
        ? " - meshes marked -emu or (emu) are EMULATIONS (Envoy and HAProxy stand-ins), not real meshes"
        : ""
    }`,
  );
  lines.push(
    "overhead % vs baseline [95 % bootstrap CI over iterations]; latency also as added ms " +
      "(mesh - baseline) [its CI]",
  );
  const present = oneScreenMetrics().filter(({ name }) =>
    s.overheads.some((o) => o.metric === name)
  );
  // One row per workload, payload size (where its load points have one) and mesh.
  const keys = [
    ...new Map(
      s.overheads.map((o) => [`${o.workload}|${o.payloadBytes}|${o.httpProtocol}|${o.mesh}`, o]),
    ).values(),
  ];
  // An emulation whose name does not say so (the cluster's envoy-sidecar) is marked.
  const emulated = new Set(s.overheads.filter((o) => o.emulated).map((o) => o.mesh));
  const meshCell = (m: string) => emulated.has(m) && !m.endsWith("-emu") ? `${m} (emu)` : m;
  const header = ["workload", "mesh", ...present.map((c) => c.header)];
  const rows = keys.map(({ workload: w, payloadBytes: bytes, httpProtocol: protocol, mesh: m }) => {
    // Latency and resources at the highest fixed rate, throughput at max.
    const pick = (metric: MetricName) =>
      s.overheads.filter((o) =>
        o.workload === w && o.mesh === m && o.metric === metric && o.payloadBytes === bytes &&
        o.httpProtocol === protocol
      ).sort((a, b) => (b.rate ?? 0) - (a.rate ?? 0))[0];
    const label = (bytes === undefined ? w : `${w} ${payloadLabel(bytes)}`) +
      (protocol === "h2c" ? " h2c" : "");
    return [label, meshCell(m), ...present.map((c) => cell(pick(c.name)))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmtRow = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  lines.push(fmtRow(header));
  lines.push(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) lines.push(fmtRow(r));
  if (present.some((c) => metricSpec(c.name).shareOf)) {
    lines.push("* proxy CPU/memory as % of what the application itself used under the baseline");
  }
  if (present.some((c) => metricSpec(c.name).source.kind === "switches-per-op")) {
    lines.push(
      "ctx sw/req: context switches of the app and the mesh per completed request (each run's " +
        "own; the load generator and the node not included)",
    );
  }
  const rates = [...new Set(s.overheads.map((o) => o.rate).filter((r) => r !== null))];
  if (rates.length) lines.push(`latency at fixed rate(s): ${rates.join(", ")} req/s (open loop)`);
  if (s.overheads.some((o) => o.saturated)) {
    lines.push("SAT: a run could not hold its requested rate: a saturation result, not latency");
  }
  if (s.overheads.some((o) => o.ciMethod === "too-few-iterations")) {
    lines.push("n=1: one iteration of the baseline or the mesh: too few for an interval");
  }
  if (s.overheads.some((o) => o.generatorLimited)) {
    lines.push(
      "GEN: generator-limited: the load generator's send-lag p99 is above the configured share " +
        "of the baseline's p50; its lateness is in the latency",
    );
  }
  if (s.overheads.some((o) => o.noisyBaseline)) {
    lines.push("NOISY: the baseline's own CV is above the threshold; read overheads with care");
  }
  lines.push(...kneeLines(s), ...sweepLines(s));
  for (const n of s.notes.slice(0, 5)) lines.push(`note: ${n}`);
  if (s.notes.length > 5) lines.push(`(${s.notes.length - 5} more notes in summary.json)`);
  return lines.join("\n");
}

/** The knee per mesh: the headline a capacity planner reads, one line per mesh. */
function kneeLines(s: Summary): string[] {
  const knees = s.knees ?? [];
  if (!knees.length) return [];
  const label = (k: (typeof knees)[number]) =>
    `${k.workload} ${k.mesh}${k.emulated ? " (emu)" : ""}`;
  const width = Math.max(...knees.map((k) => label(k).length));
  return [
    `knee: the highest fixed rate that held ${kneeCriteriaText(knees[0])}; median over ` +
    "iterations with the range of their knees",
    ...knees.map((k) => `  ${label(k).padEnd(width)}  ${kneeText(k)}`),
  ];
}

/** The connection sweep: p99 overhead per mesh at each connection count. */
function sweepLines(s: Summary): string[] {
  const os = (s.connectionSweep?.overheads ?? []).filter((o) => o.metric === latencyMetric(99));
  if (!os.length) return [];
  const out = [`connection sweep at ${os[0].rate} req/s, p99 overhead by connections:`];
  for (const key of [...new Set(os.map((o) => `${o.workload}|${o.mesh}`))]) {
    const [w, m] = key.split("|");
    const cells = os.filter((o) => o.workload === w && o.mesh === m)
      .sort((a, b) => a.connections! - b.connections!)
      .map((o) => `${o.connections}: ${cell(o)}`);
    out.push(`  ${w} ${m}  ${cells.join("; ")}`);
  }
  return out;
}
