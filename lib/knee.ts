/**
 * The knee per mesh: the highest fixed rate at which a mesh still holds a p99 target with the
 * load generator keeping up and the success rate intact (Nighthawk's adaptive load advice:
 * ramp, and stop on whichever breaks first). The plan holds every step of the ramp; the load
 * stage runs a mesh's next step of an iteration only while all its earlier steps held
 * ({@linkcode kneeStopped}), so a broken mesh stops climbing while the others go on, each step
 * still one interleaved block of all meshes that are climbing.
 *
 * Per iteration, a mesh's knee is the highest step of the unbroken run of held steps from the
 * bottom of the ramp (0 when the first step broke). The headline figure is the median of these
 * over iterations (the lower middle one for an even count, so always a measured step), and its
 * interval the range of the per-iteration knees (METHODOLOGY rule 4: the median run with its
 * min and max; a ramp gives a few discrete values, where a bootstrap of the median of 3-5 of
 * them gives back about the same range). Each knee is a lower bound within one step: the true
 * knee of that iteration lies between it and the next step.
 *
 * Pure: no I/O.
 *
 * @example
 * ```ts
 * import { kneeFigure } from "./knee.ts";
 * const k = kneeFigure([500, 1000, 500]);
 * if (k.rate !== 500 || k.interval[0] !== 500 || k.interval[1] !== 1000) throw new Error();
 * ```
 *
 * @module
 */
import { percentile } from "./histogram.ts";
import type { BenchConfig } from "./config_schema.ts";
import type { Histogram, Knee, KneeIteration, ReadRunRecord } from "./types.ts";

export type { Knee, KneeIteration };

/** What a ramp step must hold (from the config: `knee.*`, `saturationPct`). */
export interface KneeCriteria {
  p99TargetMs: number;
  /** The generator fell behind when its send-lag p99 is above this % of `p99TargetMs`. */
  maxSendLagPct: number;
  /** The generator (or the system) fell behind when more than this % under the rate. */
  saturationPct: number;
}

/** What a knee ramp step must hold, from a run's config. */
export function kneeCriteria(
  config: Pick<BenchConfig, "knee" | "saturationPct">,
): KneeCriteria {
  return {
    p99TargetMs: config.knee.p99TargetMs,
    maxSendLagPct: config.knee.maxSendLagPct,
    saturationPct: config.saturationPct,
  };
}

/** Why a step broke the ramp. */
export type KneeBreak = "p99" | "generator" | "success" | "rate" | "interrupted";

/** What the knee keeps of one ramp step's record. */
export interface KneeStep {
  workload: string;
  mesh: string;
  iteration: number;
  rate: number;
  /** Whether it held; when not, why (each a {@linkcode KneeBreak} with figures). */
  breaks: Array<{ kind: KneeBreak; detail: string }>;
  p99Ms: number | null;
  /** Send-lag p99, where the tool knows its intended send times. */
  sendLagP99Ms: number | null;
}

const fmt = (x: number) => Number(x.toPrecision(3)).toString();

/** The key of one mesh's ramp in one iteration. */
export function rampKey(s: { workload: string; mesh: string; iteration: number }): string {
  return `${s.workload}|${s.mesh}|${s.iteration}`;
}

/**
 * Judges one ramp step's record: it held when it succeeded (not failed: success rate at least
 * `minSuccessPct`), its p99 (from the intended send) is within the target, its generator sent
 * at the rate with a send-lag p99 within `maxSendLagPct` % of the target, and the system
 * completed at the rate (not saturated).
 */
export function judgeStep(record: ReadRunRecord, c: KneeCriteria): KneeStep {
  const rate = record.spec.point.rate ?? 0;
  const breaks: KneeStep["breaks"] = [];
  const p99Ms = record.latency?.p99Ms ?? null;
  const lag = record.load?.extra?.sendLag as Histogram | undefined;
  const sendLagP99Ms = lag && lag.total > 0 ? percentile(lag, 99) / 1000 : null;
  if (record.status === "interrupted") {
    breaks.push({ kind: "interrupted", detail: "interrupted" });
  } else if (record.status === "failed" || !record.load) {
    breaks.push({ kind: "success", detail: record.reason ?? "failed" });
  } else {
    if (p99Ms !== null && p99Ms > c.p99TargetMs) {
      breaks.push({ kind: "p99", detail: `p99 ${fmt(p99Ms)} ms > ${c.p99TargetMs} ms` });
    }
    const sent = record.load.extra?.sentRate;
    const sentShort = typeof sent === "number" && (rate - sent) / rate * 100 > c.saturationPct;
    const lagMax = c.p99TargetMs * c.maxSendLagPct / 100;
    if (sentShort) {
      breaks.push({
        kind: "generator",
        detail: `sent ${fmt(sent as number)}/s of ${rate}/s`,
      });
    } else if (sendLagP99Ms !== null && sendLagP99Ms > lagMax) {
      breaks.push({
        kind: "generator",
        detail: `send lag p99 ${fmt(sendLagP99Ms)} ms > ${fmt(lagMax)} ms`,
      });
    }
    if (record.status === "saturated" && !sentShort) {
      breaks.push({
        kind: "rate",
        detail: `achieved ${fmt(record.load.achievedRate)}/s of ${rate}/s`,
      });
    }
  }
  return {
    workload: record.spec.workload,
    mesh: record.spec.mesh,
    iteration: record.spec.iteration,
    rate,
    breaks,
    p99Ms,
    sendLagP99Ms,
  };
}

/**
 * Ramps already stopped: for each ramp key, the rate of its first broken step (the lowest
 * broken rate among `steps`). The load stage skips every step of a stopped ramp above it.
 */
export function kneeStopped(steps: readonly KneeStep[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of steps) {
    if (s.breaks.length === 0) continue;
    const k = rampKey(s);
    const at = out.get(k);
    if (at === undefined || s.rate < at) out.set(k, s.rate);
  }
  return out;
}

/** A headline knee over iterations: the median knee and the range as its interval. */
export function kneeFigure(knees: readonly number[]): { rate: number; interval: [number, number] } {
  if (knees.length === 0) return { rate: NaN, interval: [NaN, NaN] };
  const sorted = [...knees].sort((a, b) => a - b);
  return {
    rate: sorted[(sorted.length - 1) >> 1],
    interval: [sorted[0], sorted[sorted.length - 1]],
  };
}

/**
 * The knees of every ramp from its judged steps (any order). `rates` is the ramp, increasing;
 * `meta` gives each mesh's emulated flag, tool and point settings.
 */
export function computeKnees(
  steps: readonly KneeStep[],
  options: {
    criteria: KneeCriteria;
    meta: (workload: string, mesh: string) => {
      emulated: boolean;
      tool: string;
      connections: number;
      durationS: number;
      rates: number[];
    };
    maxThroughput: (workload: string, mesh: string) => Knee["maxThroughput"];
  },
): Knee[] {
  const ramps = new Map<string, KneeStep[]>();
  for (const s of steps) {
    const k = rampKey(s);
    const list = ramps.get(k);
    if (list) list.push(s);
    else ramps.set(k, [s]);
  }
  const byMesh = new Map<string, KneeIteration[]>();
  for (const list of ramps.values()) {
    const sorted = [...list].sort((a, b) => a.rate - b.rate);
    const { workload, mesh, iteration } = sorted[0];
    const rates = options.meta(workload, mesh).rates;
    let kneeRate = 0;
    let brokeAt: number | null = null;
    let reasons: string[] = [];
    // The unbroken run of held steps from the bottom of the ramp: a missing step ends it.
    for (const rate of rates) {
      const step = sorted.find((s) => s.rate === rate);
      if (!step) {
        brokeAt = rate;
        reasons = ["not measured"];
        break;
      }
      if (step.breaks.length > 0) {
        brokeAt = rate;
        reasons = step.breaks.map((b) => `${b.kind}: ${b.detail}`);
        break;
      }
      kneeRate = rate;
    }
    const k = `${workload}|${mesh}`;
    const its = byMesh.get(k) ?? [];
    its.push({ iteration, kneeRate, brokeAt, reasons, steps: sorted.length });
    byMesh.set(k, its);
  }
  const out: Knee[] = [];
  for (const [k, its] of byMesh) {
    const [workload, mesh] = k.split("|");
    const m = options.meta(workload, mesh);
    its.sort((a, b) => a.iteration - b.iteration);
    const fig = kneeFigure(its.map((i) => i.kneeRate));
    const top = m.rates[m.rates.length - 1];
    out.push({
      workload,
      mesh,
      emulated: m.emulated,
      tool: m.tool,
      connections: m.connections,
      durationS: m.durationS,
      rates: m.rates,
      p99TargetMs: options.criteria.p99TargetMs,
      maxSendLagPct: options.criteria.maxSendLagPct,
      kneeRate: fig.rate,
      interval: fig.interval,
      intervalMethod: "range-of-iterations",
      aboveRamp: fig.rate === top && its.some((i) => i.kneeRate === top && i.brokeAt === null),
      iterations: its,
      maxThroughput: options.maxThroughput(workload, mesh),
    });
  }
  return out.sort((a, b) => a.workload.localeCompare(b.workload) || a.mesh.localeCompare(b.mesh));
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/**
 * One mesh's knee in words: the median knee, its range over iterations and the closed-loop
 * max throughput beside it, e.g. `1,000/s (range 500-2,000/s over 3 iterations; closed-loop
 * max 5,210/s)`.
 */
export function kneeText(k: Knee): string {
  const rate = (x: number) => x === 0 ? `below ${int.format(k.rates[0])}/s` : `${int.format(x)}/s`;
  const head = k.aboveRamp ? `at least ${rate(k.kneeRate)} (the ramp's top)` : rate(k.kneeRate);
  const n = k.iterations.length;
  const range = n > 1
    ? `range ${
      k.interval[0] === k.interval[1]
        ? rate(k.interval[0])
        : `${k.interval[0] === 0 ? "0" : int.format(k.interval[0])}-${int.format(k.interval[1])}/s`
    } over ${n} iterations`
    : "1 iteration: no range";
  const mt = k.maxThroughput ? `; closed-loop max ${int.format(k.maxThroughput.mean)}/s` : "";
  return `${head} (${range}${mt})`;
}

/** What a knee must hold, in words: `p99 <= 10 ms, send lag p99 <= 2.5 ms, success intact`. */
export function kneeCriteriaText(k: Pick<Knee, "p99TargetMs" | "maxSendLagPct">): string {
  return `p99 <= ${k.p99TargetMs} ms, generator on time (send lag p99 <= ${
    Number((k.p99TargetMs * k.maxSendLagPct / 100).toPrecision(3))
  } ms, rate sent), success rate intact`;
}
