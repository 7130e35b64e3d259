// fortio's command and JSON report, on reports of real fortio 1.66.5 runs against a loopback
// server (testdata/fortio_http_*.json).
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { throws } from "node:assert/strict";
import { fortioCommand, fortioConnections, parseFortioJson } from "./fortio.ts";
import { resolveBinDir } from "../testenv/testenv.ts";
import { percentile } from "../histogram.ts";
import type { LoadPoint } from "../types.ts";
import { skipReason } from "../../tests/skip.ts";

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

Deno.test("fortio command lines: 10 µs histogram, paced without catch-up, -c for the tail", () => {
  assertEquals(fortioCommand(fixed, { address: "http://s:80/", protocol: "http" }), [
    "fortio",
    "load",
    "-json",
    "-",
    "-qps",
    "50",
    "-c",
    "3",
    "-t",
    "1s",
    "-r",
    "0.00001",
    "-p",
    "50,75,90,99,99.9",
    "-uniform",
    "-nocatchup",
    "-loglevel",
    "Warning",
    "http://s:80/",
  ]);
  // Little's law: 1,000/s with a 50 ms tail keeps 50 requests in flight.
  assertEquals(fortioConnections({ ...fixed, rate: 1000 }), 50);
  assertEquals(fortioConnections({ ...fixed, rate: 10, connections: 8 }), 8);
  const g = fortioCommand(max, { address: "s:9000", protocol: "grpc" });
  assertEquals(g.slice(4, 8), ["-qps", "0", "-c", "2"]);
  assert(!g.includes("-nocatchup"), "max throughput has no schedule to keep");
  assertEquals(g.slice(-3), ["-grpc", "-ping", "s:9000"]);
  throws(
    () => fortioCommand({ ...fixed, rate: null }, { address: "x", protocol: "http" }),
    /positive "rate"/,
  );
});

Deno.test("fortio holds the connection sweep to its count and sends a payload point's body", () => {
  const sweep = { ...fixed, rate: 1000, connections: 1, sweep: "connections" as const };
  assertEquals(fortioConnections(sweep), 1);
  const http = { address: "http://s:80/", protocol: "http" as const };
  const payload = fortioCommand({ ...fixed, payloadBytes: 16384 }, http);
  assertEquals(payload.slice(-3), ["-payload-size", "16384", "http://s:80/"]);
  assert(!fortioCommand({ ...fixed, payloadBytes: 0 }, http).includes("-payload-size"));
});

Deno.test("a successful fixed-rate report: paced, not open loop; percentiles as fortio's", () => {
  const r = parseFortioJson(read("fortio_http_ok.json"), fixed, "http");
  assertEquals([r.tool, r.toolVersion, r.timing], ["fortio", "1.66.5", "paced"]);
  assertEquals([r.operations, r.errors, r.connections, r.requestedRate], [50, 0, 2, 50]);
  assert(Math.abs(r.achievedRate - 50) < 0.1);
  assertEquals(r.latency.total, 50);
  assertEquals(r.bytesIn, 5850);
  // This report was taken at fortio's default 1 ms resolution: 47 of 50 requests in one
  // bucket. Read at the bucket's end, p50 was 1,000 µs where fortio says 541 µs.
  const own = r.extra!.fortioPercentiles as Record<string, number>;
  for (const p of [50, 75, 90, 99]) {
    const ours = percentile(r.latency, p);
    const theirs = own[String(p)] * 1e6;
    assert(Math.abs(ours - theirs) <= 0.05 * theirs, `p${p}: ${ours} µs vs fortio ${theirs} µs`);
  }
  assert(r.latency.max >= 3198);
});

const fortioBin = `${resolveBinDir()}/fortio`;
let noFortio: string | null = null;
try {
  Deno.statSync(fortioBin);
} catch {
  noFortio = `fortio missing at "${fortioBin}" (run: bash .ci/install_testenv.sh)`;
}
skipReason("real fortio percentile test", noFortio);

Deno.test({
  name:
    "on sub-millisecond data from the real fortio, parsed percentiles are within 5 % of fortio's",
  ignore: noFortio !== null,
  async fn() {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const server = new Deno.Command(fortioBin, {
      args: [
        "server",
        "-http-port",
        `127.0.0.1:${port}`,
        "-grpc-port",
        "disabled",
        "-redirect-port",
        "disabled",
        "-loglevel",
        "Error",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      for (let i = 0; i < 100; i++) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const point: LoadPoint = { ...fixed, rate: 400, durationS: 2 };
      const cmd = fortioCommand(point, { address: `http://127.0.0.1:${port}/`, protocol: "http" });
      const out = await new Deno.Command(fortioBin, { args: cmd.slice(1), stdout: "piped" })
        .output();
      assert(out.success, "fortio load failed");
      const r = parseFortioJson(new TextDecoder().decode(out.stdout), point, "http");
      assert(r.operations > 100, `${r.operations} requests`);
      const own = r.extra!.fortioPercentiles as Record<string, number>;
      // Loopback: the median is sub-millisecond, where the default 1 ms buckets saw nothing.
      assert(own["50"] < 0.001, `fortio p50 ${own["50"]} s is not sub-millisecond`);
      for (const p of [50, 75, 90, 99]) {
        const ours = percentile(r.latency, p);
        const theirs = own[String(p)] * 1e6;
        assert(
          Math.abs(ours - theirs) <= 0.05 * theirs,
          `p${p}: ${ours} µs vs fortio's ${theirs} µs`,
        );
      }
    } finally {
      server.kill();
      await server.status;
    }
  },
});

Deno.test("HTTP errors are counted by status, not dropped", () => {
  const r = parseFortioJson(read("fortio_http_503.json"), max, "http");
  assertEquals(r.timing, "closed-loop");
  assertEquals(r.requestedRate, null);
  assertEquals(r.errors, 20);
  assertEquals(r.errorKinds, { "503": 20 });
  assertEquals(r.operations, 20);
  // fortio's ActualQPS (468.9) counts the 503s; none of them is an achieved request.
  assertEquals(r.achievedRate, 0);
  throws(() => parseFortioJson("panic: boom", fixed, "http"), /Cannot parse fortio output/);
});

Deno.test("a payload point with a payload directory POSTs its file as JSON; without one, random bytes", () => {
  const point: LoadPoint = { ...fixed, payloadBytes: 16384 };
  const cmd = fortioCommand(point, {
    address: "http://s:80/predict",
    protocol: "http",
    payloadDir: "/p",
  });
  assertEquals(cmd.slice(-5), [
    "-payload-file",
    "/p/payload-16384.json",
    "-content-type",
    "application/json",
    "http://s:80/predict",
  ]);
  assert(!cmd.includes("-payload-size"));
  assertEquals(
    fortioCommand(point, { address: "http://s:80/", protocol: "http" }).slice(-3),
    ["-payload-size", "16384", "http://s:80/"],
  );
  throws(
    () => fortioCommand(point, { address: "s:9000", protocol: "grpc", payloadDir: "/p" }),
    /a payload file needs an HTTP target/,
  );
});

Deno.test("an h2c point: fortio -h2 to the h2c address; refused without one; its report must say H2", () => {
  const h2c = { ...fixed, payloadBytes: 1024, httpProtocol: "h2c" as const };
  const target = {
    address: "http://s:80/",
    protocol: "http" as const,
    h2cAddress: "http://s:8081/",
  };
  assertEquals(
    fortioCommand(h2c, target).slice(-4),
    ["-h2", "-payload-size", "1024", "http://s:8081/"],
  );
  assert(!fortioCommand({ ...fixed, payloadBytes: 1024 }, target).includes("-h2"));
  throws(
    () => fortioCommand(h2c, { address: "http://s:80/", protocol: "http" }),
    /h2c point: the target http:\/\/s:80\/ has no h2c address/,
  );
  // A report of a run without -h2 (H2 false) is no h2c result.
  throws(() => parseFortioJson(read("fortio_http_ok.json"), h2c, "http"), /"H2": false/);
});

/** The cluster's nginx config (manifests/workloads/http.yaml) on loopback ports, as a full file. */
async function clusterNginxConfig(dir: string, http: number, h2c: number): Promise<string> {
  const { parseAllDocuments } = await import("yaml");
  const text = await Deno.readTextFile(
    new URL("../../manifests/workloads/http.yaml", import.meta.url),
  );
  const cm = parseAllDocuments(text).map((d) => d.toJS()).find((o) =>
    o?.kind === "ConfigMap" && o.metadata.name === "http-server-nginx"
  );
  const conf = (cm.data["default.conf"] as string)
    .replace("listen 80;", `listen 127.0.0.1:${http};`)
    .replace("listen 8081 http2;", `listen 127.0.0.1:${h2c} http2;`);
  return `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n` +
    `events {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n${conf}}\n`;
}

Deno.test({
  name: "the cluster's nginx config serves h2c on its h2c port, and real fortio -h2 loads it " +
    "as HTTP/2 where fortio without -h2 fails",
  ignore: noFortio !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { h2cGet, H2_SERVER_PROTOCOL } = await import("../workloads/http.ts");
    const dir = await Deno.makeTempDir({ prefix: "meshbench-nginx-h2c-" });
    const free = () => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const p = (l.addr as Deno.NetAddr).port;
      l.close();
      return p;
    };
    const [http, h2c] = [free(), free()];
    await Deno.writeTextFile(`${dir}/nginx.conf`, await clusterNginxConfig(dir, http, h2c));
    const nginx = new Deno.Command("nginx", {
      args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port: h2c })).close();
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assertEquals(await h2cGet(h2c, "/protocol"), { status: 200, body: H2_SERVER_PROTOCOL });
      const point: LoadPoint = {
        ...fixed,
        rate: 20,
        payloadBytes: 1024,
        httpProtocol: "h2c",
      };
      const target = {
        address: `http://127.0.0.1:${http}/`,
        protocol: "http" as const,
        h2cAddress: `http://127.0.0.1:${h2c}/`,
      };
      const run = async (cmd: string[]) => {
        const out = await new Deno.Command(fortioBin, {
          args: cmd.slice(1),
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { ok: out.success, stdout: new TextDecoder().decode(out.stdout) };
      };
      const h2 = await run(fortioCommand(point, target));
      assert(h2.ok, "fortio -h2 failed");
      const r = parseFortioJson(h2.stdout, point, "http");
      assertEquals([r.errors, r.operations > 0, r.extra?.httpProtocol], [0, true, "h2c"]);
      // The same point without -h2 (HTTP/1.1) to the h2c port gets no answer from nginx.
      const h1 = await run(fortioCommand({ ...point, httpProtocol: undefined }, {
        ...target,
        address: target.h2cAddress,
      }));
      const failed = !h1.ok || parseFortioJson(h1.stdout, fixed, "http").errors > 0;
      assert(failed, "HTTP/1.1 to the h2c port succeeded");
    } finally {
      nginx.kill("SIGTERM");
      await nginx.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
