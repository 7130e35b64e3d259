/**
 * The worker of `SummaryWorker` (collect's thread on the other core). It answers two
 * requests, one at a time:
 * - `{ read: files }`: reads and checks those record files, and posts back the valid records
 *   (each latency histogram's buckets in typed arrays, their buffers moved), the file of
 *   each, and the problems of the rest, in file order;
 * - `{ points, options }`: computes those load points (their groups' stats and overheads)
 *   and posts them back, each group's histogram packed.
 *
 * @module
 */
import { computePointPacked, type PointSettings, type PointWork } from "./summary.ts";
import { forEachRecordFile, leanRecord } from "./load_results.ts";
import { compactBuffers } from "./histogram.ts";
import type { CompactBuckets, ReadRunRecord } from "./types.ts";

type Request = { read: string[] } | { points: PointWork[]; options: PointSettings };

/** The worker's global scope (the project's type checking sees the window's). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Request>) => void;
  postMessage: (message: unknown, transfer?: ArrayBuffer[]) => void;
};

scope.onmessage = async (e: MessageEvent<Request>) => {
  try {
    if ("read" in e.data) {
      const records: ReadRunRecord[] = [];
      const files: string[] = [];
      const buffers: ArrayBuffer[] = [];
      const problems = await forEachRecordFile(e.data.read, (record, file) => {
        const lean = leanRecord(record);
        if (lean.load) buffers.push(...compactBuffers(lean.load.latency as CompactBuckets));
        records.push(lean);
        files.push(file);
      });
      scope.postMessage({ records, files, problems }, buffers);
    } else {
      const { points, options } = e.data;
      scope.postMessage({ results: points.map((p) => computePointPacked(p, options)) });
    }
  } catch (err) {
    scope.postMessage({ error: (err as Error).stack ?? String(err) });
  }
};
