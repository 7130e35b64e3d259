// fortio's command and JSON report, on reports of real fortio 1.66.5 runs against a loopback
// server (testdata/fortio_http_*.json).
import { assert, assertEquals } from "./_assert.ts";
import { throws } from "node:assert/strict";
import { fortioCommand, parseFortioJson } from "./fortio.ts";
import { percentile } from "../histogram.ts";
import type { LoadPoint } from "../types.ts";

const fixed: LoadPoint = {
  mode: "fixed-rate",
  tool: "fortio",
  rate: 50,
  connections: 2,
  durationS: 1,
};
const max: LoadPoint = {
  mode: "max-throughput",
  tool: "fortio",
  rate: null,
  connections: 2,
  durationS: 1,
};
const read = (name: string) =>
  Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));

Deno.test("fortio command lines for fixed-rate, max-throughput and gRPC", () => {
  assertEquals(fortioCommand(fixed, { address: "http://s:80/", protocol: "http" }), [
    "fortio",
    "load",
    "-json",
    "-",
    "-qps",
    "50",
    "-c",
    "2",
    "-t",
    "1s",
    "-loglevel",
    "Warning",
    "http://s:80/",
  ]);
  const g = fortioCommand(max, { address: "s:9000", protocol: "grpc" });
  assertEquals(g.slice(4, 6), ["-qps", "0"]);
  assertEquals(g.slice(-3), ["-grpc", "-ping", "s:9000"]);
  throws(
    () => fortioCommand({ ...fixed, rate: null }, { address: "x", protocol: "http" }),
    /positive "rate"/,
  );
});

Deno.test("a successful fixed-rate report", () => {
  const r = parseFortioJson(read("fortio_http_ok.json"), fixed, "http");
  assertEquals([r.tool, r.toolVersion, r.timing], ["fortio", "1.66.5", "actual-send"]);
  assertEquals([r.operations, r.errors, r.connections, r.requestedRate], [50, 0, 2, 50]);
  assert(Math.abs(r.achievedRate - 50) < 0.1);
  assertEquals(r.latency.total, 50);
  assertEquals(r.bytesIn, 5850);
  // Buckets are recorded at their upper bound: p50 is within fortio's first bucket (<= 1 ms).
  assert(percentile(r.latency, 50) <= 1000);
  assert(r.latency.max >= 3198);
});

Deno.test("HTTP errors are counted by status, not dropped", () => {
  const r = parseFortioJson(read("fortio_http_503.json"), max, "http");
  assertEquals(r.timing, "closed-loop");
  assertEquals(r.requestedRate, null);
  assertEquals(r.errors, 20);
  assertEquals(r.errorKinds, { "503": 20 });
  assertEquals(r.operations, 20);
  throws(() => parseFortioJson("panic: boom", fixed, "http"), /Cannot parse fortio output/);
});
