/**
 * Kubernetes resource quantities ("250m", "128Mi") as numbers: a leaf that the cluster
 * target's environment, mesh table, QoS check and metrics share.
 *
 * @example
 * ```ts
 * import { cpuCores, memoryMiB, parseCpu } from "./quantity.ts";
 * if (parseCpu("950m") !== 0.95) throw new Error("millicores");
 * if (cpuCores(undefined) !== 0 || memoryMiB("1Gi") !== 1024) throw new Error("absent or Gi");
 * ```
 *
 * @module
 */

/** Divisors, not factors: 950 / 1e3 is exactly 0.95, 950 * 1e-3 is not. */
const CPU_DIVISORS: Record<string, number> = { n: 1e9, u: 1e6, m: 1e3, "": 1 };
const MEM_UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A Kubernetes CPU quantity ("250m", "1", "123456n") in cores. */
export function parseCpu(q: string): number {
  const m = /^([0-9.]+(?:e[0-9]+)?)(n|u|m|)$/.exec(q.trim());
  if (!m) throw new Error(`Cannot parse CPU quantity "${q}": expected e.g. "250m" or "1"`);
  return Number(m[1]) / CPU_DIVISORS[m[2]];
}

/** A Kubernetes memory quantity ("128Mi", "1Gi", "1000000") in MB (10^6 bytes). */
export function parseMemory(q: string): number {
  const m = /^([0-9.]+(?:e[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)$/.exec(q.trim());
  if (!m) throw new Error(`Cannot parse memory quantity "${q}": expected e.g. "128Mi"`);
  return (Number(m[1]) * MEM_UNITS[m[2]]) / 1e6;
}

/**
 * A Kubernetes CPU quantity in cores ({@linkcode parseCpu}); YAML may give a bare number,
 * and an absent quantity is 0.
 */
export function cpuCores(quantity: string | number | undefined): number {
  return quantity === undefined || quantity === "" ? 0 : parseCpu(String(quantity));
}

/** A Kubernetes memory quantity in MiB ({@linkcode parseMemory} gives MB); absent is 0. */
export function memoryMiB(quantity: string | number | undefined): number {
  if (quantity === undefined || quantity === "") return 0;
  return Math.round((parseMemory(String(quantity)) * 1e6) / 2 ** 20);
}
