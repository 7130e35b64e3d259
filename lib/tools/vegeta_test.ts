import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  parseVegetaCsv,
  splitCsvLine,
  vegetaAttackCommand,
  vegetaIntervalNs,
  vegetaResult,
} from "./vegeta.ts";
import { HistogramRecorder, percentile, summarize } from "../histogram.ts";
import { sendTimingOf } from "../send_timing.ts";
import { realRunner } from "../command.ts";
import { findBinary } from "../binaries.ts";
import { classify } from "../pipeline.ts";
import { startNginx, startTestNginx } from "../testenv/nginx.ts";
import type { RunSpec } from "../types.ts";
import { missingBinaries, skipReason } from "../../tests/skip.ts";

// Real output of vegeta v12.13.0 (`vegeta encode --to csv`): 200 req/s for 1 s over four
// targets on loopback nginx: two answering 200, one answering 503, one port closed.
const csv = Deno.readTextFileSync(new URL("./testdata/vegeta_200rps_1s.csv", import.meta.url));

Deno.test("vegeta CSV: every request parsed, errors counted by kind, none dropped", () => {
  const rows = parseVegetaCsv(csv);
  assertEquals(rows.length, 200);
  const r = vegetaResult(rows, {
    rate: 200,
    durationS: 1,
    connections: 4,
    toolVersion: "v12.13.0",
  });
  assertEquals(r.operations, 200);
  assertEquals(r.errors, 100);
  assertEquals(r.errorKinds["connection refused"], 50);
  assertEquals(r.errorKinds["503 Service Temporarily Unavailable"], 50);
  assertEquals(r.achievedRate, 100, "only successful requests count toward the achieved rate");
  assertEquals(r.latency.total, 200);
  assertEquals(r.timing, "intended-send");
});

Deno.test("vegeta latency is timed from the intended send time", () => {
  const rows = parseVegetaCsv(csv);
  // Delay every request's actual send by 5 ms after the 100th: CO-aware latency must grow.
  const late = rows.map((r) =>
    r.seq >= 100 ? { ...r, timestampNs: r.timestampNs + 5_000_000n } : r
  );
  const a = vegetaResult(rows, { rate: 200, durationS: 1, connections: 4, toolVersion: "x" });
  const b = vegetaResult(late, { rate: 200, durationS: 1, connections: 4, toolVersion: "x" });
  assert(
    percentile(b.latency, 90) >= percentile(a.latency, 90) + 4_000,
    "a stalled sender shows in latency",
  );
  assert((b.extra!.maxSendLagMs as number) >= 5);
});

Deno.test("quoted CSV fields with commas and quotes split right", () => {
  assertEquals(splitCsvLine('1,"a, ""b""",c'), ["1", 'a, "b"', "c"]);
});

Deno.test("a malformed line is an error naming its line number", () => {
  throws(() => parseVegetaCsv("garbage\n"), /line 1/);
});

Deno.test("a late first request does not shift the schedule (no latency below the real one)", () => {
  const rows = parseVegetaCsv(csv);
  // The first request left 20 ms late; vegeta then caught up. Nothing may read as 0 latency.
  const late = rows.map((r) =>
    r.seq === 0 ? { ...r, timestampNs: r.timestampNs + 20_000_000n } : r
  );
  const res = vegetaResult(late, { rate: 200, durationS: 1, connections: 4, toolVersion: "x" });
  const minLatencyUs = Math.min(...rows.map((r) => r.latencyNs)) / 1000;
  assert(res.latency.min >= Math.floor(minLatencyUs), `${res.latency.min} < ${minLatencyUs}`);
  assert(res.latency.max >= 20_000, "the late request carries its 20 ms delay");
});

/** Runs the real vegeta against `url` and returns meshbench's result and vegeta's own report. */
async function attack(url: string, rate: number, durationS: number) {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-vegeta-test-" });
  try {
    const vegeta = findBinary("vegeta")!;
    await Deno.writeTextFile(join(dir, "targets"), `GET ${url}\n`);
    const bin = join(dir, "out.bin");
    await realRunner.run(
      vegetaAttackCommand({
        vegeta,
        targetsFile: join(dir, "targets"),
        outFile: bin,
        rate,
        durationS,
        connections: 8,
      }),
      { timeoutMs: 60_000 },
    );
    const report = JSON.parse((await realRunner.run([vegeta, "report", "-type=json", bin])).stdout);
    const csv = (await realRunner.run([vegeta, "encode", "--to", "csv", bin])).stdout;
    const rows = parseVegetaCsv(csv);
    const load = vegetaResult(rows, {
      rate,
      durationS,
      connections: 8,
      toolVersion: "test",
    });
    return {
      load,
      rows,
      report: report as {
        throughput: number;
        requests: number;
        success: number;
        latencies: { "50th": number; max: number };
      },
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const point = (rate: number, durationS: number): RunSpec => ({
  seq: 1,
  workload: "http",
  mesh: "baseline",
  iteration: 1,
  point: { mode: "fixed-rate", tool: "vegeta", rate, connections: 8, durationS },
});
const limits = { saturationPct: 2, minSuccessPct: 99.9 };

const noTools = skipReason(
  "real vegeta tests",
  missingBinaries({ vegeta: findBinary("vegeta"), nginx: findBinary("nginx") }),
);

Deno.test({
  name: "a server of 500/s offered 1,000/s by the real vegeta is saturated at its own rate",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    // nginx limit_req: every request is answered (200), at most 500 per second.
    const nginx = await startTestNginx({ capacityPerS: 500 });
    try {
      const { load, report } = await attack(nginx.url, 1000, 2);
      assertEquals(load.errors, 0, JSON.stringify(load.errorKinds));
      assertEquals(report.success, 1, "vegeta: every request succeeded, late");
      // What was sent is ~1,000/s; what the server completed is at most its 500/s.
      assert((load.extra!.successfulRate as number) > 900, JSON.stringify(load.extra));
      assert(load.achievedRate <= 550, `achieved ${load.achievedRate}/s`);
      // vegeta's own throughput (successes over attack + wait) tells the same.
      assert(
        Math.abs(load.achievedRate - report.throughput) / report.throughput < 0.2,
        `meshbench ${load.achievedRate}/s vs vegeta's throughput ${report.throughput}/s`,
      );
      const c = classify(point(1000, 2), load, limits);
      assertEquals(c.status, "saturated", c.reason ?? "");
      assert(/the system under test did not keep up/.test(c.reason!), c.reason!);
    } finally {
      await nginx.stop();
    }
  },
});

Deno.test({
  name: "the same server offered 200/s by the real vegeta holds the rate",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const nginx = await startTestNginx({ capacityPerS: 500 });
    try {
      const { load, report } = await attack(nginx.url, 200, 2);
      assertEquals(report.requests, 400);
      assertEquals(load.operations, 400);
      const c = classify(point(200, 2), load, limits);
      assertEquals(c.status, "ok", `${c.reason} ${JSON.stringify(load.extra)}`);
    } finally {
      await nginx.stop();
    }
  },
});

Deno.test({
  name:
    "a real vegeta run against an nginx that answers 503 over 5/s: the 503s are errors by code, left out of the achieved rate, and the run fails",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    // limit_req without a queue answers what is over 5/s with 503 at once (empty_gif answers
    // in the content phase, after limit_req).
    const nginx = await startNginx({
      http: () => "access_log off;\n  limit_req_zone $server_port zone=cap:1m rate=5r/s;",
      server: () => "location / { limit_req zone=cap nodelay; limit_req_status 503; empty_gif; }",
    });
    try {
      const { load, report } = await attack(`http://127.0.0.1:${nginx.port}/`, 100, 1);
      assertEquals(load.operations, 100);
      const refused = load.errorKinds["503 Service Temporarily Unavailable"] ?? 0;
      assert(refused >= 50 && refused < 100, JSON.stringify(load.errorKinds));
      assertEquals(load.errors, refused, JSON.stringify(load.errorKinds));
      // vegeta's own success ratio says the same.
      assertEquals(Math.round(report.success * 100), 100 - refused);
      assert(load.achievedRate <= 100 - refused, `achieved ${load.achievedRate}/s`);
      const c = classify(point(100, 1), load, limits);
      assertEquals(c.status, "failed", c.reason ?? "");
      assert(c.reason!.includes(`${100 - refused} of 100 vegeta operations succeeded`), c.reason!);
    } finally {
      await nginx.stop();
    }
  },
});

Deno.test("the intended send times are vegeta's own pacer schedule: floor(1e9 / rate) ns apart", () => {
  assertEquals(vegetaIntervalNs(3000), 333_333n);
  assertEquals(vegetaIntervalNs(200), 5_000_000n);
  throws(() => vegetaIntervalNs(2.5), /"rate" must be a positive integer, got 2.5/);
  // A real run at 3,000/s: 1e9 / 3000 = 333,333.33 ns would drift by a third of a ns per
  // request (30 us over 30 s); vegeta's pacer uses Go's integer division.
  const rows = parseVegetaCsv(
    Deno.readTextFileSync(new URL("./testdata/vegeta_3000rps_half_s.csv", import.meta.url)),
  );
  const r = vegetaResult(rows, { rate: 3000, durationS: 0.5, connections: 8, toolVersion: "x" });
  assertEquals(r.extra!.intervalNs, 333_333);
  // Recomputed here in integer nanoseconds: the schedule start is the earliest
  // (sent - seq x interval); each latency is (sent - intended) + vegeta's latency.
  let t0 = rows[0].timestampNs;
  for (const x of rows) {
    const s = x.timestampNs - BigInt(x.seq) * 333_333n;
    if (s < t0) t0 = s;
  }
  const expected = new HistogramRecorder();
  let maxLagNs = 0n;
  for (const x of rows) {
    const lagNs = x.timestampNs - t0 - BigInt(x.seq) * 333_333n;
    if (lagNs > maxLagNs) maxLagNs = lagNs;
    expected.record(
      Number(x.timestampNs - t0 - BigInt(x.seq) * 333_333n + BigInt(x.latencyNs)) / 1000,
    );
  }
  const want = expected.toHistogram();
  assertEquals(r.latency.values, want.values);
  assertEquals(r.latency.counts, want.counts);
  assertEquals(r.latency.max, want.max);
  // To the nanosecond: 1e9 / rate would be off by up to a third of a ns per request.
  assertEquals(r.extra!.maxSendLagMs, Number(maxLagNs) / 1e6);
});

Deno.test({
  name:
    "a real vegeta run on a real nginx records its send lag (intended to actual send) and its service time (from the actual send) beside the response time",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const nginx = await startTestNginx();
    try {
      const rate = 300;
      const { load, rows, report } = await attack(nginx.url, rate, 1);
      assertEquals(rows.length, 300);
      const timing = sendTimingOf(load)!;
      assert(timing !== undefined && timing.serviceTime !== undefined, "both recorded");
      // Recomputed here from the raw CSV, in integer nanoseconds: intended = t0 + seq x
      // floor(1e9 / rate), t0 the earliest (sent - seq x interval).
      const interval = 1_000_000_000n / BigInt(rate);
      let t0 = rows[0].timestampNs;
      for (const x of rows) {
        const s = x.timestampNs - BigInt(x.seq) * interval;
        if (s < t0) t0 = s;
      }
      const lag = new HistogramRecorder();
      const service = new HistogramRecorder();
      const response = new HistogramRecorder();
      for (const x of rows) {
        const lagNs = x.timestampNs - t0 - BigInt(x.seq) * interval;
        lag.record(Number(lagNs) / 1000);
        service.record(x.latencyNs / 1000);
        response.record(Number(lagNs + BigInt(x.latencyNs)) / 1000);
      }
      for (
        const [got, want] of [
          [timing.sendLag, lag.toHistogram()],
          [timing.serviceTime!, service.toHistogram()],
          [load.latency, response.toHistogram()],
        ] as const
      ) {
        assertEquals(got.total, 300);
        assertEquals(got.values, want.values);
        assertEquals(got.counts, want.counts);
      }
      // The service time is vegeta's own latency: its max is vegeta's report's max (ns).
      assertEquals(timing.serviceTime!.max, Math.round(report.latencies.max / 1000));
      assertEquals(load.extra!.serviceTimeMs, summarize(service.toHistogram()));
      assertEquals(load.extra!.sendLagMs, summarize(lag.toHistogram()));
    } finally {
      await nginx.stop();
    }
  },
});

Deno.test("the generator setting goes on vegeta's command line and into the result", () => {
  const base = {
    vegeta: "/bin/vegeta",
    targetsFile: "t",
    outFile: "o",
    rate: 500,
    durationS: 5,
    connections: 8,
  };
  const plain = vegetaAttackCommand(base);
  assertEquals(plain[0], "/bin/vegeta");
  assert(!plain.some((a) => a.startsWith("-workers") || a.startsWith("-max-workers")));
  const tuned = vegetaAttackCommand({
    ...base,
    generator: { gomaxprocs: 1, cpus: "1", workers: 8, maxWorkers: 8 },
  });
  // env and taskset exec vegeta: the spawned pid is vegeta's, for resource sampling.
  assertEquals(tuned.slice(0, 6), ["env", "GOMAXPROCS=1", "taskset", "-c", "1", "/bin/vegeta"]);
  assert(tuned.includes("-workers=8") && tuned.includes("-max-workers=8"));
  const rows = parseVegetaCsv(csv);
  const info = { rate: 200, durationS: 1, connections: 4, toolVersion: "x" };
  assertEquals(vegetaResult(rows, info).extra!.generator, {});
  assertEquals(
    vegetaResult(rows, { ...info, generator: { gomaxprocs: 1 } }).extra!.generator,
    { gomaxprocs: 1 },
  );
});
