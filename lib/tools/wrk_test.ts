import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { join } from "node:path";
import { parseWrk, wrkCommand, wrkReportedPercentiles, wrkScript } from "./wrk.ts";
import { bucketOf, bucketTop, percentile, summarize } from "../histogram.ts";
import { realRunner } from "../command.ts";
import { findBinary } from "../binaries.ts";
import { startTestNginx } from "../testenv/nginx.ts";
import { freePort } from "../process.ts";
import { classify } from "../pipeline.ts";
import { missingBinaries, skipReason } from "../../tests/skip.ts";

// Real output of Debian's wrk 4.1.0 with meshbench's script as it was before the top of the
// spectrum was fixed (it ends with [1.0000,0]): 1 thread, 4 connections, 1 s.
const out = Deno.readTextFileSync(
  new URL("./testdata/wrk_meshbench_script_1s.txt", import.meta.url),
);

/**
 * How far two microsecond figures may differ: wrk's print rounding (two decimals of a unit
 * it switches at 0.85 of the next: 850 us prints as 0.85ms) plus our bucket width.
 */
function resolutionUs(wrkUs: number): number {
  const printUs = wrkUs < 850 ? 0.005 : wrkUs < 850_000 ? 5 : 5000;
  return printUs + (bucketTop(bucketOf(wrkUs)) - bucketOf(wrkUs)) + 1;
}

Deno.test("wrk: throughput and a histogram from the percentile spectrum", () => {
  const r = parseWrk(out, { connections: 4, toolVersion: "4.1.0" });
  assertEquals(r.operations, 135319);
  assertEquals(r.timing, "closed-loop");
  assertEquals(r.requestedRate, null);
  assert(Math.abs(r.achievedRate - 135319 / 1.115569) < 1e-6);
  assertEquals(r.latency.total, 135319);
  assertEquals(r.latency.max, 7861);
  const s = summarize(r.latency);
  assert(s.p50Ms > 0.005 && s.p50Ms < 0.2, JSON.stringify(s));
  assert(s.p99Ms <= s.maxMs);
});

Deno.test("wrk output of the old script: its 0 at the top of the spectrum is read as the max", () => {
  // That file's last spectrum point is [1.0000,0], wrk's percentile(100).
  assert(out.includes("[1.0000,0]"));
  const r = parseWrk(out, { connections: 4, toolVersion: "4.1.0" });
  assertEquals(r.latency.min, 8, "wrk's own minimum, not 0");
  assertEquals(r.latency.values[0] > 0, true);
});

Deno.test("wrk output without meshbench's summary line is refused", () => {
  throws(
    () => parseWrk("Requests/sec: 100\n", { connections: 1, toolVersion: "x" }),
    /MESHBENCH_WRK_JSON/,
  );
});

Deno.test("wrk's own --latency distribution is read in microseconds", () => {
  const text = `  Latency Distribution
     50%  109.00us
     75%    1.85ms
     90%    2.00s
     99%    1.50m
  135319 requests in 1.12s, 19.62MB read
`;
  assertEquals(wrkReportedPercentiles(text), {
    "50": 109,
    "75": 1850,
    "90": 2_000_000,
    "99": 90_000_000,
  });
});

const noTools = skipReason(
  "real wrk test",
  missingBinaries({ wrk: findBinary("wrk"), nginx: findBinary("nginx") }),
);

Deno.test({
  name:
    "a real wrk run on a real nginx: percentiles, min, max and mean agree with wrk's own report",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const nginx = await startTestNginx();
    const dir = await Deno.makeTempDir({ prefix: "meshbench-wrk-test-" });
    try {
      const script = join(dir, "s.lua");
      await Deno.writeTextFile(script, wrkScript([]));
      const res = await realRunner.run(
        wrkCommand({
          wrk: findBinary("wrk")!,
          script,
          url: nginx.url,
          threads: 1,
          connections: 4,
          durationS: 2,
        }),
        { timeoutMs: 60_000 },
      );
      const r = parseWrk(res.stdout, { connections: 4, toolVersion: "test" });
      const own = wrkReportedPercentiles(res.stdout);
      assertEquals(Object.keys(own).sort(), ["50", "75", "90", "99"], res.stdout);
      for (const [p, wrkUs] of Object.entries(own)) {
        const ours = percentile(r.latency, Number(p));
        assert(
          Math.abs(ours - wrkUs) <= resolutionUs(wrkUs),
          `p${p}: meshbench ${ours} us, wrk ${wrkUs} us\n${res.stdout.slice(0, 800)}`,
        );
      }
      const json = JSON.parse(res.stdout.split("\n").find((l) => l.startsWith("MESHBENCH"))!
        .slice("MESHBENCH_WRK_JSON ".length));
      assertEquals(r.latency.min, json.min_us, "the minimum is wrk's, never 0");
      assertEquals(r.latency.max, json.max_us);
      assert(json.min_us > 0);
      // wrk's "Latency Avg" (thread stats) is the exact mean over its records.
      const avg = /Latency\s+([\d.]+)(us|ms|s)/.exec(res.stdout)!;
      const avgUs = Number(avg[1]) * ({ us: 1, ms: 1e3, s: 1e6 }[avg[2]] as number);
      const meanUs = summarize(r.latency).meanMs * 1000;
      assert(Math.abs(meanUs - avgUs) <= resolutionUs(avgUs), `mean ${meanUs} vs wrk ${avgUs}`);
    } finally {
      await nginx.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("wrk's socket errors are failed attempts, not completed requests: the rate is wrk's own", () => {
  // Thread 2 pointed at a closed port: 8,132 write errors, none of them among the 5,658
  // completed requests. wrk's own Requests/sec is 5,329.34.
  const text = Deno.readTextFileSync(
    new URL("./testdata/wrk_closed_port_thread_1s.txt", import.meta.url),
  );
  const r = parseWrk(text, { connections: 4, toolVersion: "4.1.0" });
  assertEquals(r.errorKinds, { write: 8132 });
  assertEquals(r.errors, 8132);
  assertEquals(r.operations, 5658 + 8132, "attempts that ended: completed + failed");
  const wrkRate = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)![1]);
  assert(Math.abs(r.achievedRate - wrkRate) < 0.005, `${r.achievedRate} vs wrk's ${wrkRate}`);
  assertEquals(r.latency.total, 5658);
});

Deno.test({
  name:
    "a real wrk run with one thread on a closed port: the failed attempts are not subtracted from the completed requests, the rate is wrk's own and the run fails",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const nginx = await startTestNginx();
    const dir = await Deno.makeTempDir({ prefix: "meshbench-wrk-test-" });
    try {
      // Thread 1 on nginx, thread 2 on a port nothing listens on (taken free, then closed).
      const script = join(dir, "s.lua");
      await Deno.writeTextFile(script, wrkScript([nginx.port, freePort()]));
      const res = await realRunner.run(
        wrkCommand({
          wrk: findBinary("wrk")!,
          script,
          url: nginx.url,
          threads: 2,
          connections: 4,
          durationS: 1,
        }),
        { timeoutMs: 60_000 },
      );
      const r = parseWrk(res.stdout, { connections: 4, toolVersion: "test" });
      const json = JSON.parse(res.stdout.split("\n").find((l) => l.startsWith("MESHBENCH"))!
        .slice("MESHBENCH_WRK_JSON ".length));
      const failed = json.connect + json.read + json.write;
      assert(failed > 0, `the closed port's attempts are wrk's socket errors\n${res.stdout}`);
      assertEquals([json.status, json.timeout], [0, 0], res.stdout);
      assertEquals(r.errors, failed);
      assertEquals(r.operations, json.requests + failed, "attempts that ended");
      assertEquals(r.latency.total, json.requests);
      // wrk's own Requests/sec (completed requests over its duration, printed to 0.01).
      const wrkRate = Number(/Requests\/sec:\s+([\d.]+)/.exec(res.stdout)![1]);
      assert(
        Math.abs(r.achievedRate - wrkRate) < 0.005 + 1e-9,
        `meshbench ${r.achievedRate}/s vs wrk's ${wrkRate}/s\n${res.stdout}`,
      );
      // The success ratio counts the failed attempts: well under 99.9 %, so the run fails.
      const c = classify(
        {
          seq: 1,
          workload: "http",
          mesh: "baseline",
          iteration: 1,
          point: { mode: "max-throughput", tool: "wrk", rate: null, connections: 4, durationS: 1 },
        },
        r,
        { saturationPct: 2, minSuccessPct: 99.9 },
      );
      assertEquals(c.status, "failed", c.reason ?? "");
      assert(
        c.reason!.includes(`${json.requests} of ${json.requests + failed} wrk operations`),
        c.reason!,
      );
    } finally {
      await nginx.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
