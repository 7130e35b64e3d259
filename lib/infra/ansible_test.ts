import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { SAMPLE_CLUSTER_OUTPUT } from "./check.ts";
import { clusterSetup, clusterVersions, cniForMesh, parseRecap } from "./ansible.ts";
import { parseClusterOutput } from "./inventory.ts";
import { type InfraRecord, readInfraRecord, recordPhase } from "./state.ts";
import { InfraError } from "./terraform.ts";
import { ansibleBinary } from "./tools.ts";
import { missingBinaries, skipReason } from "../../tests/skip.ts";

const ansible = ansibleBinary("ansible-playbook");
const ssh = (() => {
  try {
    return new Deno.Command("ssh", { args: ["-V"], stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();
skipReason(
  "clusterSetup run in ansible_test.ts",
  missingBinaries({ "ansible-playbook": ansible, ssh: ssh ? "ssh" : undefined }),
);

Deno.test("parseRecap reads every host's counts", () => {
  const out = [
    "PLAY RECAP *********************************************************************",
    "master                     : ok=41   changed=0    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0   ",
    "worker-1                   : ok=20   changed=2    unreachable=0    failed=1    skipped=4    rescued=0    ignored=0   ",
  ].join("\n");
  assertEquals(parseRecap(out), [
    { host: "master", ok: 41, changed: 0, unreachable: 0, failed: 0, skipped: 9 },
    { host: "worker-1", ok: 20, changed: 2, unreachable: 0, failed: 1, skipped: 4 },
  ]);
});

Deno.test("cniForMesh picks Cilium only for Cilium", () => {
  assertEquals(cniForMesh("cilium"), "cilium");
  assertEquals(cniForMesh("cilium-l7"), "cilium");
  assertEquals(cniForMesh("istio"), "flannel");
  assertEquals(cniForMesh("none"), "flannel");
  assertEquals(cniForMesh(undefined), "flannel");
});

Deno.test("clusterVersions reads the pins the playbook uses", async () => {
  const vars = parse(
    await Deno.readTextFile(join(import.meta.dirname!, "../../ansible/group_vars/all.yml")),
  );
  const v = await clusterVersions("cilium");
  assertEquals(v.kubernetes, vars.kubernetes_version);
  assertEquals(v.cniVersion, vars.cilium_version);
  assertEquals(v.podCidr, vars.cni_pod_cidrs.cilium);
  const f = await clusterVersions("flannel", { flannel_version: "v9.9.9" });
  assertEquals(f.cniVersion, "v9.9.9");
});

Deno.test({
  name: "clusterSetup against unreachable nodes records cluster-failed and says what to run",
  ignore: !ansible || !ssh,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "meshbench-cluster-" });
    try {
      const stateDir = join(dir, "state");
      // Loopback addresses with no SSH server: the real playbook fails fast on them.
      const cluster = parseClusterOutput({
        ...SAMPLE_CLUSTER_OUTPUT,
        nodes: SAMPLE_CLUSTER_OUTPUT.nodes.map((n, i) => ({
          ...n,
          public_ip: `127.0.0.${201 + i}`,
        })),
      });
      const base: InfraRecord = {
        version: 1,
        phase: "up",
        stateDir,
        terraformDir: "/nowhere",
        terraformBinary: "terraform",
        varFile: "/nowhere/x.tfvars",
        tfStatePath: join(stateDir, "terraform.tfstate"),
        tfDataDir: join(stateDir, "tf-data"),
        cluster,
        history: [],
      };
      await recordPhase(base, "up");
      const lines: string[] = [];
      const err = await clusterSetup({
        stateDir,
        mesh: "cilium",
        timeoutMs: 120_000,
        // The first play waits for SSH on new nodes (15 min by default); bound it here.
        extraVars: { node_boot_timeout_s: 3 },
        log: { info: (m) => lines.push(m), warn: (m) => lines.push(m), progress() {} },
      }).then(() => undefined, (e) => e);
      assert(err instanceof InfraError, `expected InfraError, got ${err}`);
      assert(/timed out waiting for ping module test/.test(err.message), err.message);
      assert(err.message.includes(`infra:down --state-dir ${stateDir}`), err.message);
      assert(
        lines.some((l) => l.startsWith("PLAY [Wait until every new node answers SSH")),
        "output is streamed, and the first play waits for the nodes",
      );
      assert(!lines.some((l) => l.startsWith("PLAY [Prepare every node]")), "nothing ran after");
      const rec = await readInfraRecord(stateDir);
      assertEquals(rec?.phase, "cluster-failed");
      assertEquals(rec?.cni, "cilium");
      const inv = parse(await Deno.readTextFile(join(stateDir, "inventory.yml")));
      assertEquals(inv.all.children.control_plane.hosts.master.ansible_host, "127.0.0.201");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("clusterSetup refuses a state dir with nothing up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-cluster-" });
  try {
    const err = await clusterSetup({ stateDir: dir }).then(() => undefined, (e) => e);
    assert(err instanceof Error && /no infrastructure is recorded in/.test(err.message));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the playbook waits for SSH and cloud-init before its first change", async () => {
  const plays = parse(
    await Deno.readTextFile(join(import.meta.dirname!, "../../ansible/site.yml")),
  ) as Array<{ hosts: string; gather_facts?: boolean; tasks?: Array<Record<string, unknown>> }>;
  const first = plays[0];
  assertEquals(first.hosts, "all");
  // Fact gathering needs SSH itself, so it must wait too.
  assertEquals(first.gather_facts, false);
  const modules = (first.tasks ?? []).map((t) => Object.keys(t).find((k) => k.includes(".")));
  assertEquals(modules, ["ansible.builtin.wait_for_connection", "ansible.builtin.command"]);
  assertEquals(first.tasks![1]["ansible.builtin.command"], "cloud-init status --wait");
});

Deno.test("every apt task outwaits unattended-upgrades' lock on a first boot", async () => {
  const vars = parse(
    await Deno.readTextFile(join(import.meta.dirname!, "../../ansible/group_vars/all.yml")),
  );
  assert(vars.apt_lock_timeout_s >= 600, `apt_lock_timeout_s ${vars.apt_lock_timeout_s}`);
  const roles = join(import.meta.dirname!, "../../ansible/roles");
  let apt = 0;
  for (const role of Deno.readDirSync(roles)) {
    const dir = join(roles, role.name, "tasks");
    let files: Deno.DirEntry[];
    try {
      files = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const f of files.filter((f) => f.name.endsWith(".yml"))) {
      const tasks = parse(await Deno.readTextFile(join(dir, f.name))) as Array<
        Record<string, Record<string, unknown>>
      >;
      for (const t of tasks ?? []) {
        const a = t["ansible.builtin.apt"] ?? t["apt"];
        if (!a) continue;
        apt++;
        assertEquals(
          a.lock_timeout,
          "{{ apt_lock_timeout_s }}",
          `${role.name}/tasks/${f.name} "${t.name}" has no lock_timeout (apt's default is 60 s)`,
        );
      }
    }
  }
  assert(apt >= 3, `found only ${apt} apt tasks`);
});
