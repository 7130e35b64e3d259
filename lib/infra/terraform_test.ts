import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { Logger } from "../target.ts";
import {
  CLUSTER_FILES,
  infraDown,
  InfraError,
  infraUp,
  stateResources,
  TerraformProgress,
} from "./terraform.ts";

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
import { readInfraRecord } from "./state.ts";
import { terraformBinary, TOPOLOGY_DIR } from "./tools.ts";
import { skipReason } from "../../tests/skip.ts";

const FAKE_CLOUD = join(import.meta.dirname!, "testdata", "fake_cloud");
const bin = terraformBinary();
skipReason(
  "lib/infra/terraform_test.ts",
  bin ? null : "neither terraform nor tofu is on PATH (run .ci/install_infra.sh)",
);

function collectingLog() {
  const lines: string[] = [];
  const progress: Array<[number, number]> = [];
  const log: Logger = {
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`WARN ${m}`),
    progress: (_l, done, total) => progress.push([done, total]),
  };
  return { log, lines, progress };
}

Deno.test("TerraformProgress counts the plan and completed resources", () => {
  const p = new TerraformProgress("apply");
  assert(p.feed("Plan: 3 to add, 1 to change, 0 to destroy."));
  assertEquals(p.total, 4);
  assert(p.feed("oci_core_vcn.main: Creation complete after 2s [id=ocid1.vcn.x]"));
  assert(!p.feed("oci_core_vcn.main: Creating..."));
  assertEquals(p.done, 1);
  const d = new TerraformProgress("destroy");
  d.feed("Plan: 0 to add, 0 to change, 5 to destroy.");
  d.feed('terraform_data.node["master"]: Destruction complete after 0s');
  assertEquals([d.done, d.total], [1, 5]);
});

Deno.test({
  name: "infraUp and infraDown run Terraform for real and keep the record",
  ignore: !bin,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-infra-" });
    try {
      const stateDir = join(dir, "state");
      const runDir = join(dir, "run");
      await Deno.mkdir(runDir);
      const varFile = join(dir, "test.tfvars");
      await Deno.writeTextFile(varFile, "worker_count = 2\n");
      const { log, lines, progress } = collectingLog();
      const out = await infraUp({ varFile, stateDir, terraformDir: FAKE_CLOUD, log, runDir });
      assertEquals(out.cluster.nodes.map((n) => `${n.name}:${n.role}`), [
        "master:control-plane",
        "worker-1:worker",
        "worker-2:worker",
      ]);
      assert(lines.some((l) => l.includes("Apply complete!")), "Terraform output is streamed");
      assertEquals(progress.at(-1), [3, 3]);
      const rec = await readInfraRecord(stateDir);
      assertEquals(rec?.phase, "up");
      assertEquals(rec?.cluster?.nodes.length, 3);
      assertEquals((await stateResources(out.tfStatePath)).length, 3);
      assert((await Deno.readTextFile(out.inventory)).includes("ansible_host: 127.0.0.201"));
      const copied = JSON.parse(await Deno.readTextFile(join(runDir, "infra.json")));
      assertEquals(copied.phase, "up");

      // A second apply is a no-op, and the record keeps its history.
      await infraUp({ varFile, stateDir, terraformDir: FAKE_CLOUD });
      assertEquals((await readInfraRecord(stateDir))?.history.map((h) => h.phase), [
        "applying",
        "up",
        "applying",
        "up",
      ]);

      // Only the operator may read the state dir; the cluster's files die with it.
      assertEquals((await Deno.stat(stateDir)).mode! & 0o777, 0o700);
      // The node host keys and the cluster-admin credentials are among them (named here, so
      // dropping one from the list fails this test).
      for (const f of ["known_hosts", "admin.conf", "kubeconfig", "inventory.yml"]) {
        assert(CLUSTER_FILES.includes(f), `${f} is not removed by infra:down`);
      }
      for (const f of CLUSTER_FILES) await Deno.writeTextFile(join(stateDir, f), "x\n");
      const down = await infraDown({ stateDir, log });
      assertEquals(down.destroyed, true);
      for (const f of CLUSTER_FILES) {
        assert(!(await exists(join(stateDir, f))), `${f} survived infra:down`);
      }
      assertEquals((await readInfraRecord(stateDir))?.phase, "down");
      assertEquals(await stateResources(out.tfStatePath), []);
      assertEquals((await infraDown({ stateDir })).destroyed, false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a half-built apply is reported with what exists, and infraDown removes it",
  ignore: !bin,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-infra-" });
    try {
      const stateDir = join(dir, "state");
      const varFile = join(dir, "test.tfvars");
      await Deno.writeTextFile(varFile, "fail_on_apply = true\n");
      const err = await infraUp({ varFile, stateDir, terraformDir: FAKE_CLOUD }).then(
        () => undefined,
        (e) => e,
      );
      assert(err instanceof InfraError, `expected InfraError, got ${err}`);
      assert(err.message.includes("simulated capacity error"), err.message);
      assert(
        /4 resources exist \(.*terraform_data\.node\["master"\]/.test(err.message),
        err.message,
      );
      assert(err.message.includes(`infra:down --state-dir ${stateDir}`), err.message);
      const rec = await readInfraRecord(stateDir);
      assertEquals(rec?.phase, "apply-failed");
      assert(rec?.history.at(-1)?.error?.includes("simulated capacity error"));
      assert((await stateResources(rec!.tfStatePath)).length >= 3);

      const down = await infraDown({ stateDir });
      assertEquals(down.destroyed, true);
      assertEquals(await stateResources(rec!.tfStatePath), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "infraUp turns a refused open CIDR into a clear error naming the variable",
  ignore: !bin,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-infra-" });
    try {
      const stateDir = join(dir, "state");
      const varFile = join(dir, "open.tfvars");
      await Deno.writeTextFile(
        varFile,
        'ssh_allowed_cidrs = ["0.0.0.0/0"]\napi_allowed_cidrs = ["203.0.113.7/32"]\n',
      );
      // The topology module holds the guards and needs no provider: its plan fails the
      // same way the root's does. A copy, given the root's local backend, keeps state out
      // of the repository.
      const tfDir = join(dir, "topology");
      await Deno.mkdir(tfDir);
      for await (const e of Deno.readDir(TOPOLOGY_DIR)) {
        if (e.isFile && e.name.endsWith(".tf")) {
          await Deno.copyFile(join(TOPOLOGY_DIR, e.name), join(tfDir, e.name));
        }
      }
      await Deno.writeTextFile(join(tfDir, "backend.tf"), 'terraform {\n  backend "local" {}\n}\n');
      await rejects(
        infraUp({ varFile, stateDir, terraformDir: tfDir }),
        (e: Error) => {
          assert(e instanceof InfraError);
          assert(e.message.includes("Refusing an open CIDR"), e.message);
          assert(
            e.message.includes('ssh_allowed_cidrs=\\"0.0.0.0/0\\"') ||
              e.message.includes('ssh_allowed_cidrs="0.0.0.0/0"'),
            e.message,
          );
          assert(e.message.includes("No resources were created"), e.message);
          return true;
        },
      );
      assertEquals((await readInfraRecord(stateDir))?.phase, "apply-failed");
      // Nothing was created, and infra:down still works from the record.
      assertEquals((await infraDown({ stateDir })).destroyed, true);
      assertEquals([...Deno.readDirSync(tfDir)].some((e) => e.name.endsWith(".tfstate")), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("infraUp names a missing variables file", async () => {
  await rejects(
    infraUp({ varFile: "/nonexistent/meshbench.tfvars", stateDir: "/nonexistent/state" }),
    /"varFile" "\/nonexistent\/meshbench.tfvars" does not exist/,
  );
});
