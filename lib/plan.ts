/**
 * The run plan: mesh x workload x load point x iteration, in a seeded order where
 * each block (one iteration of one load point) visits every mesh in a fresh random
 * order, so drift cannot masquerade as overhead (METHODOLOGY rule 8).
 *
 * @module
 */
import { seededRandom, shuffle } from "./stats.ts";
import type { LoadPoint, RunSpec } from "./types.ts";

/** Inputs of {@linkcode buildPlan}. */
export interface PlanInput {
  workloads: Array<{ name: string; points: LoadPoint[] }>;
  meshes: string[];
  iterations: number;
  seed: number;
}

/** Builds the interleaved, seeded plan. Same input and seed, same plan. */
export function buildPlan(input: PlanInput): RunSpec[] {
  const rand = seededRandom(input.seed);
  const plan: RunSpec[] = [];
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
