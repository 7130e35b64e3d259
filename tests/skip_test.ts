import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { ALLOWED_IN_CI, missingBinaries, REQUIRE_ALL_ENV, skipReason } from "./skip.ts";

function withEnv(value: string | undefined, fn: () => void) {
  const before = Deno.env.get(REQUIRE_ALL_ENV);
  if (value === undefined) Deno.env.delete(REQUIRE_ALL_ENV);
  else Deno.env.set(REQUIRE_ALL_ENV, value);
  try {
    fn();
  } finally {
    if (before === undefined) Deno.env.delete(REQUIRE_ALL_ENV);
    else Deno.env.set(REQUIRE_ALL_ENV, before);
  }
}

Deno.test("a skip is a reason outside CI and a failure naming the test in CI", () => {
  withEnv(undefined, () => {
    assertEquals(skipReason("some test", null), null);
    assertEquals(skipReason("some test", "x missing"), "x missing");
  });
  withEnv("1", () => {
    assertEquals(skipReason("some test", null), null);
    throws(
      () => skipReason("some test", "x missing"),
      /some test would be skipped \(x missing\)/,
    );
    const allowed = Object.keys(ALLOWED_IN_CI)[0];
    assertEquals(skipReason(allowed, "charts missing"), "charts missing");
  });
});

Deno.test("missingBinaries names every binary not found, in order", () => {
  assertEquals(missingBinaries({ wrk: "/usr/bin/wrk", nginx: "/usr/sbin/nginx" }), null);
  assertEquals(
    missingBinaries({ vegeta: undefined, nginx: "/usr/sbin/nginx", envoy: undefined }),
    "vegeta, envoy not found (run: bash .ci/run's installs)",
  );
});
