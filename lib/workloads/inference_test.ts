/**
 * The inference workload's model server, for real: `ml_serve.py` trained by `prepare` on the
 * ML workload's data, serving on a free loopback port, checked against the Job's own training
 * script and an independent fit of the same model.
 */
import { deepStrictEqual as assertEquals, match, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { configDefaults } from "../config_schema.ts";
import { waitForPort } from "../local/proc.ts";
import {
  type InferenceModel,
  inferencePoints,
  predict,
  prepareInference,
  serveCommand,
} from "./inference.ts";
import { mlPython } from "./ml.ts";

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

Deno.test("inference load points: one fixed-rate point per payload, then max throughput per payload", () => {
  const config = configDefaults();
  const points = inferencePoints(config);
  assertEquals(
    points.map((p) => [p.mode, p.tool, p.rate, p.payloadBytes]),
    [
      ["fixed-rate", "vegeta", 20, 1024],
      ["fixed-rate", "vegeta", 20, 16384],
      ["fixed-rate", "vegeta", 20, 131072],
      ["max-throughput", "wrk", null, 1024],
      ["max-throughput", "wrk", null, 16384],
      ["max-throughput", "wrk", null, 131072],
    ],
  );
  config.load.throughput.enabled = false;
  assertEquals(inferencePoints(config).length, 3);
});
