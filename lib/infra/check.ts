/**
 * `infra:check`: everything about the infrastructure code that can be proven without a
 * cloud account. Each check reports passed, failed or skipped (with the reason).
 *
 * @module
 */
import { join } from "node:path";
import { CommandError, realRunner, type Runner } from "../command.ts";
import type { Logger } from "../target.ts";
import { runPlaybook } from "./ansible.ts";
import { parseClusterOutput, renderInventory } from "./inventory.ts";
import { OCI_SCHEMA_PATH, providerSchemaProblems, readProviderSchema } from "./provider_schema.ts";
import { staticRootProblems } from "./static_check.ts";
import {
  ANSIBLE_DIR,
  ansibleBinary,
  ansibleEnv,
  CACHE_DIR,
  TERRAFORM_DIR,
  terraformBinary,
  terraformEnv,
  TOPOLOGY_DIR,
} from "./tools.ts";

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  seconds: number;
  /** Why it failed or was skipped, or a one-line summary of what passed. */
  detail: string;
}

/** Options for {@linkcode checkInfra}. */
export interface CheckOptions {
  runner?: Runner;
  log?: Logger;
  /** Run only checks whose name contains one of these. */
  only?: string[];
}

const silentLog: Logger = { info() {}, warn() {}, progress() {} };

/** A check was skipped because something it needs is truly absent. */
class Skip extends Error {}

/** Sample of Terraform's `cluster` output (documentation addresses) for the writer check. */
export const SAMPLE_CLUSTER_OUTPUT = {
  region: "eu-frankfurt-1",
  ssh_user: "ubuntu",
  architecture: "arm64",
  shape: "VM.Standard.A1.Flex",
  vcn_cidr: "10.0.0.0/16",
  subnet_cidr: "10.0.1.0/24",
  nodes: [
    {
      name: "master",
      role: "control-plane",
      ocpus: 2,
      memory_gb: 12,
      public_ip: "192.0.2.10",
      private_ip: "10.0.1.10",
    },
    {
      name: "worker-1",
      role: "worker",
      ocpus: 1,
      memory_gb: 6,
      public_ip: "192.0.2.11",
      private_ip: "10.0.1.11",
    },
    {
      name: "worker-2",
      role: "worker",
      ocpus: 1,
      memory_gb: 6,
      public_ip: "192.0.2.12",
      private_ip: "10.0.1.12",
    },
  ],
  load_balancer_ip: null,
};

type CheckFn = (ctx: { runner: Runner; scratch: string }) => Promise<string>;

function needTerraform(): string {
  const bin = terraformBinary();
  if (!bin) throw new Skip('neither "terraform" nor "tofu" is on PATH');
  return bin;
}

function needAnsible(name: string): string {
  const bin = ansibleBinary(name);
  if (!bin) throw new Skip(`"${name}" is not installed (run .ci/install_infra.sh)`);
  return bin;
}

const tfDataDir = (name: string) => join(CACHE_DIR, "tf-data", name);

const CHECKS: Array<[string, CheckFn]> = [
  ["terraform fmt -check", async ({ runner }) => {
    const bin = needTerraform();
    await runner.run([bin, "fmt", "-check", "-recursive", "-diff", TERRAFORM_DIR], {
      env: terraformEnv(tfDataDir("fmt")),
      timeoutMs: 60_000,
    });
    return "all .tf and .tftest.hcl files are formatted";
  }],
  ["root module static checks (references, guards, example tfvars; no provider)", async () => {
    const problems = await staticRootProblems(TERRAFORM_DIR);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    return "references resolve, ingress only via the topology guards, example matches";
  }],
  ["OCI arguments and blocks against the pinned provider schema (no provider binary)", async () => {
    const schema = await readProviderSchema(OCI_SCHEMA_PATH);
    const problems = await providerSchemaProblems(TERRAFORM_DIR, schema);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const n = Object.keys(schema.resources).length + Object.keys(schema.dataSources).length;
    return `every oci_* block matches oracle/oci 7.31.0's schema (${n} types known)`;
  }],
  ["terraform validate (topology module)", async ({ runner }) => {
    const bin = needTerraform();
    const env = terraformEnv(tfDataDir("topology"));
    const chdir = `-chdir=${TOPOLOGY_DIR}`;
    await runner.run([bin, chdir, "init", "-backend=false", "-input=false", "-no-color"], {
      env,
      timeoutMs: 120_000,
    });
    const r = await runner.run([bin, chdir, "validate", "-no-color"], { env, timeoutMs: 60_000 });
    return r.stdout.trim().split("\n").at(-1) ?? "";
  }],
  ["terraform test (policy: open CIDRs and free-tier totals)", async ({ runner }) => {
    const bin = needTerraform();
    const env = terraformEnv(tfDataDir("topology"));
    const chdir = `-chdir=${TOPOLOGY_DIR}`;
    await runner.run([bin, chdir, "init", "-backend=false", "-input=false", "-no-color"], {
      env,
      timeoutMs: 120_000,
    });
    const r = await runner.run([bin, chdir, "test", "-no-color"], { env, timeoutMs: 300_000 });
    const summary = r.stdout.match(/(\d+) passed, (\d+) failed/);
    if (!summary || Number(summary[1]) === 0) {
      throw new Error(`terraform test ran no test: ${r.stdout.trim().split("\n").at(-1)}`);
    }
    return summary[0];
  }],
  ["terraform validate + mock-provider tests (root module)", async ({ runner }) => {
    const bin = needTerraform();
    const env = terraformEnv(tfDataDir("root"));
    const chdir = `-chdir=${TERRAFORM_DIR}`;
    try {
      await runner.run([bin, chdir, "init", "-backend=false", "-input=false", "-no-color"], {
        env,
        timeoutMs: 300_000,
      });
    } catch (e) {
      const text = e instanceof CommandError ? e.message : String(e);
      if (
        /oracle\/oci/.test(text) &&
        /registry|provider|Failed to query|could not connect/i.test(text)
      ) {
        // A mock provider still takes its schema from the real one, so without it
        // neither validate nor the root tests can run.
        throw new Skip(
          "the oracle/oci provider cannot be installed here (registry unreachable; install it " +
            "into a filesystem mirror named in ~/.terraformrc to run this check)",
        );
      }
      throw e;
    }
    await runner.run([bin, chdir, "validate", "-no-color"], { env, timeoutMs: 120_000 });
    const r = await runner.run([bin, chdir, "test", "-no-color"], { env, timeoutMs: 300_000 });
    return (r.stdout.match(/\d+ passed, \d+ failed/) ?? ["validated"])[0];
  }],
  ["ansible-playbook --syntax-check", async ({ runner }) => {
    const bin = needAnsible("ansible-playbook");
    const env = ansibleEnv();
    await Deno.mkdir(env.ANSIBLE_LOCAL_TEMP, { recursive: true });
    await runner.run(
      [bin, "--syntax-check", "-i", join(ANSIBLE_DIR, "tests", "inventory.yml"), "site.yml"],
      { env, cwd: ANSIBLE_DIR, timeoutMs: 120_000 },
    );
    return "site.yml parses with every role";
  }],
  ["ansible-lint (production profile)", async ({ runner }) => {
    const bin = needAnsible("ansible-lint");
    const r = await runner.run([bin, "--nocolor", "--offline", "--profile", "production"], {
      env: ansibleEnv(),
      cwd: ANSIBLE_DIR,
      timeoutMs: 300_000,
    });
    return (`${r.stdout}\n${r.stderr}`.match(/Passed: [^\n]*/) ?? ["passed"])[0];
  }],
  ["inventory writer (read back by ansible-inventory)", async ({ runner, scratch }) => {
    const bin = needAnsible("ansible-inventory");
    const cluster = parseClusterOutput(SAMPLE_CLUSTER_OUTPUT);
    const path = join(scratch, "inventory.yml");
    await Deno.writeTextFile(
      path,
      renderInventory(cluster, { knownHostsPath: join(scratch, "known_hosts") }),
    );
    const r = await runner.run([bin, "-i", path, "--list"], {
      env: ansibleEnv(),
      cwd: ANSIBLE_DIR,
      timeoutMs: 60_000,
    });
    const inv = JSON.parse(r.stdout);
    const planes = inv.control_plane?.hosts ?? [];
    const workers = inv.workers?.hosts ?? [];
    const master = inv._meta?.hostvars?.master ?? {};
    if (
      planes.join() !== "master" || workers.join() !== "worker-1,worker-2" ||
      master.ansible_host !== "192.0.2.10" || master.private_ip !== "10.0.1.10" ||
      master.ansible_user !== "ubuntu"
    ) {
      throw new Error(`ansible-inventory read back an unexpected inventory: ${r.stdout}`);
    }
    return "control_plane=[master], workers=[worker-1, worker-2]";
  }],
  [
    "roles for real on a scratch host (node_prep, kubeadm config, metrics-server edit), twice",
    async ({ runner, scratch }) => {
      needAnsible("ansible-playbook");
      const root = join(scratch, "host");
      await Deno.mkdir(join(root, "iptables"), { recursive: true });
      await Deno.writeTextFile(
        join(root, "fstab"),
        "UUID=0a1b / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n",
      );
      // The shape of the host firewall Oracle's Ubuntu images ship.
      await Deno.writeTextFile(
        join(root, "iptables", "rules.v4"),
        [
          "*filter",
          ":INPUT ACCEPT [0:0]",
          ":FORWARD ACCEPT [0:0]",
          "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT",
          "-A INPUT -j REJECT --reject-with icmp-host-prohibited",
          "-A FORWARD -j REJECT --reject-with icmp-host-prohibited",
          "COMMIT",
          "",
        ].join("\n"),
      );
      // The container args of metrics-server's release manifest, as the edit finds them.
      await Deno.writeTextFile(
        join(root, "metrics-server.yaml"),
        [
          "      containers:",
          "      - args:",
          "        - --cert-dir=/tmp",
          "        - --secure-port=10250",
          "        - --kubelet-use-node-status-port",
          "        - --metric-resolution=15s",
          "        image: registry.k8s.io/metrics-server/metrics-server:v0.7.2",
          "",
        ].join("\n"),
      );
      const inventory = join(scratch, "local.ini");
      await Deno.writeTextFile(inventory, "local_test_host\n");
      const run = () =>
        runPlaybook(join(ANSIBLE_DIR, "tests", "local_roles.yml"), {
          inventory,
          runner,
          extraVars: {
            scratch: root,
            cni: "cilium",
            public_ip: "192.0.2.10",
            private_ip: "10.0.1.10",
          },
        });
      const first = await run();
      const second = await run();
      if (first.changed === 0) {
        throw new Error(
          "the first run changed nothing in a fresh scratch host",
        );
      }
      if (second.changed !== 0) {
        throw new Error(
          `the second run changed ${second.changed} things: the roles are not idempotent`,
        );
      }
      const fstab = await Deno.readTextFile(join(root, "fstab"));
      const rules = await Deno.readTextFile(join(root, "iptables", "rules.v4"));
      const kubeadm = await Deno.readTextFile(join(root, "kubernetes", "kubeadm-config.yaml"));
      const metrics = await Deno.readTextFile(join(root, "metrics-server.yaml"));
      const problems = [
        !metrics.includes(
          "        - --metric-resolution=15s\n        - --kubelet-insecure-tls\n",
        ) &&
        "--kubelet-insecure-tls not added under metric-resolution",
        metrics.split("--kubelet-insecure-tls").length !== 2 &&
        "--kubelet-insecure-tls added twice",
        !fstab.includes("# /swapfile none swap") && "swap entry not commented out",
        rules.includes("-A FORWARD -j REJECT") && "forward reject rule kept",
        !/-A INPUT -s 10\.0\.0\.0\/16 -j ACCEPT\n(.*\n)*-A INPUT -j REJECT/.test(rules) &&
        "VCN accept rule missing or after the reject rule",
        !/-A INPUT -s 10\.244\.0\.0\/16 -j ACCEPT\n(.*\n)*-A INPUT -j REJECT/.test(rules) &&
        "pod CIDR accept rule missing or after the reject rule (metrics-server cannot scrape its own node)",
        !kubeadm.includes("podSubnet: 10.244.0.0/16") && "podSubnet missing from kubeadm config",
        !kubeadm.includes("- 192.0.2.10") && "public address missing from certSANs",
      ].filter(Boolean);
      if (problems.length > 0) {
        throw new Error(
          `the roles wrote wrong files: ${problems.join("; ")}`,
        );
      }
      return `first run changed ${first.changed}, second run changed 0`;
    },
  ],
  ["node_prep in check mode against this machine", async ({ runner, scratch }) => {
    needAnsible("ansible-playbook");
    const inventory = join(scratch, "local.ini");
    await Deno.writeTextFile(inventory, "local_test_host\n");
    const r = await runPlaybook(join(ANSIBLE_DIR, "tests", "local_check.yml"), {
      inventory,
      runner,
      check: true,
    });
    const failed = r.recap.reduce((s, l) => s + l.failed + l.unreachable, 0);
    if (failed > 0) throw new Error(`check mode reported ${failed} failures`);
    return `${r.tasksSeen} tasks, ${r.changed} would change`;
  }],
];

/** The names of every check, in the order they run. */
export const CHECK_NAMES: string[] = CHECKS.map(([n]) => n);

/**
 * Runs every infrastructure check that needs no cloud account. Never throws for a failed
 * check: look at the statuses (the task exits non-zero when any failed).
 */
export async function checkInfra(opts: CheckOptions = {}): Promise<CheckResult[]> {
  const runner = opts.runner ?? realRunner;
  const log = opts.log ?? silentLog;
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  const scratch = await Deno.makeTempDir({ dir: CACHE_DIR, prefix: "check-" });
  const selected = CHECKS.filter(([name]) =>
    !opts.only || opts.only.some((o) => name.toLowerCase().includes(o.toLowerCase()))
  );
  const results: CheckResult[] = [];
  try {
    for (const [i, [name, fn]] of selected.entries()) {
      log.progress(name, i, selected.length);
      const t0 = performance.now();
      let status: CheckResult["status"] = "passed";
      let detail: string;
      try {
        detail = await fn({ runner, scratch });
      } catch (e) {
        status = e instanceof Skip ? "skipped" : "failed";
        detail = (e as Error).message;
      }
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      results.push({ name, status, seconds, detail });
      const line = `${status.toUpperCase().padEnd(7)} ${name} (${seconds} s): ${detail}`;
      if (status === "failed") log.warn(line);
      else log.info(line);
    }
    log.progress("infra checks", selected.length, selected.length);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  return results;
}
