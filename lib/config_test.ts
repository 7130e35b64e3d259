import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { ConfigError, loadConfig, parseStoredConfig, readStoredConfig } from "./config.ts";
import { CONFIG_SCHEMA, configDefaults } from "./config_schema.ts";
import { configVocabulary } from "./pipeline.ts";

async function withFile(text: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  const f = join(dir, "bench.yaml");
  await Deno.writeTextFile(f, text);
  return f;
}

Deno.test("defaults give the quick local profile", async () => {
  const { config, sources } = await loadConfig();
  assertEquals(config.target, "local");
  assertEquals(config.profile, "quick");
  assertEquals(config.meshes, ["baseline", "sidecar-emu", "node-proxy-emu"]);
  assertEquals(sources, ["defaults"]);
});

Deno.test("standard profile is the design's: 10 s warm-up, 5 s cool-down", async () => {
  const { config } = await loadConfig({ flags: { profile: "standard" } });
  assertEquals(config.warmupS, 10);
  assertEquals(config.cooldownS, 5);
  assert(config.iterations >= 3 && config.iterations <= 5);
  assertEquals(config.load.throughput.enabled, true);
});

Deno.test("precedence: defaults < file < env < flags", async () => {
  const file = await withFile("seed: 5\niterations: 4\nload:\n  rates: [100]\n");
  const { config } = await loadConfig({
    file,
    env: { MESHBENCH_SEED: "6" },
    flags: { seed: 7 },
  });
  assertEquals(config.seed, 7);
  assertEquals(config.iterations, 4);
  assertEquals(config.load.rates, [100]);
  assertEquals(config.load.durationS, 5, "unset nested fields keep their defaults");
});

Deno.test("a wrong type names the field, the value and the file line", async () => {
  const file = await withFile("seed: 1\nload:\n  rates: [100]\n  durationS: fast\n");
  await rejects(loadConfig({ file }), (e: Error) => {
    assert(e instanceof ConfigError);
    assert(e.message.includes('"load.durationS"'), e.message);
    assert(e.message.includes('"fast"'), e.message);
    assert(e.message.includes(`${file}:4`), e.message);
    return true;
  });
});

Deno.test("a misspelt field is refused with the known ones listed", async () => {
  const file = await withFile("iteratons: 3\n");
  await rejects(loadConfig({ file }), /"iteratons".*unknown field.*iterations/);
});

Deno.test("range rules name the field and value", async () => {
  await rejects(loadConfig({ flags: { "load.rates": [-5] } }), /"load.rates".*-5/);
  await rejects(loadConfig({ flags: { iterations: 0 } }), /"iterations".*got 0/);
  await rejects(loadConfig({ flags: { minSuccessPct: 100.5 } }), /"minSuccessPct".*100.5/);
  await rejects(loadConfig({ flags: { profile: "fast" } }), /"profile".*"fast"/);
  await rejects(loadConfig({ flags: { baseline: "none" } }), /"baseline".*"none"/);
  await rejects(loadConfig({ env: { MESHBENCH_SEED: "abc" } }), /"seed".*MESHBENCH_SEED.*"abc"/);
});

Deno.test("the cluster target needs an explicitly named context", async () => {
  await rejects(
    loadConfig({ flags: { target: "cluster" } }),
    /"cluster.context".*explicitly named/,
  );
  const { config } = await loadConfig({
    flags: { target: "cluster", "cluster.context": "kind-a" },
  });
  assertEquals(config.meshes, ["baseline", "istio", "linkerd", "cilium"]);
  assertEquals(config.workloads, ["http", "grpc", "websocket", "db", "ml"]);
  assertEquals(config.cluster.qos, "burstable");
});

Deno.test("cluster QoS and proxy sizes are checked, naming field and value", async () => {
  const cluster = { target: "cluster", "cluster.context": "kind-a" };
  const { config } = await loadConfig({ flags: { ...cluster, "cluster.qos": "guaranteed" } });
  assertEquals(config.cluster.qos, "guaranteed");
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.qos": "besteffort" } }),
    /"cluster.qos".*command-line flag.*burstable or guaranteed, got "besteffort"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.cpu": "half" } }),
    /"cluster.proxyResources.cpu".*got "half"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.memory": "256MB" } }),
    /"cluster.proxyResources.memory".*got "256MB"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.cpu": "0m" } }),
    /"cluster.proxyResources.cpu".*above 0.*got "0m"/,
  );
  await rejects(
    loadConfig({ flags: { ...cluster, "cluster.proxyResources.memory": "0Mi" } }),
    /"cluster.proxyResources.memory".*above 0.*got "0Mi"/,
  );
});

Deno.test("YAML syntax errors carry the line", async () => {
  const file = await withFile("seed: 1\nload: [\n");
  await rejects(
    loadConfig({ file }),
    (e: Error) => e.message.includes(file) && /YAML/.test(e.message),
  );
});

Deno.test("the example config in the repository is valid", async () => {
  const file = new URL("../bench.example.yaml", import.meta.url).pathname;
  const { config } = await loadConfig({ file });
  assertEquals(config.workloads, ["http", "grpc", "websocket", "db", "ml"]);
});

Deno.test("schema/config.schema.json is the declaration in lib/config_schema.ts", async () => {
  const file = JSON.parse(
    await Deno.readTextFile(new URL("../schema/config.schema.json", import.meta.url)),
  );
  assertEquals(
    file,
    JSON.parse(JSON.stringify(CONFIG_SCHEMA)),
    "regenerate: deno run lib/config_schema.ts > schema/config.schema.json && deno fmt schema",
  );
});

Deno.test("the published JSON Schema accepts the defaults and refuses what the loader refuses", async () => {
  const ajv = new (Ajv2020 as unknown as new (o: object) => {
    compile: (s: object) => ((v: unknown) => boolean) & { errors?: unknown[] };
  })({ strict: false });
  const validate = ajv.compile(CONFIG_SCHEMA);
  assert(validate(configDefaults()), JSON.stringify(validate.errors));
  const { config } = await loadConfig({
    file: new URL("../bench.example.yaml", import.meta.url).pathname,
  });
  assert(validate(config), JSON.stringify(validate.errors));
  for (
    const bad of [
      { load: { durationS: 1e9 } },
      { bootstrap: { resamples: 1e12 } },
      { local: { proxyThreads: 100000 } },
      { load: { rates: [100.5] } },
      { out: "" },
      { out: "a\u0000b" },
      { target: "Moon!" },
    ]
  ) {
    assertEquals(validate(bad), false, JSON.stringify(bad));
    await rejects(loadConfig({ flags: flatten(bad) }), ConfigError, JSON.stringify(bad));
  }
});

function flatten(v: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "object" && x !== null && !Array.isArray(x)) {
      Object.assign(out, flatten(x as Record<string, unknown>, `${prefix}${k}.`));
    } else out[`${prefix}${k}`] = x;
  }
  return out;
}

Deno.test("bench.example.yaml sets every field to its default", async () => {
  const file = new URL("../bench.example.yaml", import.meta.url).pathname;
  assertEquals((await loadConfig({ file })).config, (await loadConfig()).config);
});

Deno.test("non-finite numbers are shown as written, with the line", async () => {
  for (const [text, written] of [[".nan", ".nan"], [".inf", ".inf"], ["-.Inf", "-.Inf"]]) {
    const file = await withFile(`seed: 1\nload:\n  durationS: ${text}\n`);
    await rejects(loadConfig({ file }), (e: Error) => {
      assert(e instanceof ConfigError, e.message);
      assert(e.message.includes('"load.durationS"'), e.message);
      assert(e.message.includes(`${file}:3`), e.message);
      assert(e.message.endsWith(`got ${written}`), e.message);
      assert(!e.message.includes("null"), e.message);
      return true;
    });
  }
  const inList = await withFile("load:\n  rates:\n    - 100\n    - .nan\n");
  await rejects(loadConfig({ file: inList }), (e: Error) => {
    assert(e.message.includes(`"load.rates" (${inList}:4)`), e.message);
    assert(e.message.includes("got .nan at index 1"), e.message);
    return true;
  });
});

Deno.test("every number has an upper bound, stated in the error with the value as written", async () => {
  const cases: Array<[string, string, string, string]> = [
    ["load:\n  throughput:\n    durationS: 1e9\n", "load.throughput.durationS", ":3", "1e9"],
    ["bootstrap:\n  resamples: 1e12\n", "bootstrap.resamples", ":2", "1e12"],
    ["local:\n  proxyThreads: 100000\n", "local.proxyThreads", ":2", "100000"],
    ["iterations: 101\n", "iterations", ":1", "101"],
    ["load:\n  connections: 1000000\n", "load.connections", ":2", "1000000"],
  ];
  for (const [text, field, line, written] of cases) {
    const file = await withFile(text);
    await rejects(loadConfig({ file }), (e: Error) => {
      assert(e.message.includes(`"${field}" (${file}${line})`), e.message);
      assert(/ to \d+| at most \d+/.test(e.message), `range stated: ${e.message}`);
      assert(e.message.endsWith(`got ${written}`), e.message);
      return true;
    });
  }
});

Deno.test("rates are whole requests per second, refused otherwise at config time", async () => {
  const file = await withFile("load:\n  rates: [100, 250.5]\n");
  await rejects(
    loadConfig({ file }),
    new RegExp(
      `"load.rates" \\(${file}:2\\): expected a list of integers from 1 to 1000000 .*got 250.5 at index 1`,
    ),
  );
  await rejects(
    loadConfig({ env: {}, flags: { "load.rates": [0.5] } }),
    /"load.rates".*got 0.5 at index 0/,
  );
  // Every other fixed rate too: the knee's ramp, the sweeps' rate, the inference rate.
  for (
    const [text, field, line, value] of [
      ["knee:\n  rates: [250, 500.5]\n", "knee.rates", 2, "500.5 at index 1"],
      ["load:\n  sweep:\n    rate: 1000.5\n", "load.sweep.rate", 3, "1000.5"],
      ["inference:\n  rate: 20.5\n", "inference.rate", 2, "20.5"],
    ] as const
  ) {
    const file = await withFile(text);
    await rejects(loadConfig({ file }), (e: Error) => {
      assert(e instanceof ConfigError, `${field}: ${e}`);
      assert(e.message.includes(`"${field}" (${file}:${line})`), e.message);
      assert(/integer/.test(e.message), e.message);
      assert(e.message.endsWith(`got ${value}`), e.message);
      return true;
    });
  }
});

Deno.test("an empty, blank or comment-only config file is refused, naming the file", async () => {
  for (const text of ["", "  \n\t\n", "# all commented out\n# seed: 3\n"]) {
    const file = await withFile(text);
    await rejects(loadConfig({ file }), (e: Error) => {
      assert(e instanceof ConfigError);
      assert(e.message.startsWith(`Invalid --config "${file}"`), e.message);
      assert(/empty|only comments/.test(e.message), e.message);
      return true;
    });
  }
});

Deno.test("a YAML alias bomb and an oversized file are refused, naming the file", async () => {
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    bomb.push(`${cur}: &${cur} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`);
  }
  const file = await withFile(bomb.join("\n") + "\n");
  await rejects(loadConfig({ file }), (e: Error) => {
    assert(e instanceof ConfigError);
    assert(e.message.includes(file) && /alias/.test(e.message), e.message);
    return true;
  });
  const big = await withFile("# padding\n".repeat(120_000) + "seed: 1\n");
  await rejects(loadConfig({ file: big }), (e: Error) => {
    assert(e.message.includes(big) && /at most 1 MiB/.test(e.message), e.message);
    return true;
  });
  await rejects(loadConfig({ file: "/dev/zero" }), /"\/dev\/zero".*not a regular file/);
  await rejects(loadConfig({ file: "" }), /Invalid --config.*empty/);
});

Deno.test("out is a non-empty path without control characters", async () => {
  await rejects(loadConfig({ flags: { out: "" } }), /"out".*non-empty.*got ""/);
  await rejects(
    loadConfig({ flags: { out: "res\u0000ults" } }),
    /"out".*no control characters \(found U\+0000 at position 3\)/,
  );
  const file = await withFile('out: "a\\tb"\n');
  await rejects(loadConfig({ file }), new RegExp(`"out" \\(${file}:1\\).*U\\+0009`));
});

Deno.test("near-miss names say what was meant", async () => {
  const file = await withFile("target: locl\n");
  const targets = { targets: ["local", "cluster", "oci"], workloads: ["http"], meshes: () => [] };
  await rejects(
    loadConfig({ file, vocabulary: targets }),
    /"target".*got "locl"; did you mean "local"\?/,
  );
  const typo = await withFile("load:\n  duration: 5\n");
  await rejects(
    loadConfig({ file: typo }),
    new RegExp(`"load.duration" \\(${typo}:2\\): unknown field; did you mean "durationS"\\?`),
  );
  const vocabulary = {
    targets: ["local", "cluster", "oci"],
    workloads: ["http", "grpc", "websocket", "db", "ml"],
    meshes: () => ["baseline", "sidecar-emu", "node-proxy-emu"],
  };
  const mesh = await withFile("meshes:\n  - baseline\n  - sidecar-em\n");
  await rejects(loadConfig({ file: mesh, vocabulary }), (e: Error) => {
    assert(e.message.includes(`"meshes" (${mesh}:3)`), e.message);
    assert(e.message.includes('unknown mesh "sidecar-em" for the local target'), e.message);
    assert(e.message.includes('did you mean "sidecar-emu"?'), e.message);
    return true;
  });
  await rejects(
    loadConfig({ flags: { workloads: ["htp"] }, vocabulary }),
    /"workloads" \(command-line flag\): unknown workload "htp"; did you mean "http"\?/,
  );
  await rejects(
    loadConfig({ flags: { workloads: ["kafka"] }, vocabulary }),
    /unknown workload "kafka" \(known: http, grpc/,
  );
});

Deno.test("the config of a manifest is validated, not cast; missing fields take defaults", async () => {
  const dir = new URL("../fixtures/runs/", import.meta.url).pathname;
  for await (const e of Deno.readDir(dir)) {
    const m = JSON.parse(await Deno.readTextFile(join(dir, e.name, "manifest.json")));
    const c = parseStoredConfig(m.config, "manifest.json");
    assertEquals(c.load.durationS, m.config.load.durationS);
    assertEquals(c.cluster.qos, "burstable", "added since: default");
  }
  throws(
    () => parseStoredConfig({ iterations: "3" }, "run/manifest.json"),
    /"iterations" \(run\/manifest.json, config.iterations\): expected an integer/,
  );
  throws(() => parseStoredConfig(null, "m.json"), /expected a mapping/);
  const lenient = readStoredConfig({ baseline: 7, seed: 4, extra: true });
  assertEquals(lenient.config.seed, 4);
  assertEquals(lenient.config.baseline, "baseline");
  assertEquals(lenient.problems.length, 1);
  assert(lenient.defaulted.includes("baseline") && lenient.defaulted.includes("noisyCvPct"));
  assert(!lenient.defaulted.includes("seed"));
  assert(lenient.problems[0].includes('"baseline"'), lenient.problems[0]);
});

Deno.test("the sweep and knee fields are refused out of range, naming the field, value and line", async () => {
  for (
    const [text, field, line, value] of [
      ["knee:\n  rates: [500, 0]\n", "knee.rates", ":2", "0"],
      ["knee:\n  p99TargetMs: -1\n", "knee.p99TargetMs", ":2", "-1"],
      ["load:\n  sweep:\n    connections: [1, 0]\n", "load.sweep.connections", ":3", "0"],
      [
        "load:\n  sweep:\n    payloadsBytes: [2000000]\n",
        "load.sweep.payloadsBytes",
        ":3",
        "2000000",
      ],
      ["knee:\n  enabled: yes please\n", "knee.enabled", ":2", "yes please"],
      ["load:\n  sweep:\n    httpProtocols: [h2]\n", "load.sweep.httpProtocols", ":3", '"h2"'],
      [
        "load:\n  sweep:\n    httpProtocols: [http/1.1, http/1.1]\n",
        "load.sweep.httpProtocols",
        ":3",
        "http/1.1",
      ],
      // h2c points are payload points: without a payload size there would be none, silently.
      [
        "load:\n  sweep:\n    payloadsBytes: []\n    httpProtocols: [h2c]\n",
        "load.sweep.httpProtocols",
        ":4",
        "payloadsBytes",
      ],
    ]
  ) {
    const file = await withFile(text);
    const e = await loadConfig({ file }).then(() => null, (e: Error) => e);
    assert(e instanceof ConfigError, `${field}: ${e}`);
    assert(e.message.includes(field), e.message);
    assert(e.message.includes(`${file}${line}`), e.message);
    assert(e.message.includes(value), e.message);
  }
});

Deno.test("the knee, connection sweep and payload points asked for without the http workload are refused, naming field and value", async () => {
  const vocabulary = await configVocabulary();
  assertEquals(vocabulary.sweepWorkloads, ["http"], "the registry's workloads that take them");
  const file = await withFile("workloads: [grpc, db]\nload:\n  sweep:\n    connections: [1, 16]\n");
  await rejects(loadConfig({ file, vocabulary }), (e: Error) => {
    assert(e instanceof ConfigError, String(e));
    assert(e.message.includes(`"load.sweep.connections" (${file}:4)`), e.message);
    assert(e.message.includes('got [1,16], but it runs on workload "http" only'), e.message);
    assert(e.message.includes('"workloads" is ["grpc","db"]'), e.message);
    return true;
  });
  await rejects(
    loadConfig({
      flags: { workloads: ["inference"], "knee.enabled": true },
      flagText: { "knee.enabled": { flag: "knee", text: "true" } },
      vocabulary,
    }),
    /"knee.enabled" \(command-line flag --knee\): got true, but it runs on workload "http" only/,
  );
  await rejects(
    loadConfig({
      env: { MESHBENCH_WORKLOADS: "grpc" },
      flags: { "load.sweep.payloadsBytes": [0, 1024] },
      vocabulary,
    }),
    /"load.sweep.payloadsBytes" \(command-line flag\): got \[0,1024\]/,
  );
  // The full profile's own sweep and knee are not asked for: they apply where http runs.
  const full = await loadConfig({ flags: { profile: "full", workloads: ["grpc"] }, vocabulary });
  assertEquals(full.config.knee.enabled, true);
  // With http among the workloads they are taken.
  const both = await loadConfig({
    flags: { workloads: ["grpc", "http"], "knee.enabled": true },
    vocabulary,
  });
  assertEquals(both.config.knee.enabled, true);
  // Turned off explicitly without http: nothing is ignored, nothing refused.
  const off = await loadConfig({
    flags: { workloads: ["grpc"], "knee.enabled": false },
    vocabulary,
  });
  assertEquals(off.config.knee.enabled, false);
});
