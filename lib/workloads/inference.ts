/**
 * An ML inference service: the ML batch job's RandomForest served over HTTP
 * (`servers/ml/ml_serve.py`, scikit-learn, {@linkcode INFERENCE_REPLICAS} replicas), loaded
 * open loop at a fixed rate with one load point per request body size
 * (`inference.payloadBytes`, default 1, 16 and 128 KB). The batch job has no east-west traffic
 * for a mesh to touch; this is the same model behind a request path.
 *
 * The model is trained once per run, when the first replica is started: the ML workload's
 * training set (`ml_data.py`, the profile's {@linkcode ML_SIZES}, seeded with the run's
 * `seed`) and the Job's completion 1 (`ml_model.py`: its stratified 80/20 split and forest,
 * both seeded 1), pickled into the run directory and loaded by every replica. Nothing trained
 * is committed.
 *
 * A payload of N bytes is `POST /predict` with `Content-Type: application/json` and a body of
 * exactly N bytes: `{"instances":[[f0,...,f19],...]}`, as many whole rows of the held-out split
 * as fit (each feature printed `%.6f`, as in the training CSV; about 192 bytes a row: 5 rows in
 * 1 KB, 84-85 in 16 KB, 680-681 in 128 KB with 20 features; `model.json` lists them), then spaces up to N. The answer is one
 * label per row, `{"predictions":[0,1,...]}`. Bigger payloads cost the server more (parsing and
 * predicting more rows), so the mesh's overhead is read per payload against the baseline's at
 * the same payload.
 *
 * Load: the http workload's fixed-rate generator (`local.httpGenerator`: meshbench's own
 * open-loop client by default, vegeta when set), open loop at `inference.rate` requests/s over
 * `inference.connections` connections, latency from the intended send; wrk with the same body
 * for max throughput (closed loop) when throughput runs are on. Every request must carry
 * exactly the payload's bytes (the client's body, each request vegeta recorded), or the run
 * fails.
 *
 * On a cluster (`manifests/workloads/inference.yaml`) two model server pods train the same model
 * at start-up and fortio in the client pods POSTs the same payload files, which their init
 * container writes: the pods read the sizes, seeds and payload sizes of the run's config from
 * a ConfigMap the cluster target fills ({@linkcode inferenceParameters}).
 *
 * @module
 */
import { join, relative } from "node:path";
import type { BenchConfig } from "../config.ts";
import type { LoadPoint } from "../types.ts";
import type { Workload, WorkloadEnv } from "../workload.ts";
import {
  parseVegetaCsv,
  vegetaAttackCommand,
  vegetaResult,
  type VegetaRow,
} from "../tools/vegeta.ts";
import { parseWrk, wrkCommand, wrkScript } from "../tools/wrk.ts";
import { runHttpLoad } from "../tools/http_client.ts";
import { LOCAL_VEGETA_GENERATOR } from "./http.ts";
import { ML_SIZES, mlPython, sklearnTool } from "./ml.ts";

/** Model server processes behind the service. */
export const INFERENCE_REPLICAS = 2;
/** The forest's and the split's seed: the ML Job's completion 1. */
export const INFERENCE_MODEL_SEED = 1;
const DATA_SCRIPT = new URL("../../servers/ml/ml_data.py", import.meta.url).pathname;
const SERVE_SCRIPT = new URL("../../servers/ml/ml_serve.py", import.meta.url).pathname;

/** One request body as `ml_serve.py prepare` wrote it. */
export interface InferencePayload {
  bytes: number;
  rows: number;
  sha256: string;
  path: string;
}

/** What `ml_serve.py prepare` printed: the model's figures and the payloads. */
export interface InferenceModel {
  trees: number;
  seed: number;
  features: number;
  trainRows: number;
  testRows: number;
  accuracy: number;
  dataSha256: string;
  sklearn: string;
  trainS: number;
  payloads: InferencePayload[];
}

/** Options of {@linkcode prepareInference}. */
export interface PrepareOptions {
  rows: number;
  features: number;
  trees: number;
  /** Seed of the training set (the run's `seed`). */
  dataSeed: number;
  payloadBytes: number[];
  python?: string;
  timeoutMs?: number;
}

/**
 * Writes the training set, trains and pickles the model and writes the payloads under `dir`
 * (`data/train.csv`, `model.pkl`, `payloads/payload-<bytes>.json`, `model.json`).
 */
export async function prepareInference(
  runner: WorkloadEnv["runner"],
  dir: string,
  options: PrepareOptions,
): Promise<InferenceModel> {
  const python = options.python ?? mlPython();
  const timeoutMs = options.timeoutMs ?? 300_000;
  await Deno.mkdir(join(dir, "data"), { recursive: true });
  await Deno.mkdir(join(dir, "payloads"), { recursive: true });
  const csv = join(dir, "data", "train.csv");
  await runner.run([
    python,
    DATA_SCRIPT,
    "--rows",
    String(options.rows),
    "--features",
    String(options.features),
    "--seed",
    String(options.dataSeed),
    "--out",
    csv,
  ], { timeoutMs });
  const out = await runner.run([
    python,
    SERVE_SCRIPT,
    "prepare",
    "--data",
    csv,
    "--trees",
    String(options.trees),
    "--seed",
    String(INFERENCE_MODEL_SEED),
    "--model",
    join(dir, "model.pkl"),
    "--payload-dir",
    join(dir, "payloads"),
    "--payloads",
    options.payloadBytes.join(","),
  ], { timeoutMs });
  const model = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as InferenceModel;
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(model, null, 2) + "\n");
  return model;
}

/** The `ml_serve.py serve` command of one replica. */
export function serveCommand(modelPath: string, port: number, python = mlPython()): string[] {
  return [python, SERVE_SCRIPT, "serve", "--model", modelPath, "--port", String(port)];
}

async function readModel(env: WorkloadEnv): Promise<InferenceModel> {
  return JSON.parse(await Deno.readTextFile(join(env.workDir, "model.json")));
}

function payloadOf(model: InferenceModel, bytes: number): InferencePayload {
  const p = model.payloads.find((x) => x.bytes === bytes);
  if (!p) {
    throw new Error(
      `No inference payload of ${bytes} bytes was prepared (have: ${
        model.payloads.map((x) => x.bytes).join(", ")
      }); re-deploy after changing "inference.payloadBytes"`,
    );
  }
  return p;
}

/**
 * One prediction request of `payload` to `url`: the labels, or it throws naming the status
 * and body. The row count must match the payload's.
 */
export async function predict(url: string, payload: InferencePayload): Promise<number[]> {
  const body = await Deno.readFile(payload.path);
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`Prediction at ${url} failed: status ${res.status}: ${text.slice(0, 200)}`);
  }
  const doc = JSON.parse(text) as { predictions?: unknown };
  const labels = doc.predictions;
  if (!Array.isArray(labels) || labels.length !== payload.rows) {
    throw new Error(
      `Prediction at ${url} answered ${
        Array.isArray(labels) ? labels.length : "no"
      } labels for ${payload.rows} rows: ${text.slice(0, 200)}`,
    );
  }
  return labels as number[];
}

async function vegetaTargets(env: WorkloadEnv, ports: number[], payload: InferencePayload) {
  const path = join(env.workDir, `targets-${payload.bytes}-${ports.join("-")}.txt`);
  const targets = ports.map((p) =>
    `POST http://127.0.0.1:${p}/predict\nContent-Type: application/json\n@${payload.path}\n`
  );
  await Deno.writeTextFile(path, targets.join("\n"));
  return path;
}

async function runVegeta(
  env: WorkloadEnv,
  ports: number[],
  payload: InferencePayload,
  p: { rate: number; durationS: number; connections: number },
  outFile: string,
  onLoadgen?: (pid: number) => void,
): Promise<VegetaRow[]> {
  await env.runner.run(
    vegetaAttackCommand({
      vegeta: env.bin.vegeta,
      targetsFile: await vegetaTargets(env, ports, payload),
      outFile,
      rate: p.rate,
      durationS: p.durationS,
      connections: p.connections,
      generator: LOCAL_VEGETA_GENERATOR,
    }),
    { timeoutMs: (p.durationS + 30) * 1000, signal: env.signal, onSpawn: onLoadgen },
  );
  const csv = await env.runner.run([env.bin.vegeta, "encode", "--to", "csv", outFile], {
    timeoutMs: 120_000,
  });
  const rows = parseVegetaCsv(csv.stdout);
  // What the measurement is about: a request that did not carry the payload is not one.
  const wrong = rows.filter((r) => r.error === "" && r.bytesOut !== payload.bytes);
  if (wrong.length > 0) {
    throw new Error(
      `vegeta sent ${wrong.length} of ${rows.length} requests with ${
        wrong[0].bytesOut
      } body bytes, not the payload's ${payload.bytes}`,
    );
  }
  return rows;
}

/**
 * meshbench's own open-loop client POSTing the payload (read from its file, byte for byte):
 * the result says the body it sent (`extra.bodyBytes`), which must be the payload's size.
 */
async function runClient(
  env: WorkloadEnv,
  ports: number[],
  payload: InferencePayload,
  p: { rate: number; durationS: number; connections: number },
  onLoadgen?: (pid: number) => void,
) {
  const run = await runHttpLoad(env.runner, {
    urls: ports.map((port) => `http://127.0.0.1:${port}/predict`),
    connections: p.connections,
    rate: p.rate,
    durationS: p.durationS,
    method: "POST",
    headers: { "Content-Type": "application/json" },
    bodyFile: payload.path,
    rtPriority: env.config.local.httpClientRtPriority,
    neverSleep: env.config.local.httpClientNeverSleep,
  }, { signal: env.signal, onSpawn: onLoadgen });
  const sent = run.result.extra?.bodyBytes;
  if (sent !== payload.bytes) {
    throw new Error(
      `The HTTP client sent bodies of ${sent} bytes, not the payload's ${payload.bytes}`,
    );
  }
  return run;
}

/** wrk's script for POSTing the payload (the body is read once per thread). */
function wrkPostScript(ports: number[], payload: InferencePayload): string {
  return `${wrkScript(ports)}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(${JSON.stringify(payload.path)}, "rb"))
wrk.body = f:read("*a")
f:close()
`;
}

/** The inference load points: per payload, one fixed-rate point, then one max-throughput. */
export function inferencePoints(
  config: Pick<BenchConfig, "inference" | "load" | "local">,
): LoadPoint[] {
  const { rate, payloadBytes, connections } = config.inference;
  const points: LoadPoint[] = payloadBytes.map((bytes) => ({
    mode: "fixed-rate",
    // The http workload's fixed-rate generator: meshbench's own client unless set to vegeta.
    tool: config.local.httpGenerator,
    rate,
    connections,
    durationS: config.load.durationS,
    payloadBytes: bytes,
  }));
  if (config.load.throughput.enabled) {
    for (const bytes of payloadBytes) {
      points.push({
        mode: "max-throughput",
        tool: "wrk",
        rate: null,
        connections: config.load.throughput.connections,
        durationS: config.load.throughput.durationS,
        payloadBytes: bytes,
      });
    }
  }
  return points;
}

/** The inference load points in client pods: the same points, with fortio. */
export function inferencePodPoints(
  config: Pick<BenchConfig, "inference" | "load" | "local">,
): LoadPoint[] {
  return inferencePoints(config).map((p) => ({ ...p, tool: "fortio" }));
}

/**
 * What the cluster target's pods read (`manifests/workloads/inference.yaml`): the model and the
 * payloads the local target's first replica prepares for the same config (the profile's
 * {@linkcode ML_SIZES}, the run's seed for the training set, the Job's seed for the split and
 * forest, `inference.payloadBytes`).
 */
export function inferenceParameters(
  config: Pick<BenchConfig, "profile" | "seed" | "inference">,
): Record<string, string> {
  const size = ML_SIZES[config.profile];
  return {
    ROWS: String(size.rows),
    FEATURES: String(size.features),
    TREES: String(size.trees),
    DATA_SEED: String(config.seed),
    MODEL_SEED: String(INFERENCE_MODEL_SEED),
    PAYLOADS: config.inference.payloadBytes.join(","),
  };
}

export const inferenceWorkload: Workload = {
  name: "inference",
  namespace: "inference-benchmark",
  protocol: "http",
  replicas: INFERENCE_REPLICAS,
  // vegeta and wrk are base tools of the local target; the HTTP client is meshbench's own.
  tools: [sklearnTool()],
  points: inferencePoints,
  pod: {
    driver: "fortio",
    points: inferencePodPoints,
    fortio: (namespace) => ({
      address: `http://inference-server.${namespace}.svc.cluster.local:80/predict`,
      protocol: "http",
      payloadDir: "/payloads",
    }),
    parameters: inferenceParameters,
  },
  async server(env, index, port) {
    const model = join(env.workDir, "model.pkl");
    if (index === 0) {
      const size = ML_SIZES[env.config.profile];
      const m = await prepareInference(env.runner, env.workDir, {
        rows: size.rows,
        features: size.features,
        trees: size.trees,
        dataSeed: env.config.seed,
        payloadBytes: env.config.inference.payloadBytes,
      });
      env.log.info(
        `Inference model: ${m.trees} trees on ${m.trainRows} rows x ${m.features} features ` +
          `(held-out accuracy ${m.accuracy}, trained in ${m.trainS.toFixed(1)} s); payloads ` +
          m.payloads.map((p) => `${p.bytes} B = ${p.rows} rows`).join(", "),
      );
    }
    return { cmd: serveCommand(model, port) };
  },
  async probe(env, ports) {
    const model = await readModel(env);
    for (const p of ports) {
      for (const payload of model.payloads) {
        await predict(`http://127.0.0.1:${p}/predict`, payload);
      }
    }
  },
  async warmup(env, ports, seconds) {
    if (seconds <= 0) return;
    const model = await readModel(env);
    // Every payload through each path, a share of the warm-up each, at a quarter of the rate.
    const each = Math.max(1, Math.round(seconds / model.payloads.length));
    for (const payload of model.payloads) {
      const warm = {
        rate: Math.max(1, Math.round(env.config.inference.rate / 4)),
        durationS: each,
        connections: env.config.inference.connections,
      };
      if (env.config.local.httpGenerator === "http-client") {
        const { result } = await runClient(env, ports, payload, warm);
        if (result.errors > 0) {
          throw new Error(
            `Inference warm-up (${payload.bytes} B) through ports ${
              ports.join(",")
            }: ${result.errors} of ${result.operations} requests failed: ${
              JSON.stringify(result.errorKinds)
            }`,
          );
        }
        continue;
      }
      const out = join(env.workDir, `warmup-${payload.bytes}-${ports.join("-")}.bin`);
      const rows = await runVegeta(env, ports, payload, warm, out);
      await Deno.remove(out);
      const failed = rows.filter((r) => r.error !== "" || r.code !== 200).length;
      if (failed > 0) {
        throw new Error(
          `Inference warm-up (${payload.bytes} B) through ports ${
            ports.join(",")
          }: ${failed} of ${rows.length} requests failed`,
        );
      }
    }
  },
  async run(env, spec, ports, rawStem, onLoadgen) {
    const p = spec.point;
    if (p.payloadBytes === undefined) {
      throw new Error(`Inference load point of run ${spec.seq} has no payloadBytes`);
    }
    const payload = payloadOf(await readModel(env), p.payloadBytes);
    if (p.mode === "fixed-rate" && p.tool === "http-client") {
      const { result, raw } = await runClient(env, ports, payload, {
        rate: p.rate!,
        durationS: p.durationS,
        connections: p.connections,
      }, onLoadgen);
      const path = join(env.runDir, `${rawStem}.http-client.json`);
      await Deno.writeTextFile(path, raw);
      result.extra = { ...result.extra, payloadBytes: payload.bytes, payloadRows: payload.rows };
      return { load: result, raw: [relative(env.runDir, path)] };
    }
    if (p.mode === "fixed-rate") {
      const bin = join(env.runDir, `${rawStem}.vegeta.bin`);
      const rows = await runVegeta(
        env,
        ports,
        payload,
        {
          rate: p.rate!,
          durationS: p.durationS,
          connections: p.connections,
        },
        bin,
        onLoadgen,
      );
      if (rows.length === 0) throw new Error("vegeta recorded no requests");
      const load = vegetaResult(rows, {
        rate: p.rate!,
        durationS: p.durationS,
        connections: p.connections,
        toolVersion: env.bin["vegeta@version"] ?? "unknown",
        generator: LOCAL_VEGETA_GENERATOR,
      });
      load.extra = { ...load.extra, payloadBytes: payload.bytes, payloadRows: payload.rows };
      return { load, raw: [relative(env.runDir, bin)] };
    }
    const threads = Math.min(this.replicas, p.connections);
    const script = join(env.workDir, `wrk-${payload.bytes}-${ports.join("-")}.lua`);
    await Deno.writeTextFile(script, wrkPostScript(ports.length > 1 ? ports : [], payload));
    const r = await env.runner.run(
      wrkCommand({
        wrk: env.bin.wrk,
        script,
        url: `http://127.0.0.1:${ports[0]}/predict`,
        threads,
        connections: p.connections,
        durationS: p.durationS,
      }),
      { timeoutMs: (p.durationS + 30) * 1000, signal: env.signal, onSpawn: onLoadgen },
    );
    const rawPath = join(env.runDir, `${rawStem}.wrk.txt`);
    await Deno.writeTextFile(rawPath, r.stdout + (r.stderr ? `\n--- stderr ---\n${r.stderr}` : ""));
    const load = parseWrk(r.stdout, {
      connections: Math.max(p.connections, threads),
      toolVersion: env.bin["wrk@version"] ?? "unknown",
    });
    load.extra = { ...load.extra, payloadBytes: payload.bytes, payloadRows: payload.rows };
    return { load, raw: [relative(env.runDir, rawPath)] };
  },
};
