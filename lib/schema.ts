/**
 * The versioned result schema, one for every target, published as JSON Schema in
 * `schema/`. Readers take `unknown` and validate here; errors name the file, the
 * JSON path and what was wrong.
 *
 * @module
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import common from "../schema/common.schema.json" with { type: "json" };
import histogram from "../schema/histogram.schema.json" with { type: "json" };
import run from "../schema/run.schema.json" with { type: "json" };
import summary from "../schema/summary.schema.json" with { type: "json" };
import manifest from "../schema/manifest.schema.json" with { type: "json" };
import config from "../schema/config.schema.json" with { type: "json" };
import smp from "../schema/smp.schema.json" with { type: "json" };
import { packedProblems } from "./histogram.ts";
import type { Histogram, Manifest, PackedHistogram, RunRecord, StoredSummary } from "./types.ts";

// deno-lint-ignore no-explicit-any
const ajv = new (Ajv2020 as any)({ allErrors: true, strict: false });
// deno-lint-ignore no-explicit-any
(addFormats as any)(ajv);
for (const s of [config, common, histogram, run, summary, manifest, smp]) ajv.addSchema(s);

/** A file does not match its schema. */
export class SchemaError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(
      `Invalid "${file}": ${problems.slice(0, 5).join("; ")}${
        problems.length > 5 ? ` (and ${problems.length - 5} more)` : ""
      }`,
    );
    this.name = "SchemaError";
  }
}

/** What JSON Schema cannot say of a histogram: parallel arrays, ascending, counts add up. */
function histogramProblems(h: Histogram, where: string): string[] {
  const out: string[] = [];
  if (h.values.length !== h.counts.length) {
    out.push(`${where} has ${h.values.length} values but ${h.counts.length} counts`);
  }
  for (let i = 1; i < h.values.length; i++) {
    if (!(h.values[i] > h.values[i - 1])) {
      out.push(`${where}/values is not ascending at index ${i} (${h.values[i]})`);
      break;
    }
  }
  const sum = h.counts.reduce((a, b) => a + b, 0);
  if (sum !== h.total) out.push(`${where}/counts add up to ${sum}, not total ${h.total}`);
  return out;
}

/** What is wrong with a histogram, either as two arrays or packed (summary version 3). */
function anyHistogramProblems(h: Histogram | PackedHistogram, where: string): string[] {
  return "packed" in h ? packedProblems(h, where) : histogramProblems(h, where);
}

function validator<T>(
  id: string,
  histograms: (data: T) => Array<[Histogram | PackedHistogram, string]> = () => [],
) {
  return (data: unknown, file = "(data)"): T => {
    const validate = ajv.getSchema(id)!;
    if (!validate(data)) {
      const problems = (validate.errors ?? []).map((
        e: { instancePath: string; message?: string; params?: Record<string, unknown> },
      ) =>
        `${e.instancePath || "/"} ${e.message}${
          e.params?.additionalProperty ? ` "${e.params.additionalProperty}"` : ""
        }${e.params?.allowedValues ? ` (${JSON.stringify(e.params.allowedValues)})` : ""}`
      );
      throw new SchemaError(file, problems);
    }
    const problems = histograms(data as T).flatMap(([h, where]) => anyHistogramProblems(h, where));
    if (problems.length) throw new SchemaError(file, problems);
    return data as T;
  };
}

const BASE = "https://meshbench.dev/schema/v1/";

/** Validates a run record (`runs/*.json`). */
export const validateRunRecord: (data: unknown, file?: string) => RunRecord = validator<RunRecord>(
  `${BASE}run.schema.json`,
  (r) => (r.load ? [[r.load.latency, "/load/latency"]] : []),
);
/**
 * Validates `summary.json` as stored: version 3 histograms are packed (see
 * `unpackSummary` in `summary.ts` for the summary they stand for).
 */
export const validateSummary: (data: unknown, file?: string) => StoredSummary = validator<
  StoredSummary
>(
  `${BASE}summary.schema.json`,
  (s) => [
    ...s.groups.map((g, i): [Histogram | PackedHistogram, string] => [
      g.histogram,
      `/groups/${i}/histogram`,
    ]),
    ...(s.connectionSweep?.groups ?? []).map((g, i): [Histogram | PackedHistogram, string] => [
      g.histogram,
      `/connectionSweep/groups/${i}/histogram`,
    ]),
  ],
);
/** Validates `manifest.json`. */
export const validateManifest: (data: unknown, file?: string) => Manifest = validator(
  `${BASE}manifest.schema.json`,
);
/** Validates an SMP export (`export --format smp`) against `schema/smp.schema.json`. */
export const validateSmp: (data: unknown, file?: string) => Record<string, unknown> = validator(
  `${BASE}smp.schema.json`,
);
