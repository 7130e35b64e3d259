/**
 * The local target: real servers, real load generators and real proxies
 * (Envoy sidecars, HAProxy node proxies) standing in for meshes, all on loopback. Meshes here are EMULATIONS
 * and every result says so (`mesh.emulated: true`).
 *
 * What `deploy` starts is recorded in `<run>/local/state.json`, so each stage can
 * run as its own process and `cleanup` stops exactly those processes.
 *
 * @module
 */
import { spawnDaemon } from "../process.ts";
import { join } from "node:path";
import { readJson, writeJsonAtomic } from "../run_dir.ts";
import type { LoadOutcome, StageContext, Target } from "../target.ts";
import type { Requirement } from "../binaries.ts";
import type { MeshRef, ResourceUse, RunSpec } from "../types.ts";
import { generateCerts } from "./certs.ts";
import { proxyWindow, readProxyCounters } from "../proxy_counters.ts";
import {
  clientProxyConfig,
  clientTls,
  envoyProtocol,
  LOCAL_MESHES,
  serverProxyConfig,
  serverTls,
} from "./meshes.ts";
import { localClientSidecar, localServerSidecar } from "../envoy.ts";
import { portFree, portPlan, reservePorts, workloadPorts } from "./ports.ts";
import {
  groupAlive,
  groupMembers,
  isAlive,
  type ProcessInfo,
  ResourceSampler,
  runsCommand,
  stopGroup,
  waitForPort,
} from "./proc.ts";
import { missingTools, toolPath, type ToolSpec, versionsOf } from "../binaries.ts";
import { BASE_TOOLS, MESH_TOOLS } from "./tools.ts";
import type { Workload, WorkloadEnv } from "../workload.ts";
import { workloadsByName } from "../workloads/mod.ts";
import { type BenchConfig, ConfigError } from "../config.ts";

/** What `deploy` recorded. */
export interface LocalState {
  processes: ProcessInfo[];
  /** workload -> mesh -> ports the client sends to. */
  endpoints: Record<string, Record<string, number[]>>;
  /**
   * workload -> mesh -> ports the client sends its h2c points to, for the workloads that serve
   * h2c (`Workload.h2c`); absent in states written before h2c.
   */
  h2cEndpoints?: Record<string, Record<string, number[]>>;
  meshes: Record<string, MeshRef>;
  bin: Record<string, string>;
  stopped: boolean;
  /**
   * Directory of the proxies' stats sockets: a short temporary path (a Unix socket path has
   * at most 107 bytes, which a run directory may exceed), removed by cleanup.
   */
  statsDir?: string;
}

function statePath(runDir: string): string {
  return join(runDir, "local", "state.json");
}

/** Reads the recorded state of a local deployment. */
export async function readLocalState(runDir: string): Promise<LocalState> {
  try {
    return await readJson(statePath(runDir)) as LocalState;
  } catch (e) {
    throw new Error(
      `No local deployment recorded in "${runDir}" (run the deploy stage first): ${
        (e as Error).message
      }`,
    );
  }
}

function toolsFor(workloads: Workload[], meshes: readonly string[]): ToolSpec[] {
  const all = [
    ...BASE_TOOLS,
    ...meshes.flatMap((m) => MESH_TOOLS[m] ? [MESH_TOOLS[m]] : []),
    ...workloads.flatMap((w) => w.tools),
  ];
  return all.filter((t, i) => all.findIndex((u) => u.name === t.name) === i);
}

function checkMeshes(config: BenchConfig): void {
  for (const m of config.meshes) {
    if (!LOCAL_MESHES[m]) {
      throw new Error(
        `Unknown mesh "${m}" in "meshes" for the local target (known: ${
          Object.keys(LOCAL_MESHES).join(", ")
        }; real meshes need --target cluster)`,
      );
    }
  }
}

/** "1.40.0" from `envoy --version` ("envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"). */
export function envoyVersion(line: string): string {
  return line.match(/version: [0-9a-f]+\/([^/\s]+)\/(\S+)/)?.slice(1).join(" ") ?? line;
}

function meshRef(name: string, config: BenchConfig, bin: Record<string, string>): MeshRef {
  const m = LOCAL_MESHES[name];
  const proxyVersion = m.proxy === "envoy"
    ? `Envoy ${envoyVersion(bin["envoy@version"] ?? "envoy")}`
    : bin[`${m.proxy}@version`] ?? m.proxy;
  return {
    name,
    kind: m.kind,
    emulated: m.kind !== "none",
    version: m.kind === "none" ? "n/a" : `emulated with ${proxyVersion}`,
    settings: m.kind === "none" ? { description: m.description } : {
      description: m.description,
      proxy: m.proxy,
      mtls: "strict (client certificate required), ECDSA P-256, TLS 1.2+",
      layer: m.layer,
      proxyThreads: config.local.proxyThreads,
      ...(config.local.proxyDelayMs > 0 && m.layer === "l7"
        ? { injectedDelayMs: config.local.proxyDelayMs }
        : {}),
    },
  };
}

/** The ports a run sends to: the h2c endpoints for an h2c point, never the HTTP/1.1 ones. */
export function endpointsOf(state: LocalState, spec: RunSpec): number[] {
  if (spec.point.httpProtocol === "h2c") {
    const ports = state.h2cEndpoints?.[spec.workload]?.[spec.mesh];
    if (!ports) {
      throw new Error(
        `No h2c endpoint deployed for workload "${spec.workload}" under mesh "${spec.mesh}" ` +
          "(the deployment predates load.sweep.httpProtocols with h2c: deploy again)",
      );
    }
    return ports;
  }
  return state.endpoints[spec.workload][spec.mesh];
}

export class LocalTarget implements Target {
  readonly name = "local" as const;
  /** Servers are processes on loopback, started from each workload's process side. */
  readonly site = "process" as const;
  /** Every mesh is up at once, so each block of the plan visits every mesh. */
  readonly grouping = "interleaved" as const;

  baselineFirst(): string[] {
    return [];
  }

  /** Locks every port of the plan and checks that each can be bound (`ports.ts`). */
  async reserve(config: BenchConfig, run: { runId: string; runDir: string }) {
    return (await reservePorts(config, run)).release;
  }

  requirements(config: BenchConfig): Promise<Requirement[]> {
    checkMeshes(config);
    return Promise.resolve(
      missingTools(toolsFor(workloadsByName(config.workloads), config.meshes)),
    );
  }

  /** Tools of this config, for installation and version reporting. */
  tools(config: BenchConfig): ToolSpec[] {
    return toolsFor(workloadsByName(config.workloads), config.meshes);
  }

  #env(ctx: StageContext, w: Workload, bin: Record<string, string>): WorkloadEnv {
    return {
      runDir: ctx.runDir,
      workDir: join(ctx.runDir, "local", w.name),
      runner: ctx.runner,
      config: ctx.config,
      log: ctx.log,
      signal: ctx.signal,
      bin,
    };
  }

  async deploy(ctx: StageContext): Promise<void> {
    const { config, runDir } = ctx;
    checkMeshes(config);
    const workloads = workloadsByName(config.workloads);
    const tools = toolsFor(workloads, config.meshes);
    const missing = missingTools(tools);
    if (missing.length) throw new Error(`Missing tools: ${missing.map((m) => m.name).join(", ")}`);
    const localDir = join(runDir, "local");
    await Deno.mkdir(localDir, { recursive: true });
    const bin: Record<string, string> = {};
    for (const t of tools) bin[t.name] = toolPath(t)!;
    for (const [k, v] of Object.entries(await versionsOf(ctx.runner, tools))) {
      bin[`${k}@version`] = v;
    }
    const state: LocalState = {
      processes: [],
      endpoints: {},
      h2cEndpoints: {},
      meshes: {},
      bin,
      stopped: false,
    };
    const h2cEndpoints = state.h2cEndpoints!;
    for (const m of config.meshes) {
      state.meshes[m] = meshRef(m, config, bin);
    }
    const save = () => writeJsonAtomic(statePath(runDir), state);
    await save();
    const start = async (
      info: Omit<ProcessInfo, "pid" | "log">,
      port: number[],
      files: Record<string, string> = {},
      cwd?: string,
    ) => {
      for (const [path, text] of Object.entries(files)) await Deno.writeTextFile(path, text);
      const log = join(localDir, `${info.name}.log`);
      const pid = await spawnDaemon(info.cmd, log, { cwd });
      state.processes.push({ ...info, pid, log });
      await save();
      for (const p of port) {
        try {
          await waitForPort(p, info.name, 15_000, pid);
        } catch (e) {
          let logTail = "";
          try {
            logTail = (await Deno.readTextFile(log)).split("\n").slice(-8).join("\n");
          } catch { /* no log */ }
          throw new Error(
            `${(e as Error).message}${
              isAlive(pid) ? "" : " (process exited)"
            }; log ${log}:\n${logTail}`,
          );
        }
      }
    };

    // bench:all and deploy reserve the ports before the run exists; a re-deploy of an existing
    // run (--run DIR) checks again here, before starting anything.
    for (const { port, what } of portPlan(config)) {
      if (!portFree(port)) {
        throw new ConfigError(
          "local.basePort",
          `${config.local.basePort}: port ${port} (${what}) on 127.0.0.1 is already in use`,
        );
      }
    }

    const statsDir = await Deno.makeTempDir({ prefix: "meshbench-stats-" });
    state.statsDir = statsDir;
    await save();
    // Envoy serves its counters on its admin interface (127.0.0.1 only, a port of the plan).
    const envoyStats = (port: number) => ({
      software: "envoy" as const,
      adminUrl: `http://127.0.0.1:${port}`,
    });
    const haproxyStats = (name: string) => ({
      statsSocket: join(statsDir, `${name}.sock`),
      stats: { software: "haproxy" as const, socket: join(statsDir, `${name}.sock`) },
    });

    ctx.log.info("Generating per-run mTLS certificates (openssl, ECDSA P-256)");
    const certs = await generateCerts(ctx.runner, join(localDir, "certs"));

    // Application servers: shared by every mesh, so all meshes hit the same processes.
    for (const [wi, w] of workloads.entries()) {
      const env = this.#env(ctx, w, bin);
      await Deno.mkdir(env.workDir, { recursive: true });
      state.endpoints[w.name] = {};
      const serverPorts: number[] = [];
      const h2c = w.h2c?.enabled(config) ?? false;
      const h2cPorts: number[] = [];
      for (let r = 0; r < w.replicas; r++) {
        const port = workloadPorts(config, wi).server(r);
        const h2cPort = h2c ? workloadPorts(config, wi).h2cServer(r) : undefined;
        const sc = await w.server(env, r, port, h2cPort);
        ctx.log.info(
          `Starting ${w.name} server replica ${r} on 127.0.0.1:${port}${
            h2cPort ? ` (h2c on ${h2cPort})` : ""
          }`,
        );
        await start(
          {
            name: `${w.name}-server-${r}`,
            component: "app",
            mesh: "",
            workloads: [w.name],
            cmd: sc.cmd,
          },
          h2cPort ? [port, h2cPort] : [port],
          sc.files,
          sc.cwd,
        );
        serverPorts.push(port);
        if (h2cPort) h2cPorts.push(h2cPort);
      }
      state.endpoints[w.name].baseline = serverPorts;
      if (h2c) h2cEndpoints[w.name] = { baseline: h2cPorts };
    }

    const haproxy = (cfgPath: string) => [bin.haproxy, "-db", "-f", cfgPath];
    const threads = config.local.proxyThreads;
    // One Envoy process per sidecar: static bootstrap, no hot restart (no shared memory
    // between the many Envoys of a run), workers as proxyThreads.
    const envoy = (cfgPath: string) => [
      bin.envoy,
      "-c",
      cfgPath,
      "--concurrency",
      String(threads),
      "--disable-hot-restart",
      "--log-level",
      "warn",
    ];
    // Test knob: a known latency added by every L7 server-side proxy (a real regression to gate on).
    const delayMs = config.local.proxyDelayMs;
    const json = (o: unknown) => JSON.stringify(o, null, 1) + "\n";
    for (const meshName of config.meshes) {
      const mesh = LOCAL_MESHES[meshName];
      if (mesh.layer === "none") {
        for (const w of workloads) {
          state.endpoints[w.name][meshName] = state.endpoints[w.name].baseline;
          if (h2cEndpoints[w.name]) h2cEndpoints[w.name][meshName] = h2cEndpoints[w.name].baseline;
        }
        continue;
      }
      const meshDir = join(localDir, meshName);
      await Deno.mkdir(meshDir, { recursive: true });
      const layer = mesh.layer;
      const specs = workloads.map((w, wi) => {
        const p = workloadPorts(config, wi);
        const inbound = Array.from(
          { length: w.replicas },
          (_, r) => layer === "l7" ? p.sidecarIn(r) : p.nodeIn(r),
        );
        // Its h2c side (when served): carried as HTTP/2 on both sides of the mesh.
        const h2c = h2cEndpoints[w.name]
          ? {
            name: `${w.name}-h2c`,
            protocol: "h2" as const,
            serverPorts: h2cEndpoints[w.name].baseline,
            clientPort: layer === "l7" ? p.h2cSidecarOut : p.h2cNodeOut,
            inboundPorts: Array.from(
              { length: w.replicas },
              (_, r) => layer === "l7" ? p.h2cSidecarIn(r) : p.h2cNodeIn(r),
            ),
          }
          : undefined;
        return {
          name: w.name,
          protocol: w.protocol,
          serverPorts: state.endpoints[w.name].baseline,
          clientPort: layer === "l7" ? p.sidecarOut : p.nodeOut,
          inboundPorts: inbound,
          adminPorts: Array.from({ length: w.replicas }, (_, r) => p.sidecarAdmin(r)),
          h2c,
        };
      });
      // Every proxied endpoint set: each workload's own, then its h2c side.
      const proxied = specs.flatMap((s) => s.h2c ? [s, s.h2c] : [s]);
      // Server side: an Envoy sidecar per replica (L7), or one HAProxy node proxy for all (L4).
      if (layer === "l7") {
        for (const s of specs) {
          for (let r = 0; r < s.serverPorts.length; r++) {
            const name = `${meshName}-${s.name}-server-sidecar-${r}`;
            const cfg = join(meshDir, `${name}.json`);
            const admin = { address: "127.0.0.1", port: s.adminPorts[r] };
            ctx.log.info(
              `Starting ${name} (Envoy L7, mTLS) on 127.0.0.1:${s.inboundPorts[r]}${
                s.h2c ? ` and ${s.h2c.inboundPorts[r]} (h2c)` : ""
              }`,
            );
            await start(
              {
                name,
                component: "data-plane",
                mesh: meshName,
                workloads: [s.name],
                cmd: envoy(cfg),
                stats: envoyStats(admin.port),
              },
              [s.inboundPorts[r], ...(s.h2c ? [s.h2c.inboundPorts[r]] : []), admin.port],
              {
                [cfg]: json(localServerSidecar({
                  node: name,
                  admin,
                  tls: serverTls(certs),
                  workload: { name: s.name, protocol: envoyProtocol(s.protocol) },
                  listen: s.inboundPorts[r],
                  app: s.serverPorts[r],
                  ...(delayMs > 0 ? { delayMs } : {}),
                  ...(s.h2c
                    ? {
                      more: [{
                        name: s.h2c.name,
                        protocol: envoyProtocol(s.h2c.protocol),
                        listen: s.h2c.inboundPorts[r],
                        app: s.h2c.serverPorts[r],
                      }],
                    }
                    : {}),
                })),
              },
            );
          }
        }
        const name = `${meshName}-client-sidecar`;
        const cfg = join(meshDir, `${name}.json`);
        const admin = { address: "127.0.0.1", port: workloadPorts(config, 0).clientAdmin };
        ctx.log.info(`Starting ${name} (Envoy L7, mTLS)`);
        await start(
          {
            name,
            component: "data-plane",
            mesh: meshName,
            workloads: specs.map((s) => s.name),
            cmd: envoy(cfg),
            stats: envoyStats(admin.port),
          },
          [...proxied.map((s) => s.clientPort), admin.port],
          {
            [cfg]: json(localClientSidecar({
              node: name,
              admin,
              tls: clientTls(certs),
              workloads: proxied.map((s) => ({
                name: s.name,
                protocol: envoyProtocol(s.protocol),
                listen: s.clientPort,
                upstreams: s.inboundPorts,
              })),
            })),
          },
        );
      } else {
        const name = `${meshName}-server-node-proxy`;
        const cfg = join(meshDir, `${name}.cfg`);
        ctx.log.info(`Starting ${name} (HAProxy L4, mTLS)`);
        await start(
          {
            name,
            component: "data-plane",
            mesh: meshName,
            workloads: specs.map((s) => s.name),
            cmd: haproxy(cfg),
            stats: haproxyStats(name).stats,
          },
          proxied.flatMap((s) => s.inboundPorts),
          {
            [cfg]: serverProxyConfig({
              threads,
              pidfile: join(meshDir, `${name}.pid`),
              statsSocket: haproxyStats(name).statsSocket,
              certs,
              listeners: proxied.flatMap((s) =>
                s.inboundPorts.map((inboundPort, r) => ({
                  name: `${s.name}_r${r}`,
                  inboundPort,
                  appPort: s.serverPorts[r],
                }))
              ),
            }),
          },
        );
        const clientName = `${meshName}-client-node-proxy`;
        const clientCfg = join(meshDir, `${clientName}.cfg`);
        ctx.log.info(`Starting ${clientName} (HAProxy L4, mTLS)`);
        await start(
          {
            name: clientName,
            component: "data-plane",
            mesh: meshName,
            workloads: specs.map((s) => s.name),
            cmd: haproxy(clientCfg),
            stats: haproxyStats(clientName).stats,
          },
          proxied.map((s) => s.clientPort),
          {
            [clientCfg]: clientProxyConfig({
              threads,
              pidfile: join(meshDir, `${clientName}.pid`),
              statsSocket: haproxyStats(clientName).statsSocket,
              certs,
              workloads: proxied,
            }),
          },
        );
      }
      for (const s of specs) {
        state.endpoints[s.name][meshName] = [s.clientPort];
        if (s.h2c) h2cEndpoints[s.name][meshName] = [s.h2c.clientPort];
      }
    }
    await save();
    ctx.log.info(
      `Deployed ${state.processes.length} processes for ${workloads.length} workload(s) x ${config.meshes.length} mesh(es)`,
    );
  }

  #assertAlive(state: LocalState, workload: string, mesh: string, when: string): void {
    const dead = state.processes.filter((p) =>
      p.workloads.includes(workload) && (p.mesh === "" || p.mesh === mesh) && !isAlive(p.pid)
    );
    if (dead.length) {
      throw new Error(
        `Component died ${when}: ${
          dead.map((p) => `${p.name} (pid ${p.pid}, log ${p.log})`).join(", ")
        }`,
      );
    }
  }

  async health(ctx: StageContext): Promise<void> {
    const state = await readLocalState(ctx.runDir);
    for (const w of workloadsByName(ctx.config.workloads)) {
      const env = this.#env(ctx, w, state.bin);
      for (const mesh of ctx.config.meshes) {
        this.#assertAlive(state, w.name, mesh, "before the health check");
        const p = state.endpoints[w.name]?.[mesh];
        if (!p) {
          throw new Error(`No endpoint recorded for workload "${w.name}" under mesh "${mesh}"`);
        }
        const deadline = Date.now() + 15_000;
        let attempt = 0;
        for (;;) {
          attempt++;
          try {
            await w.probe(env, p);
            const h2c = state.h2cEndpoints?.[w.name]?.[mesh];
            if (w.h2c && h2c) await w.h2c.probe(env, h2c);
            ctx.log.info(
              `Healthy: ${w.name} through ${mesh} (ports ${p.join(",")}${
                h2c ? `; h2c ${h2c.join(",")}, arriving as HTTP/2` : ""
              })`,
            );
            break;
          } catch (e) {
            if (Date.now() > deadline) {
              throw new Error(
                `Health check of "${w.name}" through "${mesh}" failed after ${attempt} attempts: ${
                  (e as Error).message
                }`,
              );
            }
            ctx.log.warn(
              `Not healthy yet (${w.name} via ${mesh}, attempt ${attempt}): ${
                (e as Error).message
              }`,
            );
            await new Promise((r) => setTimeout(r, 300));
          }
        }
      }
    }
  }

  async warmup(ctx: StageContext, seconds: number): Promise<void> {
    const state = await readLocalState(ctx.runDir);
    // Every workload through every mesh at once: the warm-up lasts `seconds`, not more.
    await Promise.all(
      workloadsByName(ctx.config.workloads).flatMap((w) => {
        const env = this.#env(ctx, w, state.bin);
        return ctx.config.meshes.flatMap((m) => {
          const h2c = state.h2cEndpoints?.[w.name]?.[m];
          return [
            w.warmup(env, state.endpoints[w.name][m], seconds),
            ...(w.h2c && h2c ? [w.h2c.warmup(env, h2c, seconds)] : []),
          ];
        });
      }),
    );
  }

  async runLoad(ctx: StageContext, spec: RunSpec): Promise<LoadOutcome> {
    const state = await readLocalState(ctx.runDir);
    if (state.stopped) throw new Error(`The deployment in "${ctx.runDir}" was already cleaned up`);
    const [w] = workloadsByName([spec.workload]);
    const env = this.#env(ctx, w, state.bin);
    this.#assertAlive(state, w.name, spec.mesh, "before the run");
    const involved = state.processes.filter((p) =>
      p.workloads.includes(w.name) && (p.mesh === "" || p.mesh === spec.mesh)
    );
    const watched = involved.map((p) => ({ name: p.name, component: p.component, pid: p.pid }));
    // The proxies' own counters, read just before and just after the window.
    const proxies = involved.filter((p) => p.stats);
    const readCounters = () => Promise.all(proxies.map((p) => readProxyCounters(p.stats!, 5000)));
    const countersBefore = await readCounters();
    const sampler = new ResourceSampler(watched);
    const stem = `raw/${w.name}_${String(spec.seq).padStart(4, "0")}_${spec.mesh}_${
      spec.point.rate ?? spec.point.mode
    }_i${spec.iteration}`;
    sampler.start();
    const start = new Date().toISOString();
    let loadgens = 0;
    let result;
    let use: ReturnType<ResourceSampler["stop"]>;
    try {
      result = await w.run(env, spec, endpointsOf(state, spec), stem, (pid, kind) => {
        const n = loadgens++;
        sampler.add({
          name: kind === "app"
            ? `${spec.point.tool}-${n + 1}`
            : `loadgen-${spec.point.tool}${n ? `-${n + 1}` : ""}`,
          component: kind ?? "loadgen",
          pid,
        });
      });
    } finally {
      // Stop sampling whatever happened, so no timer outlives the run.
      use = sampler.stop();
    }
    const end = new Date().toISOString();
    this.#assertAlive(state, w.name, spec.mesh, "during the run");
    const countersAfter = await readCounters();
    const resources: ResourceUse[] = use.map((u) => ({
      component: u.component,
      name: u.name,
      cpuCores: u.cpuCores,
      cpuSeconds: u.cpuSeconds,
      memoryPeakMB: u.memoryPeakMB,
      samples: u.samples,
      ...(u.contextSwitches ? { contextSwitches: u.contextSwitches } : {}),
      ...(u.otherProcesses ? { otherProcesses: u.otherProcesses } : {}),
    }));
    return {
      load: result.load,
      resources,
      proxies: proxies.map((p, i) =>
        proxyWindow(p.name, p.stats!.software, countersBefore[i], countersAfter[i])
      ),
      raw: result.raw,
      window: { start, end },
    };
  }

  async describeMesh(ctx: StageContext, mesh: string): Promise<MeshRef> {
    const state = await readLocalState(ctx.runDir);
    const ref = state.meshes[mesh];
    if (!ref) throw new Error(`Mesh "${mesh}" was not deployed in "${ctx.runDir}"`);
    return ref;
  }

  toolVersions(ctx: StageContext): Promise<Record<string, string>> {
    return versionsOf(ctx.runner, this.tools(ctx.config));
  }

  async cleanup(ctx: StageContext): Promise<void> {
    let state: LocalState;
    try {
      state = await readLocalState(ctx.runDir);
    } catch {
      ctx.log.info("Nothing to clean up: no local deployment recorded");
      return;
    }
    // Proxies first, then servers: the reverse of start order.
    for (const p of [...state.processes].reverse()) {
      if (isAlive(p.pid) && !runsCommand(p)) {
        // A stale run's pid, reused by an unrelated process since: never signal it.
        ctx.log.warn(`Not stopping pid ${p.pid}: it no longer runs ${p.name} (${p.cmd[0]})`);
        continue;
      }
      if (groupAlive(p.pid)) {
        await stopGroup(p.pid);
        ctx.log.info(`Stopped ${p.name} (pid ${p.pid})`);
      }
    }
    const left = state.processes.filter((p) =>
      isAlive(p.pid) ? runsCommand(p) : groupMembers(p.pid).length > 0
    );
    state.stopped = true;
    if (state.statsDir) {
      await Deno.remove(state.statsDir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    await writeJsonAtomic(statePath(ctx.runDir), state);
    if (left.length) {
      throw new Error(`Could not stop: ${left.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`);
    }
  }
}
