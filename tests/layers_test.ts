/**
 * Layers point down only: the module graph as Deno resolves it (`deno info --json`, static,
 * dynamic and type-only imports) checked against the table in `layers.ts`.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join, relative } from "node:path";
import { HARNESS_FILE, KNOWN_VIOLATIONS, type Layer, LAYERS, PACKAGE_HOMES } from "./layers.ts";
import { repoFiles, ROOT } from "./helpers.ts";

const SCANNED = ["lib", "tasks", "bench", "tests", "fixtures", "servers"];

/** Every TypeScript module of the repository, relative to its root. */
const sourceFiles = () => repoFiles(SCANNED, (p) => p.endsWith(".ts"));

interface Edge {
  from: string;
  to: string;
  kind: "module" | "package";
}

/** The import graph of `files`, resolved by Deno itself. */
async function importGraph(files: string[]): Promise<Edge[]> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-layers-" });
  try {
    const root = join(dir, "all.ts");
    await Deno.writeTextFile(
      root,
      files.map((f) => `import "${new URL(f, `file://${ROOT}`).href}";`).join("\n") + "\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", join(ROOT, "deno.json"), root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`deno info failed: ${new TextDecoder().decode(out.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Array<{
        specifier: string;
        dependencies?: Array<{
          specifier: string;
          code?: { specifier?: string };
          type?: { specifier?: string };
        }>;
      }>;
    };
    const rootUrl = new URL(`file://${ROOT}`).href;
    const local = (s: string | undefined) =>
      s?.startsWith(rootUrl) ? relative(ROOT, new URL(s).pathname) : undefined;
    const edges: Edge[] = [];
    for (const m of info.modules) {
      const from = local(m.specifier);
      if (!from || !files.includes(from)) continue;
      for (const d of m.dependencies ?? []) {
        for (const r of [d.code?.specifier, d.type?.specifier]) {
          const to = local(r);
          if (to) edges.push({ from, to, kind: "module" });
          else if (r?.startsWith("npm:")) {
            const name = r.slice(4).replace(/^(@[^/]+\/[^@/]+|[^@/]+).*$/, "$1");
            edges.push({ from, to: name, kind: "package" });
          }
        }
      }
    }
    const seen = new Set<string>();
    return edges.filter((e) => {
      const k = `${e.from} ${e.to}`;
      return !seen.has(k) && (seen.add(k), true);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The layer of a module: the harness for tests, else the longest matching path. */
function layerOf(file: string): Layer | undefined {
  if (HARNESS_FILE.test(file)) return LAYERS.find((l) => l.name === "harness");
  let best: { layer: Layer; len: number } | undefined;
  for (const layer of LAYERS) {
    for (const p of layer.paths) {
      const hit = p.endsWith("/") ? file.startsWith(p) : file === p;
      if (hit && (!best || p.length > best.len)) best = { layer, len: p.length };
    }
  }
  return best?.layer;
}

/** Layers `name` may import from: itself and everything below through `may`. */
function reachable(name: string): Set<string> {
  const out = new Set<string>([name]);
  const todo = [name];
  while (todo.length) {
    const name = todo.pop();
    for (const m of LAYERS.find((l) => l.name === name)?.may ?? []) {
      if (!out.has(m)) out.add(m), todo.push(m);
    }
  }
  return out;
}

const files = await sourceFiles();
const edges = await importGraph(files);
const known = (e: { from: string; to: string }) =>
  KNOWN_VIOLATIONS.some((k) => k.from === e.from && k.to === e.to);

Deno.test("the layer table names only layers it defines", () => {
  const names = new Set(LAYERS.map((l) => l.name));
  assertEquals(names.size, LAYERS.length, "layer names are unique");
  for (const l of LAYERS) for (const m of l.may) assert(names.has(m), `${l.name} may ${m}`);
  for (const homes of Object.values(PACKAGE_HOMES)) {
    for (const h of homes) assert(names.has(h), `package home ${h}`);
  }
});

Deno.test("every module of the repository belongs to a layer of tests/layers.ts", () => {
  assert(files.length > 50, `found only ${files.length} modules under ${SCANNED.join(", ")}`);
  const unplaced = files.filter((f) => !layerOf(f));
  assertEquals(unplaced, [], "add these files to a layer in tests/layers.ts");
});

Deno.test("no module imports from a layer above it or beside it", () => {
  const bad = edges.filter((e) => e.kind === "module").flatMap((e) => {
    const from = layerOf(e.from), to = layerOf(e.to);
    if (!from || !to || reachable(from.name).has(to.name) || known(e)) return [];
    return [`${e.from} (${from.name}) imports ${e.to} (${to.name})`];
  });
  assertEquals(bad, []);
});

Deno.test("packages for charts and for Kubernetes are imported only in their home layers", () => {
  const bad = edges.filter((e) => e.kind === "package").flatMap((e) => {
    const homes = PACKAGE_HOMES[e.to];
    const from = layerOf(e.from)?.name ?? "?";
    if (!homes || from === "harness" || homes.includes(from)) return [];
    return [`${e.from} (${from}) imports ${e.to} (only in ${homes.join(", ")})`];
  });
  assertEquals(bad, []);
});

Deno.test("task scripts import no other task script, only the shared tasks/_*.ts", () => {
  const bad = edges.filter((e) =>
    e.from.startsWith("tasks/") && e.to.startsWith("tasks/") && !e.to.startsWith("tasks/_") &&
    !known(e)
  ).map((e) => `${e.from} imports ${e.to}`);
  assertEquals(bad, []);
});

Deno.test("the module graph has no import cycle", () => {
  // Tarjan's strongly connected components over module imports.
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (e.kind === "module" && !known(e)) {
      next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    }
  }
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter), low.set(v, counter++), stack.push(v), onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w;
      do (w = stack.pop()!), onStack.delete(w), scc.push(w); while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  assertEquals(cycles, [], "modules that import each other (directly or round a loop)");
});

Deno.test("every known layer violation still exists (fixed ones leave the list)", () => {
  const gone = KNOWN_VIOLATIONS.filter((k) =>
    !edges.some((e) => e.from === k.from && e.to === k.to)
  );
  assertEquals(gone, []);
});
