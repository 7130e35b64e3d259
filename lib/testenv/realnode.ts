/**
 * A real Kubernetes node on this machine for the test control plane: containerd (runc), a
 * kubelet, kube-proxy and CoreDNS, joined to the test API server. Everything the node owns is
 * confined so that `testenv:down` can remove all of it and nothing else:
 *
 * - **Network**: one network namespace (`meshbench-node`) holds the node's "host" network:
 *   its uplink veth (198.18.0.2/30, the node's InternalIP), the pod bridge `mbn-br0`
 *   (198.18.1.1/24, the pod CIDR), every pod veth, kube-proxy's iptables chains and the
 *   node's routes. The machine gets only the other end of the uplink, `mbn-host`
 *   (198.18.0.1/30, with its connected route). Addresses are from the benchmarking range
 *   198.18.0.0/15 (RFC 2544). No existing interface, route or iptables chain is touched; the
 *   machine's forwarding stays as it is (off here), so pod traffic cannot leave.
 * - **Mounts**: every node process runs in one private mount namespace (pinned by a holder
 *   process): volumes, container root file systems and the CRI's netns pins exist only there
 *   and disappear with its last process.
 * - **Kernel settings**: the kubelet sets `vm.overcommit_memory`, `kernel.panic` and
 *   `kernel.panic_on_oops` for the whole machine when they differ from what it wants (or
 *   refuses to start with `protectKernelDefaults`). Inside the node's mount namespace those
 *   `/proc/sys` files are covered by files holding the kubelet's values, so the machine's
 *   settings are never changed.
 * - **cgroups**: the kubelet's `cgroupRoot` is `/meshbench-node` in every cgroup v1 hierarchy
 *   (cgroupfs driver); the whole subtree is removed at teardown.
 * - **Files**: containerd's root and state, the kubelet's root, pod logs, CNI state and
 *   certificates are under `<testenv dir>/node`.
 *
 * The API server listens on loopback only; the node reaches it at 198.18.0.1 through a socat
 * relay on `mbn-host` (to 127.0.0.1), verifying the server's certificate as `localhost`.
 * Allocatable CPU is 1 core (the rest is system-reserved), memory 6 GiB, like one OCI
 * free-tier worker (4 OCPU, 24 GB across 4 workers), so capacity problems show here first.
 *
 * Needs root, and the binaries and images `.ci/install_realnode.sh` installs.
 *
 * @module
 */

import { CommandError, realRunner, type Runner } from "../command.ts";
import { findBinary, isExecutable } from "../binaries.ts";

/** Name of the real node (Node object and hostname override). */
export const REAL_NODE_NAME = "meshbench-node";
/** The node's network namespace (`ip netns`): one real node per machine. */
export const NODE_NETNS = "meshbench-node";
/** Interfaces the node creates: the machine's end of the uplink, the node's end, the bridge. */
export const NODE_INTERFACES = { host: "mbn-host", uplink: "mbn-uplink", bridge: "mbn-br0" };
/** Addresses: the machine's uplink end, the node's InternalIP, the pod CIDR and its gateway. */
export const NODE_ADDRESSES = {
  host: "198.18.0.1",
  node: "198.18.0.2",
  uplinkPrefix: 30,
  podCidr: "198.18.1.0/24",
  podGateway: "198.18.1.1",
};
/** cgroup parent of everything the kubelet runs (in every v1 hierarchy). */
export const NODE_CGROUP_ROOT = "/meshbench-node";
/** Allocatable memory on the real node (the rest is system-reserved). */
export const NODE_ALLOCATABLE_MEMORY_MI = 6 * 1024;

/**
 * The machine-wide lock every start of a real node is taken under (one real node per machine:
 * its network namespace and interface names are fixed). Shell users take it with
 * `flock /tmp/meshbench-realnode.lock <command>` around up, use and `testenv:down`.
 */
export const REAL_NODE_LOCK = "/tmp/meshbench-realnode.lock";

/**
 * Runs `fn` holding {@linkcode REAL_NODE_LOCK} (flock(2), as `flock(1)` takes it), waiting
 * for another holder to finish; `waiting` is told once when it has to wait. A process
 * started under `flock /tmp/meshbench-realnode.lock ...` already holds it through the
 * descriptor it inherited (locking the file again would wait for itself): then `fn` just
 * runs.
 */
export async function withRealNodeLock<T>(
  fn: () => Promise<T>,
  waiting: (m: string) => void = () => {},
): Promise<T> {
  const inherited = [...Deno.readDirSync("/proc/self/fd")].some((e) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${e.name}`) === REAL_NODE_LOCK;
    } catch {
      return false; // closed meanwhile
    }
  });
  if (inherited) return await fn();
  const file = await Deno.open(REAL_NODE_LOCK, { create: true, write: true });
  try {
    if (!(await file.tryLock(true))) {
      waiting(`waiting for ${REAL_NODE_LOCK} (another real node runs on this machine)`);
      await file.lock(true);
    }
    return await fn();
  } finally {
    file.close();
  }
}

/** The processes a real node records, in start order. */
export const NODE_PROCESSES = [
  "apiserver-relay",
  "node-namespace",
  "containerd",
  "kubelet",
  "kube-proxy",
  "coredns",
] as const;

/** Binaries `.ci/install_realnode.sh` puts into the test binary directory. */
export const REAL_NODE_BINARIES = ["kubelet", "kube-proxy", "coredns"] as const;

/** What the node needs from the machine (Debian packages installed by the install script). */
const SYSTEM_BINARIES = ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "socat", "ip"];
const CNI_BIN_DIR = "/usr/lib/cni";

/**
 * The sandbox ("pause") image, assembled by the install script under the name the kubelet
 * and the ML prepull DaemonSet use.
 */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

/** Recorded state of a real node (in the test environment's state.json). */
export interface RealNodeState {
  name: string;
  netns: string;
  hostInterface: string;
  cgroupRoot: string;
  /** cgroup hierarchies the root was created in (mount points). */
  cgroupHierarchies: string[];
  containerdSocket: string;
  nodeDir: string;
  kubeletPort: number;
  /** Image references imported into containerd. */
  images: string[];
  /** Runtime and versions, for provenance. */
  runtime: string;
  /**
   * Whether /run/containerd was absent before the node started: containerd 1.6 keeps its
   * shims' sockets in /run/containerd/s whatever its state directory, so the node created it
   * and removes it (when empty) at teardown.
   */
  createdRunContainerd: boolean;
}

/** A process the node runs, as the test environment records it. */
export interface NodeProcess {
  name: string;
  pid: number;
  log: string;
  binary: string;
}

/** The real-node prerequisites that are missing (binaries, images, root), or none. */
export function missingRealNodeParts(binDir: string, imagesDir: string): string[] {
  const missing: string[] = [];
  if (Deno.uid?.() !== 0) missing.push("root (the node creates a network namespace and cgroups)");
  for (const b of REAL_NODE_BINARIES) {
    if (!isExecutable(`${binDir}/${b}`)) missing.push(`"${b}" in "${binDir}"`);
  }
  for (const b of SYSTEM_BINARIES) {
    if (!which(b)) missing.push(`"${b}" on PATH`);
  }
  for (const p of ["bridge", "host-local", "loopback"]) {
    if (!isExecutable(`${CNI_BIN_DIR}/${p}`)) missing.push(`CNI plugin "${CNI_BIN_DIR}/${p}"`);
  }
  if (imageArchives(imagesDir).length === 0) missing.push(`images in "${imagesDir}"`);
  return missing;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` ({@linkcode findBinary}, then /usr/bin), or null. */
export function which(name: string): string | null {
  return findBinary(name) ?? findBinary(name, ["/usr/bin"]) ?? null;
}

/** docker-archive tarballs in `imagesDir` (as the install script links them). */
export function imageArchives(imagesDir: string): string[] {
  try {
    return [...Deno.readDirSync(imagesDir)]
      .filter((e) => e.name.endsWith(".tar"))
      .map((e) => `${imagesDir}/${e.name}`)
      .sort();
  } catch {
    return [];
  }
}

/** Whether the machine already has this node's network namespace or interfaces. */
export async function nodeNetworkExists(runner: Runner = realRunner): Promise<string[]> {
  const found: string[] = [];
  try {
    Deno.statSync(`/run/netns/${NODE_NETNS}`);
    found.push(`network namespace "${NODE_NETNS}"`);
  } catch { /* absent */ }
  const links = await runner.run(["ip", "-o", "link", "show"], { timeoutMs: 10_000 });
  for (const name of [NODE_INTERFACES.host]) {
    if (new RegExp(`^\\d+: ${name}[@:]`, "m").test(links.stdout)) {
      found.push(`interface "${name}"`);
    }
  }
  return found;
}

/** cgroup v1 hierarchies mounted on this machine (mount points), from /proc/self/mountinfo. */
export function cgroupHierarchies(): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const fstype = right.split(" ")[0];
    if (fstype === "cgroup" || fstype === "cgroup2") out.push(left.split(" ")[4]);
  }
  return out;
}

/** Kubelet wants these kernel settings; it writes them machine-wide when they differ. */
const KUBELET_SYSCTLS: Record<string, string> = {
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@linkcode startRealNode}. */
export interface RealNodeOptions {
  /** The test environment's directory; the node lives in `<dir>/node`. */
  dir: string;
  binDir: string;
  imagesDir: string;
  pki: string;
  /** Port of the API server on 127.0.0.1. */
  apiserverPort: number;
  context: string;
  /** Starts a detached process and records it (the test environment's `start`). */
  spawn: (name: string, binary: string, cmd: string[]) => Promise<NodeProcess>;
  api: (
    method: string,
    path: string,
    body?: unknown,
  ) => Promise<{ status: number; body: Record<string, unknown> | null }>;
  timeoutMs: number;
  log: (m: string) => void;
  runner?: Runner;
  /** Records the node state as soon as anything exists (so a failed start is cleaned up). */
  record: (state: RealNodeState) => Promise<void>;
}

/** Runs a command; a failure is returned as its exit code and stderr, never thrown. */
async function tryRun(
  runner: Runner,
  cmd: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await runner.run(cmd, { timeoutMs });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    if (e instanceof CommandError) return { code: e.code, stdout: "", stderr: e.message };
    throw e;
  }
}

async function run(
  runner: Runner,
  cmd: string[],
  what: string,
  timeoutMs = 120_000,
): Promise<string> {
  const r = await tryRun(runner, cmd, timeoutMs);
  if (r.code !== 0) {
    throw new Error(`${what} failed (${cmd.join(" ")}): exit ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** `ip netns exec`-free: runs a command in the node's network namespace only. */
function inNetns(cmd: string[]): string[] {
  return ["nsenter", `--net=/run/netns/${NODE_NETNS}`, ...cmd];
}

/**
 * Starts the real node and waits until it is Ready with its images imported. The caller's
 * `record` receives the state before the first change to the machine, so a failure half-way
 * is undone by {@linkcode stopRealNode}.
 */
export async function startRealNode(o: RealNodeOptions): Promise<RealNodeState> {
  const runner = o.runner ?? realRunner;
  const missing = missingRealNodeParts(o.binDir, o.imagesDir);
  if (missing.length) {
    throw new Error(
      `Cannot start a real node: missing ${missing.join(", ")} (run: bash .ci/install_realnode.sh)`,
    );
  }
  const taken = await nodeNetworkExists(runner);
  if (taken.length) {
    throw new Error(
      `Cannot start a real node: ${taken.join(" and ")} already exist on this machine ` +
        `(another test environment's real node runs, or one was not stopped: ` +
        `deno task testenv:down --dir <its dir>)`,
    );
  }
  const deadline = Date.now() + o.timeoutMs;
  const left = () => Math.max(1_000, deadline - Date.now());
  const nodeDir = `${o.dir}/node`;
  const d = {
    containerd: `${nodeDir}/containerd`,
    kubelet: `${nodeDir}/kubelet`,
    cni: `${nodeDir}/cni`,
    etc: `${nodeDir}/etc`,
    sysctl: `${nodeDir}/sysctl`,
    podLogs: `${nodeDir}/pod-logs`,
  };
  for (const p of Object.values(d)) await Deno.mkdir(p, { recursive: true });
  const socket = `${d.containerd}/containerd.sock`;
  const kubeletPort = 10250;
  const hierarchies = cgroupHierarchies();
  const state: RealNodeState = {
    name: REAL_NODE_NAME,
    netns: NODE_NETNS,
    hostInterface: NODE_INTERFACES.host,
    cgroupRoot: NODE_CGROUP_ROOT,
    cgroupHierarchies: hierarchies,
    containerdSocket: socket,
    nodeDir,
    kubeletPort,
    images: [],
    runtime: "",
    createdRunContainerd: !exists("/run/containerd"),
  };
  await o.record(state);

  // Network: the namespace, the uplink veth pair, the node's routes and forwarding (there).
  const A = NODE_ADDRESSES;
  const I = NODE_INTERFACES;
  await run(runner, ["ip", "netns", "add", NODE_NETNS], "ip netns add");
  await run(
    runner,
    ["ip", "link", "add", I.host, "type", "veth", "peer", "name", I.uplink, "netns", NODE_NETNS],
    "creating the uplink veth pair",
  );
  await run(
    runner,
    ["ip", "addr", "add", `${A.host}/${A.uplinkPrefix}`, "dev", I.host],
    "addressing the uplink",
  );
  await run(runner, ["ip", "link", "set", I.host, "up"], "raising the uplink");
  for (
    const cmd of [
      ["ip", "link", "set", "lo", "up"],
      ["ip", "addr", "add", `${A.node}/${A.uplinkPrefix}`, "dev", I.uplink],
      ["ip", "link", "set", I.uplink, "up"],
      // Kubernetes components want a default route; it leads to the machine, whose
      // forwarding is not changed, so nothing leaves through it.
      ["ip", "route", "add", "default", "via", A.host, "dev", I.uplink],
      ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
    ]
  ) await run(runner, inNetns(cmd), "configuring the node's network namespace");

  // cgroups: the kubelet's root in every hierarchy (cpuset needs its cpus and mems).
  for (const h of hierarchies) {
    const path = `${h}${NODE_CGROUP_ROOT}`;
    await Deno.mkdir(path, { recursive: true });
    if (h.endsWith("/cpuset")) {
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        await Deno.writeTextFile(`${path}/${f}`, await Deno.readTextFile(`${h}/${f}`));
      }
    }
  }

  // Certificates (made with the test PKI): kubelet-client (the Node authorizer's
  // system:node identity) and kubelet-serving (for 198.18.0.2).
  const server = `https://${A.host}:${o.apiserverPort}`;
  const kubeconfig = async (name: string, cert: string) => {
    const path = `${d.etc}/${name}.kubeconfig`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: o.context,
          // The API server's certificate names 127.0.0.1 and localhost; the relay is
          // transparent, so the name checked is localhost.
          cluster: {
            server,
            "certificate-authority": `${o.pki}/ca.crt`,
            "tls-server-name": "localhost",
          },
        }],
        users: [{
          name,
          user: {
            "client-certificate": `${o.pki}/${cert}.crt`,
            "client-key": `${o.pki}/${cert}.key`,
          },
        }],
        contexts: [{ name: o.context, context: { cluster: o.context, user: name } }],
        "current-context": o.context,
      }),
    );
    return path;
  };
  const kubeletKubeconfig = await kubeconfig("kubelet", "kubelet-client");
  const adminKubeconfig = await kubeconfig("node-admin", "admin");

  // The relay: the API server is on 127.0.0.1 only; the node dials 198.18.0.1.
  const socat = which("socat")!;
  await o.spawn("apiserver-relay", socat, [
    socat,
    `TCP-LISTEN:${o.apiserverPort},bind=${A.host},fork,reuseaddr`,
    `TCP:127.0.0.1:${o.apiserverPort}`,
  ]);

  // The mount namespace every node process shares, pinned by a holder process.
  for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) {
    await Deno.writeTextFile(`${d.sysctl}/${key.replaceAll("/", ".")}`, `${value}\n`);
  }
  const covers = Object.keys(KUBELET_SYSCTLS).filter((k) =>
    Deno.readTextFileSync(`/proc/sys/${k}`).trim() !== KUBELET_SYSCTLS[k]
  ).map((k) => `mount --bind ${d.sysctl}/${k.replaceAll("/", ".")} /proc/sys/${k}`);
  const sleepBin = which("sleep")!;
  const holder = await o.spawn("node-namespace", sleepBin, [
    "nsenter",
    `--net=/run/netns/${NODE_NETNS}`,
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `set -e; ${covers.join("; ")}${covers.length ? "; " : ""}exec ${sleepBin} 2147483647`,
  ]);
  const nodeCmd = (binary: string, args: string[]) => [
    "nsenter",
    `--target=${holder.pid}`,
    "--mount",
    "--net",
    binary,
    ...args,
  ];

  // containerd with the CRI plugin, its state confined to nodeDir.
  const cniConf = `${d.cni}/net.d`;
  await Deno.mkdir(cniConf, { recursive: true });
  await Deno.writeTextFile(
    `${cniConf}/10-meshbench-node.conflist`,
    JSON.stringify(
      {
        cniVersion: "1.0.0",
        name: "meshbench-node",
        plugins: [
          {
            type: "bridge",
            bridge: I.bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: A.podCidr, gateway: A.podGateway }]],
              routes: [{ dst: "0.0.0.0/0" }],
              dataDir: `${d.cni}/ipam`,
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
  const containerdConfig = `${d.etc}/containerd.toml`;
  await Deno.writeTextFile(containerdConfig, renderContainerdConfig(d.containerd, cniConf));
  await o.spawn(
    "containerd",
    which("containerd")!,
    nodeCmd(which("containerd")!, ["--config", containerdConfig]),
  );
  const ctr = (args: string[]) => [which("ctr")!, "--address", socket, "-n", "k8s.io", ...args];
  await waitFor("containerd to answer", Math.min(left(), 30_000), async () => {
    const r = await tryRun(runner, ctr(["version"]), 5_000);
    return r.code === 0;
  });
  const version = await run(runner, ctr(["version"]), "ctr version");
  state.runtime = `containerd://${version.match(/Server:\s*\n\s*Version:\s*(\S+)/)?.[1] ?? "?"}`;

  // Images: imported under the names the manifests use.
  const importStart = Date.now();
  // In parallel: unpacking is most of the time, and containerd unpacks each separately.
  const outs = await Promise.all(
    imageArchives(o.imagesDir).map((archive) =>
      run(runner, ctr(["images", "import", archive]), `importing image "${archive}"`, 480_000)
    ),
  );
  for (const out of outs) {
    for (const m of out.matchAll(/unpacking (\S+) \(sha256/g)) state.images.push(m[1]);
  }
  await o.record(state);
  o.log(
    `testenv: real node: containerd (${state.runtime}), ${state.images.length} images ` +
      `imported in ${((Date.now() - importStart) / 1000).toFixed(0)} s`,
  );

  // kubelet.
  const cpus = navigator.hardwareConcurrency;
  const memTotalKi = Number(
    Deno.readTextFileSync("/proc/meminfo").match(/MemTotal:\s+(\d+) kB/)?.[1] ?? 0,
  );
  const reservedMemMi = Math.max(0, Math.floor(memTotalKi / 1024) - NODE_ALLOCATABLE_MEMORY_MI);
  const kubeletConfig = `${d.etc}/kubelet.json`;
  await Deno.writeTextFile(
    kubeletConfig,
    JSON.stringify(
      {
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        address: A.node,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzPort: 10248,
        healthzBindAddress: "127.0.0.1",
        tlsCertFile: `${o.pki}/kubelet-serving.crt`,
        tlsPrivateKeyFile: `${o.pki}/kubelet-serving.key`,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: false },
          x509: { clientCAFile: `${o.pki}/ca.crt` },
        },
        authorization: { mode: "AlwaysAllow" },
        containerRuntimeEndpoint: `unix://${socket}`,
        cgroupDriver: "cgroupfs",
        cgroupRoot: NODE_CGROUP_ROOT,
        cgroupsPerQOS: true,
        enforceNodeAllocatable: ["pods"],
        // 1 CPU allocatable, like one OCI worker: the rest of the machine is reserved.
        systemReserved: {
          cpu: String(Math.max(0, cpus - 1)),
          memory: `${reservedMemMi}Mi`,
        },
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%" },
        failSwapOn: false,
        // 1.34 still runs on cgroup v1 (this machine's); a newer pin needs this false too.
        failCgroupV1: false,
        oomScoreAdj: 0,
        clusterDNS: [A.node],
        clusterDomain: "cluster.local",
        resolvConf: "",
        podLogsDir: d.podLogs,
        volumePluginDir: `${d.kubelet}/volume-plugins`,
        serializeImagePulls: false,
        maxPods: 110,
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        nodeStatusUpdateFrequency: "5s",
        nodeStatusReportFrequency: "30s",
        shutdownGracePeriod: "0s",
      },
      null,
      2,
    ),
  );
  await o.spawn(
    "kubelet",
    `${o.binDir}/kubelet`,
    nodeCmd(`${o.binDir}/kubelet`, [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${d.kubelet}`,
      `--cert-dir=${d.kubelet}/pki`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-ip=${A.node}`,
      // cAdvisor finds containers' pod and container names through containerd's socket
      // (default /run/containerd/containerd.sock): without this, per-container series have
      // no labels and per-container CPU counters cannot be attributed.
      `--containerd=${socket}`,
      "--node-labels=meshbench.io/role=server,meshbench.io/real-node=true",
      "--v=1",
    ]),
  );

  // kube-proxy (iptables mode, inside the node's namespace only).
  const proxyConfig = `${d.etc}/kube-proxy.json`;
  await Deno.writeTextFile(
    proxyConfig,
    JSON.stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: adminKubeconfig },
      hostnameOverride: REAL_NODE_NAME,
      bindAddress: A.node,
      mode: "iptables",
      clusterCIDR: A.podCidr,
      healthzBindAddress: "127.0.0.1:10256",
      metricsBindAddress: "127.0.0.1:10249",
      oomScoreAdj: 0,
      // 0: leave the kernel's conntrack settings (some are machine-wide) as they are.
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: "0s",
        tcpCloseWaitTimeout: "0s",
      },
      iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: "30s" },
    }),
  );
  await o.spawn(
    "kube-proxy",
    `${o.binDir}/kube-proxy`,
    nodeCmd(`${o.binDir}/kube-proxy`, [`--config=${proxyConfig}`, "--v=1"]),
  );

  // CoreDNS, on the node's InternalIP (the kubelet's clusterDNS), serving cluster.local.
  const corefile = `${d.etc}/Corefile`;
  await Deno.writeTextFile(
    corefile,
    `.:53 {\n  bind ${A.node}\n  errors\n  kubernetes cluster.local in-addr.arpa ip6.arpa {\n` +
      `    kubeconfig ${adminKubeconfig} ${o.context}\n    pods insecure\n` +
      `    fallthrough in-addr.arpa ip6.arpa\n  }\n  cache 5\n}\n`,
  );
  await o.spawn(
    "coredns",
    `${o.binDir}/coredns`,
    nodeCmd(`${o.binDir}/coredns`, ["-conf", corefile]),
  );

  await waitFor(`node "${REAL_NODE_NAME}" to be Ready`, left(), async () => {
    const r = await o.api("GET", `/api/v1/nodes/${REAL_NODE_NAME}`);
    // deno-lint-ignore no-explicit-any
    const conds = (r.body as any)?.status?.conditions ?? [];
    // deno-lint-ignore no-explicit-any
    return conds.some((c: any) => c.type === "Ready" && c.status === "True");
  });
  return state;
}

/** containerd 1.6 configuration: CRI with runc (cgroupfs), state under `root`. */
export function renderContainerdConfig(root: string, cniConfDir: string): string {
  return [
    "version = 2",
    `root = "${root}/root"`,
    `state = "${root}/state"`,
    "oom_score = 0",
    // Plugins that would write outside root/state, or are not used.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",' +
    ' "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",' +
    ' "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]',
    "[grpc]",
    `  address = "${root}/containerd.sock"`,
    "[ttrpc]",
    `  address = "${root}/containerd.sock.ttrpc"`,
    "[debug]",
    '  address = ""',
    "[metrics]",
    '  address = ""',
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // No CAP_SYS_RESOURCE here: negative OOM scores (kubelet asks -998 for sandboxes) are
    // clamped to containerd's own instead of failing.
    "  restrict_oom_score_adj = true",
    "  enable_selinux = false",
    "  disable_apparmor = true",
    // Pods' network-namespace pins under the state directory, not /run/netns.
    "  netns_mounts_under_state_dir = true",
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    "  SystemdCgroup = false",
    `  Root = "${root}/runc"`,
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    `  bin_dir = "${CNI_BIN_DIR}"`,
    `  conf_dir = "${cniConfDir}"`,
    "",
  ].join("\n");
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(500);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** What {@linkcode stopRealNode} needs of the test environment. */
export interface StopRealNodeOptions {
  state: RealNodeState;
  processes: NodeProcess[];
  /** The API server, when it still answers (pods are then removed through the kubelet). */
  api?: RealNodeOptions["api"];
  /** Stops one recorded process (SIGTERM, then SIGKILL). */
  stop: (p: NodeProcess) => Promise<void>;
  log: (m: string) => void;
  runner?: Runner;
}

/** Processes whose cgroup is in the node's subtree (read from the pids hierarchy or any). */
function cgroupPids(state: RealNodeState): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    try {
      for (const line of Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n")) {
        if (line.trim()) pids.add(Number(line));
      }
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) walk(`${dir}/${e.name}`);
    } catch { /* gone */ }
  };
  for (const h of state.cgroupHierarchies) walk(`${h}${state.cgroupRoot}`);
  return [...pids];
}

/** Removes a cgroup directory tree bottom-up; returns the directories that remain. */
function removeCgroupTree(path: string): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(path)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const left: string[] = [];
  for (const e of entries) if (e.isDirectory) left.push(...removeCgroupTree(`${path}/${e.name}`));
  try {
    Deno.removeSync(path);
  } catch {
    left.push(path);
  }
  return left;
}

/**
 * Removes everything the real node created: its pods (through the kubelet while it runs,
 * so sandboxes and their network namespaces are torn down by the runtime), then its
 * processes, containerd's leftover tasks, the processes in its cgroups, the cgroups, the
 * network namespace (with the pod bridge, veths, iptables rules and routes in it), the
 * uplink, and its directory. Returns what could not be removed (empty when all was).
 */
export async function stopRealNode(o: StopRealNodeOptions): Promise<string[]> {
  const runner = o.runner ?? realRunner;
  const s = o.state;
  const problems: string[] = [];
  const byName = (n: string) => o.processes.find((p) => p.name === n);
  const alive = (n: string) => {
    const p = byName(n);
    return p ? processAlive(p) : false;
  };
  const ctr = (args: string[]) => {
    const c = which("ctr");
    return c ? [c, "--address", s.containerdSocket, "-n", "k8s.io", ...args] : null;
  };
  // Running tasks (containers and sandboxes); stopped ones go with containerd's root.
  const running = async (): Promise<string[]> => {
    const cmd = ctr(["tasks", "ls"]);
    if (!cmd || !alive("containerd")) return [];
    const r = await tryRun(runner, cmd, 10_000);
    return r.code === 0
      ? r.stdout.split("\n").slice(1).filter((l) => /\sRUNNING\s*$/.test(l))
        .map((l) => l.split(/\s+/)[0])
      : [];
  };
  const podsOnNode = async (): Promise<number> => {
    const r = await o.api!("GET", `/api/v1/pods?fieldSelector=spec.nodeName%3D${s.name}`);
    // deno-lint-ignore no-explicit-any
    return ((r.body as any)?.items ?? []).length;
  };

  // 1. Pods leave through the kubelet: cordoned first so controllers cannot refill the node.
  if (o.api && alive("kubelet") && alive("containerd")) {
    try {
      await o.api("PATCH", `/api/v1/nodes/${s.name}`, { spec: { unschedulable: true } })
        .catch(() => null);
      const r = await o.api("GET", `/api/v1/pods?fieldSelector=spec.nodeName%3D${s.name}`);
      // deno-lint-ignore no-explicit-any
      const pods = ((r.body as any)?.items ?? []) as any[];
      for (const p of pods) {
        await o.api(
          "DELETE",
          `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`,
          { gracePeriodSeconds: 1 },
        );
      }
      if (pods.length) o.log(`testenv: real node: deleting ${pods.length} pod(s) on it`);
      // The kubelet confirms each deletion once the pod's containers and sandbox are down.
      const deadline = Date.now() + 60_000;
      while (
        ((await podsOnNode()) > 0 || (await running()).length > 0) && Date.now() < deadline
      ) await sleep(500);
    } catch (e) {
      o.log(`testenv: real node: could not remove pods through the API: ${e}`);
    }
  }

  // 2. The node's agents, then whatever containerd still runs (forced), then containerd.
  for (const n of ["coredns", "kube-proxy", "kubelet"]) {
    const p = byName(n);
    if (p && processAlive(p)) await o.stop(p);
  }
  const left = await running();
  if (left.length) o.log(`testenv: real node: forcing ${left.length} running task(s) down`);
  for (const id of left) {
    await tryRun(runner, ctr(["tasks", "kill", "-s", "SIGKILL", id])!, 10_000);
    await tryRun(runner, ctr(["tasks", "rm", "-f", id])!, 10_000);
    await tryRun(runner, ctr(["containers", "rm", id])!, 10_000);
  }
  const containerd = byName("containerd");
  if (containerd && processAlive(containerd)) await o.stop(containerd);

  // 3. Anything still in the node's cgroups (container processes, shims) is the node's.
  for (let i = 0; i < 3; i++) {
    const pids = cgroupPids(s);
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await sleep(500);
  }
  // Shims run outside the node's cgroups: each names containerd's socket in its arguments.
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmd[0].endsWith("containerd-shim-runc-v2") && cmd.includes(s.containerdSocket)) {
        Deno.kill(Number(e.name), "SIGKILL");
      }
    } catch { /* gone */ }
  }
  for (const n of ["node-namespace", "apiserver-relay"]) {
    const p = byName(n);
    if (p && processAlive(p)) await o.stop(p);
  }
  for (const n of NODE_PROCESSES) {
    const p = byName(n);
    if (p && processAlive(p)) problems.push(`process ${p.name} (pid ${p.pid}) still runs`);
  }

  // 4. cgroups (the kernel frees a cgroup shortly after its last process exits).
  for (const h of s.cgroupHierarchies) {
    let left: string[] = [];
    for (let i = 0; i < 10; i++) {
      left = removeCgroupTree(`${h}${s.cgroupRoot}`);
      if (!left.length) break;
      await sleep(300);
    }
    problems.push(...left.map((l) => `cgroup ${l} could not be removed`));
  }

  // 5. Network: the namespace holds the bridge, pod veths, iptables chains and routes.
  try {
    Deno.statSync(`/run/netns/${s.netns}`);
    const r = await tryRun(runner, ["ip", "netns", "del", s.netns], 30_000);
    if (r.code !== 0) problems.push(`ip netns del ${s.netns}: ${r.stderr.trim()}`);
  } catch { /* absent */ }
  // The uplink goes with the namespace (its peer was in it), a moment later.
  const hostLink = async () => {
    const links = await runner.run(["ip", "-o", "link", "show"], { timeoutMs: 10_000 });
    return new RegExp(`^\\d+: ${s.hostInterface}[@:]`, "m").test(links.stdout);
  };
  for (let i = 0; i < 20 && await hostLink(); i++) await sleep(250);
  if (await hostLink()) {
    const r = await tryRun(runner, ["ip", "link", "del", s.hostInterface], 10_000);
    if (r.code !== 0 && await hostLink()) {
      problems.push(`ip link del ${s.hostInterface}: ${r.stderr.trim()}`);
    }
  }
  // The kubelet links container logs in /var/log/containers; those pointing here are its.
  try {
    for (const e of Deno.readDirSync("/var/log/containers")) {
      const path = `/var/log/containers/${e.name}`;
      try {
        if (Deno.readLinkSync(path).startsWith(s.nodeDir)) Deno.removeSync(path);
      } catch { /* not a link */ }
    }
  } catch { /* no directory */ }

  // containerd's fixed runtime directory, when the node created it and it is empty now.
  if (s.createdRunContainerd) {
    const removeEmpty = (dir: string): boolean => {
      let empty = true;
      try {
        for (const e of Deno.readDirSync(dir)) {
          if (!(e.isDirectory && removeEmpty(`${dir}/${e.name}`))) empty = false;
        }
        if (empty) Deno.removeSync(dir);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) empty = false;
      }
      return empty;
    };
    if (!removeEmpty("/run/containerd")) {
      problems.push("/run/containerd (created by the node) is not empty");
    }
  }

  // 6. Files: only when nothing is mounted under the node directory any more.
  const mounted = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(s.nodeDir));
  if (mounted.length) {
    problems.push(`${mounted.length} mount(s) remain under ${s.nodeDir}`);
  } else {
    await Deno.remove(s.nodeDir, { recursive: true }).catch((e) => {
      problems.push(`cannot remove ${s.nodeDir}: ${e}`);
    });
  }
  return problems;
}

/** Whether the recorded process still runs its binary (pid reuse guarded). */
export function processAlive(p: NodeProcess): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${p.pid}/cmdline`).split("\0");
    const stat = Deno.readTextFileSync(`/proc/${p.pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return cmdline[0] === p.binary && state !== "Z";
  } catch {
    return false;
  }
}
