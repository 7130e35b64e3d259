import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { parse } from "yaml";
import { namedKubeconfig } from "./kubeconfig.ts";

// The shape kubeadm writes to /etc/kubernetes/admin.conf (data shortened).
const ADMIN_CONF = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tQ0EtLS0=
    server: https://10.0.1.10:6443
  name: meshbench
contexts:
- context:
    cluster: meshbench
    user: kubernetes-admin
  name: kubernetes-admin@meshbench
current-context: kubernetes-admin@meshbench
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tQ0VSVC0tLQ==
    client-key-data: LS0tS0VZLS0t
`;

Deno.test("namedKubeconfig points at the public address under one named context", () => {
  const out = parse(
    namedKubeconfig(ADMIN_CONF, { context: "meshbench-oci", server: "https://192.0.2.10:6443" }),
  );
  assertEquals(out["current-context"], "meshbench-oci");
  assertEquals(out.contexts, [{
    name: "meshbench-oci",
    context: { cluster: "meshbench-oci", user: "meshbench-oci" },
  }]);
  assertEquals(out.clusters[0].cluster, {
    "certificate-authority-data": "LS0tQ0EtLS0=",
    server: "https://192.0.2.10:6443",
  });
  assertEquals(out.users[0].user["client-key-data"], "LS0tS0VZLS0t");
});

Deno.test("namedKubeconfig refuses bad names, servers and documents", () => {
  const opts = { context: "meshbench-oci", server: "https://192.0.2.10:6443" };
  throws(() => namedKubeconfig(ADMIN_CONF, { ...opts, context: "my context" }), /"my context"/);
  throws(() => namedKubeconfig(ADMIN_CONF, { ...opts, server: "192.0.2.10" }), /"192.0.2.10"/);
  throws(() => namedKubeconfig("kind: Pod\n", opts), /"kind" must be "Config", got "Pod"/);
  throws(
    () => namedKubeconfig(ADMIN_CONF.replace("certificate-authority-data", "insecure"), opts),
    /certificate-authority-data" is missing/,
  );
  throws(() => namedKubeconfig("a: [", opts), /Cannot parse the fetched admin.conf/);
});
