import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { join } from "node:path";
import { SAMPLE_CLUSTER_OUTPUT } from "./check.ts";
import { parseClusterOutput } from "./inventory.ts";
import { type InfraRecord, parseInfraRecord, readInfraRecord, recordPhase } from "./state.ts";

Deno.test("recordPhase appends history and the record reads back validated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-state-" });
  try {
    const stateDir = join(dir, "s");
    const base: InfraRecord = {
      version: 1,
      phase: "applying",
      stateDir,
      terraformDir: "/repo/terraform",
      terraformBinary: "terraform",
      varFile: "/repo/terraform/meshbench.tfvars",
      tfStatePath: join(stateDir, "terraform.tfstate"),
      tfDataDir: join(stateDir, "tf-data"),
      history: [],
    };
    assertEquals(await readInfraRecord(stateDir), undefined);
    const a = await recordPhase(base, "applying");
    const b = await recordPhase(
      { ...a, cluster: parseClusterOutput(SAMPLE_CLUSTER_OUTPUT) },
      "apply-failed",
      "boom",
    );
    const read = await readInfraRecord(stateDir);
    assertEquals(read, b);
    assertEquals(read?.history.map((h) => [h.phase, h.error]), [
      ["applying", undefined],
      ["apply-failed", "boom"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseInfraRecord names the field and value it refuses", () => {
  throws(() => parseInfraRecord({ version: 2 }), /"version" must be 1, got 2/);
  throws(
    () => parseInfraRecord({ version: 1, phase: "exploded", history: [] }),
    /"phase" must be one of .*got "exploded"/,
  );
  throws(
    () => parseInfraRecord({ version: 1, phase: "up", history: [], stateDir: "" }),
    /"stateDir" must be a non-empty string, got ""/,
  );
});
