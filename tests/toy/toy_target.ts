/**
 * A toy target, defined in this file only: it runs each workload's process side with every
 * replica on a free loopback port and load from this process. Its one "mesh" besides the
 * baseline, {@linkcode TOY_MESH}, is the same direct path under another name (no proxy). It supplies only how to start things (servers from the workload's commands) and
 * where to run the load (here); what the workload is comes from its definition.
 *
 * @module
 */
import { join } from "node:path";
import type { ToolSpec } from "../../lib/binaries.ts";
import { freePort, type ServerProcess, startServer } from "../../lib/process.ts";
import type { LoadOutcome, StageContext, Target } from "../../lib/target.ts";
import type { MeshRef, RunSpec } from "../../lib/types.ts";
import type { Workload, WorkloadEnv } from "../../lib/workload.ts";
import { workloadsByName } from "../../lib/workloads/mod.ts";

/** The toy target's second path: direct, like the baseline, so overhead is noise only. */
export const TOY_MESH = "toy-direct";
/** Every mesh name the toy target offers, the baseline included. */
export const TOY_MESHES = ["baseline", TOY_MESH];

export class ToyTarget implements Target {
  readonly name = "toy";
  readonly site = "process" as const;
  readonly grouping = "interleaved" as const;
  #servers = new Map<string, { ports: number[]; procs: ServerProcess[] }>();

  baselineFirst(): string[] {
    return [];
  }

  tools(): ToolSpec[] {
    return [];
  }

  requirements(config: StageContext["config"]) {
    const meshes = config.meshes.filter((m) => m !== "baseline" && m !== TOY_MESH);
    if (meshes.length) throw new Error(`The toy target has no mesh ${meshes.join(", ")}`);
    return Promise.resolve([]);
  }

  #env(ctx: StageContext, w: Workload): WorkloadEnv {
    const { runDir, runner, config, log, signal } = ctx;
    return { runDir, workDir: join(runDir, "toy", w.name), runner, config, log, signal, bin: {} };
  }

  #ports(workload: string): number[] {
    const s = this.#servers.get(workload);
    if (!s) throw new Error(`toy: workload "${workload}" was not deployed`);
    return s.ports;
  }

  async deploy(ctx: StageContext): Promise<void> {
    for (const w of workloadsByName(ctx.config.workloads)) {
      const env = this.#env(ctx, w);
      await Deno.mkdir(env.workDir, { recursive: true });
      const entry = { ports: [] as number[], procs: [] as ServerProcess[] };
      this.#servers.set(w.name, entry);
      for (let i = 0; i < w.replicas; i++) {
        const port = freePort();
        const { cmd, cwd, files } = await w.server(env, i, port);
        for (const [path, text] of Object.entries(files ?? {})) {
          await Deno.writeTextFile(path, text);
        }
        entry.procs.push(
          await startServer(cmd, { name: `${w.name}-${i}`, ready: /listening/, cwd }),
        );
        entry.ports.push(port);
      }
    }
    const started = Object.fromEntries([...this.#servers].map(([w, s]) => [w, s.ports]));
    await Deno.writeTextFile(join(ctx.runDir, "toy.json"), JSON.stringify(started));
  }

  async health(ctx: StageContext): Promise<void> {
    for (const w of workloadsByName(ctx.config.workloads)) {
      await w.probe(this.#env(ctx, w), this.#ports(w.name));
    }
  }

  async warmup(ctx: StageContext, seconds: number): Promise<void> {
    for (const w of workloadsByName(ctx.config.workloads)) {
      await w.warmup(this.#env(ctx, w), this.#ports(w.name), seconds);
    }
  }

  describeMesh(_ctx: StageContext, mesh: string): Promise<MeshRef> {
    return Promise.resolve({
      name: mesh,
      kind: "none",
      emulated: mesh !== "baseline",
      version: "none",
      settings: { proxy: "none" },
    });
  }

  toolVersions(): Promise<Record<string, string>> {
    return Promise.resolve({ "toy-client": "1" });
  }

  async runLoad(ctx: StageContext, spec: RunSpec): Promise<LoadOutcome> {
    const [w] = workloadsByName([spec.workload]);
    const start = new Date().toISOString();
    const rawStem = `raw/toy_${spec.seq}_${spec.workload}_${spec.mesh}`;
    const out = await w.run(this.#env(ctx, w), spec, this.#ports(w.name), rawStem, () => {});
    return {
      load: out.load,
      resources: [],
      raw: out.raw,
      window: { start, end: new Date().toISOString() },
    };
  }

  async cleanup(): Promise<void> {
    for (const s of this.#servers.values()) await Promise.all(s.procs.map((p) => p.stop()));
    this.#servers.clear();
  }
}
