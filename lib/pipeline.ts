/**
 * The stages of a benchmark as functions over a run directory, so each can re-run alone:
 * deploy, health, warm-up, load, cool-down, collect, report, cleanup. Each reads
 * the manifest, does its work, and records its start, end and status. `benchAll`
 * runs them in order and always cleans up.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { Runner } from "./command.ts";
import {
  type BenchConfig,
  ConfigError,
  type ConfigVocabulary,
  parseStoredConfig,
} from "./config.ts";
import { buildPlan } from "./plan.ts";
import { collectProvenance } from "./provenance.ts";
import {
  createRunDir,
  listRunFiles,
  newRunId,
  readManifest,
  stageEnded,
  stageStarted,
  updateManifest,
  writeJsonAtomic,
  writeRunRecord,
} from "./run_dir.ts";
import { atPoint, packSummary, SummaryBuilder, summarySettings, SummaryWorker } from "./summary.ts";
import { judgeStep, kneeCriteria, kneeStopped, rampKey } from "./knee.ts";
import { type BusyRun, busyRun, busyRunWarning, otherLoadNote } from "./other_load.ts";
import { type Logger, MissingToolsError, type StageContext, type Target } from "./target.ts";
import type {
  GroupStats,
  Histogram,
  LoadResult,
  Manifest,
  ReadRunRecord,
  RunIndexEntry,
  RunRecord,
  RunSpec,
  StageName,
  Summary,
  TargetName,
} from "./types.ts";
import { RUN_SCHEMA_VERSION, SCHEMA_VERSION } from "./types.ts";
import { installTools, missingMessage } from "./binaries.ts";
import { makeTarget, targetMeshes, targetNames } from "./targets.ts";
import { pointsOn } from "./workload.ts";
import { registeredWorkloads, workloadNames, workloadsByName } from "./workloads/mod.ts";
import { percentile, summarize } from "./histogram.ts";
import {
  forEachRecordFile,
  forEachRecordFileShared,
  readRunRecords,
  runIndexEntry,
  SHARED_READ_MIN_FILES,
} from "./load_results.ts";
import { isGeneratorLimited, sendTimingOf } from "./send_timing.ts";
import { currentOwner, describeOwner, markStaleInterrupted, staleRunDirs } from "./run_owner.ts";

/** Effects every stage needs, passed in. */
export interface Deps {
  runner: Runner;
  log: Logger;
  signal: AbortSignal;
  /** Told the run directory as soon as it exists (for the message of a forced exit). */
  runStarted?: (runDir: string) => void;
}

const targets = new Map<TargetName, Target>();

/** The target implementation for a name (one instance per process). */
export async function targetFor(name: TargetName): Promise<Target> {
  let t = targets.get(name);
  if (!t) {
    t = await makeTarget(name);
    targets.set(name, t);
  }
  return t;
}

/** Releases what targets hold open (Kubernetes API connections); call before exiting. */
export async function closeTargets(): Promise<void> {
  for (const t of targets.values()) await t.close?.();
  targets.clear();
}

/** Installs missing tools when possible; throws MissingToolsError listing the rest. */
export async function preflight(config: BenchConfig, deps: Deps): Promise<void> {
  const target = await targetFor(config.target);
  let missing = await target.requirements(config);
  if (missing.length === 0) return;
  if (target.tools && missing.some((m) => m.autoInstallable)) {
    deps.log.info(`Installing missing tools: ${missing.map((m) => m.name).join(", ")}`);
    missing = await installTools(deps.runner, target.tools(config), (l) => deps.log.info(l));
  }
  if (missing.length) throw new MissingToolsError(missingMessage(missing));
}

/** Creates a new run directory with manifest, plan and provenance, owned by this process. */
export async function initRun(
  config: BenchConfig,
  sources: string[],
  deps: Deps,
  options: { runId?: string; task?: string } = {},
): Promise<string> {
  const runId = options.runId ?? newRunId();
  const runDir = await createRunDir(config.out, runId);
  const target = await targetFor(config.target);
  const workloads = workloadsByName(config.workloads).map((w) => ({
    name: w.name,
    points: pointsOn(w, target.site, config),
  }));
  const blocks = target.planBlocks ? await target.planBlocks(config, deps.log) : undefined;
  const plan = buildPlan({
    workloads,
    meshes: config.meshes,
    iterations: config.iterations,
    seed: config.seed,
    grouping: target.grouping,
    baseline: config.baseline,
    baselineFirst: target.baselineFirst(config.workloads),
    blocks,
  });
  const now = new Date().toISOString();
  const ctx: StageContext = {
    runDir,
    config,
    runner: deps.runner,
    log: deps.log,
    signal: deps.signal,
  };
  let tools: Record<string, string> = {};
  try {
    tools = await target.toolVersions(ctx);
  } catch (e) {
    deps.log.warn(`Could not read tool versions: ${(e as Error).message}`);
  }
  const manifest: Manifest = {
    kind: "meshbench.manifest",
    schemaVersion: SCHEMA_VERSION,
    runId,
    target: config.target,
    profile: config.profile,
    status: "running",
    createdAt: now,
    updatedAt: now,
    config: config as unknown as Record<string, unknown>,
    configSources: sources,
    provenance: await collectProvenance(deps.runner, tools),
    plan,
    planSeed: config.seed,
    ...(blocks ? { blocks } : {}),
    stages: [],
    owner: currentOwner(options.task ?? "bench:all"),
  };
  await writeJsonAtomic(join(runDir, "manifest.json"), manifest);
  deps.log.info(
    `Run ${runId}: ${plan.length} measured runs planned in ${runDir}` +
      (blocks && blocks.length > 1
        ? ` (deployed in ${blocks.length} blocks: ${blocks.map((b) => b.join("+")).join(", ")})`
        : ""),
  );
  return runDir;
}

/** Opens an existing run: its manifest, config and a context for stages. */
export async function openRun(
  dir: string,
  deps: Deps,
): Promise<{ manifest: Manifest; ctx: StageContext; target: Target }> {
  // Absolute once, here: targets hand paths under it to processes with other cwds.
  const runDir = resolve(dir);
  const manifest = await readManifest(runDir);
  // A manifest is input like a config file: validated, not cast.
  const config = parseStoredConfig(manifest.config, join(runDir, "manifest.json"));
  const target = await targetFor(manifest.target);
  return {
    manifest,
    target,
    ctx: { runDir, config, runner: deps.runner, log: deps.log, signal: deps.signal },
  };
}

/** Runs one stage with its manifest entry; errors are recorded and rethrown. */
export async function runStage<T>(
  runDir: string,
  name: StageName,
  deps: Deps,
  fn: () => Promise<T>,
): Promise<T> {
  await stageStarted(runDir, name);
  deps.log.info(`Stage ${name}: started`);
  const t0 = performance.now();
  try {
    const out = await fn();
    await stageEnded(runDir, name, deps.signal.aborted ? "interrupted" : "ok");
    deps.log.info(
      `Stage ${name}: ${deps.signal.aborted ? "interrupted" : "done"} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
    return out;
  } catch (e) {
    const msg = (e as Error).message;
    await stageEnded(runDir, name, deps.signal.aborted ? "interrupted" : "failed", msg);
    throw e;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Stage: bring up servers, meshes and clients. */
export async function stageDeploy(runDir: string, deps: Deps): Promise<void> {
  const { ctx, target } = await openRun(runDir, deps);
  await runStage(runDir, "deploy", deps, () => target.deploy(ctx));
}

/** Stage: wait until every path answers. */
export async function stageHealth(runDir: string, deps: Deps): Promise<void> {
  const { ctx, target } = await openRun(runDir, deps);
  await runStage(runDir, "health", deps, () => target.health(ctx));
}

/** Stage: unrecorded light load through every path (design: 10 s). */
export async function stageWarmup(runDir: string, deps: Deps): Promise<void> {
  const { ctx, target } = await openRun(runDir, deps);
  await runStage(runDir, "warmup", deps, () => target.warmup(ctx, ctx.config.warmupS));
}

/** Stage: cool-down pause after the tests (design: 5 s). */
export async function stageCooldown(runDir: string, deps: Deps): Promise<void> {
  const { ctx } = await openRun(runDir, deps);
  await runStage(runDir, "cooldown", deps, () => sleep(ctx.config.cooldownS * 1000, deps.signal));
}

/** The limits a finished run is judged by (config `saturationPct`, `minSuccessPct`). */
export interface RunLimits {
  saturationPct: number;
  minSuccessPct: number;
}

/**
 * Classifies a finished run. First, for every tool and mode: fewer than `minSuccessPct` % of
 * its operations succeeded (HTTP 2xx/3xx, gRPC OK, no socket error, timeout or drop) is a
 * failed run, whatever its rate: its latencies are those of errors (so is a run in which
 * nothing succeeded, whatever the threshold). Then, for a fixed-rate
 * run: an achieved rate (successful completions per second, see each tool's adapter) more
 * than `saturationPct` % and more than one request under target is saturation.
 */
export function classify(
  spec: RunSpec,
  load: LoadResult,
  limits: RunLimits,
): { status: "ok" | "saturated" | "failed"; reason?: string } {
  const ok = load.operations - load.errors;
  const successPct = load.operations > 0 ? (ok / load.operations) * 100 : 0;
  if (ok <= 0 || successPct < limits.minSuccessPct) {
    const kinds = Object.entries(load.errorKinds).sort((a, b) => b[1] - a[1]).slice(0, 5)
      .map(([k, n]) => `${k} ${n}`).join(", ");
    return {
      status: "failed",
      reason: load.operations === 0
        ? `${load.tool} completed no operation`
        : `${ok} of ${load.operations} ${load.tool} operations succeeded (${
          successPct.toFixed(successPct > 99 ? 2 : 1)
        } %, minSuccessPct ${limits.minSuccessPct} %)${kinds ? `; errors: ${kinds}` : ""}`,
    };
  }
  const rate = spec.point.rate;
  if (spec.point.mode !== "fixed-rate" || rate === null) return { status: "ok" };
  const achieved = load.achievedRate;
  const shortPct = ((rate - achieved) / rate) * 100;
  // The window's two edges are cut at completion instants, so a system that keeps up completes
  // rate x duration requests in it give or take one (its schedule's phase against the edges):
  // at 20/s for 2 s that one request is 2.5 %, above a 2 % tolerance. A shortfall of at most one
  // request is the window's quantization, not saturation.
  const shortRequests = (rate - achieved) * spec.point.durationS;
  if (shortPct > limits.saturationPct && shortRequests > 1 + 1e-9) {
    return {
      status: "saturated",
      reason: `achieved ${achieved.toFixed(1)}/s of ${rate}/s requested (${
        shortPct.toFixed(1)
      } % short, tolerance ${limits.saturationPct} %)${
        senderNote(load, rate, limits.saturationPct)
      }: a saturation result, not a latency result`,
    };
  }
  return { status: "ok" };
}

/**
 * Where the generator reports what it sent and how late (vegeta, the WebSocket client): whether
 * the shortfall is the generator's (it could not send at the rate) or the system's.
 */
function senderNote(load: LoadResult, rate: number, tolerancePct: number): string {
  const sent = load.extra?.sentRate;
  const lag = load.extra?.sendLag as Histogram | undefined;
  const lagText = lag && lag.total > 0
    ? `, send lag p99 ${(percentile(lag, 99) / 1000).toFixed(1)} ms`
    : "";
  if (typeof sent !== "number") return lagText ? ` (${lagText.slice(2)})` : "";
  const who = (rate - sent) / rate * 100 > tolerancePct
    ? "the load generator fell behind"
    : "the system under test did not keep up";
  return `; sent ${sent.toFixed(1)}/s${lagText}: ${who}`;
}

/**
 * Stage: every planned run, in plan order. Runs already recorded are skipped, so
 * a re-run resumes. A failing run is recorded as failed and the stage goes on; an
 * interrupt records the current run as interrupted and stops.
 */
export async function stageLoad(
  runDir: string,
  deps: Deps,
): Promise<{ failed: number; failedEarlier: number }> {
  const { ctx, target, manifest } = await openRun(runDir, deps);
  return await runStage(runDir, "load", deps, async () => {
    // Runs already recorded, by the sequence number in each record (never in its name).
    const earlier = await readRunRecords(runDir);
    const done = new Set(earlier.records.map((r) => r.spec.seq));
    for (const note of earlier.notes) deps.log.warn(`Not resumed, measured again: ${note}`);
    // A resumed run keeps its earlier failures: they still make the run failed.
    // A knee ramp step that breaks is the ramp's answer, not a failed run.
    const failedEarlier = earlier.records.filter((r) =>
      r.status === "failed" && r.spec.point.sweep !== "knee"
    ).length;
    // Knee ramps already stopped (from the records on disk, so a resumed load agrees).
    const criteria = kneeCriteria(ctx.config);
    const stopped = kneeStopped(
      earlier.records.filter((r) => r.spec.point.sweep === "knee").map((r) =>
        judgeStep(r, criteria)
      ),
    );
    const meshRefs = new Map<string, RunRecord["mesh"]>();
    let failed = 0;
    let first = true;
    for (const spec of manifest.plan) {
      if (deps.signal.aborted) break;
      if (done.has(spec.seq)) continue;
      if (spec.point.sweep === "knee") {
        const at = stopped.get(rampKey(spec));
        if (at !== undefined && at < spec.point.rate!) {
          deps.log.info(
            `Run ${spec.seq} skipped: ${spec.workload} ${spec.mesh}'s knee ramp #${spec.iteration} ` +
              `broke at ${at}/s`,
          );
          continue;
        }
      }
      if (!first) await sleep(ctx.config.gapS * 1000, deps.signal);
      first = false;
      const p = spec.point;
      deps.log.progress(
        `${spec.workload} ${spec.mesh} ${
          p.rate ? `${p.rate}/s` : p.mode
        } (${p.tool}) #${spec.iteration}`,
        spec.seq - 1,
        manifest.plan.length,
      );
      if (!meshRefs.has(spec.mesh)) {
        meshRefs.set(spec.mesh, await target.describeMesh(ctx, spec.mesh));
      }
      const start = new Date().toISOString();
      const base = {
        kind: "meshbench.run" as const,
        schemaVersion: RUN_SCHEMA_VERSION,
        runId: manifest.runId,
        target: manifest.target,
        spec,
        mesh: meshRefs.get(spec.mesh)!,
        gitCommit: manifest.provenance.gitCommit,
      };
      let record: RunRecord;
      try {
        const out = await target.runLoad(ctx, spec);
        if (deps.signal.aborted) throw new Error("interrupted by the user");
        const c = classify(spec, out.load, ctx.config);
        if (c.status === "failed" && spec.point.sweep !== "knee") failed++;
        record = {
          ...base,
          status: c.status,
          ...(c.reason ? { reason: c.reason } : {}),
          window: out.window,
          load: out.load,
          ...(out.load.latency.total > 0 ? { latency: summarize(out.load.latency) } : {}),
          resources: out.resources,
          ...(out.proxies?.length ? { proxies: out.proxies } : {}),
          raw: out.raw,
        };
        if (c.reason) deps.log.warn(`Run ${spec.seq} ${c.status}: ${c.reason}`);
        const busy = busyRun(record);
        if (busy) deps.log.warn(busyRunWarning(busy));
      } catch (e) {
        const interrupted = deps.signal.aborted;
        if (!interrupted && spec.point.sweep !== "knee") failed++;
        const reason = (e as Error).message;
        deps.log.warn(`Run ${spec.seq} ${interrupted ? "interrupted" : "failed"}: ${reason}`);
        record = {
          ...base,
          status: interrupted ? "interrupted" : "failed",
          reason,
          window: { start, end: new Date().toISOString() },
          resources: [],
          raw: [],
        };
      }
      await writeRunRecord(runDir, record);
      if (spec.point.sweep === "knee") {
        const step = judgeStep(record, criteria);
        if (step.breaks.length) {
          stopped.set(rampKey(spec), step.rate);
          deps.log.info(
            `Knee ramp of ${spec.workload} ${spec.mesh} #${spec.iteration} stops at ${step.rate}/s: ${
              step.breaks.map((b) => b.detail).join("; ")
            }`,
          );
        }
      }
    }
    deps.log.progress("load runs", manifest.plan.length, manifest.plan.length);
    return { failed, failedEarlier };
  });
}

/** Stage: pool runs into `summary.json` (overheads with CIs). */
export async function stageCollect(runDir: string, deps: Deps): Promise<Summary> {
  // 10,000 records: the later half is read and checked on the other core, which then
  // computes half the load points (the same summary as builder.finish() on one thread). Its
  // thread starts first, so its start-up overlaps opening the run.
  // Listed once (10,000 files); a listing that fails is tried again in the stage, which
  // reports it.
  const listed = await listRunFiles(runDir).catch(() => undefined);
  const worker = (listed?.length ?? 0) >= SHARED_READ_MIN_FILES &&
      navigator.hardwareConcurrency >= 2
    ? new SummaryWorker()
    : undefined;
  try {
    return await collectWith(runDir, deps, worker, listed);
  } finally {
    worker?.terminate();
  }
}

async function collectWith(
  runDir: string,
  deps: Deps,
  worker: SummaryWorker | undefined,
  listed: string[] | undefined,
): Promise<Summary> {
  const { ctx, manifest } = await openRun(runDir, deps);
  return await runStage(runDir, "collect", deps, async () => {
    const builder = new SummaryBuilder({
      runId: manifest.runId,
      target: manifest.target,
      ...summarySettings(ctx.config),
    });
    // The report lists every run from this index instead of re-reading runs/.
    const index: RunIndexEntry[] = [];
    const lagP99Ms = new Map<RunIndexEntry, number>();
    // Fixed-rate runs of the local target that shared the machine with other load.
    const busy: BusyRun[] = [];
    let fixedRate = 0;
    const files = listed ?? await listRunFiles(runDir);
    const use = (record: ReadRunRecord, file: string) => {
      builder.add(record);
      if (record.spec.point.mode === "fixed-rate") fixedRate++;
      const b = busyRun(record);
      if (b) busy.push(b);
      const entry = runIndexEntry(file, record);
      index.push(entry);
      const timing = sendTimingOf(record.load);
      if (timing) lagP99Ms.set(entry, percentile(timing.sendLag, 99) / 1000);
    };
    const problems = worker
      ? await forEachRecordFileShared(files, use, worker)
      : await forEachRecordFile(files, use);
    const notes = problems.map((p) => `${p.file}: ${p.problem}`);
    // Said on the console too, not only inside summary.json.
    for (const n of notes) deps.log.warn(`collect skipped a run record: ${n}`);
    for (const n of notes) builder.note(n);
    // On the console, not in summary.json's notes: the committed fixture runs' summaries
    // (made on a shared machine, every fixed-rate run of them with company) stay what
    // collect writes.
    const otherLoad = otherLoadNote(busy, fixedRate);
    if (otherLoad) deps.log.warn(otherLoad);
    const summary: Summary = await builder.finishInParallel({ worker });
    // Done with the other core: its thread's heap (tens of MB) is let go before summary.json
    // is written and the report renders (stageCollect's `finally` would end it only then).
    worker?.terminate();
    const baselines = baselineGroups(
      [...summary.groups, ...summary.connectionSweep?.groups ?? []],
      ctx.config.baseline,
    );
    for (const [entry, lag] of lagP99Ms) {
      entry.generatorLimited = runGeneratorLimited(baselines, entry, lag, ctx.config);
    }
    summary.runs = index.sort((a, b) => a.spec.seq - b.spec.seq);
    await writeJsonAtomic(join(runDir, "summary.json"), packSummary(summary));
    return summary;
  });
}

/**
 * The baseline's groups with usable runs, in `groups`' order, by everything {@linkcode atPoint}
 * compares but connections: each run looks among a few instead of every group (10,000 runs x
 * 2,000 groups).
 */
function baselineGroups(groups: readonly GroupStats[], baseline: string) {
  const out = new Map<string, GroupStats[]>();
  for (const g of groups) {
    if (g.mesh !== baseline || !(g.iterations > 0)) continue;
    const k = pointOf(g.workload, g);
    const list = out.get(k);
    if (list) list.push(g);
    else out.set(k, [g]);
  }
  return out;
}

function pointOf(
  workload: string,
  p: Pick<GroupStats, "mode" | "tool" | "rate" | "sweep" | "payloadBytes" | "httpProtocol">,
): string {
  return JSON.stringify([
    workload,
    p.mode,
    p.tool,
    p.rate,
    p.payloadBytes ?? null,
    p.httpProtocol ?? null,
    p.sweep ?? null,
  ]);
}

/**
 * Whether one run's send-lag p99 is above `generatorLimitedPct` % of the baseline's p50
 * service time at its load point (the baseline group's, pooled over iterations).
 */
function runGeneratorLimited(
  baselines: Map<string, GroupStats[]>,
  entry: RunIndexEntry,
  lagP99Ms: number,
  config: { baseline: string; generatorLimitedPct: number },
): boolean {
  const p = entry.spec.point;
  const base = baselines.get(pointOf(entry.spec.workload, p))?.find((g) =>
    atPoint(g, entry.spec.workload, p)
  );
  const p50 = base ? base.serviceTime?.p50Ms ?? base.latency.p50Ms : undefined;
  return isGeneratorLimited(lagP99Ms, p50, config.generatorLimitedPct);
}

/**
 * Stage: render `report.html`. Alone (`deno task report`) it reads `summary.json`; after
 * collect in the same process (`bench:all`) it is handed the summary collect built and
 * wrote (`options.summary`), and does not read the file back.
 */
export async function stageReport(
  runDir: string,
  deps: Deps,
  options: { summary?: Summary } = {},
): Promise<string> {
  return await runStage(runDir, "report", deps, async () => {
    const { writeReport } = await import("./report.ts");
    return await writeReport(runDir, options);
  });
}

/** Stage: stop and remove what deploy created. */
export async function stageCleanup(runDir: string, deps: Deps): Promise<void> {
  const { ctx, target } = await openRun(runDir, deps);
  await runStage(runDir, "cleanup", deps, () => target.cleanup(ctx));
}

/** Marks the run's final status in the manifest; a finished run has no owner. */
export function finishRun(
  runDir: string,
  status: Manifest["status"],
  reason?: string,
): Promise<Manifest> {
  return updateManifest(runDir, (m) => {
    m.status = status;
    if (reason) m.reason = reason;
    else delete m.reason;
    delete m.owner;
  });
}

/**
 * Cleans up a stale run (status `running`, its owner process gone: killed with
 * SIGKILL, or its machine crashed): stops what its deploy started and marks it
 * `interrupted`. `by` names the task doing it, for the manifest.
 */
export async function recoverStaleRun(runDir: string, deps: Deps, by: string): Promise<void> {
  const before = await readManifest(runDir);
  deps.log.warn(
    `Run ${runDir} is stale: ${
      before.owner ? describeOwner(before.owner) : "its owner"
    } is gone but the run is still "running"; stopping what it started and marking it interrupted`,
  );
  const { ctx, target } = await openRun(runDir, deps);
  let failure = "";
  try {
    // Cleanup must finish even while this task is being interrupted.
    await target.cleanup({ ...ctx, signal: new AbortController().signal });
  } catch (e) {
    failure = `; cleanup failed: ${(e as Error).message}`;
    deps.log.warn(`Cleanup of stale run ${runDir} failed: ${(e as Error).message}`);
  }
  await markStaleInterrupted(runDir, `${by}${failure}`);
}

/** Finds and recovers every stale run under `out`; returns their directories. */
export async function recoverStaleRuns(out: string, deps: Deps, by: string): Promise<string[]> {
  const stale = await staleRunDirs(out);
  for (const dir of stale) await recoverStaleRun(dir, deps, by);
  return stale;
}

/**
 * Everything before a new run exists: tools, stale runs under `out`, and what the target
 * claims for it (locally, every port of the plan locked and probed). Nothing is created
 * when this throws.
 */
export async function prepareNewRun(
  config: BenchConfig,
  deps: Deps,
  task: string,
): Promise<{ runId: string; release: () => void }> {
  await preflight(config, deps);
  await recoverStaleRuns(config.out, deps, `deno task ${task}`);
  const runId = newRunId();
  const target = await targetFor(config.target);
  const release = await target.reserve?.(config, { runId, runDir: resolve(config.out, runId) });
  return { runId, release: release ?? (() => {}) };
}

/**
 * The OCI target: Terraform and Ansible build the free-tier cluster, the cluster
 * target runs on it, and everything is torn down unless `oci.keep`.
 */
export async function benchAllOci(
  config: BenchConfig,
  sources: string[],
  deps: Deps,
): Promise<BenchResult> {
  if (!config.oci.varFile) {
    throw new ConfigError(
      "oci.varFile",
      "the oci target needs your filled-in copy of terraform/meshbench.tfvars.example (--var-file FILE)",
    );
  }
  const { withOciCluster } = await import("./infra/mod.ts");
  return await withOciCluster({
    varFile: config.oci.varFile,
    // Cilium under test needs Cilium as the CNI; otherwise a plain CNI (recorded by the infra).
    mesh: config.meshes.includes("cilium") ? "cilium" : undefined,
    keep: config.oci.keep,
    stateDir: config.oci.stateDir || undefined,
    sshPrivateKey: config.oci.sshKey || undefined,
    runner: deps.runner,
    log: deps.log,
  }, async ({ cluster }) => {
    const onCluster: BenchConfig = {
      ...config,
      cluster: { ...config.cluster, context: cluster.context, kubeconfig: cluster.kubeconfig },
    };
    const r = await benchAll(onCluster, [
      ...sources,
      `oci:cluster ${cluster.context} (cni ${cluster.cni})`,
    ], deps);
    if (r.status !== "complete") {
      throw new Error(`Benchmark on the OCI cluster ${r.status}: ${r.reason}`);
    }
    return r;
  });
}

/** What `benchAll` returns. */
export interface BenchResult {
  runDir: string;
  status: Manifest["status"];
  summary?: Summary;
  reportPath?: string;
  reason?: string;
}

/**
 * Every stage in order on a new run directory. Cleanup always runs; results
 * measured before an interrupt or failure are kept and summarised.
 */
export async function benchAll(
  config: BenchConfig,
  sources: string[],
  deps: Deps,
): Promise<BenchResult> {
  const { runId, release } = await prepareNewRun(config, deps, "bench:all");
  let runDir: string;
  try {
    runDir = await initRun(config, sources, deps, { runId, task: "bench:all" });
    deps.runStarted?.(runDir);
  } catch (e) {
    release();
    throw e;
  }
  try {
    return await runAllStages(runDir, deps);
  } finally {
    release();
  }
}

async function runAllStages(runDir: string, deps: Deps): Promise<BenchResult> {
  let status: Manifest["status"] = "complete";
  let reason: string | undefined;
  let summary: Summary | undefined;
  let reportPath: string | undefined;
  try {
    await stageDeploy(runDir, deps);
    await stageHealth(runDir, deps);
    await stageWarmup(runDir, deps);
    const { failed } = await stageLoad(runDir, deps);
    if (failed > 0) {
      status = "failed";
      reason = `${failed} measured run(s) failed; see notes in summary.json`;
    }
    if (!deps.signal.aborted) await stageCooldown(runDir, deps);
  } catch (e) {
    status = "failed";
    reason = (e as Error).message;
  } finally {
    if (deps.signal.aborted) {
      status = "interrupted";
      reason = "interrupted (SIGINT/SIGTERM); results measured so far are kept";
    }
    // Cleanup must run even after an interrupt: use a fresh, unaborted signal.
    const cleanupDeps = { ...deps, signal: new AbortController().signal };
    try {
      await stageCleanup(runDir, cleanupDeps);
    } catch (e) {
      status = status === "complete" ? "failed" : status;
      reason = `${reason ? `${reason}; ` : ""}cleanup failed: ${(e as Error).message}`;
    }
    try {
      summary = await stageCollect(runDir, cleanupDeps);
    } catch (e) {
      status = status === "complete" ? "failed" : status;
      reason = `${reason ? `${reason}; ` : ""}${(e as Error).message}`;
    }
    // The manifest is final before the report reads it, so the report shows the outcome.
    await finishRun(runDir, status, reason);
    try {
      reportPath = await stageReport(runDir, cleanupDeps, { summary });
    } catch (e) {
      status = status === "complete" ? "failed" : status;
      reason = `${reason ? `${reason}; ` : ""}${(e as Error).message}`;
      await finishRun(runDir, status, reason);
    }
  }
  return { runDir, status, summary, reportPath, reason };
}

/**
 * The workload and mesh names a config may use, from the registries, so the config is
 * refused (exit 2, with the file line) before anything starts rather than at deploy.
 */
export async function configVocabulary(): Promise<ConfigVocabulary> {
  const targets = targetNames();
  const meshes = new Map(
    await Promise.all(targets.map(async (t) => [t, await targetMeshes(t)] as const)),
  );
  return {
    targets,
    workloads: workloadNames(),
    sweepWorkloads: registeredWorkloads().filter((w) => w.sweeps).map((w) => w.name),
    meshes: (target) => meshes.get(target) ?? [],
  };
}
