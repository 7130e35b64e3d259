/**
 * meshbench's WebSocket echo server: every message on a WebSocket at any path is sent back
 * as it came (text or binary); a plain `GET` answers 200 "ok" (health probes). One process is
 * one replica.
 *
 * ```sh
 * deno run --allow-net servers/ws_echo.ts --port 18200 [--host 127.0.0.1] [--name r0]
 * ```
 *
 * Prints `ws_echo <name> listening on <host>:<port>` once it accepts connections.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Counters of one server, reported on `GET /stats`. */
export interface EchoStats {
  connections: number;
  open: number;
  messages: number;
  errors: number;
}

/** Handles one request: upgrades WebSockets and echoes, answers plain HTTP for probes. */
export function echoHandler(stats: EchoStats, name: string): (req: Request) => Response {
  return (req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      const path = new URL(req.url).pathname;
      if (path === "/stats") return Response.json({ name, ...stats });
      return new Response(`ok ${name}\n`, { headers: { "content-type": "text/plain" } });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    stats.connections++;
    socket.onopen = () => stats.open++;
    socket.onmessage = (e) => {
      stats.messages++;
      socket.send(e.data);
    };
    socket.onerror = () => stats.errors++;
    socket.onclose = () => stats.open--;
    return response;
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      name: { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(
      `Cannot start ws_echo: "--port" must be a TCP port, got ${JSON.stringify(values.port)}`,
    );
    Deno.exit(2);
  }
  const name = values.name ?? `${values.host}:${port}`;
  const stats: EchoStats = { connections: 0, open: 0, messages: 0, errors: 0 };
  const server = Deno.serve({
    hostname: values.host,
    port,
    onListen: ({ hostname, port }) =>
      console.log(`ws_echo ${name} listening on ${hostname}:${port}`),
  }, echoHandler(stats, name));
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
}
