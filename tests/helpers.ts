/**
 * Helpers for end-to-end tests: run a task as a real subprocess with a small
 * config in a temporary results directory.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";

export const ROOT = new URL("..", import.meta.url).pathname;

/** Folders no repository walk enters: the committed fixture runs (data), tool caches. */
const SKIPPED = (path: string, name: string) =>
  path === "fixtures/runs" || name === "node_modules" || name === ".ipynb_checkpoints";

/**
 * Files under `dirs` of the repository whose path (relative to its root) `keep` accepts,
 * sorted; the fixture runs and caches are not entered.
 */
export async function repoFiles(
  dirs: readonly string[],
  keep: (path: string) => boolean,
): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(join(ROOT, rel))) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) {
        if (!SKIPPED(p, e.name)) await walk(p);
      } else if (e.isFile && keep(p)) out.push(p);
    }
  };
  for (const d of dirs) await walk(d);
  return out.sort();
}

/** A short config for tests: every stage, small windows. */
export function quickConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    workloads: ["http"],
    iterations: 3,
    warmupS: 1,
    cooldownS: 0.5,
    gapS: 0.2,
    load: {
      rates: [800],
      durationS: 3,
      connections: 8,
      throughput: { enabled: true, durationS: 2, connections: 16 },
    },
    ...overrides,
  };
}

/** Writes a config file into a fresh temp dir; returns both paths. */
export async function tempSetup(
  config: Record<string, unknown>,
): Promise<{ dir: string; configFile: string; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-test-" });
  const configFile = join(dir, "bench.yaml");
  await Deno.writeTextFile(configFile, stringify(config));
  return { dir, configFile, out: join(dir, "results") };
}

/** Starts a task script as a subprocess. */
export function startTask(script: string, args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tasks", script), ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a task to completion; returns exit code and output. */
export async function runTask(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await startTask(script, args, env).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The single run directory under `out`. */
export async function onlyRunDir(out: string): Promise<string> {
  const dirs: string[] = [];
  for await (const e of Deno.readDir(out)) if (e.isDirectory) dirs.push(join(out, e.name));
  if (dirs.length !== 1) {
    throw new Error(`expected one run directory in ${out}, got ${dirs.length}`);
  }
  return dirs[0];
}

/** Polls until `check` returns true, bounded. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * `local` config overrides with a `basePort` whose every planned port is free now (a
 * random range, retried), so tests never share a fixed port with another test. The ranges
 * (20000-32441) stay below Linux's ephemeral ports (32768-60999), which any outgoing
 * connection on the machine may take between the check and the start.
 */
export async function freeLocal(
  config: Record<string, unknown>,
): Promise<{ basePort: number; proxyThreads: number; serverWorkers: number }> {
  const { loadConfig } = await import("../lib/config.ts");
  const { portFree, portPlan } = await import("../lib/local/ports.ts");
  for (let attempt = 0; attempt < 50; attempt++) {
    const basePort = 20_000 + 100 * Math.floor(Math.random() * 120);
    // The h2c ports are planned only when h2c payload points are.
    const sweep = (config.load as { sweep?: Record<string, unknown> } | undefined)?.sweep;
    const { config: c } = await loadConfig({
      flags: {
        workloads: config.workloads,
        meshes: config.meshes,
        "local.basePort": basePort,
        ...(sweep?.payloadsBytes ? { "load.sweep.payloadsBytes": sweep.payloadsBytes } : {}),
        ...(sweep?.httpProtocols ? { "load.sweep.httpProtocols": sweep.httpProtocols } : {}),
      },
    });
    if (portPlan(c).every((p) => portFree(p.port))) {
      return { basePort, proxyThreads: 1, serverWorkers: 1 };
    }
  }
  throw new Error("no free port range found in 50 tries");
}

/** Collects a child's output stream as text while it runs. */
export function streamText(stream: ReadableStream<Uint8Array>): { text: () => string } {
  let text = "";
  const dec = new TextDecoder();
  (async () => {
    for await (const chunk of stream) text += dec.decode(chunk, { stream: true });
  })();
  return { text: () => text };
}
