/**
 * One config merge: defaults < profile < file < env < flags, validated once against the
 * one declaration in `config_schema.ts`; errors name the field, the value as written and
 * where it came from (`file:line`, the environment variable or the flag).
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import {
  type BenchConfig,
  CONFIG_ENV,
  configDefaults,
  configFields,
  type ProfileName,
  schemaAt,
  type SchemaNode,
} from "./config_schema.ts";

export type { BenchConfig, ProfileName };

/** A config problem: names the field, the value and where it came from. */
export class ConfigError extends Error {
  constructor(readonly field: string, message: string, readonly where?: string) {
    super(
      field.startsWith("--")
        ? `Invalid ${field}${where ? ` "${where}"` : ""}: ${message}`
        : `Invalid config "${field}"${where ? ` (${where})` : ""}: ${message}`,
    );
    this.name = "ConfigError";
  }
}

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends Array<unknown> ? T[K]
    : T[K] extends object ? DeepPartial<T[K]>
    : T[K];
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
      sweep: {
        connections: [1, 16, 64],
        payloadsBytes: [0, 1024, 16384],
        httpProtocols: ["http/1.1", "h2c"],
      },
      throughput: { durationS: 15 },
    },
    knee: { enabled: true, durationS: 10 },
  },
};

/** Largest config file read; a benchmark config is a few hundred bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases expanded at most (an alias bomb is refused, not expanded). */
export const MAX_YAML_ALIASES = 50;

/** Where a value came from, and how it was written there. */
export interface Origin {
  /** `file:line`, `env NAME` or `command-line flag --name`. */
  where?: string;
  /** The value as written in that source, when known. */
  raw?: string;
}

/** Locates a field in a source so errors can say where and quote what was written. */
export type Locate = (path: readonly string[]) => Origin;

const q = JSON.stringify;

/** The value as written: the source text for non-strings, else the value quoted. */
function shown(value: unknown, origin: Origin): string {
  if (typeof value === "string") return q(value);
  if (origin.raw !== undefined) return origin.raw;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return q(value) ?? String(value);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1),
      );
    }
  }
  return d[a.length][b.length];
}

/** The closest known name within a small edit distance, for "did you mean". */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  const prefix = best !== undefined && (best.startsWith(name) || name.startsWith(best));
  return best !== undefined && (bestD <= limit || prefix) ? best : undefined;
}

/** "; did you mean "x"?" or nothing. */
export function didYouMean(name: string, known: readonly string[]): string {
  const c = closest(name, known);
  return c ? `; did you mean ${q(c)}?` : "";
}

function typeName(node: SchemaNode): string {
  switch (node.type) {
    case "integer":
      return "an integer";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "string":
      return "a string";
    case "array":
      return `a list of ${node.items?.type === "string" ? "strings" : `${node.items?.type}s`}`;
    default:
      return "a mapping";
  }
}

/** The range of a numeric field, as said in errors: "from 1 to 100", "above 0 and at most 3600 seconds". */
export function rangeText(node: SchemaNode): string {
  const lo = node.minimum !== undefined
    ? `from ${node.minimum}`
    : node.exclusiveMinimum !== undefined
    ? `above ${node.exclusiveMinimum}`
    : "";
  const hi = node.maximum !== undefined
    ? `${node.minimum !== undefined ? "to" : "and at most"} ${node.maximum}`
    : node.exclusiveMaximum !== undefined
    ? `and below ${node.exclusiveMaximum}`
    : "";
  const unit = node["x-unit"] ? ` ${node["x-unit"]}` : "";
  return `${[lo, hi].filter(Boolean).join(" ")}${unit}`;
}

/**
 * Checks `value` against the schema node at `path`: type, enum, range, pattern, length,
 * unique items and unknown fields. Throws ConfigError naming the first problem.
 */
function check(value: unknown, node: SchemaNode, path: string[], locate: Locate): void {
  const field = path.join(".");
  const origin = () => locate(path);
  const fail = (msg: string, after = ""): never => {
    const o = locate(path);
    throw new ConfigError(field, `${msg}, got ${shown(value, o)}${after}`, o.where);
  };
  switch (node.type) {
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("expected a mapping");
      }
      const known = Object.keys(node.properties ?? {});
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const child = node.properties?.[k];
        if (!child) {
          throw new ConfigError(
            [...path, k].join("."),
            `unknown field${didYouMean(k, known)} (known${path.length ? ` in "${field}"` : ""}: ${
              known.join(", ")
            })`,
            locate([...path, k]).where,
          );
        }
        check(v, child, [...path, k], locate);
      }
      return;
    }
    case "array": {
      if (!Array.isArray(value)) return fail(`expected ${typeName(node)}`);
      const items = node.items!;
      value.forEach((v, i) => {
        try {
          check(v, items, [...path, String(i)], locate);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          // Report the list field, with the item's own line and the index.
          const o = locate([...path, String(i)]);
          const range = items.type === "integer" || items.type === "number"
            ? ` ${rangeText(items)}`
            : items.enum
            ? `, each one of ${items.enum.join(", ")}`
            : "";
          throw new ConfigError(
            field,
            `expected ${typeName(node)}${range}, got ${shown(v, o)} at index ${i}`,
            o.where ?? origin().where,
          );
        }
      });
      if (node.minItems !== undefined && value.length < node.minItems) {
        fail(`expected at least ${node.minItems} ${node.minItems === 1 ? "entry" : "entries"}`);
      }
      if (node.maxItems !== undefined && value.length > node.maxItems) {
        fail(`expected at most ${node.maxItems} entries`);
      }
      if (node.uniqueItems && new Set(value).size !== value.length) {
        const dup = value.find((v, i) => value.indexOf(v) !== i);
        fail(`expected distinct entries (${q(dup)} is repeated)`);
      }
      return;
    }
    case "string": {
      if (typeof value !== "string") return fail(`expected ${typeName(node)}`);
      if (node.enum && !node.enum.includes(value)) {
        const list = node.enum.length === 2
          ? `${node.enum[0]} or ${node.enum[1]}`
          : `one of ${node.enum.join(", ")}`;
        fail(`expected ${list}`, didYouMean(value, node.enum));
      }
      if (node.minLength !== undefined && value.length < node.minLength) {
        fail("expected a non-empty value");
      }
      if (node.maxLength !== undefined && value.length > node.maxLength) {
        const o = origin();
        throw new ConfigError(
          field,
          `expected at most ${node.maxLength} characters, got ${value.length} characters`,
          o.where,
        );
      }
      if (node.pattern && !new RegExp(node.pattern, "u").test(value)) {
        // deno-lint-ignore no-control-regex
        const control = /[\u0000-\u001f\u007f]/u.exec(value);
        fail(
          control
            ? `expected no control characters (found U+${
              control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")
            } at position ${control.index})`
            : `expected ${node.description ?? `text matching ${node.pattern}`}`,
        );
      }
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") fail("expected true or false");
      return;
    case "integer":
    case "number": {
      const range = rangeText(node);
      const expected = `expected ${typeName(node)}${range ? ` ${range}` : ""}`;
      if (typeof value !== "number" || !Number.isFinite(value)) return fail(expected);
      if (node.type === "integer" && !Number.isInteger(value)) fail(expected);
      if (
        (node.minimum !== undefined && value < node.minimum) ||
        (node.maximum !== undefined && value > node.maximum) ||
        (node.exclusiveMinimum !== undefined && !(value > node.exclusiveMinimum)) ||
        (node.exclusiveMaximum !== undefined && !(value < node.exclusiveMaximum))
      ) fail(expected);
      return;
    }
  }
}

/** Validates a (partial) config value against the schema; ConfigError on the first problem. */
export function checkConfigValue(value: unknown, locate: Locate = () => ({})): void {
  check(value, schemaAt([])!, [], locate);
}

function deepMerge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (
    typeof base !== "object" || base === null || Array.isArray(base) ||
    typeof over !== "object" || over === null || Array.isArray(over)
  ) {
    return structuredClone(over) as T;
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

function getPath(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * Converts a field's value written as text (an environment variable or a flag) into the
 * type the schema gives it: numbers, `a,b` lists, `true`/`false`. Range checks come later.
 */
export function configValueFromText(path: string, text: string, where: string): unknown {
  const node = schemaAt(path.split("."));
  if (!node) throw new ConfigError(path, "unknown field", where);
  const number = (t: string, integer: boolean) => {
    const n = Number(t);
    if (t.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new ConfigError(
        path,
        `expected ${integer ? "an integer" : "a number"}${
          rangeText(node.items ?? node) ? ` ${rangeText(node.items ?? node)}` : ""
        }, got ${q(text)}`,
        where,
      );
    }
    return n;
  };
  switch (node.type) {
    case "integer":
    case "number":
      return number(text, node.type === "integer");
    case "boolean":
      if (text !== "true" && text !== "false") {
        throw new ConfigError(path, `expected true or false, got ${q(text)}`, where);
      }
      return text === "true";
    case "array": {
      const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
      return node.items?.type === "string"
        ? parts
        : parts.map((p) => number(p, node.items?.type === "integer"));
    }
    default:
      return text;
  }
}

/** Rules across fields, and names checked against the registries when given. */
function checkRules(
  c: BenchConfig,
  locate: Locate,
  vocabulary?: ConfigVocabulary,
  asked: (path: string) => boolean = () => false,
): void {
  const fail = (path: string, msg: string): never => {
    throw new ConfigError(path, msg, locate(path.split(".")).where);
  };
  if (c.load.rates.length === 0 && !c.load.throughput.enabled) {
    fail("load.rates", "expected at least one rate when load.throughput.enabled is false");
  }
  if (c.load.sweep.httpProtocols.includes("h2c") && c.load.sweep.payloadsBytes.length === 0) {
    fail(
      "load.sweep.httpProtocols",
      `${
        q(c.load.sweep.httpProtocols)
      }: the h2c points are the payload points sent over h2c, and load.sweep.payloadsBytes is ` +
        "empty (give it at least one size, e.g. [0])",
    );
  }
  if (!c.meshes.includes(c.baseline)) {
    fail("baseline", `expected one of meshes ${q(c.meshes)}, got ${q(c.baseline)}`);
  }
  // Kubernetes quantities of 0 pass the pattern but size nothing.
  if (!(parseFloat(c.cluster.proxyResources.cpu) > 0)) {
    fail(
      "cluster.proxyResources.cpu",
      `expected a CPU quantity above 0 such as "500m" or "1", got ${
        q(c.cluster.proxyResources.cpu)
      }`,
    );
  }
  if (!(parseFloat(c.cluster.proxyResources.memory) > 0)) {
    fail(
      "cluster.proxyResources.memory",
      `expected a memory quantity above 0 such as "256Mi", got ${
        q(c.cluster.proxyResources.memory)
      }`,
    );
  }
  if (c.target === "cluster" && c.cluster.context === "") {
    fail(
      "cluster.context",
      "the cluster target needs an explicitly named kubeconfig context (--context NAME)",
    );
  }
  if (!vocabulary) return;
  const unknown = (field: string, kind: string, list: string[], known: readonly string[]) => {
    list.forEach((name, i) => {
      if (known.includes(name)) return;
      const o = locate([field, String(i)]);
      throw new ConfigError(
        field,
        `unknown ${kind} ${q(name)}${field === "meshes" ? ` for the ${c.target} target` : ""}${
          didYouMean(name, known)
        } (known: ${known.join(", ")}${
          field === "meshes" && c.target === "local" ? "; real meshes need --target cluster" : ""
        })`,
        o.where ?? locate([field]).where,
      );
    });
  };
  if (!vocabulary.targets.includes(c.target)) {
    fail(
      "target",
      `expected one of ${vocabulary.targets.join(", ")}, got ${q(c.target)}${
        didYouMean(c.target, vocabulary.targets)
      }`,
    );
  }
  unknown("workloads", "workload", c.workloads, vocabulary.workloads);
  unknown("meshes", "mesh", c.meshes, vocabulary.meshes(c.target));
  if (vocabulary.sweepWorkloads) checkSweeps(c, locate, vocabulary.sweepWorkloads, asked);
}

/**
 * The connection sweep, the payload points and the knee ramp run on the workloads that take
 * them only: asked for (a file, the environment or a flag; the `full` profile's own are not
 * asked for) without one of those workloads, they would be silently ignored, so they are
 * refused naming the field and its value.
 */
function checkSweeps(
  c: BenchConfig,
  locate: Locate,
  sweepWorkloads: readonly string[],
  asked: (path: string) => boolean,
): void {
  if (c.workloads.some((w) => sweepWorkloads.includes(w))) return;
  const fields: Array<[string, unknown, boolean]> = [
    ["knee.enabled", c.knee.enabled, c.knee.enabled],
    ["load.sweep.connections", c.load.sweep.connections, c.load.sweep.connections.length > 0],
    ["load.sweep.payloadsBytes", c.load.sweep.payloadsBytes, c.load.sweep.payloadsBytes.length > 0],
  ];
  for (const [field, value, on] of fields) {
    if (!on || !asked(field)) continue;
    const origin = locate(field.split("."));
    throw new ConfigError(
      field,
      `got ${q(value)}, but it runs on workload ${
        sweepWorkloads.map((w) => q(w)).join(" or ")
      } only and "workloads" is ${q(c.workloads)}: add ${
        q(sweepWorkloads[0])
      } to the workloads or leave it off`,
      origin.where,
    );
  }
}

/** The names a config may use, from the registries (the config layer keeps no list). */
export interface ConfigVocabulary {
  targets: readonly string[];
  workloads: readonly string[];
  /** The workloads that take the connection sweep, the payload points and the knee ramp. */
  sweepWorkloads?: readonly string[];
  meshes: (target: BenchConfig["target"]) => readonly string[];
}

/** Inputs of {@linkcode loadConfig}, in increasing precedence after defaults and profile. */
export interface ConfigSources {
  /** Path of a YAML config file. */
  file?: string;
  /** Environment, read for `MESHBENCH_*` variables. */
  env?: Record<string, string>;
  /** Values from command-line flags, as dotted paths (e.g. `{"load.rates": [100]}`). */
  flags?: Record<string, unknown>;
  /** For flags: the flag each path was given by and its text as written. */
  flagText?: Record<string, { flag: string; text: string }>;
  /** Workload and mesh names to accept; without it names are not checked here. */
  vocabulary?: ConfigVocabulary;
}

/** Merges and validates config; returns it with a list of the sources used. */
export async function loadConfig(
  sources: ConfigSources = {},
): Promise<{ config: BenchConfig; sources: string[]; where: (path: string) => string }> {
  const used = ["defaults"];
  let fileValue: Record<string, unknown> = {};
  let fileLocate: Locate = () => ({});
  if (sources.file !== undefined) {
    const parsed = parseConfigText(await readConfigFile(sources.file), sources.file);
    fileValue = parsed.value;
    fileLocate = parsed.locate;
    used.push(`file:${sources.file}`);
  }
  const envValue: Record<string, unknown> = {};
  const envRaw: Record<string, Origin> = {};
  for (const [name, path] of Object.entries(CONFIG_ENV)) {
    const raw = sources.env?.[name];
    if (raw === undefined || raw === "") continue;
    const where = `env ${name}`;
    setPath(envValue, path.split("."), configValueFromText(path, raw, where));
    envRaw[path] = { where, raw: q(raw) };
    used.push(`env:${name}`);
  }
  const flagValue: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(sources.flags ?? {})) {
    if (v === undefined) continue;
    setPath(flagValue, path.split("."), v);
    used.push(`flag:${path}`);
  }
  /** The highest-precedence source that set `path` (or a field above or below it). */
  const locate: Locate = (path) => {
    const dotted = path.join(".");
    const under = (obj: Record<string, unknown>) => getPath(obj, path) !== undefined;
    const field = Object.keys(sources.flags ?? {}).find((p) =>
      sources.flags![p] !== undefined && (dotted === p || dotted.startsWith(`${p}.`))
    );
    if (field !== undefined || under(flagValue)) {
      const t = field ? sources.flagText?.[field] : undefined;
      return {
        where: `command-line flag${t ? ` --${t.flag}` : ""}`,
        raw: t && dotted === field ? q(t.text) : undefined,
      };
    }
    const envPath = Object.keys(envRaw).find((p) => dotted === p || dotted.startsWith(`${p}.`));
    if (envPath !== undefined) {
      return { where: envRaw[envPath].where, raw: dotted === envPath ? envRaw[envPath].raw : "" };
    }
    if (under(fileValue) || getPath(fileValue, path.slice(0, -1)) !== undefined) {
      return fileLocate(path);
    }
    return { where: "default" };
  };
  // Types and ranges are checked per source, so an error names the source that set the value.
  checkConfigValue(fileValue, fileLocate);
  checkConfigValue(envValue, (p) => {
    const o = locate(p);
    return { where: o.where, raw: o.raw || undefined };
  });
  checkConfigValue(flagValue, locate);

  const profile = (flagValue.profile ?? envValue.profile ?? fileValue.profile ??
    configDefaults().profile) as ProfileName;
  const target = (flagValue.target ?? envValue.target ?? fileValue.target ??
    configDefaults().target) as BenchConfig["target"];
  // Defaults that follow the target (cluster meshes differ from the local emulations) are
  // declared in the schema (`x-target-default`).
  let merged = deepMerge(configDefaults(target), PROFILES[profile]);
  merged = deepMerge(merged, fileValue);
  merged = deepMerge(merged, envValue);
  merged = deepMerge(merged, flagValue);
  // Set by the user (a file, the environment or a flag), not by the defaults or the profile.
  const asked = (path: string) =>
    [fileValue, envValue, flagValue].some((v) => getPath(v, path.split(".")) !== undefined);
  checkRules(merged, locate, sources.vocabulary, asked);
  return {
    config: merged,
    sources: used,
    where: (path) => locate(path.split(".")).where ?? "default",
  };
}

/**
 * Reads the config saved in a manifest: every field present is validated like a file's
 * (types, ranges, unknown fields), fields added since the run was made take their
 * defaults. Throws ConfigError naming the field and `where`.
 */
export function parseStoredConfig(value: unknown, where: string): BenchConfig {
  const at: Locate = (path) => ({ where: `${where}, config.${path.join(".")}` });
  check(value, schemaAt([])!, [], at);
  const merged = deepMerge(configDefaults(), value);
  checkRules(merged, at);
  return merged;
}

/**
 * Reads the config saved in a manifest for analysis, leniently: each field is validated on
 * its own; a missing field takes its default, an invalid one its default and a problem.
 * Unknown fields are ignored (a reader of results keeps going; stages use
 * {@linkcode parseStoredConfig}).
 */
export function readStoredConfig(
  value: unknown,
): { config: BenchConfig; problems: string[]; defaulted: string[] } {
  const config = configDefaults();
  const problems: string[] = [];
  /** Fields that took their default: missing, or invalid (those are in `problems` too). */
  const defaulted: string[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    if (value !== undefined) problems.push(`config is not a mapping: ${q(value)}`);
    return { config, problems, defaulted: configFields().map((f) => f.path) };
  }
  for (const { path, node } of configFields()) {
    const parts = path.split(".");
    const v = getPath(value, parts);
    if (v === undefined) {
      defaulted.push(path);
      continue;
    }
    try {
      check(v, node, parts, () => ({}));
      setPath(config as unknown as Record<string, unknown>, parts, structuredClone(v));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(`${e.message.replace(/^Invalid config /, "config ")}; the default is used`);
      defaulted.push(path);
    }
  }
  return { config, problems, defaulted };
}

/** Reads a config file, refusing what is not a small regular file. */
export async function readConfigFile(file: string): Promise<string> {
  const fail = (msg: string): never => {
    throw new ConfigError("--config", msg, file);
  };
  if (file.trim() === "") fail("expected a file name, got an empty string");
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (e) {
    return fail(`cannot read the file: ${(e as Error).message}`);
  }
  if (!info.isFile) fail(`not a regular file (${info.isDirectory ? "a directory" : "a device"})`);
  if (info.size > MAX_CONFIG_BYTES) {
    fail(
      `the file is ${(info.size / 1024 / 1024).toFixed(1)} MiB; a config file may be at most ` +
        `${MAX_CONFIG_BYTES / 1024 / 1024} MiB`,
    );
  }
  try {
    const bytes = await Deno.readFile(file);
    if (bytes.length > MAX_CONFIG_BYTES) fail("the file grew past 1 MiB while being read");
    return new TextDecoder().decode(bytes);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return fail(`cannot read the file: ${(e as Error).message}`);
  }
}

/** Parses YAML config text; errors carry the file and line. */
export function parseConfigText(
  text: string,
  file: string,
): { value: Record<string, unknown>; locate: Locate } {
  const fail = (msg: string, where = file): never => {
    throw new ConfigError("--config", msg, where);
  };
  if (text.trim() === "") {
    fail(
      "the file is empty; an empty config would silently mean all defaults. " +
        "Leave out --config for the defaults, or set at least one field",
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    fail(`YAML syntax error: ${e.message}`, `${file}:${lineCounter.linePos(e.pos[0]).line}`);
  }
  if (doc.contents === null) {
    fail(
      "the file has only comments; a config without settings would silently mean all " +
        "defaults. Leave out --config for the defaults, or set at least one field",
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    fail(
      `YAML aliases expand past ${MAX_YAML_ALIASES} nodes (${(e as Error).message}); ` +
        "write the values out",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(
      `expected a mapping of fields at the top level, got ${q(value)}`,
      `${file}:${lineCounter.linePos(doc.contents?.range?.[0] ?? 0).line}`,
    );
  }
  const line = (offset: number) => `${file}:${lineCounter.linePos(offset).line}`;
  const locate: Locate = (path) => {
    let node: unknown = doc.contents;
    let keyOffset: number | undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (!pair) return {};
        keyOffset = (pair.key as { range?: [number, number, number] }).range?.[0];
        node = pair.value;
      } else if (isSeq(node)) {
        node = node.items[Number(key)];
        keyOffset = undefined;
      } else return {};
    }
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const offset = keyOffset ?? range?.[0];
    return {
      where: offset === undefined ? file : line(offset),
      raw: range && isScalar(node) ? text.slice(range[0], range[1]).trim() || undefined : undefined,
    };
  };
  return { value: value as Record<string, unknown>, locate };
}
