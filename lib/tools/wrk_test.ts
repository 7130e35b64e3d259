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

/** wrk's summary line (meshbench's script) of a raw output. */
function wrkJson(stdout: string) {
  return JSON.parse(
    stdout.split("\n").find((l) => l.startsWith("MESHBENCH"))!.slice("MESHBENCH_WRK_JSON ".length),
  );
}

/**
 * wrk 4.x's stats_correct (wrk.c, stats.c), written out here as wrk does it: for each value n
 * from 2E up, its count is added at n - E, n - 2E, ... while above E.
 */
function wrkCorrect(values: Map<number, number>, interval: number): Map<number, number> {
  const data = new Map(values);
  const max = Math.max(...data.keys());
  for (let n = interval * 2; n <= max; n++) {
    const count = data.get(n) ?? 0;
    for (let m = n - interval; count && m > interval; m -= interval) {
      data.set(m, (data.get(m) ?? 0) + count);
    }
  }
  return data;
}

/**
 * Checks a parsed wrk result against wrk's own latency record in its raw output: applying
 * wrk's correction to the recorded requests gives back wrk's record exactly, and the
 * histogram's count, min, max, mean and percentiles are those of the requests.
 */
function checkAgainstRecord(stdout: string, r: ReturnType<typeof parseWrk>) {
  const j = wrkJson(stdout);
  const wrkRecord = new Map<number, number>(j.histogram);
  const conns = Number(/(\d+) connections/.exec(stdout)![1]);
  const interval = Math.floor(j.duration_us / Math.floor(j.requests / conns));
  // The requests alone, by brute force: the counts whose correction is wrk's record.
  const requests = new Map<number, number>();
  for (const v of [...wrkRecord.keys()].sort((a, b) => b - a)) {
    let c = wrkRecord.get(v)!;
    if (v > interval) {
      for (let src = v + interval; src <= j.max_us; src += interval) c -= requests.get(src) ?? 0;
    }
    requests.set(v, c);
  }
  const corrected = wrkCorrect(requests, interval);
  for (const [v, c] of wrkRecord) assertEquals(corrected.get(v), c, `wrk's record at ${v} us`);
  const n = [...requests.values()].reduce((a, b) => a + b, 0);
  assertEquals(n, j.requests - j.timeout, "the requests wrk recorded, no synthetic sample");
  assertEquals(r.latency.total, n);
  assertEquals(r.latency.min, j.min_us);
  assertEquals(r.latency.max, j.max_us);
  const sum = [...requests].reduce((s, [v, c]) => s + v * c, 0);
  assert(Math.abs(summarize(r.latency).meanMs - Math.round(sum / n) / 1000) <= 0.001);
  const sorted = [...requests].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
  for (const p of [50, 90, 99, 99.9]) {
    const rank = Math.max(1, Math.floor((p / 100) * n + 0.5));
    let seen = 0;
    const exact = sorted.find(([, c]) => (seen += c) >= rank)![0];
    const ours = percentile(r.latency, p);
    assert(
      ours >= exact && ours <= Math.min(bucketTop(bucketOf(exact)), j.max_us),
      `p${p}: meshbench ${ours} us, the requests' ${exact} us`,
    );
  }
}

// Real output of Debian's wrk 4.1.0 with meshbench's script (its whole latency record) on a
// loopback nginx: 1 thread, 16 connections, 1 s; 130,602 requests, wrk's record 132,341.
const record = Deno.readTextFileSync(
  new URL("./testdata/wrk_meshbench_record_1s.txt", import.meta.url),
);

Deno.test("wrk's figures are of its requests, without the coordinated-omission samples wrk adds to its own record", () => {
  const r = parseWrk(record, { connections: 16, toolVersion: "4.1.0" });
  checkAgainstRecord(record, r);
  assertEquals(r.latency.total, 130602);
  assertEquals(r.extra?.wrkCorrected, {
    intervalUs: 134,
    samples: 132341,
    addedSamples: 1739,
    meanUs: 94.363,
  });
  // wrk's own print is of its corrected record: p99 504 us and Avg 94.36 us, where its
  // requests' p99 is 184 us and their mean 80 us.
  assertEquals(wrkReportedPercentiles(record)["99"], 504);
  assertEquals(summarize(r.latency).p99Ms, 0.184);
  assertEquals(summarize(r.latency).meanMs, 0.08);
});

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

/**
 * Runs the real wrk with meshbench's script (`script.ports` for its threads, `script.walkLimit`
 * for its record walk) on a fresh real nginx and returns wrk's stdout; nginx and the script go
 * away after.
 */
async function runRealWrk(
  run: { threads: number; connections: number; durationS: number },
  script: { ports?: (nginxPort: number) => number[]; walkLimit?: number } = {},
): Promise<string> {
  const nginx = await startTestNginx();
  const dir = await Deno.makeTempDir({ prefix: "meshbench-wrk-test-" });
  try {
    const path = join(dir, "s.lua");
    await Deno.writeTextFile(
      path,
      wrkScript(script.ports?.(nginx.port) ?? [], { walkLimit: script.walkLimit }),
    );
    const res = await realRunner.run(
      wrkCommand({ wrk: findBinary("wrk")!, script: path, url: nginx.url, ...run }),
      { timeoutMs: 60_000 },
    );
    return res.stdout;
  } finally {
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "a real wrk run on a real nginx: the histogram holds exactly its requests, and wrk's own record is them plus its coordinated-omission samples",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const stdout = await runRealWrk({ threads: 1, connections: 4, durationS: 2 });
    const r = parseWrk(stdout, { connections: 4, toolVersion: "test" });
    const own = wrkReportedPercentiles(stdout);
    assertEquals(Object.keys(own).sort(), ["50", "75", "90", "99"], stdout);
    checkAgainstRecord(stdout, r);
  },
});

Deno.test({
  name:
    "a wrk record too wide to print whole comes as wrk's corrected spectrum, and the record says so",
  ignore: noTools !== null,
  sanitizeResources: false,
  async fn() {
    const stdout = await runRealWrk({ threads: 1, connections: 2, durationS: 1 }, { walkLimit: 0 });
    const j = wrkJson(stdout);
    assertEquals(j.histogram, undefined);
    assertEquals(j.correctedSpectrum.length, 1000);
    const r = parseWrk(stdout, { connections: 2, toolVersion: "test" });
    assertEquals(
      r.extra?.histogramSource,
      "wrk percentile spectrum of its corrected record (too wide to print whole)",
    );
    assertEquals(r.latency.total, j.requests);
    assertEquals(r.latency.max, j.max_us);
    // wrk's Lua percentile(100) is 0: the spectrum's top is wrk's maximum instead, and the
    // fastest request is wrk's minimum, so nothing reads as 0 us and no percentile a step low.
    assertEquals(j.correctedSpectrum.at(-1), [1, j.max_us]);
    assert(j.min_us > 0);
    assertEquals(r.latency.min, j.min_us, "the minimum is wrk's, never 0");
    // The spectrum is of wrk's corrected record, as its own --latency percentiles are: they
    // agree to wrk's print rounding (two decimals of its unit) and our bucket width.
    const own = wrkReportedPercentiles(stdout);
    assertEquals(Object.keys(own).sort(), ["50", "75", "90", "99"], stdout);
    for (const [p, wrkUs] of Object.entries(own)) {
      const ours = percentile(r.latency, Number(p));
      const printUs = wrkUs < 850 ? 0.005 : wrkUs < 850_000 ? 5 : 5000;
      const allowed = printUs + (bucketTop(bucketOf(wrkUs)) - bucketOf(wrkUs)) + 1;
      assert(Math.abs(ours - wrkUs) <= allowed, `p${p}: meshbench ${ours} us, wrk ${wrkUs} us`);
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
    // Thread 1 on nginx, thread 2 on a port nothing listens on (taken free, then closed).
    const stdout = await runRealWrk(
      { threads: 2, connections: 4, durationS: 1 },
      { ports: (nginxPort) => [nginxPort, freePort()] },
    );
    const r = parseWrk(stdout, { connections: 4, toolVersion: "test" });
    const json = wrkJson(stdout);
    const failed = json.connect + json.read + json.write;
    assert(failed > 0, `the closed port's attempts are wrk's socket errors\n${stdout}`);
    assertEquals([json.status, json.timeout], [0, 0], stdout);
    assertEquals(r.errors, failed);
    assertEquals(r.operations, json.requests + failed, "attempts that ended");
    assertEquals(r.latency.total, json.requests);
    // wrk's own Requests/sec (completed requests over its duration, printed to 0.01).
    const wrkRate = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)![1]);
    assert(
      Math.abs(r.achievedRate - wrkRate) < 0.005 + 1e-9,
      `meshbench ${r.achievedRate}/s vs wrk's ${wrkRate}/s\n${stdout}`,
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
  },
});
