import assert from "node:assert/strict";
import { realRunner } from "../command.ts";
import { percentile } from "../histogram.ts";
import { freePort, type ServerProcess, startServer } from "../process.ts";
import type { Histogram, LoadResult } from "../types.ts";
import { classify } from "../pipeline.ts";
import {
  combineWsResults,
  parseWsClientOutput,
  runWsLoad,
  wsClientCommand,
  type WsConnectionStats,
  wsLoad,
} from "./ws_client.ts";

const echoServer = new URL("../../servers/ws_echo.ts", import.meta.url).pathname;

async function startEcho(port: number): Promise<ServerProcess> {
  return await startServer(
    [Deno.execPath(), "run", "--allow-net", echoServer, "--port", String(port)],
    { name: "ws_echo", ready: /listening on/ },
  );
}

Deno.test({
  name: "runWsLoad: open-loop load on the real echo server, every message echoed and timed",
  sanitizeResources: false,
  async fn() {
    const ports = [freePort(), freePort()];
    const servers = await Promise.all(ports.map(startEcho));
    try {
      const { result: r, command } = await runWsLoad(realRunner, {
        urls: ports.map((p) => `ws://127.0.0.1:${p}/`),
        connections: 6,
        rate: 300,
        durationS: 1,
        messageBytes: 128,
      });
      assert.equal(command[1], "run");
      assert.equal(r.tool, "ws-client");
      assert.equal(r.timing, "intended-send");
      assert.equal(r.requestedRate, 300);
      assert.equal(r.operations, 300);
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.equal(r.latency.total, 300);
      assert.equal(r.bytesOut, 300 * 128);
      assert.equal(r.bytesIn, 300 * 128);
      assert.ok(r.achievedRate > 290, `achieved ${r.achievedRate}`);
      const conns = r.extra?.connections as WsConnectionStats;
      assert.deepEqual(conns, { requested: 6, opened: 6, failed: 0, closedEarly: 0, reasons: {} });
      assert.equal((r.extra?.connect as Histogram).total, 6);
      assert.equal((r.extra?.sendLag as Histogram).total, 300);
      // Service time (from the actual send) beside the response time (from the scheduled
      // send): per message, response = send lag + service, so no quantile of the service
      // time is above the same quantile of the response time.
      const service = r.extra?.serviceTime as Histogram;
      assert.equal(service.total, 300);
      for (const p of [50, 90, 99, 100]) {
        assert.ok(percentile(service, p) <= percentile(r.latency, p), `p${p}`);
      }
      // Loopback echo: the median round trip is well under 50 ms even on a busy machine.
      assert.ok(percentile(r.latency, 50) < 50_000, `p50 ${percentile(r.latency, 50)} us`);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  },
});

Deno.test("wsLoad counts every message as not sent when no connection opens", async () => {
  const port = freePort(); // nothing listens there
  const r = await wsLoad({
    urls: [`ws://127.0.0.1:${port}/`],
    connections: 3,
    rate: 100,
    durationS: 0.3,
    drainS: 0,
  });
  const conns = r.extra?.connections as WsConnectionStats;
  assert.equal(conns.opened, 0);
  assert.equal(conns.failed, 3);
  assert.equal(Object.values(conns.reasons).reduce((a, b) => a + b, 0), 3);
  assert.deepEqual(r.errorKinds, { "not-sent:connect-failed": 30 });
  assert.equal(r.errors, 30);
  assert.equal(r.operations, 30);
  assert.equal(r.latency.total, 0);
  assert.equal(r.achievedRate, 0);
});

Deno.test({
  name: "wsLoad: a server dying mid-run drops its connections; the rest are counted, not lost",
  sanitizeResources: false,
  async fn() {
    const [pa, pb] = [freePort(), freePort()];
    const a = await startEcho(pa);
    const b = await startEcho(pb);
    try {
      const pending = wsLoad({
        urls: [`ws://127.0.0.1:${pa}/`, `ws://127.0.0.1:${pb}/`],
        connections: 4,
        rate: 200,
        durationS: 1.5,
        drainS: 0.5,
      });
      await new Promise((r) => setTimeout(r, 600));
      Deno.kill(a.pid, "SIGKILL");
      const r = await pending;
      const conns = r.extra?.connections as WsConnectionStats;
      assert.equal(conns.opened, 4);
      assert.equal(conns.closedEarly, 2, JSON.stringify(conns));
      assert.equal(r.operations, 300, "every scheduled message is accounted for");
      assert.equal(r.latency.total + r.errors, 300);
      assert.ok(r.latency.total >= 150 + 40, `echoed ${r.latency.total}`);
      assert.ok((r.errorKinds["not-sent:closed"] ?? 0) > 50, JSON.stringify(r.errorKinds));
    } finally {
      await a.stop();
      await b.stop();
    }
  },
});

Deno.test("ws client options are checked, naming the field and value", () => {
  const ok = { urls: ["ws://127.0.0.1:1/"], connections: 1, rate: 1, durationS: 1 };
  assert.throws(
    () => wsClientCommand({ ...ok, connections: 0 }),
    /"connections" must be a positive integer, got 0/,
  );
  assert.throws(
    () => wsClientCommand({ ...ok, urls: ["http://x/"] }),
    /"urls" must be ws:\/\/ or wss:\/\/ URLs, got "http:\/\/x\/"/,
  );
  assert.throws(() => wsClientCommand({ ...ok, messageBytes: 4 }), /at least 8, got 4/);
  assert.throws(() => parseWsClientOutput("error: boom"), /Cannot parse WebSocket client output/);
  assert.throws(
    () => parseWsClientOutput(JSON.stringify({ tool: "wrk" })),
    /"tool" should be "ws-client", got "wrk"/,
  );
});

Deno.test({
  name: "combineWsResults: two clients at once merge into one result, histograms not averaged",
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const server = await startEcho(port);
    try {
      const urls = [`ws://127.0.0.1:${port}/`];
      const [a, b] = await Promise.all([
        wsLoad({ urls, connections: 3, rate: 150, durationS: 1 }),
        wsLoad({ urls, connections: 2, rate: 100, durationS: 1 }),
      ]);
      const c = combineWsResults([a, b]);
      assert.equal(c.tool, "ws-client");
      assert.equal(c.requestedRate, 250);
      assert.equal(c.connections, 5);
      assert.equal(c.operations, a.operations + b.operations);
      assert.equal(c.operations, 250);
      assert.equal(c.errors, 0);
      assert.equal(
        c.achievedRate,
        250 * Math.min(a.achievedRate / 150, b.achievedRate / 100),
        "the weakest client's share",
      );
      assert.equal(c.durationS, Math.max(a.durationS, b.durationS));
      // The merged latency histogram holds every sample of both: its bounds and total are
      // those of the union, and its p50 lies between the two clients' p50s.
      assert.equal(c.latency.total, a.latency.total + b.latency.total);
      assert.equal(c.latency.max, Math.max(a.latency.max, b.latency.max));
      assert.equal(c.latency.min, Math.min(a.latency.min, b.latency.min));
      const p50 = percentile(c.latency, 50);
      const [lo, hi] = [percentile(a.latency, 50), percentile(b.latency, 50)].sort((x, y) => x - y);
      assert.ok(p50 >= lo && p50 <= hi, `${p50} outside [${lo}, ${hi}]`);
      const extra = c.extra as {
        echoed: number;
        connections: WsConnectionStats;
        connect: Histogram;
        perClient: unknown[];
      };
      assert.equal(extra.echoed, 250);
      assert.equal(extra.connections.opened, 5);
      assert.equal(extra.connect.total, 5);
      assert.equal(extra.perClient.length, 2);
      assert.equal(combineWsResults([a]), a);
      assert.throws(() => combineWsResults([]), /got none/);
    } finally {
      await server.stop();
    }
  },
});

Deno.test("combineWsResults: one saturated client is not averaged away by the other", () => {
  const result = (requested: number, achieved: number): LoadResult => ({
    tool: "ws-client",
    toolVersion: "t",
    timing: "intended-send",
    requestedRate: requested,
    achievedRate: achieved,
    durationS: 5,
    connections: 25,
    operations: Math.round(achieved * 5),
    errors: 0,
    errorKinds: {},
    bytesIn: 0,
    bytesOut: 0,
    latency: { unit: "us", significantDigits: 3, total: 0, min: 0, max: 0, values: [], counts: [] },
  });
  // 4 % short on one client, on target on the other: a sum would read 2 % short.
  const c = combineWsResults([result(250, 240), result(250, 250)]);
  assert.equal(c.requestedRate, 500);
  assert.equal(c.achievedRate, 480);
  assert.equal((c.extra as { achievedRateSum: number }).achievedRateSum, 490);
});

/** A WebSocket echo server on loopback that answers at most `perS` messages a second, queueing the rest. */
function slowEcho(perS: number) {
  const queue: Array<[WebSocket, ArrayBuffer]> = [];
  const timer = setInterval(() => {
    const next = queue.shift();
    if (next && next[0].readyState === WebSocket.OPEN) next[0].send(next[1]);
  }, 1000 / perS);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => queue.push([socket, e.data as ArrayBuffer]);
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    async stop() {
      clearInterval(timer);
      await server.shutdown();
    },
  };
}

Deno.test({
  name:
    "a WebSocket server of 100/s offered 200/s is saturated, though every echo comes back in the drain",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = slowEcho(100);
    try {
      const r = await wsLoad({
        urls: [server.url],
        connections: 2,
        rate: 200,
        durationS: 1,
        drainS: 4,
      });
      assert.equal(r.errors, 0, JSON.stringify(r.errorKinds));
      assert.equal(r.extra?.echoed, 200, "every message was echoed, late");
      assert.ok(r.achievedRate <= 120, `achieved ${r.achievedRate}/s`);
      const spec = {
        seq: 1,
        workload: "websocket",
        mesh: "baseline",
        iteration: 1,
        point: {
          mode: "fixed-rate" as const,
          tool: "ws-client",
          rate: 200,
          connections: 2,
          durationS: 1,
        },
      };
      const c = classify(spec, r, { saturationPct: 2, minSuccessPct: 99.9 });
      assert.equal(c.status, "saturated", c.reason ?? "");
    } finally {
      await server.stop();
    }
  },
});
