/**
 * The run plan: mesh x workload x load point x iteration, in a seeded order where
 * each block (one iteration of one load point) visits every mesh in a fresh random
 * order, so drift cannot masquerade as overhead (METHODOLOGY rule 8).
 *
 * @module
 */
import { seededRandom, shuffle } from "./stats.ts";
import type { BenchConfig } from "./config.ts";
import type { LoadPoint, RunSpec } from "./types.ts";

/**
 * The usual load points of a request/response workload: one open-loop fixed-rate
 * point per configured rate, then a closed-loop max-throughput point if enabled.
 */
export function standardPoints(
  config: Pick<BenchConfig, "load" | "knee">,
  fixedRateTool: string,
  throughputTool: string | null = fixedRateTool,
  options: {
    sweeps?: boolean;
    /** The fixed-rate tool of the h2c payload points (absent: the workload has none). */
    h2cTool?: string;
  } = {},
): LoadPoint[] {
  const points: LoadPoint[] = config.load.rates.map((rate) => ({
    mode: "fixed-rate",
    tool: fixedRateTool,
    rate,
    connections: config.load.connections,
    durationS: config.load.durationS,
  }));
  if (options.sweeps) {
    points.push(
      ...sweepPoints(config, fixedRateTool, options.h2cTool ? { h2cTool: options.h2cTool } : {}),
    );
  }
  if (config.load.throughput.enabled && throughputTool !== null) {
    points.push({
      mode: "max-throughput",
      tool: throughputTool,
      rate: null,
      connections: config.load.throughput.connections,
      durationS: config.load.throughput.durationS,
    });
  }
  return points;
}

/** Inputs of {@linkcode buildPlan}. */
export interface PlanInput {
  workloads: Array<{ name: string; points: LoadPoint[] }>;
  meshes: string[];
  iterations: number;
  seed: number;
  /**
   * `interleaved` (local: every mesh is up at once): each block visits every mesh.
   * `per-mesh` (cluster: one mesh installed at a time): meshes in seeded order, each
   * block interleaving the baseline with that mesh only.
   */
  grouping?: "interleaved" | "per-mesh";
  /** The baseline mesh (per-mesh grouping). */
  baseline?: string;
  /**
   * Workloads whose baseline can only run while no mesh is installed (no baseline
   * namespace of their own): their baseline runs come first (per-mesh grouping).
   */
  baselineFirst?: string[];
  /**
   * Workloads deployed together, block after block (per-mesh grouping): every run of a
   * block, every mesh's and the baseline's, comes before any run of the next, so a block is
   * deployed, measured under every mesh and removed before the next is deployed. Absent: one
   * block of every workload.
   */
  blocks?: string[][];
}

/** Builds the seeded plan. Same input and seed, same plan. */
export function buildPlan(input: PlanInput): RunSpec[] {
  const rand = seededRandom(input.seed);
  const plan: RunSpec[] = [];
  if (input.grouping === "per-mesh") {
    const baseline = input.baseline ?? "baseline";
    const first = new Set(input.baselineFirst ?? []);
    const blocks = input.blocks ?? [input.workloads.map((w) => w.name)];
    const planned = blocks.flat();
    const unplanned = input.workloads.filter((w) => !planned.includes(w.name));
    if (unplanned.length || new Set(planned).size !== planned.length) {
      throw new RangeError(
        `Cannot plan: the blocks ${JSON.stringify(blocks)} must hold each workload once ` +
          `(${input.workloads.map((w) => w.name).join(", ")})`,
      );
    }
    for (const block of blocks) {
      const workloads = input.workloads.filter((w) => block.includes(w.name));
      for (let iteration = 1; iteration <= input.iterations; iteration++) {
        for (const w of workloads.filter((w) => first.has(w.name))) {
          for (const point of w.points) {
            plan.push({ seq: plan.length + 1, workload: w.name, mesh: baseline, point, iteration });
          }
        }
      }
      for (const mesh of shuffle(input.meshes.filter((m) => m !== baseline), rand)) {
        for (let iteration = 1; iteration <= input.iterations; iteration++) {
          for (const w of workloads) {
            for (const point of w.points) {
              const pair = first.has(w.name) ? [mesh] : shuffle([baseline, mesh], rand);
              for (const m of pair) {
                plan.push({ seq: plan.length + 1, workload: w.name, mesh: m, point, iteration });
              }
            }
          }
        }
      }
    }
    return plan;
  }
  for (let iteration = 1; iteration <= input.iterations; iteration++) {
    for (const w of input.workloads) {
      for (const point of w.points) {
        for (const mesh of shuffle(input.meshes, rand)) {
          plan.push({ seq: plan.length + 1, workload: w.name, mesh, point, iteration });
        }
      }
    }
  }
  return plan;
}

/** Sum of the load windows of a plan, in seconds. */
export function plannedLoadSeconds(plan: RunSpec[]): number {
  return plan.reduce((s, r) => s + r.point.durationS, 0);
}

/**
 * The connection sweep (one fixed-rate point per count in `load.sweep.connections`, at
 * `load.sweep.rate`), the payload points (one POST point per body size in
 * `load.sweep.payloadsBytes` and protocol in `load.sweep.httpProtocols`, at the same rate:
 * standard points of their own payload, as the inference workload's are; the h2c ones with
 * `httpProtocol: "h2c"` and `h2cTool`, HTTP/1.1 without the field) and the knee ramp (one point per step of `knee.rates`, increasing,
 * when `knee.enabled`), for a workload whose fixed-rate tool uses exactly the connections it
 * is given. In the plan each step is one block that visits every mesh in a fresh order, so
 * the ramp climbs interleaved, step by step, for all meshes at once.
 */
export function sweepPoints(
  config: Pick<BenchConfig, "load" | "knee">,
  tool: string,
  options: { h2cTool?: string } = {},
): LoadPoint[] {
  const points: LoadPoint[] = config.load.sweep.connections.map((connections) => ({
    mode: "fixed-rate",
    tool,
    rate: config.load.sweep.rate,
    connections,
    durationS: config.load.durationS,
    sweep: "connections",
  }));
  // Older configs (saved manifests) have no httpProtocols: HTTP/1.1 only.
  const protocols = config.load.sweep.httpProtocols ?? ["http/1.1"];
  if (protocols.includes("h2c") && options.h2cTool === undefined) {
    throw new RangeError(
      "Cannot plan h2c points (load.sweep.httpProtocols): this workload has no h2c load tool " +
        "where it runs; remove h2c or run it where h2c is supported",
    );
  }
  for (const protocol of protocols) {
    points.push(...config.load.sweep.payloadsBytes.map((payloadBytes): LoadPoint => ({
      mode: "fixed-rate",
      tool: protocol === "h2c" ? options.h2cTool! : tool,
      rate: config.load.sweep.rate,
      connections: config.load.connections,
      durationS: config.load.durationS,
      payloadBytes,
      ...(protocol === "h2c" ? { httpProtocol: "h2c" as const } : {}),
    })));
  }
  if (config.knee.enabled) {
    for (const rate of [...config.knee.rates].sort((a, b) => a - b)) {
      points.push({
        mode: "fixed-rate",
        tool,
        rate,
        connections: config.knee.connections,
        durationS: config.knee.durationS,
        sweep: "knee",
      });
    }
  }
  return points;
}
