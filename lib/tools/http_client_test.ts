import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { percentile } from "../histogram.ts";
import { freePort } from "../process.ts";
import { startNginx, startTestNginx } from "../testenv/nginx.ts";
import type { Histogram, LoadResult } from "../types.ts";
import { classify } from "../pipeline.ts";
import { buildCFloor, cCompiler } from "../../bench/send_lag.ts";
import { missingBinaries, skipReason } from "../../tests/skip.ts";
import {
  DEFAULT_SPIN_US,
  effectiveSpinUs,
  httpClientCommand,
  type HttpConnectionStats,
  httpLoad,
  parseHttpClientOutput,
  runHttpLoad,
} from "./http_client.ts";

/**
 * A real nginx on a free loopback port with `server` as its server block's body and an access
 * log of `$status $request_length $content_length` per request; `log()` reads it.
 */
async function nginxWith(server: string, http = "") {
  const nginx = await startNginx({
    http: (dir) =>
      `log_format lengths '$status $request_length $content_length';
  access_log ${join(dir, "access.log")} lengths;
  ${http}`,
    server: () => server,
  });
  return {
    url: `http://127.0.0.1:${nginx.port}`,
    async log(): Promise<string[][]> {
      await nginx.halt(); // flushes the log
      const text = await Deno.readTextFile(join(nginx.dir, "access.log"));
      return text.trim().split("\n").filter((l) => l).map((l) => l.split(" "));
    },
    stop: nginx.stop,
  };
}

const extra = (r: LoadResult) => r.extra as Record<string, unknown>;

Deno.test({
  name: "runHttpLoad: open-loop GETs on real nginx, every request answered, timed three ways",
  sanitizeResources: false,
  async fn() {
    const servers = [await startTestNginx(), await startTestNginx()];
    try {
      const { result: r, command, raw } = await runHttpLoad(realRunner, {
        urls: servers.map((s) => s.url),
        connections: 4,
        rate: 200,
        durationS: 1,
      });
      assert(command.includes("--allow-ffi"));
      assertEquals(parseHttpClientOutput(raw), r);
      assertEquals(r.tool, "http-client");
      assertEquals(r.timing, "intended-send");
      assertEquals(r.requestedRate, 200);
      assertEquals(r.operations, 200);
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals(extra(r).statusCodes, { "200": 200 });
      assertEquals(r.latency.total, 200);
      // nginx's answer: a 1 kB body plus its head, every one read to the end.
      assert(r.bytesIn > 200 * 1024, `bytesIn ${r.bytesIn}`);
      const conns = extra(r).connections as HttpConnectionStats;
      assertEquals(conns, {
        requested: 4,
        opened: 4,
        failed: 0,
        reconnects: 0,
        closed: 0,
        reasons: {},
      });
      assertEquals((extra(r).connect as Histogram).total, 4);
      // Response time = send lag + pool wait + service time, request by request: the exact
      // sums add up, and no quantile of a part is above the same quantile of the whole.
      const lag = extra(r).sendLag as Histogram;
      const pool = extra(r).poolWait as Histogram;
      const service = extra(r).serviceTime as Histogram;
      assertEquals(lag.total, 200);
      assertEquals(pool.total, 200);
      assertEquals(service.total, 200);
      assert(Math.abs(lag.sum! + pool.sum! + service.sum! - r.latency.sum!) < 1, "sums");
      for (const p of [50, 90, 99, 100]) {
        for (const part of [lag, pool, service]) {
          assert(percentile(part, p) <= percentile(r.latency, p), `p${p}`);
        }
      }
      // Every send the pacer took up more than 10 us late is counted once, by its cause: as many
      // as the send-lag histogram holds above 10 us (whole microseconds: 10 holds 10.0 to 10.5).
      const { thresholdUs, ...late } = (extra(r).generator as { late: Record<string, number> })
        .late;
      assertEquals(thresholdUs, 10);
      assertEquals(Object.keys(late).sort(), [
        "behind",
        "blocked",
        "preempted",
        "stalled",
        "wokeLate",
      ]);
      const above = (from: number) =>
        lag.values.reduce((n, v, i) => n + (v >= from ? lag.counts[i] : 0), 0);
      const counted = Object.values(late).reduce((a, b) => a + b, 0);
      assert(above(11) <= counted && counted <= above(10), `${counted} ${JSON.stringify(late)}`);
      // At 200/s (5 ms apart) the schedule's phase keeps every due time about half a
      // millisecond from the kernel's tick grid (the phases tried are 1/64 ms apart).
      const tickUs = (extra(r).generator as { tickDistanceUs: number }).tickDistanceUs;
      assert(tickUs >= 484 && tickUs <= 500, `tickDistanceUs ${tickUs}`);
      // By default it sleeps between sends, spinning only the last 200 us before each.
      const g = extra(r).generator as { pacing: string; spinUs: number };
      assertEquals([g.pacing, g.spinUs], ["sleep", DEFAULT_SPIN_US]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  },
});

Deno.test({
  name: "runHttpLoad with neverSleep: the pacer spins the whole interval, every request answered",
  sanitizeResources: false,
  async fn() {
    const server = await startTestNginx();
    try {
      const { result: r } = await runHttpLoad(realRunner, {
        urls: [server.url],
        connections: 2,
        rate: 200,
        durationS: 1,
        neverSleep: true,
      });
      assertEquals(r.operations, 200);
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals((extra(r).sendLag as Histogram).total, 200);
      // Its wake-up time for each send is the previous due time (5,000 us at 200/s): it never
      // sleeps, whatever spin was asked for.
      const g = extra(r).generator as { pacing: string; spinUs: number };
      assertEquals([g.pacing, g.spinUs], ["spin", 5000]);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "httpLoad times latency from the intended send: a server of known capacity shows its queue",
  sanitizeResources: false,
  async fn() {
    // nginx serves at most 20 requests/s; 40 are due within 0.39 s on one connection. The
    // last one cannot be answered before 39 turns of 50 ms after the first, so its response
    // time (from its intended send at 0.39 s) is about 1.56 s, on any machine; timed from its
    // actual send (when the connection came free), it would be about one 50 ms slot. nginx's
    // limit_req works in whole milliseconds of its cached clock, so a turn can end slightly
    // early (a CI run saw 1,559,916 us, 84 us short of 1.56 s); the bound allows 1 ms a turn:
    // 39 x 49 ms = 1.91 s, at least 1.52 s after 0.39 s.
    const server = await startTestNginx({ capacityPerS: 20 });
    try {
      const r = await httpLoad({ urls: [server.url], connections: 1, rate: 100, durationS: 0.4 });
      assertEquals(r.operations, 40);
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assert(r.latency.max >= 1_520_000, `max response time ${r.latency.max} us`);
      const lag = extra(r).sendLag as Histogram;
      const service = extra(r).serviceTime as Histogram;
      const pool = extra(r).poolWait as Histogram;
      // The wait is the client's queue for its one connection: in the pool wait, neither the
      // pacer's send lag nor the service time, and the three add up request by request.
      assert(Math.abs(lag.sum! + pool.sum! + service.sum! - r.latency.sum!) < 1, "sums");
      // The last request (due at 0.39 s) got the connection only when the 39th was answered,
      // at 1.9 s or later.
      assert(pool.max >= 1_000_000, `pool wait max ${pool.max} us`);
      assert(extra(r).waitedForConnection as number >= 1);
      // Completions in the window are the server's 20/s (a few more at the window's edges),
      // not the 100/s asked: saturated.
      assert(r.achievedRate < 50, `achieved ${r.achievedRate}`);
      const spec = {
        seq: 1,
        workload: "http",
        mesh: "baseline",
        iteration: 1,
        point: {
          mode: "fixed-rate" as const,
          tool: "http-client",
          rate: 100,
          connections: 1,
          durationS: 0.4,
        },
      };
      const c = classify(spec, r, { saturationPct: 2, minSuccessPct: 99.9 });
      assertEquals(c.status, "saturated", c.reason ?? "");
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "httpLoad counts status codes: nginx's 503s beyond its limit are errors by code",
  sanitizeResources: false,
  async fn() {
    // limit_req without a queue refuses what is over 5/s with 503 at once.
    const server = await nginxWith(
      // empty_gif answers in the content phase, after limit_req (a `return` would answer first).
      `location / { limit_req zone=cap nodelay; limit_req_status 503; empty_gif; }`,
      "limit_req_zone $server_port zone=cap:1m rate=5r/s;",
    );
    try {
      const r = await httpLoad({
        urls: [`${server.url}/`],
        connections: 2,
        rate: 100,
        durationS: 0.5,
      });
      const codes = extra(r).statusCodes as Record<string, number>;
      assertEquals(r.operations, 50);
      assertEquals((codes["200"] ?? 0) + (codes["503"] ?? 0), 50, JSON.stringify(codes));
      assert(codes["200"] >= 1 && codes["503"] >= 1, JSON.stringify(codes));
      assertEquals(r.errorKinds, { http_503: codes["503"] });
      assertEquals(r.errors, codes["503"]);
      // An answered error still has a latency; nginx logged every request the client sent.
      assertEquals(r.latency.total, 50);
      const log = await server.log();
      assertEquals(log.length, 50);
      assertEquals(log.filter((l) => l[0] === "503").length, codes["503"]);
      // Answered, but not successes: under minSuccessPct the run fails.
      const c = classify(
        {
          seq: 1,
          workload: "http",
          mesh: "baseline",
          iteration: 1,
          point: {
            mode: "fixed-rate",
            tool: "http-client",
            rate: 100,
            connections: 2,
            durationS: 0.5,
          },
        },
        r,
        { saturationPct: 2, minSuccessPct: 99.9 },
      );
      assertEquals(c.status, "failed", c.reason ?? "");
      assert(c.reason!.includes(`http_503 ${codes["503"]}`), c.reason!);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "httpLoad sends a POST body of the given size, byte for byte as nginx counts it",
  sanitizeResources: false,
  async fn() {
    // nginx reads a body only to pass it on (a `return` discards it unread, uncounted): the
    // front proxies to a second server, and logs what it read.
    const backend = freePort();
    const server = await nginxWith(
      `location /predict { proxy_pass http://127.0.0.1:${backend}; }`,
      `server { listen 127.0.0.1:${backend}; access_log off; return 200 "done\\n"; }`,
    );
    try {
      const r = await httpLoad({
        urls: [`${server.url}/predict`],
        connections: 2,
        rate: 100,
        durationS: 0.3,
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        bodyBytes: 70_000,
      });
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals(extra(r).bodyBytes, 70_000);
      const log = await server.log();
      assertEquals(log.length, 30);
      for (const [status, requestLength, contentLength] of log) {
        assertEquals(status, "200");
        assertEquals(contentLength, "70000");
        // The whole request was read: head + 70,000 body bytes.
        assert(Number(requestLength) > 70_000, requestLength);
      }
      const sent = log.reduce((s, l) => s + Number(l[1]), 0);
      assertEquals(r.bytesOut, sent);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "httpLoad reopens connections the server closes after each answer, with no error",
  sanitizeResources: false,
  async fn() {
    const server = await nginxWith(`keepalive_requests 1; location / { return 200 "ok\\n"; }`);
    try {
      const r = await httpLoad({
        urls: [`${server.url}/`],
        connections: 2,
        rate: 100,
        durationS: 0.3,
      });
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals(extra(r).statusCodes, { "200": 30 });
      const conns = extra(r).connections as HttpConnectionStats;
      // Two opened up front, each used once; every later request needed a new one.
      assertEquals(conns.reconnects, 28);
      assertEquals((extra(r).connect as Histogram).total, 30);
    } finally {
      await server.stop();
    }
  },
});

Deno.test("httpLoad counts every request as a connect error when nothing listens", async () => {
  const port = freePort();
  const r = await httpLoad({
    urls: [`http://127.0.0.1:${port}/`],
    connections: 3,
    rate: 100,
    durationS: 0.2,
  });
  assertEquals(r.operations, 20);
  assertEquals(r.errorKinds, { "connect: ECONNREFUSED": 20 });
  assertEquals(r.latency.total, 0);
  assertEquals(r.achievedRate, 0);
  const conns = extra(r).connections as HttpConnectionStats;
  assertEquals(conns.opened, 0);
  assertEquals(conns.failed, 3);
});

Deno.test("httpClientCommand refuses bad options, naming the field and value", () => {
  const ok = { urls: ["http://127.0.0.1:1/"], connections: 1, rate: 10, durationS: 1 };
  throws(
    () => httpClientCommand({ ...ok, urls: ["https://127.0.0.1/"] }),
    /"urls" must be http:\/\/ URLs, got "https:\/\/127.0.0.1\/"/,
  );
  throws(
    () => httpClientCommand({ ...ok, urls: ["http://example.com/"] }),
    /"urls" must name an IPv4 address/,
  );
  throws(() => httpClientCommand({ ...ok, connections: 0 }), /"connections"/);
  throws(() => httpClientCommand({ ...ok, body: "a", bodyBytes: 1 }), /"body"/);
  throws(
    () => httpClientCommand({ ...ok, bodyBytes: 1, bodyFile: "/etc/hostname" }),
    /"bodyBytes" and bodyFile exclude each other/,
  );
  throws(
    () => httpClientCommand({ ...ok, bodyFile: "/nonexistent/payload.json" }),
    /"bodyFile" must be a readable file .*got "\/nonexistent\/payload.json"/,
  );
  throws(
    () => httpClientCommand({ ...ok, rtPriority: 100 }),
    /"rtPriority" must be an integer from 0 to 99, got 100/,
  );
  throws(
    () => httpClientCommand({ ...ok, headers: { "Content-Length": "5" } }),
    /"headers" must not set Host/,
  );
  throws(
    // deno-lint-ignore no-explicit-any
    () => httpClientCommand({ ...ok, tickAlign: "yes" as any }),
    /"tickAlign" must be true or false, got "yes"/,
  );
  throws(
    // deno-lint-ignore no-explicit-any
    () => httpClientCommand({ ...ok, neverSleep: 1 as any }),
    /"neverSleep" must be true or false, got 1/,
  );
  assertEquals(
    httpClientCommand(ok, { cpus: "1" }).slice(0, 3),
    ["taskset", "-c", "1"],
  );
  throws(() => parseHttpClientOutput('{"tool":"vegeta"}'), /"tool" should be/);
});

Deno.test("the pacer spins at most a tenth of the interval between requests", () => {
  assertEquals(effectiveSpinUs(DEFAULT_SPIN_US, 500), DEFAULT_SPIN_US);
  assertEquals(effectiveSpinUs(200, 2000), 50);
  assertEquals(effectiveSpinUs(0, 100), 0);
});

Deno.test("the pacer floor paces the whole schedule with nothing to send, counting every send over 10 us late by cause", async () => {
  const floor = new URL("../../bench/_pacer_floor.ts", import.meta.url).pathname;
  const args = JSON.stringify({ rate: 200, durationS: 0.5, spinUs: 200, rtPriority: 0 });
  const r = await realRunner.run(
    [Deno.execPath(), "run", "--quiet", "--allow-ffi", "--allow-read", floor, args],
    { timeoutMs: 60_000 },
  );
  const out = JSON.parse(r.stdout) as { sendLag: Histogram; late: Record<string, number> };
  assertEquals(out.sendLag.total, 100);
  const { thresholdUs, ...late } = out.late;
  assertEquals(thresholdUs, 10);
  assertEquals(Object.keys(late).sort(), ["behind", "blocked", "preempted", "stalled", "wokeLate"]);
  const above = (from: number) =>
    out.sendLag.values.reduce((n, v, i) => n + (v >= from ? out.sendLag.counts[i] : 0), 0);
  const counted = Object.values(late).reduce((a, b) => a + b, 0);
  assert(above(11) <= counted && counted <= above(10), `${counted} ${JSON.stringify(late)}`);
});

const cc = cCompiler();
const ccTest = "the C floor paces the whole schedule without V8";
Deno.test({
  name: `${ccTest}, counting every send over 10 us late by cause, and refuses bad arguments`,
  ignore: skipReason(ccTest, missingBinaries({ cc: cc ?? undefined })) !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-cfloor-test-" });
    try {
      const exe = await buildCFloor(cc!, dir);
      const r = await realRunner.run([exe, "200", "100", "200"], { timeoutMs: 60_000 });
      const out = JSON.parse(r.stdout) as { lagNs: number[]; late: Record<string, number> };
      assertEquals(out.lagNs.length, 100);
      assert(out.lagNs.every((ns) => Number.isInteger(ns) && ns >= 0), out.lagNs.join(","));
      const { thresholdUs, ...late } = out.late;
      assertEquals(thresholdUs, 10);
      assertEquals(
        Object.keys(late).sort(),
        ["behind", "blocked", "preempted", "stalled", "wokeLate"],
      );
      const counted = Object.values(late).reduce((a, b) => a + b, 0);
      assertEquals(counted, out.lagNs.filter((ns) => ns > 10_000).length);
      const bad = await new Deno.Command(exe, { args: ["0", "100", "200"], stderr: "piped" })
        .output();
      assertEquals(bad.code, 2);
      assert(/rate and count must be positive/.test(new TextDecoder().decode(bad.stderr)));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
