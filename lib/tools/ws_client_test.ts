import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
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
      assertEquals(command[1], "run");
      assertEquals(r.tool, "ws-client");
      assertEquals(r.timing, "intended-send");
      assertEquals(r.requestedRate, 300);
      assertEquals(r.operations, 300);
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals(r.latency.total, 300);
      assertEquals(r.bytesOut, 300 * 128);
      assertEquals(r.bytesIn, 300 * 128);
      assert(r.achievedRate > 290, `achieved ${r.achievedRate}`);
      const conns = r.extra?.connections as WsConnectionStats;
      assertEquals(conns, { requested: 6, opened: 6, failed: 0, closedEarly: 0, reasons: {} });
      assertEquals((r.extra?.connect as Histogram).total, 6);
      assertEquals((r.extra?.sendLag as Histogram).total, 300);
      // Service time (from the actual send) beside the response time (from the scheduled
      // send): per message, response = send lag + service, so no quantile of the service
      // time is above the same quantile of the response time.
      const service = r.extra?.serviceTime as Histogram;
      assertEquals(service.total, 300);
      for (const p of [50, 90, 99, 100]) {
        assert(percentile(service, p) <= percentile(r.latency, p), `p${p}`);
      }
      // Message by message, response time = send lag + service time: their exact sums add up
      // (a service time timed from the scheduled send would count the send lag twice).
      const lag = r.extra?.sendLag as Histogram;
      const lagUs = lag.sum!, serviceUs = service.sum!, responseUs = r.latency.sum!;
      assert(
        Math.abs(lagUs + serviceUs - responseUs) < 1,
        `send lag ${lagUs} us + service ${serviceUs} us vs response ${responseUs} us`,
      );
      // Loopback echo: the median round trip is well under 50 ms even on a busy machine.
      assert(percentile(r.latency, 50) < 50_000, `p50 ${percentile(r.latency, 50)} us`);
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
  assertEquals(conns.opened, 0);
  assertEquals(conns.failed, 3);
  assertEquals(Object.values(conns.reasons).reduce((a, b) => a + b, 0), 3);
  assertEquals(r.errorKinds, { "not-sent:connect-failed": 30 });
  assertEquals(r.errors, 30);
  assertEquals(r.operations, 30);
  assertEquals(r.latency.total, 0);
  assertEquals(r.achievedRate, 0);
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
      assertEquals(conns.opened, 4);
      assertEquals(conns.closedEarly, 2, JSON.stringify(conns));
      assertEquals(r.operations, 300, "every scheduled message is accounted for");
      assertEquals(r.latency.total + r.errors, 300);
      assert(r.latency.total >= 150 + 40, `echoed ${r.latency.total}`);
      assert((r.errorKinds["not-sent:closed"] ?? 0) > 50, JSON.stringify(r.errorKinds));
    } finally {
      await a.stop();
      await b.stop();
    }
  },
});

Deno.test("ws client options are checked, naming the field and value", () => {
  const ok = { urls: ["ws://127.0.0.1:1/"], connections: 1, rate: 1, durationS: 1 };
  throws(
    () => wsClientCommand({ ...ok, connections: 0 }),
    /"connections" must be a positive integer, got 0/,
  );
  throws(
    () => wsClientCommand({ ...ok, urls: ["http://x/"] }),
    /"urls" must be ws:\/\/ or wss:\/\/ URLs, got "http:\/\/x\/"/,
  );
  throws(() => wsClientCommand({ ...ok, messageBytes: 4 }), /at least 8, got 4/);
  throws(() => parseWsClientOutput("error: boom"), /Cannot parse WebSocket client output/);
  throws(
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
      assertEquals(c.tool, "ws-client");
      assertEquals(c.requestedRate, 250);
      assertEquals(c.connections, 5);
      assertEquals(c.operations, a.operations + b.operations);
      assertEquals(c.operations, 250);
      assertEquals(c.errors, 0);
      assertEquals(
        c.achievedRate,
        250 * Math.min(a.achievedRate / 150, b.achievedRate / 100),
        "the weakest client's share",
      );
      assertEquals(c.durationS, Math.max(a.durationS, b.durationS));
      // The merged latency histogram holds every sample of both: its bounds and total are
      // those of the union, and its p50 lies between the two clients' p50s.
      assertEquals(c.latency.total, a.latency.total + b.latency.total);
      assertEquals(c.latency.max, Math.max(a.latency.max, b.latency.max));
      assertEquals(c.latency.min, Math.min(a.latency.min, b.latency.min));
      const p50 = percentile(c.latency, 50);
      const [lo, hi] = [percentile(a.latency, 50), percentile(b.latency, 50)].sort((x, y) => x - y);
      assert(p50 >= lo && p50 <= hi, `${p50} outside [${lo}, ${hi}]`);
      const extra = c.extra as {
        echoed: number;
        connections: WsConnectionStats;
        connect: Histogram;
        perClient: unknown[];
      };
      assertEquals(extra.echoed, 250);
      assertEquals(extra.connections.opened, 5);
      assertEquals(extra.connect.total, 5);
      assertEquals(extra.perClient.length, 2);
      assertEquals(combineWsResults([a]), a);
      throws(() => combineWsResults([]), /got none/);
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
  assertEquals(c.requestedRate, 500);
  assertEquals(c.achievedRate, 480);
  assertEquals((c.extra as { achievedRateSum: number }).achievedRateSum, 490);
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
      assertEquals(r.errors, 0, JSON.stringify(r.errorKinds));
      assertEquals(r.extra?.echoed, 200, "every message was echoed, late");
      assert(r.achievedRate <= 120, `achieved ${r.achievedRate}/s`);
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
      assertEquals(c.status, "saturated", c.reason ?? "");
    } finally {
      await server.stop();
    }
  },
});
