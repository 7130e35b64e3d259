/** Missing tools stop the run before anything starts, with one message saying how to install. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { runTask, tempSetup } from "./helpers.ts";

Deno.test("bench:all and doctor list missing tools and exit 3 without creating a run", async () => {
  const { configFile, out, dir } = await tempSetup({ iterations: 1 });
  // No PATH and a HOME without Go binaries: vegeta, wrk and openssl cannot be found or installed.
  const env = { PATH: "", HOME: dir, GOPATH: dir };
  const r = await runTask("bench_all.ts", ["--config", configFile, "--out", out], env);
  assertEquals(r.code, 3, r.stderr);
  assert(r.stderr.includes("required tool(s) missing"), r.stderr);
  assert(r.stderr.includes("vegeta") && r.stderr.includes("go install github.com/tsenart/vegeta"));
  assert(r.stderr.includes("apt-get install -y wrk"), r.stderr);
  let created = true;
  try {
    await Deno.stat(out);
  } catch {
    created = false;
  }
  assertEquals(created, false, "no run directory may be created");
  const d = await runTask("doctor.ts", ["--config", configFile], env);
  assertEquals(d.code, 3);
  assert(d.stdout.includes("MISSING vegeta"), d.stdout);
});

Deno.test("bad input exits 2 naming the flag and value", async () => {
  const r = await runTask("bench_all.ts", ["--rates", "fast"]);
  assertEquals(r.code, 2);
  assert(
    r.stderr.includes(
      'Invalid config "load.rates" (command-line flag --rates): expected an integer from 1 to ' +
        '1000000 requests/s, got "fast"',
    ),
    r.stderr,
  );
  const t = await runTask("bench_all.ts", ["--target", "moon"]);
  assertEquals(t.code, 2);
  assert(t.stderr.includes('"moon"'), t.stderr);
  const u = await runTask("health.ts", ["--run", "/nonexistent/run"]);
  assertEquals(u.code, 2);
  assert(u.stderr.includes("/nonexistent/run"), u.stderr);
});
