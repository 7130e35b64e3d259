import assert from "node:assert/strict";
import { join } from "node:path";
import { realRunner } from "../command.ts";
import { findBinary } from "../binaries.ts";
import { percentile } from "../histogram.ts";
import { freePort, startServer } from "../process.ts";
import { startTestNginx } from "../testenv/nginx.ts";
import type { Histogram, LoadResult } from "../types.ts";
import { classify } from "../pipeline.ts";
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
  const nginx = findBinary("nginx");
  if (!nginx) throw new Error("nginx is not installed");
  const dir = await Deno.makeTempDir({ prefix: "meshbench-http-client-" });
  const port = freePort();
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log stderr notice;
events { worker_connections 1024; }
http {
  log_format lengths '$status $request_length $content_length';
  access_log ${join(dir, "access.log")} lengths;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  ${http}
  server {
    listen 127.0.0.1:${port} backlog=1024;
    ${server}
  }
}
`,
  );
  const proc = await startServer([nginx, "-p", dir, "-c", conf, "-e", "stderr"], {
    name: "nginx",
    ready: /start worker process/,
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async log(): Promise<string[][]> {
      await proc.stop(); // flushes the log
      const text = await Deno.readTextFile(join(dir, "access.log"));
      return text.trim().split("\n").filter((l) => l).map((l) => l.split(" "));
    },
    async stop() {
      await proc.stop();
      await Deno.remove(dir, { recursive: true });
    },
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
      assert.ok(command.includes("--allow-ffi"));
      assert.deepEqual(parseHttpClientOutput(raw), r);
      assert.equal(r.tool, "http-client");
      assert.equal(r.timing, "intended-send");
      assert.equal(r.requestedRate, 200);
      assert.equal(r.operations, 200);
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.deepEqual(extra(r).statusCodes, { "200": 200 });
      assert.equal(r.latency.total, 200);
      // nginx's answer: a 1 kB body plus its head, every one read to the end.
      assert.ok(r.bytesIn > 200 * 1024, `bytesIn ${r.bytesIn}`);
      const conns = extra(r).connections as HttpConnectionStats;
      assert.deepEqual(conns, {
        requested: 4,
        opened: 4,
        failed: 0,
        reconnects: 0,
        closed: 0,
        reasons: {},
      });
      assert.equal((extra(r).connect as Histogram).total, 4);
      // Response time = send lag + pool wait + service time, request by request: the exact
      // sums add up, and no quantile of a part is above the same quantile of the whole.
      const lag = extra(r).sendLag as Histogram;
      const pool = extra(r).poolWait as Histogram;
      const service = extra(r).serviceTime as Histogram;
      assert.equal(lag.total, 200);
      assert.equal(pool.total, 200);
      assert.equal(service.total, 200);
      assert.ok(Math.abs(lag.sum! + pool.sum! + service.sum! - r.latency.sum!) < 1, "sums");
      for (const p of [50, 90, 99, 100]) {
        for (const part of [lag, pool, service]) {
          assert.ok(percentile(part, p) <= percentile(r.latency, p), `p${p}`);
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  },
});

Deno.test({
  name: "httpLoad times latency from the intended send: a server of known capacity shows its queue",
  sanitizeResources: false,
  async fn() {
    // nginx serves at most 20 requests/s; 40 are due within 0.39 s on one connection. The
    // last one cannot be answered before 39 x 50 ms = 1.95 s after the first, so its response
    // time (from its intended send at 0.39 s) is at least 1.56 s, on any machine; timed from
    // its actual send (when the connection came free), it would be about one 50 ms slot.
    const server = await startTestNginx({ capacityPerS: 20 });
    try {
      const r = await httpLoad({ urls: [server.url], connections: 1, rate: 100, durationS: 0.4 });
      assert.equal(r.operations, 40);
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.ok(r.latency.max >= 1_560_000, `max response time ${r.latency.max} us`);
      const lag = extra(r).sendLag as Histogram;
      const service = extra(r).serviceTime as Histogram;
      const pool = extra(r).poolWait as Histogram;
      // The wait is the client's queue for its one connection: in the pool wait, neither the
      // pacer's send lag nor the service time, and the three add up request by request.
      assert.ok(Math.abs(lag.sum! + pool.sum! + service.sum! - r.latency.sum!) < 1, "sums");
      // The last request (due at 0.39 s) got the connection only when the 39th was answered,
      // at 1.9 s or later.
      assert.ok(pool.max >= 1_000_000, `pool wait max ${pool.max} us`);
      assert.ok(extra(r).waitedForConnection as number >= 1);
      // Completions in the window are the server's 20/s (a few more at the window's edges),
      // not the 100/s asked: saturated.
      assert.ok(r.achievedRate < 50, `achieved ${r.achievedRate}`);
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
      assert.equal(c.status, "saturated", c.reason ?? "");
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
      assert.equal(r.operations, 50);
      assert.equal((codes["200"] ?? 0) + (codes["503"] ?? 0), 50, JSON.stringify(codes));
      assert.ok(codes["200"] >= 1 && codes["503"] >= 1, JSON.stringify(codes));
      assert.deepEqual(r.errorKinds, { http_503: codes["503"] });
      assert.equal(r.errors, codes["503"]);
      // An answered error still has a latency; nginx logged every request the client sent.
      assert.equal(r.latency.total, 50);
      const log = await server.log();
      assert.equal(log.length, 50);
      assert.equal(log.filter((l) => l[0] === "503").length, codes["503"]);
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
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.equal(extra(r).bodyBytes, 70_000);
      const log = await server.log();
      assert.equal(log.length, 30);
      for (const [status, requestLength, contentLength] of log) {
        assert.equal(status, "200");
        assert.equal(contentLength, "70000");
        // The whole request was read: head + 70,000 body bytes.
        assert.ok(Number(requestLength) > 70_000, requestLength);
      }
      const sent = log.reduce((s, l) => s + Number(l[1]), 0);
      assert.equal(r.bytesOut, sent);
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
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.deepEqual(extra(r).statusCodes, { "200": 30 });
      const conns = extra(r).connections as HttpConnectionStats;
      // Two opened up front, each used once; every later request needed a new one.
      assert.equal(conns.reconnects, 28);
      assert.equal((extra(r).connect as Histogram).total, 30);
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
  assert.equal(r.operations, 20);
  assert.deepEqual(r.errorKinds, { "connect: ECONNREFUSED": 20 });
  assert.equal(r.latency.total, 0);
  assert.equal(r.achievedRate, 0);
  const conns = extra(r).connections as HttpConnectionStats;
  assert.equal(conns.opened, 0);
  assert.equal(conns.failed, 3);
});

Deno.test("httpClientCommand refuses bad options, naming the field and value", () => {
  const ok = { urls: ["http://127.0.0.1:1/"], connections: 1, rate: 10, durationS: 1 };
  assert.throws(
    () => httpClientCommand({ ...ok, urls: ["https://127.0.0.1/"] }),
    /"urls" must be http:\/\/ URLs, got "https:\/\/127.0.0.1\/"/,
  );
  assert.throws(
    () => httpClientCommand({ ...ok, urls: ["http://example.com/"] }),
    /"urls" must name an IPv4 address/,
  );
  assert.throws(() => httpClientCommand({ ...ok, connections: 0 }), /"connections"/);
  assert.throws(() => httpClientCommand({ ...ok, body: "a", bodyBytes: 1 }), /"body"/);
  assert.throws(
    () => httpClientCommand({ ...ok, rtPriority: 100 }),
    /"rtPriority" must be an integer from 0 to 99, got 100/,
  );
  assert.throws(
    () => httpClientCommand({ ...ok, headers: { "Content-Length": "5" } }),
    /"headers" must not set Host/,
  );
  assert.deepEqual(
    httpClientCommand(ok, { cpus: "1" }).slice(0, 3),
    ["taskset", "-c", "1"],
  );
  assert.throws(() => parseHttpClientOutput('{"tool":"vegeta"}'), /"tool" should be/);
});

Deno.test("the pacer spins at most a tenth of the interval between requests", () => {
  assert.equal(effectiveSpinUs(DEFAULT_SPIN_US, 500), DEFAULT_SPIN_US);
  assert.equal(effectiveSpinUs(200, 2000), 50);
  assert.equal(effectiveSpinUs(0, 100), 0);
});
