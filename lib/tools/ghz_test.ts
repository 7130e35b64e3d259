import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { realRunner } from "../command.ts";
import { findBinary } from "../binaries.ts";
import { HistogramRecorder, mean, percentile } from "../histogram.ts";
import { sendTimingOf } from "../send_timing.ts";
import type { LoadPoint } from "../types.ts";
import { freePort, startServer } from "../process.ts";
import { classify } from "../pipeline.ts";
import { GHZ_VERSION, ghzBinary, ghzCommand, parseGhzJson, runGhz, timestampNs } from "./ghz.ts";

const dir = new URL("./testdata/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
const proto = new URL("../../servers/grpc/echo.proto", import.meta.url).pathname;
const grpcEcho = findBinary("meshbench-grpc-echo") ?? "meshbench-grpc-echo";

const fixed = (rate: number, durationS: number, connections = 2): LoadPoint => ({
  mode: "fixed-rate",
  tool: "ghz",
  rate,
  connections,
  durationS,
});

const max = (durationS: number, connections = 2): LoadPoint => ({
  mode: "max-throughput",
  tool: "ghz",
  rate: null,
  connections,
  durationS,
});

/** ghz's own percentile of a report, in microseconds. */
function ghzPercentile(text: string, pct: number): number {
  const d = JSON.parse(text) as {
    latencyDistribution: Array<{ percentage: number; latency: number }>;
  };
  const p = d.latencyDistribution.find((x) => x.percentage === pct);
  if (!p) throw new Error(`no p${pct} in report`);
  return p.latency / 1000;
}

Deno.test("parseGhzJson reads a fixed-rate run: counts, rate, exact histogram from details", () => {
  const text = read("ghz_fixed_rate.json");
  const r = parseGhzJson(text, fixed(200, 2));
  assertEquals(r.tool, "ghz");
  assertEquals(r.toolVersion, GHZ_VERSION);
  assertEquals(r.timing, "actual-send");
  assertEquals(r.requestedRate, 200);
  assertEquals(r.operations, 400);
  assertEquals(r.errors, 0);
  assertEquals(r.errorKinds, {});
  assertEquals(r.latency.total, 400);
  assert(Math.abs(r.durationS - 2.000812142) < 1e-9);
  assert(Math.abs(r.achievedRate - 199.9188) < 0.01, `achieved ${r.achievedRate}`);
  assertEquals(r.extra?.histogramSource, "details");
  assertEquals(r.latency.min, 170); // ghz "fastest": 170344 ns
  assertEquals(r.latency.max, 3484); // ghz "slowest": 3483604 ns
  // Same calls, so our percentiles agree with ghz's to within a bucket and a rank.
  for (const p of [50, 90, 99]) {
    const ours = percentile(r.latency, p);
    const theirs = ghzPercentile(text, p);
    assert(Math.abs(ours - theirs) / theirs < 0.02, `p${p}: ours ${ours} us, ghz ${theirs} us`);
  }
});

Deno.test("parseGhzJson counts non-OK gRPC codes as errors, by code, with the messages", () => {
  const r = parseGhzJson(read("ghz_status_errors.json"), fixed(100, 2));
  assertEquals(r.operations, 200);
  assertEquals(r.errors, 80);
  assertEquals(r.errorKinds, { Unavailable: 40, ResourceExhausted: 40 });
  assertEquals(r.latency.total, 120, "histogram holds OK calls only");
  const messages = r.extra?.errorMessages as Record<string, number>;
  assertEquals(messages["rpc error: code = Unavailable desc = injected by meshbench"], 40);
});

Deno.test("parseGhzJson counts connection failures when the server dies mid-run", () => {
  const r = parseGhzJson(read("ghz_server_killed.json"), fixed(200, 2, 1));
  assertEquals(r.operations, 399);
  assertEquals(r.errorKinds.Unavailable, 201);
  assertEquals(r.errors, 201);
  assertEquals(r.latency.total, 198);
  assertEquals(r.extra?.cancelledAtStop, 0, "refused connections are real errors");
});

Deno.test("parseGhzJson sets aside calls cut off by ghz's own stop at -z, and counts them", () => {
  const point: LoadPoint = {
    mode: "max-throughput",
    tool: "ghz",
    rate: null,
    connections: 2,
    durationS: 1,
  };
  const r = parseGhzJson(read("ghz_max_throughput.json"), point);
  assertEquals(r.timing, "closed-loop");
  assertEquals(r.requestedRate, null);
  assertEquals(r.extra?.cancelledAtStop, 6);
  assertEquals(r.errors, 0);
  assertEquals(r.operations, 12669);
  assertEquals(r.latency.total, 12669);
  assert(r.achievedRate > 12000 && r.achievedRate < 13000, `achieved ${r.achievedRate}`);
});

Deno.test("parseGhzJson: both kinds of stop artefact, from a run through an L4 proxy", () => {
  const r = parseGhzJson(read("ghz_max_throughput_l4_proxy.json"), {
    mode: "max-throughput",
    tool: "ghz",
    rate: null,
    connections: 2,
    durationS: 3,
  });
  assertEquals(r.extra?.cancelledAtStop, 3, "2 Unavailable + 1 Canceled at the deadline");
  assertEquals(r.errors, 0);
  assertEquals(r.operations, 8666);
});

Deno.test("parseGhzJson without details builds the histogram from ghz's percentile spectrum", () => {
  const text = read("ghz_fixed_rate.json");
  const doc = JSON.parse(text);
  delete doc.details;
  const r = parseGhzJson(JSON.stringify(doc), fixed(200, 2));
  assertEquals(r.extra?.histogramSource, "latencyDistribution");
  assertEquals(r.latency.total, 400);
  assertEquals(r.latency.max, 3484, "max stays ghz's slowest");
  const p50 = percentile(r.latency, 50);
  assert(Math.abs(p50 - ghzPercentile(text, 50)) / p50 < 0.002, `p50 ${p50}`);
  const p90 = percentile(r.latency, 90);
  assert(Math.abs(p90 - ghzPercentile(text, 90)) / p90 < 0.002, `p90 ${p90}`);

  const errs = JSON.parse(read("ghz_status_errors.json"));
  delete errs.details;
  const e = parseGhzJson(JSON.stringify(errs), fixed(100, 2));
  assertEquals(e.errorKinds, { Unavailable: 40, ResourceExhausted: 40 });
  assertEquals(e.latency.total, 120);
});

Deno.test("parseGhzJson refuses what ghz does not write, naming the field and value", () => {
  throws(() => parseGhzJson("Error: bad proto", fixed(1, 1)), /Cannot parse ghz JSON/);
  throws(
    () => parseGhzJson(JSON.stringify({ count: "12", total: 1 }), fixed(1, 1)),
    /"count" should be a number, got "12"/,
  );
  const doc = JSON.parse(read("ghz_fixed_rate.json"));
  doc.details = doc.details.slice(1);
  throws(
    () => parseGhzJson(JSON.stringify(doc), fixed(200, 2)),
    /"details" should list all 400 calls/,
  );
});

Deno.test("ghzCommand: fixed rate uses --rps with -n, max throughput uses -z", () => {
  const opts = {
    address: "127.0.0.1:9000",
    proto: "/p/echo.proto",
    call: "meshbench.echo.v1.Echo/Unary",
    data: { payload: "aGk=" },
    binary: "ghz",
  };
  const f = ghzCommand(fixed(250, 4, 3), opts);
  assertEquals(f.slice(f.indexOf("--rps"), f.indexOf("--rps") + 4), [
    "--rps",
    "250",
    "-n",
    "1000",
  ]);
  assertEquals(f[f.indexOf("--connections") + 1], "3");
  assertEquals(f[f.indexOf("-c") + 1], "12");
  assertEquals(f.at(-1), "127.0.0.1:9000");
  assert(!f.includes("-z"));
  const m = ghzCommand(
    { mode: "max-throughput", tool: "ghz", rate: null, connections: 2, durationS: 3 },
    opts,
  );
  assertEquals(m[m.indexOf("-z") + 1], "3s");
  assert(!m.includes("--rps"));
  const split = ghzCommand(fixed(67, 1.5, 1), { ...opts, requests: 100 });
  assertEquals(split[split.indexOf("-n") + 1], "100");
  throws(() => ghzCommand(fixed(0, 1), opts), /positive "rate", got 0/);
  throws(
    () => ghzCommand(fixed(10, 1, 4), { ...opts, concurrency: 2 }),
    /"concurrency" \(2\) must be at least "connections" \(4\)/,
  );
});

Deno.test({
  name: "runGhz drives the real grpc_echo server at a fixed rate and at max throughput",
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const server = await startServer([grpcEcho, "-addr", `127.0.0.1:${port}`, "-name", "t1"], {
      name: "grpc_echo",
      ready: /listening on/,
    });
    try {
      const base = {
        address: `127.0.0.1:${port}`,
        proto,
        call: "meshbench.echo.v1.Echo/Unary",
        data: { payload: "aGVsbG8=" },
        binary: ghzBinary(),
      };
      const f = await runGhz(realRunner, fixed(100, 1), base);
      assertEquals(f.result.operations, 100);
      assertEquals(f.result.errors, 0);
      assertEquals(f.result.latency.total, 100);
      assert(f.result.achievedRate > 90, `achieved ${f.result.achievedRate}`);
      // Send lag from ghz's own per-call start times (ns), recomputed here: the k-th start
      // against the k-th tick of a schedule floor(1e9 / 100) ns apart that no call precedes.
      const calls = (JSON.parse(f.raw).details as Array<{ timestamp: string; latency: number }>)
        .map((d) => ({ start: timestampNs(d.timestamp)!, latency: d.latency }))
        .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      const starts = calls.map((c) => c.start);
      const t0 = starts.reduce(
        (m, s, k) => (s - BigInt(k) * 10_000_000n < m ? s - BigInt(k) * 10_000_000n : m),
        starts[0],
      );
      const lag = new HistogramRecorder();
      const response = new HistogramRecorder();
      for (const [k, s] of starts.entries()) {
        const lagNs = Number(s - t0 - BigInt(k) * 10_000_000n);
        lag.record(lagNs / 1000);
        response.record((lagNs + calls[k].latency) / 1000);
      }
      const timing = sendTimingOf(f.result)!;
      assertEquals(timing.sendLag, lag.toHistogram());
      assertEquals(timing.sendLag.min, 0, "the schedule starts at the least late call");
      // ghz times from the actual start: its latency is the service time.
      assertEquals(timing.serviceTime, f.result.latency);
      // And its response time, from the intended send: send lag + ghz's latency, call by call.
      assertEquals(f.result.extra?.responseTime, response.toHistogram());
      const m = await runGhz(realRunner, {
        mode: "max-throughput",
        tool: "ghz",
        rate: null,
        connections: 1,
        durationS: 1,
      }, base);
      assertEquals(m.result.errors, 0);
      assert(m.result.achievedRate > 500, `max throughput ${m.result.achievedRate}`);
      assertEquals(m.result.extra?.sendLag, undefined, "max throughput has no schedule");
    } finally {
      await server.stop();
    }
  },
});

Deno.test("parseGhzJson: the achieved rate counts OK calls only (200 refused calls are 0/s)", () => {
  const text = read("ghz_connection_refused.json");
  const r = parseGhzJson(text, fixed(100, 2));
  assertEquals(JSON.parse(text).rps > 99, true, "ghz's own rps counts the failed calls");
  assertEquals(r.errorKinds, { Unavailable: 200 });
  assertEquals(r.operations, 200);
  assertEquals(r.achievedRate, 0);
  assert(Math.abs((r.extra?.attemptRate as number) - JSON.parse(text).rps) < 1e-6);
  const mixed = parseGhzJson(read("ghz_status_errors.json"), fixed(100, 2));
  assert(Math.abs(mixed.achievedRate * mixed.durationS - 120) < 1e-9, "120 OK of 200");
});

/**
 * A ghz report read without its per-call details, against the same report read with them:
 * p99.9 at or above the exact value by at most one of ghz's histogram buckets (never p99, a
 * lower bound), p50/p90/p99 ghz's own, and the mean ghz's `average`, which is over every call
 * ghz counted: the OK calls' exact mean when all were OK, else flagged as over all calls.
 */
function assertFallbackAgrees(text: string, point: LoadPoint, label: string) {
  const exact = parseGhzJson(text, point);
  assertEquals(exact.extra?.histogramSource, "details", label);
  const doc = JSON.parse(text);
  const calls = doc.details as Array<{ latency: number; status: string }>;
  delete doc.details;
  const approx = parseGhzJson(JSON.stringify(doc), point);
  assertEquals(approx.extra?.histogramSource, "latencyDistribution", label);
  assertEquals(approx.latency.total, exact.latency.total, label);
  // ghz's average (ns) is the mean of every call it lists, failed ones included.
  const allMeanUs = calls.reduce((s, c) => s + c.latency, 0) / calls.length / 1000;
  assert(Math.abs(doc.average / 1000 - allMeanUs) < 0.001, `${label}: ghz's average`);
  const approxUs = mean(approx.latency);
  assert(Math.abs(approxUs - doc.average / 1000) < 0.001, `${label}: mean ${approxUs} us`);
  const allOk = calls.every((c) => c.status === "OK");
  assertEquals(approx.extra?.meanOf, allOk ? "ok-calls" : "all-calls", label);
  if (allOk) {
    assert(Math.abs(mean(exact.latency) - approxUs) < 0.001, `${label}: the OK calls' mean`);
  }
  const e999 = percentile(exact.latency, 99.9);
  const a999 = percentile(approx.latency, 99.9);
  const bucketUs = (doc.slowest - doc.fastest) / 10 / 1000;
  assert(a999 >= e999 - 1 && a999 <= e999 + bucketUs + 2, `${label}: ${a999} vs exact ${e999}`);
  for (const p of [50, 90, 99]) {
    const ghzUs = ghzPercentile(text, p);
    const ours = percentile(approx.latency, p);
    assert(Math.abs(ours - ghzUs) / ghzUs < 0.002, `${label} p${p}: ${ours} vs ${ghzUs}`);
  }
}

Deno.test("parseGhzJson without details: p99.9 is bounded by ghz's histogram, the mean is ghz's average", () => {
  for (
    const [file, point] of [
      ["ghz_fixed_rate.json", fixed(200, 2)],
      ["ghz_max_throughput.json", max(1)],
      ["ghz_max_throughput_l4_proxy.json", max(3)],
      ["ghz_status_errors.json", fixed(100, 2)],
    ] as const
  ) {
    assertFallbackAgrees(read(file), point, file);
  }
});

Deno.test({
  name:
    "a real ghz run read without its per-call details: p99.9 is bounded above by ghz's histogram, the mean is ghz's average",
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const server = await startServer([grpcEcho, "-addr", `127.0.0.1:${port}`, "-name", "t1"], {
      name: "grpc_echo",
      ready: /listening on/,
    });
    try {
      const point = max(1, 2);
      const { raw } = await runGhz(realRunner, point, {
        address: `127.0.0.1:${port}`,
        proto,
        call: "meshbench.echo.v1.Echo/Unary",
        data: { payload: "aGVsbG8=" },
        binary: ghzBinary(),
      });
      const n = JSON.parse(raw).count;
      assert(n >= 1000, `${n} calls: enough for a p99.9 of their own`);
      assertFallbackAgrees(raw, point, "real ghz run");
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "a real ghz run whose every call is refused achieves 0/s, not ghz's own rate, and fails",
  sanitizeResources: false,
  async fn() {
    // Nothing listens on the port (taken free, then closed).
    const point = fixed(100, 1);
    const { result: r, raw } = await runGhz(realRunner, point, {
      address: `127.0.0.1:${freePort()}`,
      proto,
      call: "meshbench.echo.v1.Echo/Unary",
      data: { payload: "aGVsbG8=" },
      binary: ghzBinary(),
    });
    assert(JSON.parse(raw).rps > 50, "ghz's own rps counts the failed calls");
    assertEquals(r.operations, 100);
    assertEquals(r.errors, 100, JSON.stringify(r.errorKinds));
    assertEquals(r.errorKinds, { Unavailable: 100 });
    assertEquals(r.achievedRate, 0);
    const c = classify({ seq: 1, workload: "grpc", mesh: "baseline", iteration: 1, point }, r, {
      saturationPct: 2,
      minSuccessPct: 99.9,
    });
    assertEquals(c.status, "failed", c.reason ?? "");
    assert(/0 of 100 ghz operations succeeded.*Unavailable 100/.test(c.reason!), c.reason!);
  },
});

Deno.test("timestampNs keeps ghz's nanoseconds that Date.parse drops", () => {
  assertEquals(timestampNs("2026-11-26T01:08:01.682532831Z"), 1795655281682532831n);
  assertEquals(timestampNs("2026-11-26T01:08:01.6852632Z"), 1795655281685263200n);
  assertEquals(timestampNs("2026-11-26T01:08:01Z"), 1795655281000000000n);
  assertEquals(timestampNs("yesterday"), null);
});
