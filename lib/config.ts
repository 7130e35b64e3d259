/**
 * One config merge (STYLE principle 9): defaults < profile < file < env < flags,
 * validated once; errors name the field, the value and, for files, the line.
 *
 * @module
 */
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import type { TargetName } from "./types.ts";

export type ProfileName = "quick" | "standard" | "full";

/** The validated, effective configuration of a run. */
export interface BenchConfig {
  target: TargetName;
  profile: ProfileName;
  /** Seed of the interleaved run order and of the bootstrap. */
  seed: number;
  workloads: string[];
  meshes: string[];
  /** The mesh every other mesh is compared against. */
  baseline: string;
  iterations: number;
  warmupS: number;
  cooldownS: number;
  /** Pause between consecutive measured runs. */
  gapS: number;
  load: {
    /** Fixed-rate latency points, requests per second. */
    rates: number[];
    durationS: number;
    connections: number;
    /** Closed-loop max-throughput runs (wrk and the like). */
    throughput: { enabled: boolean; durationS: number; connections: number };
  };
  /** A fixed-rate run is `saturated` when achieved is more than this % under target. */
  saturationPct: number;
  /** Baseline CV (%) above which overheads are flagged as noisy. */
  noisyCvPct: number;
  bootstrap: { resamples: number; confidence: number };
  local: { proxyThreads: number; serverWorkers: number; basePort: number };
  cluster: {
    context: string;
    kubeconfig: string;
    /**
     * QoS class of the benchmark pods. `guaranteed` (METHODOLOGY rule 10) sets every
     * container's requests to its limits and sizes injected proxies at `proxyResources`
     * with requests equal to limits, and checks every benchmark pod is Guaranteed before
     * load; `burstable` (default) keeps small requests so the design's 2 x 1 OCPU workers fit.
     */
    qos: "burstable" | "guaranteed";
    /** Size of each injected sidecar proxy under `qos: guaranteed`. */
    proxyResources: { cpu: string; memory: string };
  };
  /** The OCI target: Terraform variables file, keep the infrastructure, state, SSH key. */
  oci: { varFile: string; keep: boolean; stateDir: string; sshKey: string };
  /** Directory that holds run directories. */
  out: string;
}

/** A config problem: names the field, the value and where it came from. */
export class ConfigError extends Error {
  constructor(readonly field: string, message: string, readonly where?: string) {
    super(`Invalid config "${field}"${where ? ` (${where})` : ""}: ${message}`);
    this.name = "ConfigError";
  }
}

const DEFAULTS: BenchConfig = {
  target: "local",
  profile: "quick",
  seed: 1,
  workloads: ["http", "grpc", "websocket", "db", "ml"],
  meshes: ["baseline", "sidecar-emu", "node-proxy-emu"],
  baseline: "baseline",
  iterations: 3,
  warmupS: 3,
  cooldownS: 2,
  gapS: 0.2,
  load: {
    rates: [500],
    durationS: 5,
    connections: 8,
    throughput: { enabled: true, durationS: 3, connections: 16 },
  },
  saturationPct: 2,
  noisyCvPct: 10,
  bootstrap: { resamples: 2000, confidence: 0.95 },
  local: { proxyThreads: 1, serverWorkers: 1, basePort: 18000 },
  cluster: {
    context: "",
    kubeconfig: "",
    qos: "burstable",
    proxyResources: { cpu: "1", memory: "256Mi" },
  },
  oci: { varFile: "", keep: false, stateDir: "", sshKey: "" },
  out: "results",
};

/** What each profile changes on top of the defaults. */
export const PROFILES: Record<ProfileName, DeepPartial<BenchConfig>> = {
  quick: {},
  standard: {
    iterations: 5,
    warmupS: 10,
    cooldownS: 5,
    gapS: 2,
    load: { rates: [500], durationS: 30, throughput: { durationS: 15 } },
  },
  full: {
    iterations: 5,
    warmupS: 10,
    cooldownS: 5,
    gapS: 2,
    load: {
      rates: [100, 250, 500, 1000, 2000],
      durationS: 30,
      throughput: { durationS: 15 },
    },
  },
};

/** Cluster meshes differ from local emulations: the default list follows the target. */
const CLUSTER_MESHES = ["baseline", "istio", "linkerd", "cilium"];

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends Array<unknown> ? T[K]
    : T[K] extends object ? DeepPartial<T[K]>
    : T[K];
};

type Shape = "string" | "number" | "integer" | "boolean" | "string[]" | "number[]" | {
  [k: string]: Shape;
};

const SHAPE: Shape = {
  target: "string",
  profile: "string",
  seed: "integer",
  workloads: "string[]",
  meshes: "string[]",
  baseline: "string",
  iterations: "integer",
  warmupS: "number",
  cooldownS: "number",
  gapS: "number",
  load: {
    rates: "number[]",
    durationS: "number",
    connections: "integer",
    throughput: { enabled: "boolean", durationS: "number", connections: "integer" },
  },
  saturationPct: "number",
  noisyCvPct: "number",
  bootstrap: { resamples: "integer", confidence: "number" },
  local: { proxyThreads: "integer", serverWorkers: "integer", basePort: "integer" },
  cluster: {
    context: "string",
    kubeconfig: "string",
    qos: "string",
    proxyResources: { cpu: "string", memory: "string" },
  },
  oci: { varFile: "string", keep: "boolean", stateDir: "string", sshKey: "string" },
  out: "string",
};

/** Locates a field in the source so errors can say "file:line". */
type Locate = (path: string[]) => string | undefined;

function checkShape(
  value: unknown,
  shape: Shape,
  path: string[],
  locate: Locate,
): void {
  const field = path.join(".");
  const fail = (msg: string) => {
    throw new ConfigError(field, msg, locate(path));
  };
  if (typeof shape === "object") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(`expected a mapping, got ${JSON.stringify(value)}`);
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!(k in shape)) {
        throw new ConfigError(
          [...path, k].join("."),
          `unknown field (known: ${Object.keys(shape).join(", ")})`,
          locate([...path, k]),
        );
      }
      checkShape(v, shape[k], [...path, k], locate);
    }
    return;
  }
  const got = JSON.stringify(value);
  switch (shape) {
    case "string":
      if (typeof value !== "string") fail(`expected a string, got ${got}`);
      break;
    case "boolean":
      if (typeof value !== "boolean") fail(`expected true or false, got ${got}`);
      break;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        fail(`expected a number, got ${got}`);
      }
      break;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) {
        fail(`expected an integer, got ${got}`);
      }
      break;
    case "string[]":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        fail(`expected a list of strings, got ${got}`);
      }
      break;
    case "number[]":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "number")) {
        fail(`expected a list of numbers, got ${got}`);
      }
      break;
  }
}

function deepMerge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (
    typeof base !== "object" || base === null || Array.isArray(base) ||
    typeof over !== "object" || over === null || Array.isArray(over)
  ) {
    return over as T;
  }
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    out[k] = deepMerge(out[k], v);
  }
  return out as T;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== "object" || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

/** Rules beyond types: ranges and cross-field constraints. */
function checkRules(c: BenchConfig, locate: Locate): void {
  const fail = (path: string, msg: string) => {
    throw new ConfigError(path, msg, locate(path.split(".")));
  };
  const q = JSON.stringify;
  if (!["local", "cluster", "oci"].includes(c.target)) {
    fail("target", `expected one of local, cluster, oci, got ${q(c.target)}`);
  }
  if (!(c.profile in PROFILES)) {
    fail("profile", `expected one of quick, standard, full, got ${q(c.profile)}`);
  }
  if (c.iterations < 1 || c.iterations > 100) {
    fail("iterations", `expected 1 to 100, got ${c.iterations}`);
  }
  for (const [k, v] of [["warmupS", c.warmupS], ["cooldownS", c.cooldownS], ["gapS", c.gapS]]) {
    if ((v as number) < 0 || (v as number) > 3600) {
      fail(k as string, `expected 0 to 3600 seconds, got ${v}`);
    }
  }
  if (c.load.rates.length === 0 && !c.load.throughput.enabled) {
    fail("load.rates", "expected at least one rate when load.throughput.enabled is false");
  }
  c.load.rates.forEach((r, i) => {
    if (!(r > 0) || r > 1_000_000) {
      fail(`load.rates`, `expected positive rates up to 1000000, got ${q(r)} at index ${i}`);
    }
  });
  if (new Set(c.load.rates).size !== c.load.rates.length) {
    fail("load.rates", `expected distinct rates, got ${q(c.load.rates)}`);
  }
  if (!(c.load.durationS > 0) || c.load.durationS > 3600) {
    fail("load.durationS", `expected more than 0 and up to 3600 seconds, got ${c.load.durationS}`);
  }
  if (c.load.connections < 1) {
    fail("load.connections", `expected at least 1, got ${c.load.connections}`);
  }
  if (!(c.load.throughput.durationS > 0)) {
    fail("load.throughput.durationS", `expected more than 0, got ${c.load.throughput.durationS}`);
  }
  if (c.load.throughput.connections < 1) {
    fail(
      "load.throughput.connections",
      `expected at least 1, got ${c.load.throughput.connections}`,
    );
  }
  if (c.workloads.length === 0) fail("workloads", "expected at least one workload");
  if (c.meshes.length < 2) {
    fail("meshes", `expected the baseline and at least one mesh, got ${q(c.meshes)}`);
  }
  if (new Set(c.meshes).size !== c.meshes.length) {
    fail("meshes", `expected distinct meshes, got ${q(c.meshes)}`);
  }
  if (!c.meshes.includes(c.baseline)) {
    fail("baseline", `expected one of meshes ${q(c.meshes)}, got ${q(c.baseline)}`);
  }
  if (!(c.saturationPct > 0 && c.saturationPct < 100)) {
    fail("saturationPct", `expected between 0 and 100, got ${c.saturationPct}`);
  }
  if (!(c.noisyCvPct > 0)) fail("noisyCvPct", `expected more than 0, got ${c.noisyCvPct}`);
  if (c.bootstrap.resamples < 100) {
    fail("bootstrap.resamples", `expected at least 100, got ${c.bootstrap.resamples}`);
  }
  if (!(c.bootstrap.confidence > 0.5 && c.bootstrap.confidence < 1)) {
    fail("bootstrap.confidence", `expected between 0.5 and 1, got ${c.bootstrap.confidence}`);
  }
  if (c.local.proxyThreads < 1) {
    fail("local.proxyThreads", `expected at least 1, got ${c.local.proxyThreads}`);
  }
  if (c.local.serverWorkers < 1) {
    fail("local.serverWorkers", `expected at least 1, got ${c.local.serverWorkers}`);
  }
  if (c.local.basePort < 1024 || c.local.basePort > 60000) {
    fail("local.basePort", `expected 1024 to 60000, got ${c.local.basePort}`);
  }
  if (!["burstable", "guaranteed"].includes(c.cluster.qos)) {
    fail("cluster.qos", `expected burstable or guaranteed, got ${q(c.cluster.qos)}`);
  }
  // Kubernetes quantities: CPU as cores or millicores, memory with a binary or decimal suffix.
  const cpu = c.cluster.proxyResources.cpu;
  if (!/^(\d+(\.\d+)?|\d+m)$/.test(cpu) || !(parseFloat(cpu) > 0)) {
    fail(
      "cluster.proxyResources.cpu",
      `expected a CPU quantity above 0 such as "500m" or "1", got ${q(cpu)}`,
    );
  }
  const memory = c.cluster.proxyResources.memory;
  if (!/^\d+(Ki|Mi|Gi|k|M|G)?$/.test(memory) || !(parseFloat(memory) > 0)) {
    fail(
      "cluster.proxyResources.memory",
      `expected a memory quantity above 0 such as "256Mi", got ${q(memory)}`,
    );
  }
  if (c.target === "cluster" && c.cluster.context === "") {
    fail(
      "cluster.context",
      "the cluster target needs an explicitly named kubeconfig context (--context NAME)",
    );
  }
}

/** Inputs of {@linkcode loadConfig}, in increasing precedence after defaults and profile. */
export interface ConfigSources {
  /** Path of a YAML config file. */
  file?: string;
  /** Environment, read for `MESHBENCH_*` variables. */
  env?: Record<string, string>;
  /** Values from command-line flags, as dotted paths (e.g. `{"load.rates": [100]}`). */
  flags?: Record<string, unknown>;
}

/** Environment variables understood, and the config path each sets. */
export const ENV_VARS: Record<string, { path: string; type: "string" | "number" | "list" }> = {
  MESHBENCH_TARGET: { path: "target", type: "string" },
  MESHBENCH_PROFILE: { path: "profile", type: "string" },
  MESHBENCH_OUT: { path: "out", type: "string" },
  MESHBENCH_CONTEXT: { path: "cluster.context", type: "string" },
  MESHBENCH_SEED: { path: "seed", type: "number" },
  MESHBENCH_WORKLOADS: { path: "workloads", type: "list" },
  MESHBENCH_MESHES: { path: "meshes", type: "list" },
};

/** Merges and validates config; returns it with a list of the sources used. */
export async function loadConfig(
  sources: ConfigSources = {},
): Promise<{ config: BenchConfig; sources: string[] }> {
  const used = ["defaults"];
  let fileValue: Record<string, unknown> = {};
  let locate: Locate = () => undefined;
  if (sources.file) {
    let text: string;
    try {
      text = await Deno.readTextFile(sources.file);
    } catch (e) {
      throw new ConfigError(
        "--config",
        `cannot read file "${sources.file}": ${(e as Error).message}`,
      );
    }
    const parsed = parseConfigText(text, sources.file);
    fileValue = parsed.value;
    locate = parsed.locate;
    used.push(`file:${sources.file}`);
  }
  const envValue: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(ENV_VARS)) {
    const raw = sources.env?.[name];
    if (raw === undefined || raw === "") continue;
    let v: unknown = raw;
    if (spec.type === "number") {
      v = Number(raw);
      if (!Number.isFinite(v)) {
        throw new ConfigError(spec.path, `expected a number, got "${raw}"`, `env ${name}`);
      }
    } else if (spec.type === "list") {
      v = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    }
    setPath(envValue, spec.path.split("."), v);
    used.push(`env:${name}`);
  }
  const flagValue: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(sources.flags ?? {})) {
    if (v === undefined) continue;
    setPath(flagValue, path.split("."), v);
    used.push(`flag:${path}`);
  }
  const where = (origin: string): Locate => (path) => {
    const fromFile = locate(path);
    return fromFile ?? origin;
  };
  // Types are checked per source, so an error names the source that set the value.
  checkShape(fileValue, SHAPE, [], where(sources.file ?? "file"));
  checkShape(envValue, SHAPE, [], () => "environment");
  checkShape(flagValue, SHAPE, [], () => "command-line flag");

  const profile = (flagValue.profile ?? envValue.profile ?? fileValue.profile ??
    DEFAULTS.profile) as string;
  if (!(profile in PROFILES)) {
    throw new ConfigError(
      "profile",
      `expected one of quick, standard, full, got "${profile}"`,
      flagValue.profile ? "command-line flag" : envValue.profile ? "environment" : locate([
        "profile",
      ]),
    );
  }
  const target = (flagValue.target ?? envValue.target ?? fileValue.target ?? "local") as string;
  let merged = deepMerge(DEFAULTS, PROFILES[profile as ProfileName]);
  if (target !== "local") {
    merged = { ...merged, meshes: CLUSTER_MESHES };
  }
  merged = deepMerge(merged, fileValue);
  merged = deepMerge(merged, envValue);
  merged = deepMerge(merged, flagValue);
  merged.profile = profile as ProfileName;
  checkRules(merged, (path) => {
    if (path.join(".") in flagValue || getPath(flagValue, path) !== undefined) {
      return "command-line flag";
    }
    if (getPath(envValue, path) !== undefined) return "environment";
    return locate(path);
  });
  return { config: merged, sources: used };
}

function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Parses YAML config text; errors carry file and line. */
export function parseConfigText(
  text: string,
  file: string,
): { value: Record<string, unknown>; locate: Locate } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    throw new ConfigError("(file)", `YAML syntax error: ${e.message}`, `${file}:${pos.line}`);
  }
  const value = doc.toJS() ?? {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError("(file)", "expected a mapping at the top level", file);
  }
  const locate: Locate = (path) => {
    let node: unknown = doc.contents;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
        if (!pair) return undefined;
        node = pair.value ?? pair.key;
      } else if (isSeq(node)) {
        node = node.items[Number(key)];
      } else return undefined;
    }
    const range = (node as { range?: [number, number, number] })?.range;
    if (!range) return undefined;
    return `${file}:${lineCounter.linePos(range[0]).line}`;
  };
  return { value: value as Record<string, unknown>, locate };
}
