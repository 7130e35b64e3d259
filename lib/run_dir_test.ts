import { FIXTURE_DIR, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
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

/** The definition of readable JSON: the native indenting, flat arrays swapped in on one line. */
function readableByDefinition(data: unknown): string {
  const flat: string[] = [];
  const isFlatArray = (v: unknown) =>
    Array.isArray(v) &&
    v.every((x) =>
      x === null || typeof x !== "object" ||
      (Array.isArray(x) && x.every((y) => y === null || typeof y !== "object"))
    );
  const text = JSON.stringify(data, (_k, v) => {
    if (!isFlatArray(v)) return v;
    flat.push(JSON.stringify(v));
    return `@flat${flat.length - 1}@`;
  }, 2);
  if (text === undefined) return "null";
  return text.replace(/"@flat(\d+)@"/g, (_, i) => flat[Number(i)]);
}

Deno.test("readable JSON is the native indented JSON with flat arrays inline, for any shape", async () => {
  const cases: unknown[] = [
    { at: new Date(0), nested: { d: new Date(1) }, list: [new Date(2), { x: undefined }] },
    { f: () => 1, sym: Symbol("s"), arr: [undefined, () => 1, { a: [] }], o: { a: {} } },
    [[1, [2]], [{}], [[]]],
    { n: [NaN, Infinity, -0, 1e21, 0.1], deep: { a: { b: { c: [{ d: [1, [2, 3]] }] } } } },
    { boxed: [new Number(1), new String("s")], boxedAlone: new Boolean(false) },
    { typed: new Uint32Array([1, 2]), toJSON: undefined },
    { custom: { toJSON: (key: string) => ({ key, v: [1, 2] }) } },
    "text",
    42,
    undefined,
  ];
  for (const name of FIXTURE_RUNS) {
    cases.push(JSON.parse(await Deno.readTextFile(join(FIXTURE_DIR, name, "summary.json"))));
  }
  for (const data of cases) {
    assertEquals(stringifyReadable(data), readableByDefinition(data));
    if (data !== null && typeof data === "object" && !Array.isArray(data)) {
      assertEquals([...readableChunks(data)].join(""), readableByDefinition(data) + "\n");
    }
  }
});

Deno.test("readable JSON refuses a circular structure as JSON.stringify does", () => {
  const a: Record<string, unknown> = { x: [{ y: 1 }] };
  (a.x as Record<string, unknown>[])[0].back = a;
  throws(() => stringifyReadable(a), (e) => e instanceof TypeError && /circular/.test(e.message));
});
