/**
 * The one command runner, passed in so tests can record instead: non-zero exit throws with the
 * command and the tail of stderr; tolerated exit codes are explicit; every
 * child is registered so Ctrl-C or a crash stops all of them.
 *
 * @module
 */

/** Options for {@linkcode Runner.run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Data written to the child's stdin. */
  stdin?: string;
  /** Exit codes that do not throw (0 always accepted). */
  okCodes?: number[];
  /** Kill the command after this many milliseconds; it then throws. */
  timeoutMs?: number;
  /** Called with each line of stdout/stderr as it arrives (progress). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Called with the child's pid right after it starts (resource sampling). */
  onSpawn?: (pid: number) => void;
  /** Kills the command when aborted (Ctrl-C); it then throws. */
  signal?: AbortSignal;
}

/** What a finished command returned. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs commands; injectable so tests can record instead of run. */
export interface Runner {
  run(cmd: string[], options?: RunOptions): Promise<CommandResult>;
}

/** A command failed: carries the command line, the exit code and the stderr tail. */
export class CommandError extends Error {
  constructor(
    readonly command: string[],
    readonly code: number,
    readonly stderrTail: string,
    reason?: string,
  ) {
    super(
      `Command failed (${reason ?? `exit ${code}`}): ${command.join(" ")}` +
        (stderrTail ? `\n${stderrTail}` : ""),
    );
    this.name = "CommandError";
  }
}

/** Last `lines` non-empty lines of a text. */
export function tail(text: string, lines = 12): string {
  return text.split("\n").filter((l) => l.trim() !== "").slice(-lines).join("\n");
}

const live = new Set<Deno.ChildProcess>();

/** Sends SIGTERM (then SIGKILL after `graceMs`) to every child still running. */
export async function killAllChildren(graceMs = 2000): Promise<void> {
  const children = [...live];
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  const deadline = Date.now() + graceMs;
  while (live.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

/** Registers a long-running child (e.g. a server) for cleanup on exit. */
export function trackChild(child: Deno.ChildProcess): void {
  live.add(child);
  child.status.finally(() => live.delete(child));
}

/**
 * Spawns `cmd` with `options` and registers it for cleanup on exit; a binary that is not
 * installed throws `notInstalled` of a message that says so.
 */
export function spawnTracked(
  cmd: string[],
  options: Omit<Deno.CommandOptions, "args">,
  notInstalled: (message: string) => Error,
): Deno.ChildProcess {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd[0], { ...options, args: cmd.slice(1) }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw notInstalled(`"${cmd[0]}" is not installed or not on PATH`);
    }
    throw e;
  }
  trackChild(child);
  return child;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  name: "stdout" | "stderr",
  onLine?: RunOptions["onLine"],
): Promise<string> {
  const decoder = new TextDecoder();
  let all = "";
  let pending = "";
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    all += text;
    if (onLine) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const p of parts) onLine(p, name);
    }
  }
  if (onLine && pending) onLine(pending, name);
  return all;
}

/** The real runner, on `Deno.Command`. */
export const realRunner: Runner = {
  async run(cmd, options = {}) {
    if (cmd.length === 0) throw new Error("Cannot run an empty command");
    const child = spawnTracked(cmd, {
      cwd: options.cwd,
      env: options.env,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }, (message) => new CommandError(cmd, -1, "", message));
    options.onSpawn?.(child.pid);
    const onAbort = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }, options.timeoutMs);
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(options.stdin));
      await w.close();
    }
    const [stdout, stderr, status] = await Promise.all([
      pump(child.stdout, "stdout", options.onLine),
      pump(child.stderr, "stderr", options.onLine),
      child.status,
    ]);
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    const code = status.signal ? 128 + (status.signal === "SIGKILL" ? 9 : 15) : status.code;
    if (options.signal?.aborted) {
      throw new CommandError(cmd, code, tail(stderr), "interrupted");
    }
    if (timedOut) {
      throw new CommandError(cmd, code, tail(stderr), `timed out after ${options.timeoutMs} ms`);
    }
    if (code !== 0 && !(options.okCodes ?? []).includes(code)) {
      throw new CommandError(cmd, code, tail(stderr || stdout));
    }
    return { code, stdout, stderr };
  },
};
