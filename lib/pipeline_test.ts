import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { classify } from "./pipeline.ts";
import { HistogramRecorder } from "./histogram.ts";
import { parseGhzJson } from "./tools/ghz.ts";
import { parseVegetaCsv, vegetaResult } from "./tools/vegeta.ts";
import { parseWrk } from "./tools/wrk.ts";
import { wsLoad } from "./tools/ws_client.ts";
import { freePort, startServer } from "./process.ts";
import type { LoadPoint, RunSpec } from "./types.ts";

const testdata = new URL("./tools/testdata/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, testdata));
const limits = { saturationPct: 2, minSuccessPct: 99.9 };
const spec = (point: LoadPoint): RunSpec => ({
  seq: 1,
  workload: "w",
  mesh: "baseline",
  iteration: 1,
  point,
});
const fixed = (tool: string, rate: number, durationS: number): LoadPoint => ({
  mode: "fixed-rate",
  tool,
  rate,
  connections: 2,
  durationS,
});
const maxThroughput = (tool: string): LoadPoint => ({
  mode: "max-throughput",
  tool,
  rate: null,
  connections: 4,
  durationS: 1,
});

Deno.test("a ghz run whose 200 calls were all refused (Unavailable) fails; it did not achieve 100/s", () => {
  // Real ghz v0.120.0 report: --rps 100 -n 200 against a closed port. ghz's own rps: 99.94.
  const point = fixed("ghz", 100, 2);
  const load = parseGhzJson(read("ghz_connection_refused.json"), point);
  assertEquals(load.achievedRate, 0);
  const c = classify(spec(point), load, limits);
  assertEquals(c.status, "failed");
  match(c.reason!, /0 of 200 ghz operations succeeded \(0\.0 %, minSuccessPct 99\.9 %\)/);
  match(c.reason!, /Unavailable 200/);
});

Deno.test("a ghz run with 40 % non-OK statuses fails, naming the codes", () => {
  const point = fixed("ghz", 100, 2);
  const load = parseGhzJson(read("ghz_status_errors.json"), point);
  const c = classify(spec(point), load, limits);
  assertEquals(c.status, "failed");
  match(c.reason!, /120 of 200 ghz operations succeeded \(60\.0 %/);
  match(
    c.reason!,
    /Unavailable 40, ResourceExhausted 40|ResourceExhausted 40, Unavailable 40/,
  );
});

Deno.test("a vegeta run with refused connections and 503s fails, not just saturates", () => {
  const point = fixed("vegeta", 200, 1);
  const load = vegetaResult(parseVegetaCsv(read("vegeta_200rps_1s.csv")), {
    rate: 200,
    durationS: 1,
    connections: 4,
    toolVersion: "v12.13.0",
  });
  const c = classify(spec(point), load, limits);
  assertEquals(c.status, "failed");
  match(c.reason!, /100 of 200 vegeta operations succeeded/);
});

Deno.test("a wrk run with socket errors fails; the threshold is configurable", () => {
  // Real wrk 4.1.0: one thread on nginx (5,658 responses), one on a closed port (8,132 errors).
  const point = maxThroughput("wrk");
  const load = parseWrk(read("wrk_closed_port_thread_1s.txt"), { connections: 4, toolVersion: "" });
  const c = classify(spec(point), load, limits);
  assertEquals(c.status, "failed");
  match(c.reason!, /5658 of 13790 wrk operations succeeded \(41\.0 %.*write 8132/);
  assertEquals(classify(spec(point), load, { ...limits, minSuccessPct: 40 }), { status: "ok" });
  const clean = parseWrk(read("wrk_meshbench_script_1s.txt"), { connections: 4, toolVersion: "" });
  assertEquals(classify(spec(point), clean, limits), { status: "ok" });
});

Deno.test({
  name: "a WebSocket run whose server went away mid-run fails on its dropped messages",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freePort();
    const echo = await startServer(
      [
        Deno.execPath(),
        "run",
        "--allow-net",
        new URL("../servers/ws_echo.ts", import.meta.url).pathname,
        "--port",
        String(port),
      ],
      { name: "ws_echo", ready: /listening on/ },
    );
    const killer = setTimeout(() => echo.stop(0), 400);
    try {
      const point = fixed("ws-client", 200, 1);
      const load = await wsLoad({
        urls: [`ws://127.0.0.1:${port}/`],
        connections: 2,
        rate: 200,
        durationS: 1,
        drainS: 0.2,
      });
      assert(load.errors > 0, JSON.stringify(load.errorKinds));
      const c = classify(spec(point), load, limits);
      assertEquals(c.status, "failed", JSON.stringify(load.errorKinds));
      match(c.reason!, /ws-client operations succeeded/);
    } finally {
      clearTimeout(killer);
      await echo.stop(0);
    }
  },
});

Deno.test("a run in which nothing succeeded fails even with the threshold at 0", () => {
  const point = fixed("ghz", 100, 2);
  const load = parseGhzJson(read("ghz_connection_refused.json"), point);
  const c = classify(spec(point), load, { ...limits, minSuccessPct: 0 });
  assertEquals(c.status, "failed");
});

Deno.test("a vegeta run whose generator fell behind is saturated, and the reason says it was the generator", () => {
  // Real vegeta v12.13.0 at 3,000/s for 0.5 s on a busy machine: it sent 708 of 1,500.
  const point = fixed("vegeta", 3000, 0.5);
  const load = vegetaResult(parseVegetaCsv(read("vegeta_3000rps_half_s.csv")), {
    rate: 3000,
    durationS: 0.5,
    connections: 8,
    toolVersion: "v12.13.0",
  });
  assertEquals(load.errors, 0);
  assert((load.extra!.sentRate as number) < 1500, JSON.stringify(load.extra!.sentRate));
  const c = classify(spec(point), load, limits);
  assertEquals(c.status, "saturated");
  match(
    c.reason!,
    /sent 1416\.0\/s, send lag p99 [\d.]+ ms: the load generator fell behind/,
  );
});

Deno.test("one request short at a low rate is the window's edge, not saturation; two are", () => {
  // bench:all --workloads inference --duration 2 sends 40 requests at 20/s: a system that keeps
  // up completes 39 or 40 of them in the window (its phase against the edges), 2.5 % short.
  const point = fixed("http-client", 20, 2);
  const load = (completed: number) => ({
    tool: "http-client",
    toolVersion: "1",
    timing: "intended-send" as const,
    requestedRate: 20,
    achievedRate: completed / 2,
    durationS: 2,
    connections: 2,
    operations: 40,
    errors: 0,
    errorKinds: {},
    bytesIn: 0,
    bytesOut: 0,
    latency: new HistogramRecorder().toHistogram(),
  });
  assertEquals(classify(spec(point), load(40), limits), { status: "ok" });
  assertEquals(classify(spec(point), load(39), limits), { status: "ok" });
  const two = classify(spec(point), load(38), limits);
  assertEquals(two.status, "saturated");
  match(two.reason!, /achieved 19\.0\/s of 20\/s requested \(5\.0 % short, tolerance 2 %\)/);
  // At a rate where one request is far below the tolerance, the % alone decides.
  const busy = fixed("http-client", 500, 2);
  const short = { ...load(0), requestedRate: 500, operations: 1000, achievedRate: 489 };
  assertEquals(classify(spec(busy), short, limits).status, "saturated");
});
