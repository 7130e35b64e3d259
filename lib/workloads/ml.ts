/**
 * The design's ml-benchmark: a Kubernetes Job training a RandomForest, completions 5,
 * parallelism 2. Locally: {@linkcode ML_COMPLETIONS} runs of `servers/ml/ml_train.py`
 * (scikit-learn `RandomForestClassifier`), at most {@linkcode ML_PARALLELISM} at a time, each
 * fetching its training CSV over HTTP through the mesh from a data server (nginx serving a
 * seeded synthetic data set made by `servers/ml/ml_data.py`). The mesh's cost shows in
 * completion time and in the proxies' CPU meanwhile (sampled by the target like any run).
 *
 * The result is a `batch` run: one operation per completion, its latency the completion's
 * wall time (process start to exit, Python start-up included, as a pod's would be);
 * `durationS` is the whole job's time; a failed completion is an error, by reason, and is
 * not retried (a Job's backoffLimit 0).
 *
 * @module
 */
import { join, relative } from "node:path";
import type { Runner } from "../command.ts";
import type { ProfileName } from "../config.ts";
import { HistogramRecorder } from "../histogram.ts";
import { findBinary, type ToolSpec } from "../binaries.ts";
import type { Workload, WorkloadEnv } from "../workload.ts";
import type { LoadPoint, LoadResult } from "../types.ts";

export const ML_COMPLETIONS = 5;
export const ML_PARALLELISM = 2;
const TRAIN_SCRIPT = new URL("../../servers/ml/ml_train.py", import.meta.url).pathname;
const DATA_SCRIPT = new URL("../../servers/ml/ml_data.py", import.meta.url).pathname;

/** Size of the job per profile: rows and features of the data set, trees of the forest. */
export const ML_SIZES: Record<ProfileName, { rows: number; features: number; trees: number }> = {
  quick: { rows: 2000, features: 20, trees: 20 },
  standard: { rows: 5000, features: 20, trees: 50 },
  full: { rows: 10000, features: 20, trees: 100 },
};

/**
 * The Python that runs the job: `$MESHBENCH_PYTHON`, else Debian's `/usr/bin/python3`
 * (where `python3-sklearn` installs), else `python3` on PATH.
 */
export function mlPython(): string {
  const env = Deno.env.get("MESHBENCH_PYTHON");
  if (env) return env;
  try {
    if (Deno.statSync("/usr/bin/python3").isFile) return "/usr/bin/python3";
  } catch { /* not Debian */ }
  return findBinary("python3") ?? "python3";
}

/**
 * scikit-learn for {@linkcode mlPython}: the ML Job and the inference server need it. Checked
 * by importing it; Debian's package when missing (`deno task doctor` says so).
 */
export function sklearnTool(python = mlPython()): ToolSpec {
  return {
    name: "scikit-learn",
    purpose: "trains and serves the RandomForest of the ml and inference workloads",
    bin: python,
    version: [python, "-c", "import sklearn; print('scikit-learn', sklearn.__version__)"],
    // Debian's package serves Debian's interpreter only; another one installs it itself.
    ...(python === "/usr/bin/python3"
      ? { apt: "python3-sklearn" }
      : { install: `${python} -m pip install scikit-learn` }),
    requires: ["-c", "import sklearn"],
  };
}

/** What one completion reported (the JSON line `ml_train.py` prints), plus its wall time. */
export interface MlCompletion {
  completion: number;
  url: string;
  ok: boolean;
  exitCode: number;
  /** Wall time from process start to exit, seconds. */
  wallS: number;
  /** Start, relative to the job's start, seconds. */
  startS: number;
  error?: string;
  fetchS?: number;
  trainS?: number;
  totalS?: number;
  accuracy?: number;
  bytes?: number;
  sklearn?: string;
}

/** Options of {@linkcode runMlJob}. */
export interface MlJobOptions {
  /** Data URL per completion: completion i uses `urls[i % urls.length]`. */
  urls: string[];
  completions: number;
  parallelism: number;
  trees: number;
  python?: string;
  /** Kill a completion after this long (default 300 s). */
  completionTimeoutS?: number;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

function parseCompletionLine(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split("\n").at(-1);
  if (!line) return undefined;
  try {
    const v = JSON.parse(line);
    return typeof v === "object" && v !== null ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the job: `completions` training processes, `parallelism` at a time. Never throws for
 * a failed completion (it is counted); throws when interrupted or on invalid options.
 */
export async function runMlJob(
  runner: Runner,
  options: MlJobOptions,
): Promise<{ result: LoadResult; completions: MlCompletion[] }> {
  const { completions, parallelism } = options;
  if (!Number.isInteger(completions) || completions < 1) {
    throw new RangeError(
      `Cannot run the ML job: "completions" must be a positive integer, got ${completions}`,
    );
  }
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw new RangeError(
      `Cannot run the ML job: "parallelism" must be a positive integer, got ${parallelism}`,
    );
  }
  const python = options.python ?? mlPython();
  const t0 = performance.now();
  const done: MlCompletion[] = [];
  let next = 0;
  const lane = async () => {
    while (next < completions) {
      if (options.signal?.aborted) throw new Error("ML job interrupted");
      const i = next++;
      const url = options.urls[i % options.urls.length];
      const cmd = [
        python,
        TRAIN_SCRIPT,
        "--url",
        url,
        "--trees",
        String(options.trees),
        "--completion",
        String(i + 1),
        "--seed",
        String(i + 1),
      ];
      const start = performance.now();
      let code: number;
      let stdout = "";
      let stderr = "";
      try {
        const r = await runner.run(cmd, {
          okCodes: [1],
          timeoutMs: (options.completionTimeoutS ?? 300) * 1000,
          signal: options.signal,
          onSpawn: options.onSpawn,
        });
        code = r.code;
        stdout = r.stdout;
        stderr = r.stderr;
      } catch (e) {
        if (options.signal?.aborted) throw e;
        code = -1;
        stderr = (e as Error).message;
      }
      const wallS = (performance.now() - start) / 1000;
      const report = parseCompletionLine(stdout);
      const c: MlCompletion = {
        completion: i + 1,
        url,
        ok: code === 0 && report !== undefined && report.error === undefined,
        exitCode: code,
        wallS,
        startS: (start - t0) / 1000,
      };
      for (const k of ["fetchS", "trainS", "totalS", "accuracy", "bytes"] as const) {
        if (typeof report?.[k] === "number") c[k] = report[k] as number;
      }
      if (typeof report?.sklearn === "string") c.sklearn = report.sklearn;
      if (!c.ok) {
        c.error = typeof report?.error === "string"
          ? report.error
          : `exit ${code}: ${(stderr || stdout).trim().split("\n").slice(-3).join(" | ")}`;
      }
      done.push(c);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, completions) }, lane));
  const jobS = (performance.now() - t0) / 1000;
  done.sort((a, b) => a.completion - b.completion);

  const hist = new HistogramRecorder();
  const errorKinds: Record<string, number> = {};
  for (const c of done) {
    if (c.ok) hist.record(c.wallS * 1e6);
    else {
      // The kind is the error's class ("HTTPError", "URLError", "exit 137"), not its text.
      const kind = c.error?.match(/^(\w+):/)?.[1] ?? `exit ${c.exitCode}`;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
  }
  const ok = done.filter((c) => c.ok);
  const errors = done.length - ok.length;
  const result: LoadResult = {
    tool: "ml-job",
    toolVersion: `scikit-learn ${ok[0]?.sklearn ?? done[0]?.sklearn ?? "unknown"}`,
    timing: "closed-loop",
    requestedRate: null,
    achievedRate: ok.length / jobS,
    durationS: jobS,
    connections: parallelism,
    operations: done.length,
    errors,
    errorKinds,
    bytesIn: ok.reduce((s, c) => s + (c.bytes ?? 0), 0),
    bytesOut: 0,
    latency: hist.toHistogram(),
    extra: {
      jobS,
      completions,
      parallelism,
      trees: options.trees,
      meanFetchS: ok.length ? ok.reduce((s, c) => s + (c.fetchS ?? 0), 0) / ok.length : null,
      meanTrainS: ok.length ? ok.reduce((s, c) => s + (c.trainS ?? 0), 0) / ok.length : null,
      perCompletion: done,
    },
  };
  return { result, completions: done };
}

function nginxConfig(dir: string, root: string, port: number): string {
  // As root, nginx's workers drop to "nobody", who may not traverse a private run directory
  // (a 0700 temp dir): keep them as the user that owns the data.
  const user = Deno.uid() === 0 ? "user root;\n" : "";
  return `# generated by meshbench (ML data server)
${user}worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 60s;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  types { text/csv csv; }
  server {
    listen 127.0.0.1:${port} reuseport;
    root ${root};
  }
}
`;
}

const dataUrls = (ports: number[]) => ports.map((p) => `http://127.0.0.1:${p}/train.csv`);

async function checkData(env: WorkloadEnv, ports: number[]): Promise<void> {
  const meta = JSON.parse(await Deno.readTextFile(join(env.workDir, "data", "train.json")));
  for (const url of dataUrls(ports)) {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = await res.arrayBuffer();
    if (res.status !== 200 || body.byteLength !== meta.bytes) {
      throw new Error(
        `ML data probe of ${url} failed: status ${res.status}, ${body.byteLength} bytes (expected 200 and ${meta.bytes})`,
      );
    }
  }
}

export const mlWorkload: Workload = {
  name: "ml",
  namespace: "ml-benchmark",
  protocol: "http",
  replicas: 1,
  // nginx is a base tool of the local target.
  tools: [sklearnTool()],
  points(config): LoadPoint[] {
    const size = ML_SIZES[config.profile];
    return [{
      mode: "batch",
      tool: "ml-job",
      rate: null,
      connections: ML_PARALLELISM,
      // A planning estimate (the job takes what it takes): waves x (start-up + training).
      // Rounded to 0.1 s: it is shown to people as the planned window.
      durationS:
        Math.round(Math.ceil(ML_COMPLETIONS / ML_PARALLELISM) * (1 + size.trees * 0.02) * 10) / 10,
    }];
  },
  pod: {
    driver: "kubernetes-job",
    // The Job takes what it takes (its completion time is the result); durationS is a
    // planning estimate for progress: 3 waves of 2 pods, each pulling data and training.
    points: () => [{
      mode: "batch",
      tool: "kubernetes-job",
      rate: null,
      connections: 2,
      durationS: 60,
    }],
  },
  async server(env, index, port) {
    const dir = join(env.workDir, `nginx-${index}`);
    const data = join(env.workDir, "data");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.mkdir(data, { recursive: true });
    if (index === 0) {
      const size = ML_SIZES[env.config.profile];
      const out = await env.runner.run([
        mlPython(),
        DATA_SCRIPT,
        "--rows",
        String(size.rows),
        "--features",
        String(size.features),
        "--seed",
        String(env.config.seed),
        "--out",
        join(data, "train.csv"),
      ], { timeoutMs: 120_000 });
      await Deno.writeTextFile(join(data, "train.json"), out.stdout.trim() + "\n");
    }
    const conf = join(dir, "nginx.conf");
    return {
      cmd: [env.bin.nginx, "-p", dir, "-c", conf, "-e", join(dir, "error.log")],
      files: { [conf]: nginxConfig(dir, data, port) },
    };
  },
  async probe(env, ports) {
    await checkData(env, ports);
  },
  async warmup(env, ports) {
    // One completion through each path: warms the page cache, the proxies' TLS sessions and
    // Python's bytecode cache, and proves scikit-learn is there.
    const { result } = await runMlJob(env.runner, {
      urls: dataUrls(ports),
      completions: ports.length,
      parallelism: 1,
      trees: 2,
      signal: env.signal,
    });
    if (result.errors > 0) {
      const first = (result.extra?.perCompletion as MlCompletion[]).find((c) => !c.ok);
      throw new Error(`ML warm-up through ports ${ports.join(",")} failed: ${first?.error}`);
    }
  },
  async run(env, spec, ports, rawStem, onLoadgen) {
    const size = ML_SIZES[env.config.profile];
    const { result, completions } = await runMlJob(env.runner, {
      urls: dataUrls(ports),
      completions: ML_COMPLETIONS,
      parallelism: spec.point.connections,
      trees: size.trees,
      signal: env.signal,
      // The training processes are the application here (the Job's pods), not load.
      onSpawn: (pid) => onLoadgen(pid, "app"),
    });
    const path = join(env.runDir, `${rawStem}.ml-job.jsonl`);
    await Deno.writeTextFile(path, completions.map((c) => JSON.stringify(c)).join("\n") + "\n");
    return { load: result, raw: [relative(env.runDir, path)] };
  },
};
