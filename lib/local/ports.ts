/**
 * The ports a local run needs, probed and locked before anything is created.
 *
 * Each workload gets a block of 100 ports from `local.basePort`. Before a run
 * directory or a process exists, {@linkcode reservePorts} takes an exclusive lock
 * per port (an advisory `flock` on a file in the host's temp directory, released by
 * the kernel when meshbench exits, however it exits) and then checks that each port
 * can be bound. Two runs started at the same moment on the same ports cannot both
 * pass: the second finds a lock and is refused, naming the first run.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError } from "../config.ts";
import type { BenchConfig } from "../config.ts";
import { isAlive } from "./proc.ts";
import { ownerAlive } from "../run_owner.ts";
import { workloadsByName } from "../workloads/mod.ts";

/** Ports of workload number `wi` (its block of 100 from `local.basePort`). */
export function workloadPorts(config: BenchConfig, wi: number) {
  const base = config.local.basePort + wi * 100;
  return {
    server: (r: number) => base + r,
    sidecarIn: (r: number) => base + 10 + r,
    sidecarOut: base + 20,
    nodeIn: (r: number) => base + 30 + r,
    nodeOut: base + 40,
    /** Admin interface (stats) of a server replica's Envoy sidecar. */
    sidecarAdmin: (r: number) => base + 50 + r,
    /** Admin interface of the one client Envoy sidecar (workload 0's block holds it). */
    clientAdmin: base + 60,
    /** A replica's h2c listener, beside its own (a workload with `h2c` enabled). */
    h2cServer: (r: number) => base + 70 + r,
    /** A server sidecar's h2c mTLS listener (the same Envoy as its `sidecarIn`). */
    h2cSidecarIn: (r: number) => base + 75 + r,
    /** The node proxy's h2c mTLS inbound port of a replica. */
    h2cNodeIn: (r: number) => base + 80 + r,
    h2cSidecarOut: base + 90,
    h2cNodeOut: base + 91,
  };
}

/** Most replicas a workload with h2c can have: its h2c port ranges hold five each. */
export const MAX_H2C_REPLICAS = 5;

/** One port of the plan and what will listen on it. */
export interface PlannedPort {
  port: number;
  what: string;
}

/** Every port the local deploy of `config` will listen on, sorted. */
export function portPlan(config: BenchConfig): PlannedPort[] {
  const out: PlannedPort[] = [];
  const sidecar = config.meshes.includes("sidecar-emu");
  const node = config.meshes.includes("node-proxy-emu");
  workloadsByName(config.workloads).forEach((w, wi) => {
    const p = workloadPorts(config, wi);
    for (let r = 0; r < w.replicas; r++) {
      out.push({ port: p.server(r), what: `${w.name} server ${r}` });
      if (sidecar) {
        out.push({ port: p.sidecarIn(r), what: `${w.name} server sidecar ${r}` });
        out.push({ port: p.sidecarAdmin(r), what: `${w.name} server sidecar ${r} admin` });
      }
      if (node) out.push({ port: p.nodeIn(r), what: `${w.name} node proxy inbound ${r}` });
    }
    if (w.h2c?.enabled(config)) {
      if (w.replicas > MAX_H2C_REPLICAS) {
        throw new RangeError(
          `Cannot plan h2c ports of workload "${w.name}": ${w.replicas} replicas, at most ${MAX_H2C_REPLICAS}`,
        );
      }
      for (let r = 0; r < w.replicas; r++) {
        out.push({ port: p.h2cServer(r), what: `${w.name} server ${r} h2c` });
        if (sidecar) {
          out.push({ port: p.h2cSidecarIn(r), what: `${w.name} server sidecar ${r} h2c` });
        }
        if (node) out.push({ port: p.h2cNodeIn(r), what: `${w.name} node proxy inbound ${r} h2c` });
      }
      if (sidecar) out.push({ port: p.h2cSidecarOut, what: `${w.name} client sidecar h2c` });
      if (node) out.push({ port: p.h2cNodeOut, what: `${w.name} client node proxy h2c` });
    }
    if (sidecar) out.push({ port: p.sidecarOut, what: `${w.name} client sidecar` });
    if (sidecar && wi === 0) out.push({ port: p.clientAdmin, what: "client sidecar admin" });
    if (node) out.push({ port: p.nodeOut, what: `${w.name} client node proxy` });
  });
  return out.sort((a, b) => a.port - b.port);
}

/** Who holds (or last held) a port: written into its lock file. */
export interface PortOwner {
  runId: string;
  runDir: string;
  pid: number;
  since: string;
}

/** Where port locks live: one directory per host (and user), shared by every clone. */
export function lockDir(): string {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  return join(tmp, `meshbench-ports-${Deno.uid() ?? "user"}`);
}

function lockFile(port: number): string {
  return join(lockDir(), `${port}.lock`);
}

async function readOwner(port: number): Promise<PortOwner | undefined> {
  try {
    const o = JSON.parse(await Deno.readTextFile(lockFile(port)));
    return typeof o?.runId === "string" && typeof o?.pid === "number" ? o : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The live holder of a locked port. The holder writes its name into the file right
 * after locking it, so wait (bounded) until the file names a live process.
 */
async function lockHolder(port: number): Promise<PortOwner | undefined> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const o = await readOwner(port);
    if (o && isAlive(o.pid)) return o;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function describeOwner(o: PortOwner): string {
  return `meshbench run ${o.runId} (${o.runDir}, pid ${o.pid}, since ${o.since})`;
}

/** Who holds a busy port, when a meshbench run that is still going does. */
async function busyBy(port: number): Promise<string> {
  const o = await readOwner(port);
  if (!o) return "";
  try {
    const m = JSON.parse(await Deno.readTextFile(join(o.runDir, "manifest.json")));
    if (m?.status !== "running") return "";
    if (m.owner && !ownerAlive(m.owner)) {
      return ` by meshbench run ${o.runId}, whose meshbench (pid ${m.owner.pid}) is gone; stop ` +
        `what it left with: deno task cleanup --run ${o.runDir}`;
    }
    if (!m.owner) {
      return ` by meshbench run ${o.runId}, deployed and not cleaned up; stop it with: ` +
        `deno task cleanup --run ${o.runDir}`;
    }
    return ` by ${describeOwner(o)}`;
  } catch { /* that run is gone: someone else holds the port */ }
  return "";
}

function range(plan: PlannedPort[]): string {
  return `${plan[0].port}-${plan[plan.length - 1].port}`;
}

/** Ports held for a run; released when meshbench exits, or by {@linkcode release}. */
export interface PortReservation {
  ports: PlannedPort[];
  release(): void;
}

/**
 * Locks every port of `config`'s plan for `owner`, then checks that each can be
 * bound on 127.0.0.1. Creates no run directory and starts no process. Throws a
 * `ConfigError` on `local.basePort` (exit 2) naming the port and who has it.
 */
export async function reservePorts(
  config: BenchConfig,
  owner: Omit<PortOwner, "pid" | "since">,
): Promise<PortReservation> {
  const plan = portPlan(config);
  const base = config.local.basePort;
  if (plan.length === 0) return { ports: plan, release: () => {} };
  const last = plan[plan.length - 1].port;
  if (last > 65535) {
    throw new ConfigError(
      "local.basePort",
      `${base} leaves no room for the plan: it needs ports up to ${last} (> 65535)`,
    );
  }
  await Deno.mkdir(lockDir(), { recursive: true });
  const me = new TextEncoder().encode(
    JSON.stringify({ ...owner, pid: Deno.pid, since: new Date().toISOString() }) + "\n",
  );
  const held: Deno.FsFile[] = [];
  const release = () => {
    for (const f of held.splice(0)) {
      try {
        f.close();
      } catch { /* already closed */ }
    }
  };
  try {
    // In port order, so two runs after the same ports collide on the first one.
    for (const { port, what } of plan) {
      const f = await Deno.open(lockFile(port), { create: true, write: true });
      if (!(await f.tryLock(true))) {
        f.close();
        const holder = await lockHolder(port);
        throw new ConfigError(
          "local.basePort",
          `${base}: port ${port} (${what}) is taken by ${
            holder ? describeOwner(holder) : "another meshbench run"
          }; wait for it to finish or set local.basePort to a free range (this plan needs ${
            range(plan)
          })`,
        );
      }
      held.push(f);
      await f.truncate(0);
      for (let n = 0; n < me.length;) n += await f.write(me.subarray(n));
    }
    for (const { port, what } of plan) {
      if (!portFree(port)) {
        throw new ConfigError(
          "local.basePort",
          `${base}: port ${port} (${what}) on 127.0.0.1 is already in use${await busyBy(
            port,
          )}; stop what holds it or set local.basePort to a free range (this plan needs ${
            range(plan)
          })`,
        );
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { ports: plan, release };
}

/** True when nothing listens on (or has bound) `port` on 127.0.0.1. */
export function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return false;
    throw e;
  }
}
