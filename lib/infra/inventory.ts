/**
 * Terraform's `cluster` output, validated, and the Ansible inventory written from it.
 *
 * @module
 */
import { stringify } from "yaml";

/** One node as Terraform reports it. */
export interface ClusterNode {
  name: string;
  role: "control-plane" | "worker";
  ocpus: number;
  memoryGb: number;
  publicIp: string;
  privateIp: string;
}

/** Terraform's `cluster` output, in camelCase. */
export interface ClusterOutput {
  region: string;
  sshUser: string;
  architecture: string;
  shape: string;
  vcnCidr: string;
  subnetCidr: string;
  nodes: ClusterNode[];
  loadBalancerIp: string | null;
}

/** Options for {@linkcode renderInventory}. */
export interface InventoryOptions {
  /** Private key Ansible logs in with; default: whatever ssh-agent / ~/.ssh offers. */
  sshPrivateKey?: string;
  /** known_hosts file kept with the state (new host keys are accepted once, then pinned). */
  knownHostsPath: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const NODE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * Validates `terraform output -json cluster` (snake_case, as Terraform prints it), or an
 * already-converted camelCase record.
 */
export function parseClusterOutput(
  data: unknown,
  source = "terraform output cluster",
): ClusterOutput {
  const fail = (field: string, why: string, value: unknown): never => {
    throw new Error(
      `Cannot read ${source}: "${field}" ${why}, got ${JSON.stringify(value) ?? "undefined"}`,
    );
  };
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    fail("(root)", "must be an object", data);
  }
  const o = data as Record<string, unknown>;
  const pick = (snake: string, camel: string) => (snake in o ? o[snake] : o[camel]);
  const str = (snake: string, camel: string): string => {
    const v = pick(snake, camel);
    if (typeof v !== "string" || v === "") fail(snake, "must be a non-empty string", v);
    return v as string;
  };
  const nodesRaw = pick("nodes", "nodes");
  if (!Array.isArray(nodesRaw) || nodesRaw.length === 0) {
    fail("nodes", "must be a non-empty array", nodesRaw);
  }
  const nodes = (nodesRaw as unknown[]).map((n, i): ClusterNode => {
    const f = `nodes[${i}]`;
    if (typeof n !== "object" || n === null) fail(f, "must be an object", n);
    const r = n as Record<string, unknown>;
    const get = (snake: string, camel: string) => (snake in r ? r[snake] : r[camel]);
    const name = get("name", "name");
    if (typeof name !== "string" || !NODE_NAME.test(name)) {
      fail(`${f}.name`, "must be a lowercase host name", name);
    }
    const role = get("role", "role");
    if (role !== "control-plane" && role !== "worker") {
      fail(`${f}.role`, 'must be "control-plane" or "worker"', role);
    }
    const ip = (snake: string, camel: string) => {
      const v = get(snake, camel);
      if (typeof v !== "string" || !IPV4.test(v)) {
        fail(`${f}.${snake}`, "must be an IPv4 address (is the instance running?)", v);
      }
      return v as string;
    };
    const num = (snake: string, camel: string) => {
      const v = get(snake, camel);
      if (typeof v !== "number" || !(v > 0)) fail(`${f}.${snake}`, "must be a positive number", v);
      return v as number;
    };
    return {
      name: name as string,
      role: role as ClusterNode["role"],
      ocpus: num("ocpus", "ocpus"),
      memoryGb: num("memory_gb", "memoryGb"),
      publicIp: ip("public_ip", "publicIp"),
      privateIp: ip("private_ip", "privateIp"),
    };
  });
  const planes = nodes.filter((n) => n.role === "control-plane");
  if (planes.length !== 1) {
    fail("nodes", "must hold exactly one control-plane node", planes.map((n) => n.name));
  }
  const names = new Set(nodes.map((n) => n.name));
  if (names.size !== nodes.length) fail("nodes", "must have unique names", [...names]);
  const lb = pick("load_balancer_ip", "loadBalancerIp");
  if (lb !== null && lb !== undefined && (typeof lb !== "string" || !IPV4.test(lb))) {
    fail("load_balancer_ip", "must be an IPv4 address or null", lb);
  }
  return {
    region: str("region", "region"),
    sshUser: str("ssh_user", "sshUser"),
    architecture: str("architecture", "architecture"),
    shape: str("shape", "shape"),
    vcnCidr: str("vcn_cidr", "vcnCidr"),
    subnetCidr: str("subnet_cidr", "subnetCidr"),
    nodes,
    loadBalancerIp: (lb as string | null | undefined) ?? null,
  };
}

/** The control-plane node of a cluster. */
export function controlPlane(cluster: ClusterOutput): ClusterNode {
  const n = cluster.nodes.find((n) => n.role === "control-plane");
  if (!n) throw new Error("Cannot find the control-plane node: the cluster output has none");
  return n;
}

/**
 * Renders the Ansible inventory (YAML): groups `control_plane` and `workers`, each host
 * reached on its public address, with `public_ip` / `private_ip` for the roles.
 */
export function renderInventory(cluster: ClusterOutput, options: InventoryOptions): string {
  const host = (n: ClusterNode) => ({
    ansible_host: n.publicIp,
    public_ip: n.publicIp,
    private_ip: n.privateIp,
  });
  const group = (role: ClusterNode["role"]) =>
    Object.fromEntries(cluster.nodes.filter((n) => n.role === role).map((n) => [n.name, host(n)]));
  const vars: Record<string, unknown> = {
    ansible_user: cluster.sshUser,
    ansible_ssh_common_args: `-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${
      quoteSsh(options.knownHostsPath)
    }`,
    vcn_cidr: cluster.vcnCidr,
  };
  if (options.sshPrivateKey) vars.ansible_ssh_private_key_file = options.sshPrivateKey;
  const inventory = {
    all: {
      vars,
      children: {
        control_plane: { hosts: group("control-plane") },
        workers: { hosts: group("worker") },
      },
    },
  };
  return "# Written by meshbench cluster:setup from Terraform's outputs; do not edit.\n" +
    stringify(inventory, { version: "1.1" });
}

function quoteSsh(path: string): string {
  if (/\s|"/.test(path)) {
    throw new Error(
      `Cannot use known_hosts path ${JSON.stringify(path)}: it contains spaces or quotes`,
    );
  }
  return path;
}
