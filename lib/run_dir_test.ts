import { FIXTURE_DIR, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  createRunDir,
  newestRunDir,
  newRunId,
  readableChunks,
  runFileStem,
  stringifyReadable,
  writeJsonAtomic,
  writeRunRecord,
} from "./run_dir.ts";
import type { RunRecord } from "./types.ts";

Deno.test("run ids sort by time", () => {
  const a = newRunId(new Date("2026-01-01T00:00:00Z"));
  const b = newRunId(new Date("2026-01-01T00:00:01Z"));
  assert(a < b);
  assert(/^20260101T000000Z-[0-9a-f]{6}$/.test(a), a);
});

Deno.test("a run directory is never reused", async () => {
  const out = await Deno.makeTempDir();
  await createRunDir(out, "20260101T000000Z-aaaaaa");
  await rejects(createRunDir(out, "20260101T000000Z-aaaaaa"), /already exists/);
  await createRunDir(out, "20260101T000001Z-bbbbbb");
  assertEquals(await newestRunDir(out), join(out, "20260101T000001Z-bbbbbb"));
});

Deno.test("atomic writes leave no temp files and records are never overwritten", async () => {
  const dir = await createRunDir(await Deno.makeTempDir(), newRunId());
  await writeJsonAtomic(join(dir, "x.json"), { a: 1 });
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assertEquals(names, ["raw", "runs", "x.json"]);
  const rec = {
    spec: {
      seq: 7,
      workload: "http",
      mesh: "baseline",
      iteration: 2,
      point: { mode: "fixed-rate", tool: "vegeta", rate: 500, connections: 8, durationS: 5 },
    },
  } as unknown as RunRecord;
  assertEquals(runFileStem(rec), "http_test_0007_baseline_500rps_i2");
  await writeRunRecord(dir, rec);
  await rejects(writeRunRecord(dir, rec), /never overwritten/);
});

Deno.test("readable JSON round-trips and keeps bucket arrays on one line", () => {
  const data = {
    a: 1,
    h: { buckets: [[1, 2], [3, 4]], total: 6 },
    list: [{ x: "y" }, { z: null }],
    empty: [],
    nan: NaN,
    skip: undefined,
  };
  const text = stringifyReadable(data);
  assertEquals(JSON.parse(text), JSON.parse(JSON.stringify(data)));
  assert(text.includes('"buckets": [[1,2],[3,4]]'), text);
});

Deno.test("readable JSON: two-space indent, flat arrays inline, strings left alone", () => {
  const data = {
    a: [1, "~flat-x~0", null],
    b: [{ c: [[1, 2]], d: {}, e: [] }],
    s: '"~flat-0~1"',
  };
  assertEquals(
    stringifyReadable(data),
    `{
  "a": [1,"~flat-x~0",null],
  "b": [
    {
      "c": [[1,2]],
      "d": {},
      "e": []
    }
  ],
  "s": "\\"~flat-0~1\\""
}`,
  );
  assertEquals(stringifyReadable([1, 2]), "[1,2]");
  assertEquals(stringifyReadable(undefined), "null");
});

Deno.test("JSON written in pieces is byte for byte the readable JSON", async () => {
  const cases: unknown[] = [
    {},
    { a: [] },
    { a: [{}], skipped: undefined, text: "two\nlines" },
    [1, { a: 1 }],
    null,
    { mixed: [{ a: 1 }, 2], nested: [[1, { a: 1 }]], rows: [{ v: [1, 2] }, { v: [] }] },
  ];
  for (const name of FIXTURE_RUNS) {
    cases.push(JSON.parse(await Deno.readTextFile(join(FIXTURE_DIR, name, "summary.json"))));
  }
  for (const data of cases) {
    assertEquals([...readableChunks(data)].join(""), stringifyReadable(data) + "\n");
  }
});
