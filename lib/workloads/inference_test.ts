/**
 * The inference workload's model server, for real: `ml_serve.py` trained by `prepare` on the
 * ML workload's data, serving on a free loopback port, checked against the Job's own training
 * script and an independent fit of the same model.
 */
import {
  deepStrictEqual as assertEquals,
  match,
  ok as assert,
  rejects,
  throws,
} from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { configDefaults } from "../config_schema.ts";
import { waitForPort } from "../local/proc.ts";
import { fortioCommand, parseFortioJson } from "../cluster/fortio.ts";
import {
  clusterNamespaces,
  fillParameters,
  type KubeObject,
  PARAMETERS_CHECKSUM_ANNOTATION,
  renderWorkload,
} from "../cluster/manifests.ts";
import { clusterMesh } from "../cluster/meshes.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import {
  type InferenceModel,
  inferenceParameters,
  inferencePodPoints,
  inferencePoints,
  inferenceWorkload,
  predict,
  prepareInference,
  serveCommand,
} from "./inference.ts";
import { mlPython } from "./ml.ts";
import { findBinary } from "../binaries.ts";
import { memoryLogger } from "../log.ts";
import type { RunSpec } from "../types.ts";
import type { WorkloadEnv } from "../workload.ts";
import { skipReason } from "../../tests/skip.ts";

const ML_DIR = new URL("../../servers/ml/", import.meta.url).pathname;
const PAYLOADS = [1024, 16384, 131072];

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function python(code: string, args: string[] = []) {
  const out = await new Deno.Command(mlPython(), {
    args: ["-c", code, ...args],
    cwd: ML_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

/** A prepared model and one replica serving it; `stop` ends the server and removes the dir. */
async function withServer(
  fn: (ctx: { dir: string; model: InferenceModel; url: string; port: number }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-inference-" });
  const model = await prepareInference(realRunner, dir, {
    rows: 600,
    features: 20,
    trees: 8,
    dataSeed: 7,
    payloadBytes: PAYLOADS,
  });
  const port = freePort();
  const [cmd, ...args] = serveCommand(join(dir, "model.pkl"), port);
  const child = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).spawn();
  try {
    await waitForPort(port, "ml_serve", 60_000, child.pid);
    await fn({ dir, model, url: `http://127.0.0.1:${port}/predict`, port });
  } finally {
    child.kill("SIGTERM");
    await child.stderr.cancel();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/** One raw HTTP/1.1 exchange on a fresh connection: the status line's code. */
async function rawStatus(port: number, request: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
    return Number(line.split(" ")[1]);
  } finally {
    conn.close();
  }
}

async function post(url: string, body: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: res.status, text: await res.text() };
}

Deno.test({
  name: "the model server answers each payload with the predictions of the Job's model",
  sanitizeResources: false,
  async fn() {
    await withServer(async ({ dir, model, url }) => {
      // The model is the Job's completion 1: its own script, on the same CSV, scores the same.
      const job = await new Deno.Command(mlPython(), {
        args: [
          join(ML_DIR, "ml_train.py"),
          "--url",
          `file://${join(dir, "data", "train.csv")}`,
          "--trees",
          "8",
          "--seed",
          "1",
        ],
        stdout: "piped",
      }).output();
      const jobReport = JSON.parse(new TextDecoder().decode(job.stdout));
      assertEquals(model.accuracy, jobReport.accuracy);
      assertEquals(model.trees, 8);
      assertEquals(model.features, 20);

      for (const payload of model.payloads) {
        const got = await predict(url, payload);
        // An independent fit of the same model on the same data, predicting the payload's rows.
        const want = await python(
          `import json, sys
from ml_model import fit, parse_csv, split
x, y = parse_csv(open(sys.argv[1], "rb").read())
xtr, xte, ytr, yte = split(x, y, 1)
rows = json.loads(open(sys.argv[2], "rb").read())["instances"]
print(json.dumps(fit(xtr, ytr, 8, 1).predict(rows).tolist()))`,
          [join(dir, "data", "train.csv"), payload.path],
        );
        assertEquals(got, want, `${payload.bytes} B`);
        assert(new Set(got).size <= 2 && got.every((l) => l === 0 || l === 1));
      }
    });
  },
});

Deno.test({
  name: "each payload is exactly its size and holds whole held-out rows, in order",
  sanitizeResources: false,
  async fn() {
    await withServer(async ({ dir, model }) => {
      assertEquals(model.payloads.map((p) => p.bytes), PAYLOADS);
      const heldOut = await python(
        `import json, sys
from ml_model import parse_csv, split
x, y = parse_csv(open(sys.argv[1], "rb").read())
print(json.dumps([["%.6f" % v for v in row] for row in split(x, y, 1)[1]]))`,
        [join(dir, "data", "train.csv")],
      ) as string[][];
      let previousRows = 0;
      for (const p of model.payloads) {
        const bytes = await Deno.readFile(p.path);
        assertEquals(bytes.length, p.bytes, p.path);
        const text = new TextDecoder().decode(bytes);
        match(text, /^\{"instances":\[\[/);
        match(text, /\]\]\} *$/, "rows, then only spaces up to the size");
        const rows = JSON.parse(text).instances as number[][];
        assertEquals(rows.length, p.rows);
        assert(p.rows > previousRows, "a bigger payload holds more rows");
        previousRows = p.rows;
        // Padding is shorter than a row: as many whole rows as fit.
        assert(text.length - text.trimEnd().length < 200, `${p.bytes}: padding`);
        rows.forEach((row, i) => {
          assertEquals(
            row.map((v) => v.toFixed(6)),
            heldOut[i % heldOut.length],
            `${p.bytes} B row ${i}`,
          );
        });
      }
      assertEquals(model.payloads[0].rows, 5, "1 KB holds 5 rows of 20 features");
    });
  },
});

Deno.test({
  name: "the model server refuses bad payloads with 4xx and keeps serving",
  sanitizeResources: false,
  async fn() {
    await withServer(async ({ url, port, model }) => {
      const row = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => i / 10));
      const bad: Array<[string, string, RegExp]> = [
        ["not JSON", "hello", /not JSON/],
        ["no instances", `{"rows":[${row(20)}]}`, /instances/],
        ["empty instances", `{"instances":[]}`, /at least one row/],
        ["19 features", `{"instances":[${row(20)},${row(19)}]}`, /row 1 must be a list of 20/],
        ["a string feature", `{"instances":[${row(20).replace("0.1", '"0.1"')}]}`, /row 0/],
        ["NaN", `{"instances":[${row(20).replace("0.1", "NaN")}]}`, /row 0/],
        ["a number", `{"instances":[5]}`, /row 0/],
      ];
      for (const [what, body, message] of bad) {
        const r = await post(url, body);
        assertEquals(r.status, 400, `${what}: ${r.text}`);
        match(JSON.parse(r.text).error, message, what);
      }
      assertEquals(
        await rawStatus(port, "POST /predict HTTP/1.1\r\nHost: x\r\n\r\n"),
        411,
        "no Content-Length",
      );
      assertEquals(
        await rawStatus(
          port,
          "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
        ),
        413,
        "above the body limit",
      );
      assertEquals((await fetch(url)).status, 405);
      assertEquals((await post(url.replace("/predict", "/other"), "{}")).status, 404);
      const health = await (await fetch(url.replace("/predict", "/healthz"))).json();
      assertEquals(health.trees, 8);
      // Still answers good requests.
      assertEquals((await predict(url, model.payloads[0])).length, model.payloads[0].rows);
    });
  },
});

Deno.test("prepare refuses a payload size too small for one row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-inference-" });
  try {
    await rejects(
      prepareInference(realRunner, dir, {
        rows: 100,
        features: 20,
        trees: 2,
        dataSeed: 1,
        payloadBytes: [100],
      }),
      /Cannot build a payload of 100 bytes: one row needs/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inference load points: one fixed-rate point per payload (the http workload's generator), then max throughput per payload", () => {
  const config = configDefaults();
  const points = inferencePoints(config);
  assertEquals(
    points.map((p) => [p.mode, p.tool, p.rate, p.payloadBytes]),
    [
      ["fixed-rate", "http-client", 20, 1024],
      ["fixed-rate", "http-client", 20, 16384],
      ["fixed-rate", "http-client", 20, 131072],
      ["max-throughput", "wrk", null, 1024],
      ["max-throughput", "wrk", null, 16384],
      ["max-throughput", "wrk", null, 131072],
    ],
  );
  config.load.throughput.enabled = false;
  assertEquals(inferencePoints(config).length, 3);
  // vegeta stays selectable, as for the http workload.
  config.local.httpGenerator = "vegeta";
  assertEquals(inferencePoints(config).map((p) => p.tool), ["vegeta", "vegeta", "vegeta"]);
});

Deno.test("in pods the same points run with fortio, and the pods get the local model's sizes, seeds and payloads", () => {
  const config = configDefaults();
  assertEquals(
    inferencePodPoints(config).map((p) => [p.mode, p.tool, p.rate, p.payloadBytes]),
    inferencePoints(config).map((p) => [p.mode, "fortio", p.rate, p.payloadBytes]),
  );
  // The local first replica's prepare for the same config: ML_SIZES[profile], the run's seed.
  assertEquals(inferenceParameters({ ...config, profile: "standard" }), {
    ROWS: "5000",
    FEATURES: "20",
    TREES: "50",
    DATA_SEED: "1",
    MODEL_SEED: "1",
    PAYLOADS: "1024,16384,131072",
  });
  config.seed = 9;
  config.inference.payloadBytes = [2048, 4096];
  assertEquals(inferenceParameters({ ...config, profile: "quick" }), {
    ROWS: "2000",
    FEATURES: "20",
    TREES: "20",
    DATA_SEED: "9",
    MODEL_SEED: "1",
    PAYLOADS: "2048,4096",
  });
});

/** The inference objects as the cluster target renders them for `config`. */
function renderInference(config = configDefaults()): KubeObject[] {
  const spec = clusterNamespaces().find((s) => s.workload === "inference")!;
  return fillParameters(renderWorkload(spec), () => inferenceParameters(config));
}

// deno-lint-ignore no-explicit-any
function find(objects: KubeObject[], kind: string, name: string): any {
  const o = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert(o, `${kind}/${name} rendered`);
  return o;
}

Deno.test("the cluster manifest: two model servers on the Job's image, clients writing the payloads fortio posts, both reading the run's values", () => {
  const objects = renderInference();
  assertEquals(objects.every((o) => o.metadata.namespace === "inference-benchmark"), true);
  const server = find(objects, "Deployment", "inference-server");
  assertEquals(server.spec.replicas, 2);
  const model = server.spec.template.spec.containers[0];
  assertEquals(model.image, "quay.io/jupyter/scipy-notebook:2025-12-31");
  match(model.args[0], /ml_serve\.py prepare .*--trees "\$\{TREES:\?\}"/);
  match(model.args[0], /exec python \/code\/ml_serve\.py serve .* --port 8501/);
  assertEquals(model.readinessProbe.httpGet.path, "/healthz");
  assertEquals(find(objects, "Service", "inference-server").spec.ports[0].targetPort, 8501);
  // Its port is one of Cilium's L7 (HTTP) ports, so cilium-l7 puts its Envoy in the path.
  const [policy] = clusterMesh("cilium-l7").resources("inference-benchmark");
  const l7 = (policy.spec as {
    ingress: Array<{ toPorts: Array<{ ports: Array<{ port: string }>; rules?: unknown }> }>;
  })
    .ingress.flatMap((i) => i.toPorts).filter((t) => t.rules).flatMap((t) =>
      t.ports.map((p) => p.port)
    );
  assert(l7.includes("8501"), `L7 ports ${l7}`);
  const code = find(objects, "ConfigMap", "meshbench-inference-code");
  assertEquals(Object.keys(code.data).sort(), ["ml_data.py", "ml_model.py", "ml_serve.py"]);
  assertEquals(find(objects, "ConfigMap", "meshbench-inference-params").data, {
    DATA_SEED: "1",
    FEATURES: "20",
    MODEL_SEED: "1",
    PAYLOADS: "1024,16384,131072",
    ROWS: "2000",
    TREES: "20",
  });
  const client = find(objects, "Deployment", "inference-client").spec.template;
  const init = client.spec.initContainers[0];
  match(
    init.args[0],
    /ml_serve\.py payloads .*--payload-dir \/payloads --payloads "\$\{PAYLOADS:\?\}"/,
  );
  for (const c of [model, init]) {
    assertEquals(c.envFrom, [{ configMapRef: { name: "meshbench-inference-params" } }]);
  }
  const fortio = client.spec.containers[0];
  assertEquals(fortio.volumeMounts, [{ name: "payloads", mountPath: "/payloads", readOnly: true }]);
  const target = inferenceWorkload.pod!.fortio!("inference-benchmark");
  assertEquals(target, {
    address: "http://inference-server.inference-benchmark.svc.cluster.local:80/predict",
    protocol: "http",
    payloadDir: "/payloads",
  });
  // Other values replace both Deployments' pods (their templates carry the values' checksum).
  const sum = (objs: KubeObject[], name: string) =>
    find(objs, "Deployment", name).spec.template.metadata.annotations[
      PARAMETERS_CHECKSUM_ANNOTATION
    ];
  const other = configDefaults();
  other.seed = 2;
  for (const name of ["inference-server", "inference-client"]) {
    assert(sum(objects, name), name);
    assert(sum(objects, name) !== sum(renderInference(other), name), name);
  }
  // Rendered without the run's values, the ConfigMap is refused rather than left empty.
  throws(
    () =>
      fillParameters(
        renderWorkload(clusterNamespaces().find((s) => s.workload === "inference")!),
        () => undefined,
      ),
    /ConfigMap "meshbench-inference-params" in "inference-benchmark": its workload gives no parameters/,
  );
});

const fortioBin = `${resolveBinDir()}/fortio`;
let noFortio: string | null = null;
try {
  Deno.statSync(fortioBin);
} catch {
  noFortio = `fortio missing at "${fortioBin}" (run: bash .ci/install_testenv.sh)`;
}
skipReason("inference pod script test", noFortio);

/** A container's shell script with the pod's paths moved to `paths` and Debian's Python. */
function podScript(container: { args: string[] }, paths: Record<string, string>): string {
  let script = container.args[0];
  for (const [from, to] of Object.entries(paths)) script = script.replaceAll(from, to);
  return script.replaceAll(/(^|&& |exec )python /g, `$1${mlPython()} `);
}

Deno.test({
  name:
    "the pods' own commands, run here: the local model and payloads byte for byte, and the real fortio posts each payload file without an error",
  ignore: noFortio !== null,
  sanitizeResources: false,
  async fn() {
    const config = configDefaults(); // quick: 2,000 rows, 20 trees
    config.seed = 3;
    const env = { ...inferenceParameters(config) };
    const objects = renderInference(config);
    const server = find(objects, "Deployment", "inference-server").spec.template.spec.containers[0];
    const init =
      find(objects, "Deployment", "inference-client").spec.template.spec.initContainers[0];
    const dir = await Deno.makeTempDir({ prefix: "meshbench-inference-pod-" });
    const port = freePort();
    let child: Deno.ChildProcess | undefined;
    try {
      // The local target's prepare for the same config.
      const local = await prepareInference(realRunner, join(dir, "local"), {
        rows: 2000,
        features: 20,
        trees: 20,
        dataSeed: 3,
        payloadBytes: config.inference.payloadBytes,
      });
      // The client pod's init container: its payloads, byte for byte the local ones.
      const pod = join(dir, "payloads");
      await Deno.mkdir(pod);
      const out = await new Deno.Command("sh", {
        args: ["-c", podScript(init, { "/code/": ML_DIR, "/payloads": pod })],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      for (const p of local.payloads) {
        assertEquals(
          await Deno.readFile(join(pod, `payload-${p.bytes}.json`)),
          await Deno.readFile(p.path),
          `payload ${p.bytes}`,
        );
      }
      // The server container: the local model (same figures), then the real fortio as the
      // client pods run it, POSTing each payload file.
      await Deno.mkdir(join(dir, "work"));
      child = new Deno.Command("sh", {
        args: [
          "-c",
          podScript(server, { "/work": join(dir, "work"), "/code/": ML_DIR })
            .replace("--port 8501", `--port ${port}`).replace("--host 0.0.0.0", "--host 127.0.0.1"),
        ],
        env,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await waitForPort(port, "ml_serve (pod script)", 120_000, child.pid);
      const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
      for (const k of ["trees", "features", "trainRows", "accuracy", "dataSha256"] as const) {
        assertEquals(health[k], local[k], k);
      }
      const target = { ...inferenceWorkload.pod!.fortio!("x"), payloadDir: pod };
      for (const point of inferencePodPoints(config).filter((p) => p.mode === "fixed-rate")) {
        const cmd = fortioCommand(
          { ...point, rate: 20, durationS: 1 },
          { ...target, address: `http://127.0.0.1:${port}/predict` },
        );
        const run = await new Deno.Command(fortioBin, {
          args: cmd.slice(1),
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert(run.success, new TextDecoder().decode(run.stderr));
        const r = parseFortioJson(new TextDecoder().decode(run.stdout), point, "http");
        assert(r.operations >= 15, `${point.payloadBytes} B: ${r.operations} requests`);
        assertEquals(r.errors, 0, `${point.payloadBytes} B: ${JSON.stringify(r.errorKinds)}`);
      }
    } finally {
      if (child) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited already: its status and stderr say why */ }
        const [status, stderr] = await Promise.all([
          child.status,
          new Response(child.stderr).text(),
        ]);
        if (!status.success && status.signal !== "SIGTERM") {
          console.error(`model server (pod script) exited ${status.code}:\n${stderr}`);
        }
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the workload's fixed-rate run POSTs each payload with meshbench's own client (vegeta when chosen), every request answered",
  sanitizeResources: false,
  async fn() {
    await withServer(async ({ dir, model, port }) => {
      const config = configDefaults();
      const env: WorkloadEnv = {
        runDir: dir,
        workDir: dir,
        runner: realRunner,
        config,
        log: memoryLogger(),
        signal: new AbortController().signal,
        bin: { vegeta: findBinary("vegeta") ?? "vegeta", wrk: findBinary("wrk") ?? "wrk" },
      };
      const points = inferencePoints(config).filter((p) => p.mode === "fixed-rate");
      for (const [i, point] of points.entries()) {
        const spec: RunSpec = {
          seq: i + 1,
          workload: "inference",
          mesh: "baseline",
          iteration: 1,
          point: { ...point, durationS: 1 },
        };
        const pids: number[] = [];
        const { load, raw } = await inferenceWorkload.run(
          env,
          spec,
          [port],
          `run-${i}`,
          (pid) => pids.push(pid),
        );
        assertEquals(load.tool, "http-client");
        assertEquals(load.errors, 0, JSON.stringify(load.errorKinds));
        assertEquals(load.operations, 20, `${point.payloadBytes} B`);
        assertEquals(load.extra?.statusCodes, { "200": 20 });
        // The body sent was the payload file, byte for byte: each request read as the payload.
        assertEquals(load.extra?.bodyBytes, point.payloadBytes);
        const payload = model.payloads.find((p) => p.bytes === point.payloadBytes)!;
        assertEquals(load.extra?.payloadRows, payload.rows);
        // Bytes on the wire: each request's head and its payload.
        assert(load.bytesOut >= 20 * payload.bytes, `${load.bytesOut} bytes out`);
        // The answers: one label per row ("0," or "1,") for 20 requests.
        assert(load.bytesIn >= 20 * 2 * payload.rows, `${load.bytesIn} bytes in`);
        assert(
          (load.extra?.sendLag as { total?: number } | undefined)?.total === 20,
          "the client's own send lag, per request",
        );
        assertEquals(pids.length, 1, "the client process is the load generator");
        assertEquals(raw, [`run-${i}.http-client.json`]);
      }
      // vegeta stays selectable: the same point, its own tool's output.
      config.local.httpGenerator = "vegeta";
      const [point] = inferencePoints(config);
      const { load } = await inferenceWorkload.run(
        env,
        {
          seq: 9,
          workload: "inference",
          mesh: "baseline",
          iteration: 1,
          point: { ...point, durationS: 1 },
        },
        [port],
        "run-vegeta",
        () => {},
      );
      assertEquals(load.tool, "vegeta");
      assertEquals([load.operations, load.errors], [20, 0]);
    });
  },
});
