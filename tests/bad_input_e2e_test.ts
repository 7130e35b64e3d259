/**
 * Every class of bad input is refused the way a user meets it: `deno task <stage>` as a
 * subprocess, exit 2, one message on stderr naming the field, the value as written and (for
 * a file) `file:line`, no stack trace, and nothing left behind (no run directory, no file in
 * the working directories, no process).
 *
 * The tasks run with a PATH that holds only `deno`: should a check ever let bad input
 * through, the run stops at the tool check (exit 3) instead of measuring.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

const denoDir = Deno.env.get("DENO_DIR") ??
  join(Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");

/** A sandbox: a temp dir with a bin/ holding only deno, used as HOME and GOPATH too. */
async function sandbox(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-badinput-" });
  await Deno.mkdir(join(dir, "bin"));
  await Deno.symlink(Deno.execPath(), join(dir, "bin", "deno"));
  return {
    dir,
    env: { PATH: join(dir, "bin"), HOME: dir, GOPATH: dir, DENO_DIR: denoDir, NO_COLOR: "1" },
  };
}

/** Every path under `dir`, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      out.push(p);
      if (e.isDirectory && !e.isSymlink) await walk(p);
    }
  };
  await walk(dir).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  return out.sort();
}

/** Processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      if (cmd.includes(text)) out.push(`${e.name}: ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

interface Case {
  name: string;
  /** `deno task` name. */
  task: string;
  /** Files written into the sandbox first (name -> content), config.yaml among them. */
  files?: Record<string, string>;
  args: (dir: string) => string[];
  env?: Record<string, string>;
  /** Strings stderr must hold (the field, the value as written, file:line...). */
  expect: (dir: string) => string[];
}

const CASES: Case[] = [
  {
    name: "a NaN in the file is shown as written, with its line",
    task: "bench:all",
    files: { "bench.yaml": "iterations: 1\nload:\n  durationS: .nan\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => ['"load.durationS"', `${join(d, "bench.yaml")}:3`, "got .nan"],
  },
  {
    name: "an infinity in the file is shown as written, with its line",
    task: "bench:all",
    files: { "bench.yaml": "bootstrap:\n  confidence: .inf\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => ['"bootstrap.confidence"', `${join(d, "bench.yaml")}:2`, "got .inf"],
  },
  {
    name: "an unknown workload is refused with its line and a suggestion",
    task: "bench:all",
    files: { "bench.yaml": "seed: 1\nworkloads:\n  - http\n  - grcp\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [
      '"workloads"',
      `${join(d, "bench.yaml")}:4`,
      'unknown workload "grcp"',
      'did you mean "grpc"?',
    ],
  },
  {
    name: "an unknown mesh (a near miss) is refused with its line and a suggestion",
    task: "deploy",
    files: { "bench.yaml": "meshes: [baseline, sidecar-em]\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [
      '"meshes"',
      `${join(d, "bench.yaml")}:1`,
      'unknown mesh "sidecar-em"',
      'did you mean "sidecar-emu"?',
    ],
  },
  {
    name: "a real mesh on the local target is refused, saying where real meshes run",
    task: "bench:all",
    args: (d) => ["--meshes", "baseline,istio", "--out", join(d, "results")],
    expect: () => ['"meshes"', "--meshes", '"istio"', "real meshes need --target cluster"],
  },
  {
    name: "an empty config file is refused, naming it",
    task: "bench:all",
    files: { "bench.yaml": "" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [`--config "${join(d, "bench.yaml")}"`, "empty"],
  },
  {
    name: "a whitespace-only config file is refused, naming it",
    task: "bench:all",
    files: { "bench.yaml": " \n\t\n  \n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [`--config "${join(d, "bench.yaml")}"`, "empty"],
  },
  {
    name: "out naming a regular file is refused",
    task: "bench:all",
    files: { "a-file": "x\n" },
    args: (d) => ["--out", join(d, "a-file")],
    expect: (d) => ['"out"', "--out", `"${join(d, "a-file")}"`, "is a file"],
  },
  {
    name: "an empty out in the file is refused with its line (the run would land in cwd)",
    task: "bench:all",
    files: { "bench.yaml": "seed: 2\nout: ''\n" },
    args: (d) => ["--config", join(d, "bench.yaml")],
    expect: (d) => ['"out"', `${join(d, "bench.yaml")}:2`, 'got ""'],
  },
  {
    name: "an empty --out is refused",
    task: "bench:all",
    args: () => ["--out", ""],
    expect: () => ['"out"', "--out", 'got ""'],
  },
  {
    name: "a NUL character in out is refused with its line",
    task: "bench:all",
    files: { "bench.yaml": 'out: "res\\0ults"\n' },
    args: (d) => ["--config", join(d, "bench.yaml")],
    expect: (d) => ['"out"', `${join(d, "bench.yaml")}:1`, "U+0000", '"res\\u0000ults"'],
  },
  {
    name: "a control character in --out is refused",
    task: "bench:all",
    args: (d) => ["--out", `${d}/res\x1bults`],
    expect: () => ['"out"', "--out", "U+001B"],
  },
  {
    name: "an out whose parent cannot be written is refused",
    task: "bench:all",
    args: () => ["--out", "/proc/meshbench/results"],
    expect: () => ['"out"', '"/proc/meshbench/results"', 'cannot create a directory in "/proc"'],
  },
  {
    name: "a duration of 1e9 seconds is refused with the range and the value as written",
    task: "bench:all",
    files: { "bench.yaml": "load:\n  throughput:\n    durationS: 1e9\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [
      '"load.throughput.durationS"',
      `${join(d, "bench.yaml")}:3`,
      "at most 3600 seconds",
      "got 1e9",
    ],
  },
  {
    name: "1e12 bootstrap resamples are refused with the range",
    task: "bench:all",
    files: { "bench.yaml": "bootstrap:\n  resamples: 1e12\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [
      '"bootstrap.resamples"',
      `${join(d, "bench.yaml")}:2`,
      "from 100 to 100000",
      "got 1e12",
    ],
  },
  {
    name: "100000 proxy threads are refused with the range",
    task: "bench:all",
    files: { "bench.yaml": "local:\n  proxyThreads: 100000\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [
      '"local.proxyThreads"',
      `${join(d, "bench.yaml")}:2`,
      "from 1 to 256",
      "got 100000",
    ],
  },
  {
    name: "a rate that is not a whole number is refused at config time",
    task: "bench:all",
    files: { "bench.yaml": "load:\n  rates:\n    - 250\n    - 99.5\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => ['"load.rates"', `${join(d, "bench.yaml")}:4`, "integers", "got 99.5"],
  },
  {
    name: "a YAML alias bomb is refused, naming the file",
    task: "bench:all",
    files: {
      "bench.yaml": [
        "a: &a [x, x, x, x, x, x, x, x, x]",
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
        "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
      ].join("\n") + "\n",
    },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => [`--config "${join(d, "bench.yaml")}"`, "aliases"],
  },
  {
    name: "a 50 MB config file is refused without being parsed, naming the file",
    task: "bench:all",
    files: { "huge.yaml": "" },
    args: (d) => ["--config", join(d, "huge.yaml"), "--out", join(d, "results")],
    expect: (d) => [`--config "${join(d, "huge.yaml")}"`, "50.0 MiB", "at most 1 MiB"],
  },
  {
    name: "an unknown MESHBENCH_ variable is refused with the known ones",
    task: "bench:all",
    env: { MESHBENCH_PROFLE: "full" },
    args: (d) => ["--out", join(d, "results")],
    expect: () => [
      "MESHBENCH_PROFLE",
      '"full"',
      "did you mean MESHBENCH_PROFILE?",
      "known: ",
      "MESHBENCH_RUN_DIR",
    ],
  },
  {
    name: "a flag given twice is refused with both values",
    task: "bench:all",
    args: (d) => ["--profile", "quick", "--profile", "full", "--out", join(d, "results")],
    expect: () => ["--profile", '"quick", "full"', "give it once"],
  },
  {
    name: "a flag that does not apply to the task is refused with what the task takes",
    task: "bench:all",
    args: (d) => ["--run", join(d, "x"), "--out", join(d, "results")],
    expect: () => ["--run does not apply to deno task bench:all", "takes: --config, --target"],
  },
  {
    name: "an unknown flag is refused with a suggestion and what the task takes",
    task: "collect",
    args: (d) => ["--quite", "--out", join(d, "results")],
    expect: () => ["Unknown flag --quite", "did you mean --quiet?", "takes: --out, --run, --quiet"],
  },
  {
    name: "a config flag to a stage of an existing run is refused",
    task: "load",
    args: (d) => ["--run", d, "--iterations", "5"],
    expect: () => ["--iterations does not apply to deno task load", "takes: --out, --run"],
  },
  {
    name: "a cluster flag beside --run to cleanup is refused (the run says what to remove)",
    task: "cleanup",
    args: (d) => ["--run", d, "--target", "cluster"],
    expect: () => ["--target does not apply with --run", "manifest.json"],
  },
  {
    name: "--out beside a named run is refused",
    task: "report",
    args: (d) => [d, "--out", join(d, "results")],
    expect: () => ["--out does not apply with RUN_DIR"],
  },
  {
    name: "compare --out naming a file is refused",
    task: "compare",
    files: { "a-file": "x\n" },
    args: (d) => [d, d, "--out", join(d, "a-file")],
    expect: (d) => ["Invalid --out", `"${join(d, "a-file")}"`, "is a file"],
  },
  {
    name: "compare --gate-alpha outside (0, 1) is refused",
    task: "compare",
    args: (d) => [d, d, "--gate", "--gate-alpha", "1.5"],
    expect: () => ["Invalid --gate-alpha", '"1.5"', "between 0 and 1"],
  },
  {
    name: "notebooks --compare naming no directory is refused",
    task: "notebooks",
    args: (d) => [d, "--compare", join(d, "missing-run")],
    expect: (d) => ["Invalid --compare", `"${join(d, "missing-run")}"`, "not a directory"],
  },
  {
    name: "export --output naming a directory is refused",
    task: "export",
    args: (d) => [d, "--format", "csv", "--output", d],
    expect: (d) => ["Invalid --output", `"${d}"`, "is a directory"],
  },
  {
    name: "a kubeconfig that does not exist is refused before anything starts",
    task: "bench:all",
    files: { "bench.yaml": "target: cluster\ncluster:\n  context: kind-x\n  kubeconfig: ./nope\n" },
    args: (d) => ["--config", join(d, "bench.yaml"), "--out", join(d, "results")],
    expect: (d) => ['"cluster.kubeconfig"', `${join(d, "bench.yaml")}:4`, 'got "./nope"'],
  },
  {
    name: "a number flag that is not a number is refused with the flag and value",
    task: "bench:all",
    args: (d) => ["--iterations", "many", "--out", join(d, "results")],
    expect: () => ['"iterations"', "--iterations", 'got "many"', "from 1 to 100"],
  },
  {
    name: "the knee asked for without the http workload (the only one with a ramp) is refused",
    task: "bench:all",
    args: (d) => ["--workloads", "grpc", "--knee", "--out", join(d, "results")],
    expect: () => ['"knee.enabled"', "--knee", 'runs on workload "http" only', '["grpc"]'],
  },
  {
    name: "an unknown target is refused with the choices",
    task: "bench:all",
    args: (d) => ["--target", "clustr", "--out", join(d, "results")],
    expect: () => ['"target"', "--target", 'got "clustr"', 'did you mean "cluster"?'],
  },
];

for (const c of CASES) {
  Deno.test(`bad input: ${c.name}: exit 2, named on stderr, nothing left behind`, async () => {
    const { dir, env } = await sandbox();
    try {
      for (const [name, text] of Object.entries(c.files ?? {})) {
        await Deno.writeTextFile(join(dir, name), text);
        if (name === "huge.yaml") await Deno.truncate(join(dir, name), 50 * 1024 * 1024);
      }
      const before = await tree(dir);
      const rootResults = await tree(join(ROOT, "results"));
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", c.task, ...c.args(dir)],
        cwd: ROOT,
        env: { ...env, ...c.env },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(r.stderr);
      const stdout = new TextDecoder().decode(r.stdout);
      assertEquals(r.code, 2, `exit code; stderr:\n${stderr}\nstdout:\n${stdout}`);
      for (const s of c.expect(dir)) assert(stderr.includes(s), `"${s}" not in:\n${stderr}`);
      assert(/^error: /m.test(stderr), stderr);
      assert(!/^\s+at /m.test(stderr), `no stack trace:\n${stderr}`);
      assertEquals(stdout.trim(), "", "nothing on stdout");
      assertEquals(await tree(dir), before, "nothing created in the sandbox (no run directory)");
      assertEquals(await tree(join(ROOT, "results")), rootResults, "nothing created in results/");
      assertEquals(await processesMentioning(dir), [], "no process left running");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("every stage takes --run, report and notebooks too, and RUN_DIR with --run is refused", async () => {
  const { dir, env } = await sandbox();
  try {
    const fixtures = join(ROOT, "fixtures", "runs");
    const name = [...Deno.readDirSync(fixtures)].map((e) => e.name).sort()[0];
    const run = join(dir, name);
    await new Deno.Command("cp", { args: ["-r", join(fixtures, name), run] }).output();
    const task = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", ...args],
        cwd: ROOT,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const ok = await task("report", "--run", run);
    assertEquals(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert((await Deno.stat(join(run, "report.html"))).isFile);
    const both = await task("report", run, "--run", run);
    assertEquals(both.code, 2);
    assert(new TextDecoder().decode(both.stderr).includes("Give the run directory once"));
    for (
      const t of [
        "health",
        "warmup",
        "load",
        "cooldown",
        "collect",
        "cleanup",
        "report",
        "notebooks",
        "export",
      ]
    ) {
      const h = await task(t, "--help");
      assertEquals(h.code, 0, t);
      assert(new TextDecoder().decode(h.stdout).includes("--run DIR"), `${t} --help lists --run`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
