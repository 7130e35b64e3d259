import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { parseVegetaCsv, splitCsvLine, vegetaResult } from "./vegeta.ts";
import { percentile } from "../histogram.ts";

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
