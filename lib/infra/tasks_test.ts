import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { main as clusterSetupMain } from "../../tasks/cluster_setup.ts";
import { main as infraDownMain } from "../../tasks/infra_down.ts";
import { main as infraUpMain } from "../../tasks/infra_up.ts";

// The tasks map outcomes to exit codes: 0 done, 1 failed, 2 bad flags.

Deno.test("infra:up needs --var-file and refuses unknown flags", async () => {
  assertEquals(await infraUpMain([]), 2);
  assertEquals(await infraUpMain(["--var-file", "x.tfvars", "--bogus"]), 2);
  assertEquals(await infraUpMain(["--var-file", "/nonexistent/x.tfvars", "--quiet"]), 1);
});

Deno.test("infra:down on a state dir with nothing recorded succeeds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-task-" });
  try {
    assertEquals(await infraDownMain(["--state-dir", dir, "--quiet"]), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cluster:setup checks --cni and -e, and fails without infrastructure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-task-" });
  try {
    assertEquals(await clusterSetupMain(["--cni", "weave"]), 2);
    assertEquals(await clusterSetupMain(["-e", "novalue"]), 2);
    assertEquals(await clusterSetupMain(["--state-dir", dir, "--quiet"]), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
