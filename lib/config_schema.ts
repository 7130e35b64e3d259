/**
 * The one declaration of meshbench's config: a JSON Schema (draft 2020-12) from which
 * the TypeScript type, the defaults, the validation (types, enums, ranges), the
 * `MESHBENCH_*` environment variables and the command-line flags are all derived.
 * `schema/config.schema.json` is this object written out (a test keeps them equal),
 * so the file is documented by the same text that checks it.
 *
 * Annotations beyond JSON Schema, all prefixed `x-`:
 * - `x-env`: the environment variable that sets the field;
 * - `x-flag`: the command-line flag that sets it (and `x-arg`, its argument in help);
 * - `x-unit`: the unit, said in range errors;
 * - `x-file`: a path to a file meshbench reads, which must exist when set;
 * - `x-target-default`: the default on the targets it names, where it differs from `default`.
 *
 * @example
 * ```ts
 * import { CONFIG_DEFAULTS } from "./config_schema.ts";
 * console.assert(CONFIG_DEFAULTS.load.durationS === 5);
 * ```
 *
 * @module
 */

/** The default meshes on a Kubernetes cluster (the local default are the emulations). */
const CLUSTER_MESHES = ["baseline", "istio", "linkerd", "cilium"];

/** No control characters (NUL, newline, escape...) in any string field. */
const PRINTABLE = "^[^\\u0000-\\u001f\\u007f]*$";
/** A path: at least one character, printable, at most 4096 bytes like PATH_MAX. */
const path = (
  description: string,
  extra: { default?: string; minLength?: number; maxLength?: number } = {},
) =>
  ({
    type: "string",
    default: "",
    maxLength: 4096,
    pattern: PRINTABLE,
    description,
    ...extra,
  }) as const;
const seconds = (description: string, def: number, min: number, exclusive = false) =>
  ({
    type: "number",
    default: def,
    ...(exclusive ? { exclusiveMinimum: min } : { minimum: min }),
    maximum: 3600,
    "x-unit": "seconds",
    description,
  }) as const;

/** The config as JSON Schema: every field with its default, its range and its names. */
export const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://meshbench.dev/schema/v1/config.schema.json",
  title: "meshbench config",
  description: "The effective configuration of a run (bench.yaml; saved into manifest.json). " +
    "Every field is optional; merge order: defaults < profile < file < MESHBENCH_* environment " +
    "< flags.",
  type: "object",
  additionalProperties: false,
  properties: {
    target: {
      type: "string",
      pattern: "^[a-z][a-z0-9-]*$",
      default: "local",
      description: "a registered target: local, cluster, oci",
      "x-env": "MESHBENCH_TARGET",
      "x-flag": "target",
    },
    profile: {
      type: "string",
      enum: ["quick", "standard", "full"],
      default: "quick",
      description: "quick (default): short runs; standard: the design's 10 s warm-up, " +
        "5 s cool-down, 5 iterations, 30 s load; full: a rate sweep, a connection sweep and " +
        "the knee",
      "x-env": "MESHBENCH_PROFILE",
      "x-flag": "profile",
    },
    seed: {
      type: "integer",
      default: 1,
      minimum: 0,
      maximum: 4294967295,
      description: "seed of the run order and the bootstrap",
      "x-env": "MESHBENCH_SEED",
      "x-flag": "seed",
    },
    workloads: {
      type: "array",
      items: { type: "string", maxLength: 64, pattern: PRINTABLE },
      default: ["http", "grpc", "websocket", "db", "ml"],
      minItems: 1,
      maxItems: 20,
      uniqueItems: true,
      description: "subset of http, grpc, websocket, db, ml, inference (default: the " +
        "design's five, all but inference)",
      "x-env": "MESHBENCH_WORKLOADS",
      "x-flag": "workloads",
      "x-arg": "a,b",
    },
    meshes: {
      type: "array",
      items: { type: "string", maxLength: 64, pattern: PRINTABLE },
      default: ["baseline", "sidecar-emu", "node-proxy-emu"],
      "x-target-default": { cluster: CLUSTER_MESHES, oci: CLUSTER_MESHES },
      minItems: 2,
      maxItems: 20,
      uniqueItems: true,
      description: "meshes, the baseline included (default: the target's)",
      "x-env": "MESHBENCH_MESHES",
      "x-flag": "meshes",
      "x-arg": "a,b",
    },
    baseline: {
      type: "string",
      default: "baseline",
      maxLength: 64,
      pattern: PRINTABLE,
      description: "the mesh every other mesh is compared against",
    },
    iterations: {
      type: "integer",
      default: 3,
      minimum: 1,
      maximum: 100,
      description: "iterations per load point",
      "x-flag": "iterations",
      "x-arg": "N",
    },
    warmupS: seconds("unrecorded light load before the tests", 3, 0),
    cooldownS: seconds("pause after the tests", 2, 0),
    gapS: seconds("pause between consecutive measured runs", 0.2, 0),
    load: {
      type: "object",
      additionalProperties: false,
      properties: {
        rates: {
          type: "array",
          // vegeta takes whole requests per second only.
          items: { type: "integer", minimum: 1, maximum: 1000000, "x-unit": "requests/s" },
          default: [500],
          maxItems: 50,
          uniqueItems: true,
          description: "fixed rates (requests per second)",
          "x-flag": "rates",
          "x-arg": "R1,R2",
        },
        durationS: {
          ...seconds("seconds per fixed-rate run", 5, 0, true),
          "x-flag": "duration",
          "x-arg": "S",
        },
        connections: {
          type: "integer",
          default: 8,
          minimum: 1,
          maximum: 10000,
          description: "connections of fixed-rate runs",
        },
        sweep: {
          type: "object",
          additionalProperties: false,
          properties: {
            connections: {
              type: "array",
              items: { type: "integer", minimum: 1, maximum: 10000 },
              default: [],
              maxItems: 20,
              uniqueItems: true,
              description: "connection sweep of the HTTP workload: one fixed-rate point per " +
                "count at load.sweep.rate, overhead vs connections (empty: off; full " +
                "profile: 1, 16, 64)",
              "x-flag": "sweep-connections",
              "x-arg": "N1,N2",
            },
            payloadsBytes: {
              type: "array",
              items: { type: "integer", minimum: 0, maximum: 1048576, "x-unit": "bytes" },
              default: [],
              maxItems: 20,
              uniqueItems: true,
              description: "payload sweep of the HTTP workload: one fixed-rate POST point per " +
                "request body size at load.sweep.rate, overhead vs payload (empty: off; full " +
                "profile: 0, 1024, 16384)",
              "x-flag": "sweep-payloads",
              "x-arg": "B1,B2",
            },
            httpProtocols: {
              type: "array",
              items: { type: "string", enum: ["http/1.1", "h2c"] },
              default: ["http/1.1"],
              minItems: 1,
              maxItems: 2,
              uniqueItems: true,
              description: "protocols of the HTTP workload's payload points: each payload point " +
                "runs once per protocol, h2c being HTTP/2 in cleartext with prior knowledge " +
                "(full profile: http/1.1, h2c)",
              "x-flag": "http-protocols",
              "x-arg": "P1,P2",
            },
            rate: {
              type: "integer",
              default: 1000,
              minimum: 1,
              maximum: 1000000,
              "x-unit": "requests/s",
              description: "fixed rate of the connection and payload sweeps",
            },
          },
        },
        throughput: {
          type: "object",
          additionalProperties: false,
          properties: {
            enabled: {
              type: "boolean",
              default: true,
              description: "closed-loop max-throughput runs (wrk and the like)",
            },
            durationS: seconds("seconds per max-throughput run", 3, 0, true),
            connections: {
              type: "integer",
              default: 16,
              minimum: 1,
              maximum: 10000,
              description: "connections of max-throughput runs",
            },
          },
        },
      },
    },
    knee: {
      type: "object",
      additionalProperties: false,
      description: "the knee: per mesh, the highest fixed rate of a ramp that still holds " +
        "the p99 target with the generator keeping up and the success rate intact",
      properties: {
        enabled: {
          type: "boolean",
          default: false,
          description: "ramp the HTTP workload's fixed rate per mesh and iteration until a " +
            "step breaks the p99 target, the generator falls behind or the success rate " +
            "drops (full profile: on)",
          "x-flag": "knee",
        },
        p99TargetMs: {
          type: "number",
          default: 10,
          exclusiveMinimum: 0,
          maximum: 60000,
          "x-unit": "ms",
          description: "p99 latency (from the intended send) a ramp step must hold",
          "x-flag": "knee-p99",
          "x-arg": "MS",
        },
        rates: {
          type: "array",
          items: { type: "integer", minimum: 1, maximum: 1000000, "x-unit": "requests/s" },
          default: [250, 500, 1000, 2000, 4000, 8000],
          minItems: 1,
          maxItems: 50,
          uniqueItems: true,
          description: "the ramp's steps, run in increasing order",
          "x-flag": "knee-rates",
          "x-arg": "R1,R2",
        },
        durationS: {
          ...seconds("seconds per ramp step", 5, 0, true),
        },
        connections: {
          type: "integer",
          default: 16,
          minimum: 1,
          maximum: 10000,
          description: "connections of the ramp's steps",
        },
        maxSendLagPct: {
          type: "number",
          default: 25,
          exclusiveMinimum: 0,
          maximum: 1000,
          "x-unit": "%",
          description: "a step's generator fell behind when its send-lag p99 exceeds this % " +
            "of p99TargetMs (or it sent more than saturationPct % under the rate)",
        },
      },
    },
    inference: {
      type: "object",
      additionalProperties: false,
      properties: {
        rate: {
          type: "integer",
          default: 20,
          minimum: 1,
          maximum: 100000,
          "x-unit": "requests/s",
          description: "inference workload: fixed rate of every payload's run",
        },
        payloadBytes: {
          type: "array",
          items: { type: "integer", minimum: 512, maximum: 1048576, "x-unit": "bytes" },
          default: [1024, 16384, 131072],
          minItems: 1,
          maxItems: 10,
          uniqueItems: true,
          description: "inference workload: request body sizes, one load point each",
        },
        connections: {
          type: "integer",
          default: 4,
          minimum: 1,
          maximum: 1000,
          description: "inference workload: connections of its fixed-rate runs",
        },
      },
    },
    saturationPct: {
      type: "number",
      default: 2,
      exclusiveMinimum: 0,
      exclusiveMaximum: 100,
      "x-unit": "%",
      description: "a fixed-rate run is saturated when achieved is more than this % (and more " +
        "than one request) under target",
    },
    minSuccessPct: {
      type: "number",
      default: 99.9,
      minimum: 0,
      maximum: 100,
      "x-unit": "%",
      description:
        "a run fails when fewer than this % of its operations succeeded (HTTP 2xx/3xx, gRPC OK, no socket error or drop)",
    },
    generatorLimitedPct: {
      type: "number",
      default: 10,
      exclusiveMinimum: 0,
      maximum: 1000,
      "x-unit": "%",
      description: "a fixed-rate run is generator-limited when the load generator's send-lag " +
        "p99 exceeds this % of the baseline's p50 service time",
    },
    noisyCvPct: {
      type: "number",
      default: 10,
      exclusiveMinimum: 0,
      maximum: 1000,
      "x-unit": "%",
      description: "baseline CV above which overheads are flagged as noisy",
    },
    bootstrap: {
      type: "object",
      additionalProperties: false,
      properties: {
        resamples: {
          type: "integer",
          default: 2000,
          minimum: 100,
          maximum: 100000,
          description: "bootstrap resamples (exact enumeration for up to 7 iterations)",
        },
        confidence: {
          type: "number",
          default: 0.95,
          exclusiveMinimum: 0.5,
          exclusiveMaximum: 1,
          description: "confidence of the intervals",
        },
      },
    },
    local: {
      type: "object",
      additionalProperties: false,
      properties: {
        proxyThreads: {
          type: "integer",
          default: 1,
          minimum: 1,
          maximum: 256,
          description: "Worker threads per emulated proxy (Envoy --concurrency, HAProxy nbthread)",
        },
        serverWorkers: {
          type: "integer",
          default: 1,
          minimum: 1,
          maximum: 256,
          description: "nginx workers per replica",
        },
        httpGenerator: {
          type: "string",
          enum: ["http-client", "vegeta"],
          default: "http-client",
          description: "fixed-rate HTTP load generator of the http and inference workloads: " +
            "meshbench's paced client (sends within " +
            "microseconds of each intended time) or vegeta (0-1 ms late); see docs/methodology.md",
        },
        httpClientRtPriority: {
          type: "integer",
          default: 0,
          minimum: 0,
          maximum: 99,
          description: "SCHED_FIFO priority of the HTTP client's pacing thread (needs " +
            "CAP_SYS_NICE; keeps it on time on a busy machine, preempting the servers at each " +
            "send); 0: normal scheduling",
        },
        httpClientNeverSleep: {
          type: "boolean",
          default: false,
          description: "the HTTP client's pacing thread spins from due time to due time " +
            "instead of sleeping between sends: no late wake-ups, but a whole core taken from " +
            "the servers for every fixed-rate run (on 2 cores it slowed the baseline's service " +
            "time); see docs/methodology.md",
        },
        proxyDelayMs: {
          type: "number",
          default: 0,
          minimum: 0,
          maximum: 10000,
          description:
            "test knob: every L7 server-side emulated proxy holds each HTTP request this " +
            "long (a known regression for compare --gate); 0: off",
        },
        basePort: {
          type: "integer",
          default: 18000,
          minimum: 1024,
          maximum: 60000,
          description: "first loopback port; each workload takes a block of 100",
        },
      },
    },
    cluster: {
      type: "object",
      additionalProperties: false,
      properties: {
        context: {
          ...path("kubeconfig context (required for --target cluster)", { maxLength: 253 }),
          "x-env": "MESHBENCH_CONTEXT",
          "x-flag": "context",
          "x-arg": "NAME",
        },
        kubeconfig: {
          ...path("kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"),
          "x-flag": "kubeconfig",
          "x-file": true,
          "x-arg": "FILE",
        },
        qos: {
          type: "string",
          enum: ["burstable", "guaranteed"],
          default: "burstable",
          description: "cluster: QoS of the benchmark pods and sidecars (default: burstable, " +
            "to fit the free tier; guaranteed per METHODOLOGY 10: requests = limits, checked " +
            "before load)",
          "x-flag": "qos",
        },
        proxyResources: {
          type: "object",
          additionalProperties: false,
          description: "size of each injected sidecar proxy under qos: guaranteed",
          properties: {
            cpu: {
              type: "string",
              default: "1",
              pattern: "^(\\d+(\\.\\d+)?|\\d+m)$",
              maxLength: 32,
              description: 'a CPU quantity above 0 such as "500m" or "1"',
            },
            memory: {
              type: "string",
              default: "256Mi",
              pattern: "^\\d+(Ki|Mi|Gi|k|M|G)?$",
              maxLength: 32,
              description: 'a memory quantity above 0 such as "256Mi"',
            },
          },
        },
      },
    },
    oci: {
      type: "object",
      additionalProperties: false,
      properties: {
        varFile: {
          ...path("oci: your copy of terraform/meshbench.tfvars.example"),
          "x-flag": "var-file",
          "x-file": true,
          "x-arg": "FILE",
        },
        keep: {
          type: "boolean",
          default: false,
          description: "oci: leave the infrastructure up afterwards",
          "x-flag": "keep",
        },
        stateDir: {
          ...path("oci: Terraform/Ansible state (default: .meshbench/oci)"),
          "x-flag": "state-dir",
          "x-arg": "DIR",
        },
        sshKey: {
          ...path("oci: private key for the nodes"),
          "x-flag": "ssh-key",
          "x-file": true,
          "x-arg": "FILE",
        },
      },
    },
    out: {
      ...path("directory that holds run directories (default: results)", {
        default: "results",
        minLength: 1,
      }),
      "x-env": "MESHBENCH_OUT",
      "x-flag": "out",
      "x-arg": "DIR",
    },
  },
} as const;

/** The TypeScript type a schema node describes. */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] } ? E
  : S extends { type: "string" } ? string
  : S extends { type: "integer" | "number" } ? number
  : S extends { type: "boolean" } ? boolean
  : S extends { type: "array"; items: infer I } ? FromSchema<I>[]
  : S extends { type: "object"; properties: infer P }
    ? { -readonly [K in keyof P]: FromSchema<P[K]> }
  : never;

/** The validated, effective configuration of a run. */
export type BenchConfig = FromSchema<typeof CONFIG_SCHEMA>;
export type ProfileName = BenchConfig["profile"];

/** One node of the schema, as the walkers below read it. */
export interface SchemaNode {
  type: "string" | "integer" | "number" | "boolean" | "array" | "object";
  description?: string;
  default?: unknown;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  "x-env"?: string;
  "x-flag"?: string;
  "x-arg"?: string;
  "x-unit"?: string;
  /** A file meshbench reads: when set, it must exist (checked before anything starts). */
  "x-file"?: boolean;
  /** Default on the targets named (keys), where it differs from `default`. */
  "x-target-default"?: Record<string, unknown>;
}

const ROOT = CONFIG_SCHEMA as unknown as SchemaNode;

/** Every leaf field (not an object) with its dotted path. */
export function configFields(): Array<{ path: string; node: SchemaNode }> {
  const out: Array<{ path: string; node: SchemaNode }> = [];
  const walk = (node: SchemaNode, prefix: string[]) => {
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      if (child.type === "object") walk(child, [...prefix, k]);
      else out.push({ path: [...prefix, k].join("."), node: child });
    }
  };
  walk(ROOT, []);
  return out;
}

/** The schema node at a dotted path (or path array); undefined when there is none. */
export function schemaAt(path: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = ROOT;
  for (const k of path) {
    if (!node) return undefined;
    if (node.type === "array") node = node.items;
    else node = node.properties?.[k];
  }
  return node;
}

function defaultsOf(node: SchemaNode, target: string | undefined): unknown {
  if (node.type === "object") {
    return Object.fromEntries(
      Object.entries(node.properties ?? {}).map(([k, v]) => [k, defaultsOf(v, target)]),
    );
  }
  const byTarget = node["x-target-default"];
  if (target !== undefined && byTarget && Object.hasOwn(byTarget, target)) {
    return structuredClone(byTarget[target]);
  }
  return structuredClone(node.default);
}

/**
 * A fresh copy of the defaults, read from the schema: on `target` (default: the schema's
 * default target), a field's `x-target-default` for it replaces its `default`.
 */
export function configDefaults(target?: string): BenchConfig {
  return defaultsOf(ROOT, target) as BenchConfig;
}

/** The defaults (frozen: use {@linkcode configDefaults} for a copy to change). */
export const CONFIG_DEFAULTS: BenchConfig = deepFreeze(configDefaults());

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Environment variables that set a config field: name -> field path. */
export const CONFIG_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  configFields().filter((f) => f.node["x-env"]).map((f) => [f.node["x-env"]!, f.path]),
);

/** Command-line flags that set a config field: flag name (no dashes) -> field path. */
export const CONFIG_FLAGS: Readonly<Record<string, string>> = Object.fromEntries(
  configFields().filter((f) => f.node["x-flag"]).map((f) => [f.node["x-flag"]!, f.path]),
);

/**
 * The other `MESHBENCH_*` variables meshbench reads (tool paths, where to find runs, test
 * output): together with {@linkcode CONFIG_ENV}, every name that is not refused.
 */
export const OTHER_ENV: Readonly<Record<string, string>> = {
  MESHBENCH_RUN_DIR: "run directory the report, notebooks and readers open",
  MESHBENCH_RESULTS: "results directory the report and notebooks look in",
  MESHBENCH_COMPARE_A: "run A of the comparison notebook",
  MESHBENCH_COMPARE_B: "run B of the comparison notebook",
  MESHBENCH_DEBUG: "print stack traces of unexpected errors",
  MESHBENCH_GHZ: "the ghz binary",
  MESHBENCH_HELM: "the helm binary",
  MESHBENCH_JUPYTER: "the jupyter binary",
  MESHBENCH_PYTHON: "the Python of the ML workload",
  MESHBENCH_TERRAFORM: "the Terraform-compatible binary",
  MESHBENCH_TESTENV_BIN: "binaries of the test control plane",
  MESHBENCH_TESTENV_CACHE: "download cache of .ci/install_testenv.sh",
  MESHBENCH_TEST_OUTPUT: "where browser tests keep screenshots",
  MESHBENCH_CHROMIUM: "the Chromium of the browser tests",
  MESHBENCH_DISPLAY_LOG: "file the notebook runner counts display outputs in (set by the runner)",
};

/** Every `MESHBENCH_*` variable meshbench knows, sorted. */
export function knownEnv(): string[] {
  return [...Object.keys(CONFIG_ENV), ...Object.keys(OTHER_ENV)].sort();
}

/** The schema as the JSON file `schema/config.schema.json` holds it. */
export function configSchemaJson(): string {
  return JSON.stringify(CONFIG_SCHEMA, null, 2) + "\n";
}

if (import.meta.main) {
  // deno run -A lib/config_schema.ts > schema/config.schema.json
  console.log(configSchemaJson().trimEnd());
}
