import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { withOciCluster } from "./lifecycle.ts";
import { readInfraRecord } from "./state.ts";
import { stateResources } from "./terraform.ts";
import { ansibleBinary, terraformBinary } from "./tools.ts";
import { skipReason } from "../../tests/skip.ts";

const FAKE_CLOUD = join(import.meta.dirname!, "testdata", "fake_cloud");
const ready = terraformBinary() !== undefined && ansibleBinary("ansible-playbook") !== undefined;
skipReason(
  "lib/infra/lifecycle_test.ts",
  ready ? null : "Terraform/OpenTofu or Ansible absent (run .ci/install_infra.sh)",
);

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-oci-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// The playbook's first play waits up to 15 min for SSH on new nodes; the fake cloud's
// loopback nodes never answer, so bound the wait.
const BOUNDED_BOOT = { node_boot_timeout_s: 3 };

Deno.test({
  name: "withOciCluster tears everything down when cluster setup fails",
  ignore: !ready,
  fn: () =>
    withTemp(async (dir) => {
      const stateDir = join(dir, "state");
      const varFile = join(dir, "t.tfvars");
      await Deno.writeTextFile(varFile, "worker_count = 1\n");
      let bodyRan = false;
      const err = await withOciCluster(
        { varFile, stateDir, terraformDir: FAKE_CLOUD, mesh: "istio", extraVars: BOUNDED_BOOT },
        () => {
          bodyRan = true;
          return Promise.resolve();
        },
      ).then(() => undefined, (e) => e);
      assert(err instanceof Error, "expected a failure");
      assert(err.message.includes("Cannot set up the cluster"), err.message);
      assert(err.message.includes("The infrastructure was torn down."), err.message);
      assertEquals(bodyRan, false);
      const rec = await readInfraRecord(stateDir);
      assertEquals(rec?.phase, "down");
      assertEquals(rec?.history.map((h) => h.phase), [
        "applying",
        "up",
        "cluster-setup",
        "cluster-failed",
        "destroying",
        "down",
      ]);
      assertEquals(await stateResources(join(stateDir, "terraform.tfstate")), []);
    }),
});

Deno.test({
  name: "withOciCluster with keep leaves the failed infrastructure recorded",
  ignore: !ready,
  fn: () =>
    withTemp(async (dir) => {
      const stateDir = join(dir, "state");
      const varFile = join(dir, "t.tfvars");
      await Deno.writeTextFile(varFile, "worker_count = 1\n");
      const err = await withOciCluster(
        { varFile, stateDir, terraformDir: FAKE_CLOUD, keep: true, extraVars: BOUNDED_BOOT },
        () => Promise.resolve(),
      ).then(() => undefined, (e) => e);
      assert(err instanceof Error && err.message.includes("infra:down --state-dir"));
      assertEquals((await readInfraRecord(stateDir))?.phase, "cluster-failed");
      assertEquals((await stateResources(join(stateDir, "terraform.tfstate"))).length, 2);
      const { infraDown } = await import("./terraform.ts");
      assertEquals((await infraDown({ stateDir })).destroyed, true);
    }),
});
