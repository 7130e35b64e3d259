/**
 * A real nginx on a free loopback port for tests of the load-tool adapters: the same server
 * the http workload runs (1 kB body), optionally with a `limit_req` that makes it a server
 * of known capacity (requests beyond the rate wait in nginx's queue, none is refused).
 *
 * @module
 */
import { join } from "node:path";
import { findBinary } from "../binaries.ts";
import { freePort, startServer } from "../process.ts";

/** A started test nginx. */
export interface TestNginx {
  port: number;
  url: string;
  /** Stops nginx and removes its directory. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startTestNginx}. */
export interface TestNginxOptions {
  /**
   * Serve at most this many requests per second (nginx `limit_req`, no `nodelay`): the rest
   * queue (up to `queue` requests) and are answered at that pace.
   */
  capacityPerS?: number;
  /** Requests that may wait for their turn under `capacityPerS` (default 1,000,000). */
  queue?: number;
  /** CPUs to pin nginx to (`taskset -c` list, e.g. "0"); unpinned when absent. */
  cpus?: string;
}

/** What a test's own nginx serves: the parts of `nginx.conf` that differ between tests. */
export interface NginxConfig {
  /** Directives of the `http` block before the server block (zones, log formats, logs). */
  http?: (dir: string) => string;
  /** The `server` block's body after its `listen` directive. */
  server: (dir: string) => string;
  /** Files to write into nginx's directory before it starts (name: contents). */
  files?: Record<string, string>;
  /** CPUs to pin nginx to (`taskset -c` list); unpinned when absent. */
  cpus?: string;
  /** Worker processes (default 1). */
  workers?: number;
}

/** A started nginx of {@linkcode startNginx}. */
export interface StartedNginx {
  port: number;
  /** The master process (its workers are its children). */
  pid: number;
  /** Its directory: config, pid, the files given and any log the config writes there. */
  dir: string;
  /** Stops nginx (its logs are flushed) and keeps the directory; a second call is a no-op. */
  halt(): Promise<void>;
  /** Stops nginx and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts nginx (`nginx` on PATH or in /usr/sbin) on a free port of 127.0.0.1 in a temporary
 * directory of its own (pid and temp paths inside it, errors to stderr), with the `http` and
 * `server` parts of its config from `config`. Resolves once a worker process has started.
 */
export async function startNginx(config: NginxConfig): Promise<StartedNginx> {
  const nginx = findBinary("nginx");
  if (!nginx) throw new Error("Cannot start the test nginx: nginx is not installed");
  const dir = await Deno.makeTempDir({ prefix: "meshbench-nginx-" });
  const port = freePort();
  for (const [name, text] of Object.entries(config.files ?? {})) {
    await Deno.writeTextFile(join(dir, name), text);
  }
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `worker_processes ${config.workers ?? 1};
daemon off;
pid ${join(dir, "nginx.pid")};
error_log stderr notice;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  ${config.http?.(dir) ?? ""}
  server {
    listen 127.0.0.1:${port} backlog=4096;
    ${config.server(dir)}
  }
}
`,
  );
  // taskset execs nginx, so the pid stays nginx's and its workers inherit the affinity.
  const pin = config.cpus === undefined ? [] : ["taskset", "-c", config.cpus];
  const server = await startServer([...pin, nginx, "-p", dir, "-c", conf, "-e", "stderr"], {
    name: "test nginx",
    ready: /start worker process/,
  });
  return {
    port,
    pid: server.pid,
    dir,
    halt: () => server.stop(),
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Starts nginx (`nginx` on PATH or in /usr/sbin) serving `GET /` on 127.0.0.1. */
export async function startTestNginx(options: TestNginxOptions = {}): Promise<TestNginx> {
  const limit = options.capacityPerS;
  const zone = limit ? `limit_req_zone $server_port zone=cap:1m rate=${limit}r/s;` : "";
  const req = limit ? `limit_req zone=cap burst=${options.queue ?? 1_000_000};` : "";
  const nginx = await startNginx({
    http: () => `access_log off;\n  keepalive_requests 1000000;\n  ${zone}`,
    // A static file, not `return`: `return` answers in the rewrite phase, before limit_req.
    server: (dir) =>
      `location / { ${req} root ${dir}; default_type text/plain; try_files /body.txt =404; }`,
    files: { "body.txt": "x".repeat(1023) + "\n" },
    cpus: options.cpus,
  });
  return { port: nginx.port, url: `http://127.0.0.1:${nginx.port}/`, stop: nginx.stop };
}
