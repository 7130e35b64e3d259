import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { parse } from "yaml";
import { SAMPLE_CLUSTER_OUTPUT } from "./check.ts";
import { controlPlane, parseClusterOutput, renderInventory } from "./inventory.ts";

Deno.test("parseClusterOutput converts Terraform's snake_case output", () => {
  const c = parseClusterOutput(SAMPLE_CLUSTER_OUTPUT);
  assertEquals(c.sshUser, "ubuntu");
  assertEquals(c.nodes[0], {
    name: "master",
    role: "control-plane",
    ocpus: 2,
    memoryGb: 12,
    publicIp: "192.0.2.10",
    privateIp: "10.0.1.10",
  });
  assertEquals(controlPlane(c).name, "master");
  assertEquals(c.loadBalancerIp, null);
  // Already-converted records (from infra.json) read back the same.
  assertEquals(parseClusterOutput(JSON.parse(JSON.stringify(c))), c);
});

Deno.test("parseClusterOutput names the field and the value it refuses", () => {
  const withNode = (patch: Record<string, unknown>) => ({
    ...SAMPLE_CLUSTER_OUTPUT,
    nodes: [
      { ...SAMPLE_CLUSTER_OUTPUT.nodes[0], ...patch },
      ...SAMPLE_CLUSTER_OUTPUT.nodes.slice(1),
    ],
  });
  throws(
    () => parseClusterOutput(withNode({ public_ip: null })),
    /"nodes\[0\]\.public_ip" must be an IPv4 address \(is the instance running\?\), got null/,
  );
  throws(() => parseClusterOutput(withNode({ role: "boss" })), /"nodes\[0\]\.role".*got "boss"/);
  throws(
    () => parseClusterOutput(withNode({ role: "worker" })),
    /must hold exactly one control-plane node/,
  );
  throws(
    () => parseClusterOutput({ ...SAMPLE_CLUSTER_OUTPUT, nodes: [] }),
    /"nodes" must be a non-empty array/,
  );
  throws(() => parseClusterOutput({ ...SAMPLE_CLUSTER_OUTPUT, ssh_user: "" }), /"ssh_user"/);
  throws(() => parseClusterOutput("nope"), /"\(root\)" must be an object/);
});

Deno.test("renderInventory groups hosts and pins host keys in the state dir", () => {
  const text = renderInventory(parseClusterOutput(SAMPLE_CLUSTER_OUTPUT), {
    knownHostsPath: "/state/known_hosts",
    sshPrivateKey: "/home/me/.ssh/oci",
  });
  const inv = parse(text);
  assertEquals(Object.keys(inv.all.children.control_plane.hosts), ["master"]);
  assertEquals(Object.keys(inv.all.children.workers.hosts), ["worker-1", "worker-2"]);
  assertEquals(inv.all.children.workers.hosts["worker-2"], {
    ansible_host: "192.0.2.12",
    public_ip: "192.0.2.12",
    private_ip: "10.0.1.12",
  });
  assertEquals(inv.all.vars.ansible_user, "ubuntu");
  assertEquals(inv.all.vars.ansible_ssh_private_key_file, "/home/me/.ssh/oci");
  assert(inv.all.vars.ansible_ssh_common_args.includes("UserKnownHostsFile=/state/known_hosts"));
  assert(inv.all.vars.ansible_ssh_common_args.includes("StrictHostKeyChecking=accept-new"));
  throws(
    () =>
      renderInventory(parseClusterOutput(SAMPLE_CLUSTER_OUTPUT), {
        knownHostsPath: "/my state/known_hosts",
      }),
    /known_hosts path "\/my state\/known_hosts"/,
  );
});
