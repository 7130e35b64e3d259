import { deepStrictEqual as assertEquals, match, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { type MlCompletion, mlPython, runMlJob } from "./ml.ts";

const DATA_SCRIPT = new URL("../../servers/ml/ml_data.py", import.meta.url).pathname;

Deno.test({
  name: "runMlJob trains real RandomForests; a completion whose fetch fails is counted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-ml-" });
    const csv = join(dir, "train.csv");
    const gen = await realRunner.run([
      mlPython(),
      DATA_SCRIPT,
      "--rows",
      "500",
      "--features",
      "8",
      "--seed",
      "3",
      "--out",
      csv,
    ]);
    const meta = JSON.parse(gen.stdout);
    assertEquals(meta.rows, 500);
    const body = await Deno.readFile(csv);
    assertEquals(body.byteLength, meta.bytes);
    // The data server: the CSV at /train.csv, 404 elsewhere.
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/train.csv"
          ? new Response(body, { headers: { "content-type": "text/csv" } })
          : new Response("not here", { status: 404 }),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    try {
      const { result, completions } = await runMlJob(realRunner, {
        // Completions 1 and 3 fetch the data; completion 2 gets a 404.
        urls: [`${base}/train.csv`, `${base}/missing.csv`],
        completions: 3,
        parallelism: 2,
        trees: 5,
      });
      assertEquals(result.tool, "ml-job");
      match(result.toolVersion, /^scikit-learn \d+\.\d+/);
      assertEquals(result.operations, 3);
      assertEquals(result.errors, 1);
      assertEquals(result.errorKinds, { HTTPError: 1 });
      assertEquals(result.latency.total, 2, "completion times of the two that trained");
      assertEquals(result.connections, 2);
      assertEquals(result.bytesIn, 2 * meta.bytes);
      const [c1, c2, c3] = completions as MlCompletion[];
      for (const c of [c1, c3]) {
        assert(c.ok, JSON.stringify(c));
        assertEquals(c.bytes, meta.bytes);
        assert(c.accuracy! > 0.6 && c.accuracy! <= 1, `accuracy ${c.accuracy}`);
        assert(c.trainS! > 0 && c.wallS >= c.totalS!, JSON.stringify(c));
      }
      assertEquals(c2.ok, false);
      match(c2.error ?? "", /HTTPError: HTTP Error 404/);
      // Parallelism 2: the first two started together, the third after one of them ended.
      assert(c1.startS < 0.5 && c2.startS < 0.5, `${c1.startS} ${c2.startS}`);
      assert(c3.startS >= Math.min(c1.wallS, c2.wallS) - 0.05, `${c3.startS}`);
      assert(result.durationS >= c3.startS + c3.wallS - 0.05);
      await rejects(
        runMlJob(realRunner, { urls: [base], completions: 0, parallelism: 1, trees: 1 }),
        /"completions" must be a positive integer, got 0/,
      );
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
