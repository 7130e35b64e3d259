/**
 * Starting processes that outlive one command: servers in the foreground of this process,
 * waited for, bounded, until they print the line that says they serve (`startServer`), and
 * daemons detached in their own session that outlive a stage (`spawnDaemon`). Commands that
 * run to completion go through the runner of `command.ts`.
 *
 * @module
 */
import { spawnTracked, tail } from "./command.ts";

/** A started server process. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** Everything it printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves when it exits, with its exit code (128 + signal number when signalled). */
  readonly exited: Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /** Name used in messages. */
  name: string;
  /** A line matching this on stdout or stderr means the server is ready. */
  ready: RegExp;
  /** Give up waiting for `ready` after this long (default 15 s). */
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };

/**
 * Spawns `cmd` and waits until it prints a line matching `options.ready`. Throws, with the
 * tail of its output, when it exits first or the wait times out (and then kills it).
 */
export async function startServer(cmd: string[], options: StartOptions): Promise<ServerProcess> {
  const child = spawnTracked(
    cmd,
    { cwd: options.cwd, env: options.env, stdin: "null", stdout: "piped", stderr: "piped" },
    (message) => new Error(`Cannot start ${options.name}: ${message}`),
  );
  let out = "";
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let pending = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      // Bounded: a chatty server must not grow memory without limit.
      out = (out + text).slice(-64 * 1024);
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      if (lines.some((l) => options.ready.test(l))) readyResolve();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (s) => {
    await pumps.catch(() => {});
    return s.signal ? 128 + (SIGNALS[s.signal] ?? 0) : s.code;
  });
  const stop = async (graceMs = 3000) => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    await exited;
    clearTimeout(timer);
  };
  const timeoutMs = options.timeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    exited.then((code) => ({ code })),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    await stop(500);
    throw new Error(
      `Cannot start ${options.name}: no line matching ${options.ready} within ${timeoutMs} ms` +
        `: ${cmd.join(" ")}\n${tail(out)}`,
    );
  }
  if (outcome !== "ready") {
    throw new Error(
      `Cannot start ${options.name}: it exited with code ${outcome.code} before it was ready` +
        `: ${cmd.join(" ")}\n${tail(out)}`,
    );
  }
  return { name: options.name, pid: child.pid, output: () => out, exited, stop };
}

/** Options of {@linkcode spawnDaemon}. */
export interface DaemonOptions {
  cwd?: string;
  /** Added to this process's environment for the daemon. */
  env?: Record<string, string>;
}

/**
 * Starts `cmd` detached in a new session (it outlives this process and its process group),
 * stdin from /dev/null, stdout and stderr appended to `log`; returns its pid. The shell that
 * starts it prints its own pid and then execs `cmd` in place, so the pid is `cmd`'s own even
 * where `setsid` has to fork. The one way meshbench starts a daemon: the local target's
 * servers and proxies, the test control plane and the real node's processes.
 */
export async function spawnDaemon(
  cmd: string[],
  log: string,
  options: DaemonOptions = {},
): Promise<number> {
  const script = 'echo $$; log=$MB_LOG; unset MB_LOG; exec "$@" >>"$log" 2>&1 </dev/null';
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", script, "sh", ...cmd],
    cwd: options.cwd,
    env: { ...options.env, MB_LOG: log },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // The shell's stdout closes when it execs `cmd` with its output to the log.
  const text = await new Response(child.stdout).text();
  child.unref();
  // Reap it if it dies while we are alive, so liveness checks see it gone.
  child.status.catch(() => {});
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error(`Cannot start "${cmd[0]}" detached: the shell printed no pid ("${text}")`);
  }
  return pid;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; it may be taken again before use). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
