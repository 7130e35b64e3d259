import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CHECK_NAMES, checkInfra } from "./check.ts";
import { ansibleBinary, terraformBinary } from "./tools.ts";
import { skipReason } from "../../tests/skip.ts";

const haveAll = terraformBinary() !== undefined &&
  ansibleBinary("ansible-playbook") !== undefined &&
  ansibleBinary("ansible-lint") !== undefined;
skipReason(
  "lib/infra/check_test.ts full run",
  haveAll ? null : "Terraform/OpenTofu or Ansible is absent (run .ci/install_infra.sh)",
);

Deno.test({
  name: "checkInfra: every check passes; only the provider-bound root check may skip",
  ignore: !haveAll,
  async fn() {
    const results = await checkInfra();
    assertEquals(results.map((r) => r.name), CHECK_NAMES);
    for (const r of results) {
      if (r.name.includes("root module") && r.status === "skipped") {
        assert(r.detail.includes("oracle/oci provider"), r.detail);
        continue;
      }
      assertEquals([r.name, r.status, r.status === "passed" ? "" : r.detail], [
        r.name,
        "passed",
        "",
      ]);
    }
    const policy = results.find((r) => r.name.startsWith("terraform test"));
    assert(/^\d+ passed, 0 failed$/.test(policy!.detail), policy!.detail);
  },
});

Deno.test({
  name: "checkInfra --only selects checks by name",
  ignore: terraformBinary() === undefined,
  async fn() {
    const results = await checkInfra({ only: ["fmt"] });
    assertEquals(results.map((r) => [r.name, r.status]), [["terraform fmt -check", "passed"]]);
  },
});
