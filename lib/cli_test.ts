import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  checkEnv,
  checkOutDir,
  FLAGS,
  parseArgsFor,
  parseCli,
  taskFlags,
  taskHelp,
  type TaskSpec,
  UsageError,
} from "./cli.ts";
import { ConfigError, rangeText } from "./config.ts";
import { CONFIG_FLAGS, configFields, knownEnv } from "./config_schema.ts";
import { configVocabulary } from "./pipeline.ts";

const STAGE: TaskSpec = {
  name: "load",
  description: "a stage",
  config: ["out"],
  flags: { run: FLAGS.run, quiet: FLAGS.quiet },
};
const MULTI: TaskSpec = {
  name: "cluster:setup",
  description: "repeatable and short flags",
  flags: {
    "extra-var": { type: "string", short: "e", multiple: true, help: "k=v" },
    "metrics-server": { type: "boolean", negatable: true, help: "on or off" },
  },
};

Deno.test("a task takes exactly the flags it declares, config flags from the schema", () => {
  const all = taskFlags({ name: "bench:all", description: "", config: "all" });
  assertEquals(
    Object.keys(all).filter((n) => n !== "config" && n !== "help").sort(),
    Object.keys(CONFIG_FLAGS).sort(),
  );
  assertEquals(Object.keys(taskFlags(STAGE)), ["out", "run", "quiet", "help"]);
  const help = taskHelp(STAGE);
  assert(help.includes("--run DIR") && help.includes("--out DIR"), help);
  assert(help.includes("MESHBENCH_OUT"), help);
});

Deno.test("values, booleans, --flag=value and positionals after -- parse", () => {
  assertEquals(parseArgsFor(STAGE, ["--run", "r", "--quiet", "--out=o"]), {
    values: { run: "r", quiet: true, out: "o" },
    positionals: [],
  });
  assertEquals(
    parseArgsFor(MULTI, ["-e", "a=1", "--extra-var=b=2", "-ec=3", "--no-metrics-server"]),
    { values: { "extra-var": ["a=1", "b=2", "c=3"], "metrics-server": false }, positionals: [] },
  );
});

Deno.test("a flag given twice is refused, even as --x and --no-x", () => {
  throws(
    () => parseArgsFor(STAGE, ["--run", "a", "--run=b"]),
    /--run is given 2 times \("a", "b"\): give it once/,
  );
  throws(
    () => parseArgsFor(MULTI, ["--metrics-server", "--no-metrics-server"]),
    /--metrics-server is given 2 times/,
  );
});

Deno.test("unknown, inapplicable and malformed flags are refused with what the task takes", () => {
  throws(
    () => parseArgsFor(STAGE, ["--profile", "full"]),
    (e: Error) =>
      e instanceof UsageError &&
      e.message.startsWith("--profile does not apply to deno task load") &&
      e.message.includes("takes: --out, --run, --quiet, -h, --help"),
  );
  throws(() => parseArgsFor(STAGE, ["--rn", "x"]), /Unknown flag --rn .*did you mean --run\?/);
  throws(() => parseArgsFor(STAGE, ["-x"]), /Unknown flag -x for deno task load/);
  throws(() => parseArgsFor(STAGE, ["--run"]), /--run needs a value \(--run DIR\)/);
  throws(
    () => parseArgsFor(STAGE, ["--run", "--quiet"]),
    /--run needs a value \(--run DIR\), got the flag --quiet/,
  );
  throws(() => parseArgsFor(STAGE, ["--quiet=yes"]), /--quiet takes no value, got "yes"/);
  throws(() => parseArgsFor(STAGE, ["extra"]), /takes no positional arguments, got "extra"/);
  throws(
    () =>
      parseArgsFor(
        { ...STAGE, positionals: { min: 2, max: 2, name: "RUN_A RUN_B" } },
        ["a"],
      ),
    /needs RUN_A RUN_B, got 1/,
  );
});

Deno.test("MESHBENCH_ variables that meshbench does not read are refused, listing the known", () => {
  checkEnv({ MESHBENCH_PROFILE: "full", MESHBENCH_RUN_DIR: "x", OTHER: "1" });
  throws(
    () => checkEnv({ MESHBENCH_ITERATIONS: "4" }),
    (e: Error) =>
      e instanceof UsageError && e.message.includes('MESHBENCH_ITERATIONS="4"') &&
      e.message.includes(`known: ${knownEnv().join(", ")}`),
  );
});

Deno.test("every MESHBENCH_ variable read anywhere in the code is a known one", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const known = new Set(knownEnv());
  const unknown: string[] = [];
  for (const sub of ["lib", "tasks", "bench", "tests", "fixtures", "notebooks", ".ci"]) {
    const walk = async (dir: string) => {
      for await (const e of Deno.readDir(dir)) {
        const p = join(dir, e.name);
        if (e.isDirectory) {
          if (e.name !== "testdata" && !e.name.startsWith(".ipynb")) await walk(p);
        } else if (/\.(ts|ipynb|sh)$|^run$/.test(e.name) && !p.endsWith("cli_test.ts")) {
          const text = await Deno.readTextFile(p);
          for (
            const m of text.matchAll(/(?:env\.get\(|\$\{?|Deno\.env\.get\(")(MESHBENCH_[A-Z_]+)/g)
          ) {
            if (!known.has(m[1])) unknown.push(`${p}: ${m[1]}`);
          }
        }
      }
    };
    await walk(join(root, sub)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  assertEquals(unknown, [], "add them to OTHER_ENV in lib/config_schema.ts");
});

Deno.test("config flags go through the one config merge, with the flag named in errors", async () => {
  const spec: TaskSpec = { name: "bench:all", description: "", config: "all" };
  const cli = await parseCli(spec, {
    args: ["--rates", "100,200", "--keep", "--duration=2"],
    env: {},
  });
  assertEquals(cli.config.load.rates, [100, 200]);
  assertEquals(cli.config.load.durationS, 2);
  assertEquals(cli.config.oci.keep, true);
  await rejects(
    parseCli(spec, { args: ["--duration", "1e9"], env: {} }),
    /"load.durationS" \(command-line flag --duration\): expected a number above 0 and at most 3600 seconds, got "1e9"/,
  );
  await rejects(
    parseCli(spec, { args: ["--workloads", "http,htp"], env: {}, vocabulary: configVocabulary }),
    /"workloads" \(command-line flag --workloads\): unknown workload "htp"; did you mean "http"\?/,
  );
  await rejects(
    parseCli(
      { ...STAGE, config: "all" },
      { args: ["--run", "x", "--seed", "2"], env: {} },
    ),
    /--seed does not apply with --run/,
  );
});

Deno.test("out must be a directory or creatable, and checking it creates nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await checkOutDir(join(dir, "a", "b", "results"));
    await checkOutDir(dir);
    assertEquals([...Deno.readDirSync(dir)], [], "the probe is removed");
    await Deno.writeTextFile(join(dir, "f"), "x");
    await rejects(checkOutDir(join(dir, "f")), (e: Error) => {
      assert(e instanceof ConfigError);
      assert(e.message.includes('"out"') && e.message.includes("is a file"), e.message);
      return true;
    });
    await rejects(checkOutDir(join(dir, "f", "results")), /a part of the path is a file/);
    await rejects(checkOutDir("/proc/meshbench/results"), /cannot create a directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The table of config fields docs/cli.md must hold, rendered from the schema. */
function configTableRows(): string[][] {
  return configFields().map(({ path, node }) => {
    const items = node.items;
    const allowed = node.enum
      ? node.enum.join(", ")
      : node.type === "array"
      ? (items!.type === "string"
        ? "list of names"
        : `list of ${items!.type}s ${rangeText(items!)}`)
      : node.type === "integer" || node.type === "number"
      ? `${node.type} ${rangeText(node)}`
      : node.type === "string"
      ? (node.pattern?.startsWith("^[^") ?? true
        ? `text${node.minLength ? ", not empty" : ""}, no control characters`
        : node.description!)
      : node.type;
    return [
      `\`${path}\``,
      `\`${JSON.stringify(node.default)}\``,
      allowed,
      node["x-env"] ? `\`${node["x-env"]}\`` : "",
      node["x-flag"] ? `\`--${node["x-flag"]}\`` : "",
    ];
  });
}

Deno.test("docs/cli.md lists every config field with its default, range, variable and flag", async () => {
  const text = await Deno.readTextFile(new URL("../docs/cli.md", import.meta.url));
  const start = text.indexOf("## Config fields");
  const section = text.slice(start, text.indexOf("\n## ", start + 1));
  const rows = section.split("\n").filter((l) => l.startsWith("| `"))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  assertEquals(rows, configTableRows(), "docs/cli.md: print the rows with this test's renderer");
});

Deno.test("a named run brings its config: config flags and --out beside it are refused", async () => {
  await rejects(
    parseCli(STAGE, { args: ["--run", "r", "--out", "o"], env: {} }),
    /--out does not apply with --run: --out only says where to find the newest run/,
  );
  const reader: TaskSpec = {
    ...STAGE,
    name: "report",
    positionals: { min: 0, max: 1, name: "RUN_DIR" },
    runPositional: true,
  };
  await rejects(
    parseCli(reader, { args: ["some/run", "--out", "o"], env: {} }),
    /--out does not apply with RUN_DIR/,
  );
  const cleanup: TaskSpec = { ...STAGE, name: "cleanup", config: ["target", "context", "out"] };
  await rejects(
    parseCli(cleanup, { args: ["--run", "r", "--target", "cluster"], env: {} }),
    /--target does not apply with --run: a run keeps its config in its manifest.json/,
  );
  const ok = await parseCli(cleanup, {
    args: ["--target", "cluster", "--context", "c"],
    env: {},
  });
  assertEquals(ok.config.target, "cluster");
});

Deno.test("a task reads only the variables of the config fields it takes", async () => {
  const env = { MESHBENCH_TARGET: "cluster", MESHBENCH_OUT: "elsewhere" };
  const cli = await parseCli(STAGE, { args: [], env });
  assertEquals(cli.config.target, "local", "MESHBENCH_TARGET is not the stage's business");
  assertEquals(cli.config.out, "elsewhere");
  await rejects(
    parseCli({ name: "bench:all", description: "", config: "all" }, { args: [], env }),
    /"cluster.context".*explicitly named/,
  );
});
