/**
 * A local Kubernetes control plane for tests: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok (which simulates nodes and makes pods
 * ready), all on loopback, with state and logs under one directory (default `.testenv/`).
 * Optionally metrics-server too: it scrapes the kubelet resource metrics kwok simulates for
 * its nodes and pods and serves metrics.k8s.io through the API server's aggregation layer.
 *
 * The processes outlive the Deno process that started them (each runs in its own session),
 * so `deno task testenv:up` can return and `deno task deploy --target cluster --context
 * meshbench-testenv` can use the cluster; `stopTestenv` stops them from the recorded state.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { realRunner, type Runner } from "../command.ts";
import { isExecutable } from "../binaries.ts";
import { freePort, spawnDaemon } from "../process.ts";
import {
  NODE_ADDRESSES,
  type NodeProcess,
  REAL_NODE_NAME,
  type RealNodeState,
  startRealNode,
  stopRealNode,
} from "./realnode.ts";
import {
  apiserverArgs,
  controllerManagerArgs,
  type ControlPlanePorts,
  etcdArgs,
  kwokArgs,
  pickPorts,
  schedulerArgs,
} from "./components.ts";

/** Name of the kubeconfig context the test environment writes. */
export const TESTENV_CONTEXT = "meshbench-testenv";

/** The binaries `.ci/install_testenv.sh` installs that every start needs. */
export const TESTENV_BINARIES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
] as const;

/** The binary a start with `metricsServer: true` needs as well. */
export const METRICS_SERVER_BINARY = "metrics-server";

type Binary = typeof TESTENV_BINARIES[number] | typeof METRICS_SERVER_BINARY;

/** metrics-server's scrape interval (its minimum): pod metrics need two scrapes. */
export const METRICS_RESOLUTION_S = 10;

/** Default directory for binaries: `<repo>/.testenv/bin`. */
export const DEFAULT_BIN_DIR = new URL("../../.testenv/bin", import.meta.url).pathname;
/** Default directory of the real node's images: `<repo>/.testenv/images`. */
export const DEFAULT_IMAGES_DIR = new URL("../../.testenv/images", import.meta.url).pathname;
/** Default state directory: `<repo>/.testenv/cluster`. */
export const DEFAULT_STATE_DIR = new URL("../../.testenv/cluster", import.meta.url).pathname;

/** Options for {@linkcode startTestenv}. */
export interface TestenvOptions {
  /** Directory for certificates, etcd data, logs and state (created). */
  dir?: string;
  /** Where the binaries are; default `.testenv/bin` (or `$MESHBENCH_TESTENV_BIN`). */
  binDir?: string;
  /**
   * Number of kwok nodes to create (default 3: one for servers, two for clients; 0 with
   * `realNode`).
   */
  nodes?: number;
  /** Kubeconfig context name (default {@linkcode TESTENV_CONTEXT}). */
  context?: string;
  /** Bound for the whole start-up (default 120 s; 600 s with a real node). */
  timeoutMs?: number;
  /**
   * Also run metrics-server and serve metrics.k8s.io (default false: it adds about a second
   * to the start, and the first pod metrics take two scrapes, 10 s apart). kwok then reports
   * every container as using exactly its requests (1m / 1Mi without), see
   * `kwok_metrics.yaml`.
   */
  metricsServer?: boolean;
  /**
   * Also run a real node on this machine (containerd, kubelet, kube-proxy, CoreDNS; see
   * `realnode.ts`): needs root and `.ci/install_realnode.sh`.
   */
  realNode?: boolean;
  /** The real node's image archives (default `.testenv/images`). */
  imagesDir?: string;
  /** Progress messages. */
  log?: (message: string) => void;
  runner?: Runner;
  /** Picks each component's port (default {@linkcode freePort}; tests inject collisions). */
  portPicker?: () => number;
}

/** A running test environment, as recorded in `<dir>/state.json`. */
export interface Testenv {
  dir: string;
  kubeconfigPath: string;
  context: string;
  server: string;
  nodes: string[];
  processes: Array<{ name: string; pid: number; log: string; binary: string }>;
  versions: Record<string, string>;
  /** Whether metrics-server runs and metrics.k8s.io is served. */
  metricsServer: boolean;
  /** The real node, when one was started. */
  realNode?: RealNodeState;
}

/** Binaries are missing: tests skip with this message, tasks fail with it. */
export class TestenvMissingError extends Error {
  constructor(readonly missing: string[], readonly binDir: string) {
    super(
      `Cannot start the test control plane: missing ${missing.map((m) => `"${m}"`).join(", ")}` +
        ` in "${binDir}" (run: bash .ci/install_testenv.sh)`,
    );
    this.name = "TestenvMissingError";
  }
}

/** The binary directory from options, `$MESHBENCH_TESTENV_BIN` or the default. */
export function resolveBinDir(binDir?: string): string {
  return binDir ?? Deno.env.get("MESHBENCH_TESTENV_BIN") ?? DEFAULT_BIN_DIR;
}

/** Paths of the test binaries a start needs, or the list of missing ones. */
export function findBinaries(
  binDir?: string,
  options: { metricsServer?: boolean } = {},
): { ok: true; paths: Record<Binary, string> } | { ok: false; missing: string[]; binDir: string } {
  const dir = resolveBinDir(binDir);
  const paths = {} as Record<Binary, string>;
  const missing: string[] = [];
  const needed: Binary[] = [...TESTENV_BINARIES];
  if (options.metricsServer) needed.push(METRICS_SERVER_BINARY);
  for (const b of needed) {
    const p = `${dir}/${b}`;
    if (isExecutable(p)) paths[b] = p;
    else missing.push(b);
  }
  return missing.length ? { ok: false, missing, binDir: dir } : { ok: true, paths };
}

/** A free TCP port on 127.0.0.1 (bound and released): meshbench's one picker. */
export { freePort };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openssl(runner: Runner, args: string[], cwd: string): Promise<void> {
  await runner.run(["openssl", ...args], { cwd, timeoutMs: 30_000 });
}

/**
 * Creates in `pki`: the CA, the API server's serving cert, the admin client cert, the
 * service-account key pair, and for the aggregation layer a separate front-proxy CA with
 * the API server's proxy client cert (`front-proxy-client`); with `metricsServer`, also
 * metrics-server's serving cert (signed by the CA, named as its Service).
 */
async function makePki(
  runner: Runner,
  pki: string,
  options: { metricsServer: boolean; realNode?: boolean },
): Promise<void> {
  await Deno.mkdir(pki, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const rootCa = (name: string, cn: string) =>
    openssl(runner, [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "3650",
      "-subj",
      `/CN=${cn}`,
    ], pki);
  await Promise.all([
    rootCa("ca", "meshbench-testenv-ca"),
    rootCa("front-proxy-ca", "meshbench-testenv-front-proxy-ca"),
  ]);
  // Explicit serials: leaves are signed in parallel, so no shared serial file.
  let serial = Date.now();
  const leaf = async (name: string, subj: string, ext: string, ca = "ca") => {
    await Deno.writeTextFile(`${pki}/${name}.ext`, ext);
    await openssl(runner, [
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subj,
    ], pki);
    await openssl(runner, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-set_serial",
      String(++serial),
      "-out",
      `${name}.crt`,
      "-days",
      "3650",
      "-extfile",
      `${name}.ext`,
    ], pki);
  };
  const leaves = [
    leaf(
      "apiserver",
      "/CN=kube-apiserver",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n" +
        "extendedKeyUsage=serverAuth\n",
    ),
    leaf("admin", "/O=system:masters/CN=meshbench-admin", "extendedKeyUsage=clientAuth\n"),
    leaf(
      "front-proxy-client",
      "/CN=front-proxy-client",
      "extendedKeyUsage=clientAuth\n",
      "front-proxy-ca",
    ),
    (async () => {
      await openssl(runner, ["genrsa", "-out", "sa.key", "2048"], pki);
      await openssl(runner, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki);
    })(),
  ];
  if (options.metricsServer) {
    // The aggregator checks the name it dials: <service>.<namespace>.svc.
    leaves.push(leaf(
      "metrics-server",
      "/CN=metrics-server",
      "subjectAltName=DNS:metrics-server.kube-system.svc,IP:127.0.0.1\n" +
        "extendedKeyUsage=serverAuth\n",
    ));
  }
  if (options.realNode) {
    // The kubelet's identity for the Node authorizer, and its serving certificate (which
    // metrics-server verifies with the CA).
    leaves.push(leaf(
      "kubelet-client",
      `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`,
      "extendedKeyUsage=clientAuth\n",
    ));
    leaves.push(leaf(
      "kubelet-serving",
      `/CN=${REAL_NODE_NAME}`,
      `subjectAltName=IP:${NODE_ADDRESSES.node},DNS:${REAL_NODE_NAME}\n` +
        "extendedKeyUsage=serverAuth\n",
    ));
  }
  await Promise.all(leaves);
}

function b64(text: string): string {
  return btoa(text);
}

/** Renders a kubeconfig with one cluster, user and context, all named `context`. */
export function renderKubeconfig(
  context: string,
  server: string,
  pem: { ca: string; cert: string; key: string },
): string {
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: context,
        cluster: { server, "certificate-authority-data": b64(pem.ca) },
      }],
      users: [{
        name: context,
        user: { "client-certificate-data": b64(pem.cert), "client-key-data": b64(pem.key) },
      }],
      contexts: [{ name: context, context: { cluster: context, user: context } }],
      // No current-context on purpose: meshbench uses a context only when it is named.
      "current-context": "",
    },
    null,
    2,
  );
}

/** Whether `pid` is alive and runs `binary` (guards against pid reuse). */
export function processRuns(pid: number, binary: string): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return cmdline[0] === binary && state !== "Z";
  } catch {
    return false;
  }
}

async function tailFile(path: string, lines = 15): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").filter((l) => l.trim()).slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Fetch over TLS with the test CA and the admin client certificate. */
function tlsClient(pki: string): Deno.HttpClient {
  return Deno.createHttpClient({
    caCerts: [Deno.readTextFileSync(`${pki}/ca.crt`)],
    cert: Deno.readTextFileSync(`${pki}/admin.crt`),
    key: Deno.readTextFileSync(`${pki}/admin.key`),
  });
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  onTimeout: () => Promise<string>,
  processes: Testenv["processes"] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // Each probe is bounded too: a port that accepts and never answers (not the component,
    // or a hung one) must not hold the wait past its deadline.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.min(5_000, deadline - Date.now()));
    });
    const ok = await Promise.race([check().catch(() => false), bound]);
    clearTimeout(timer);
    if (ok) return;
    // A component that died will not become ready: say so now, not at the timeout.
    const dead = processes.find((p) => !processRuns(p.pid, p.binary));
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}`);
    await sleep(250);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${await onTimeout()}`);
}

/** Reads `<dir>/state.json` of a started environment, or null when there is none. */
export async function readTestenvState(dir = DEFAULT_STATE_DIR): Promise<Testenv | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/state.json`)) as Testenv;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Whether every process of a recorded environment still runs. */
export function testenvAlive(env: Testenv): boolean {
  return env.processes.every((p) => processRuns(p.pid, p.binary));
}

function readVersions(binDir: string): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const line of Deno.readTextFileSync(`${binDir}/testenv-versions.env`).split("\n")) {
      const m = line.match(/^([A-Z0-9_]+)=(.*)$/);
      if (m) out[m[1]] = m[2];
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * Starts the control plane and kwok, creates `nodes` fake nodes and waits until they are
 * Ready and the default service account exists. Fails (after stopping what it started) with
 * the failing component and the tail of its log.
 */
export async function startTestenv(options: TestenvOptions = {}): Promise<Testenv> {
  // Ports are picked free, then bound by the components a moment later: another program
  // can take one in between. That collision (and only that) is retried with new ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startTestenvOnce(options);
    } catch (e) {
      const collision = /address already in use/.test(String((e as Error)?.message));
      if (!collision || attempt >= 3) throw e;
      options.log?.(`testenv: a port was taken while starting (attempt ${attempt}); retrying`);
    }
  }
}

async function startTestenvOnce(options: TestenvOptions): Promise<Testenv> {
  const dir = options.dir ?? DEFAULT_STATE_DIR;
  const context = options.context ?? TESTENV_CONTEXT;
  const realNode = options.realNode ?? false;
  const nodeCount = options.nodes ?? (realNode ? 0 : 3);
  // A real node imports its images (about 1.5 GB) before it registers: minutes, not seconds.
  const timeoutMs = options.timeoutMs ?? ((options.realNode ?? false) ? 600_000 : 120_000);
  const log = options.log ?? (() => {});
  const runner = options.runner ?? realRunner;
  const metricsServer = options.metricsServer ?? false;
  const found = findBinaries(options.binDir, { metricsServer });
  if (!found.ok) throw new TestenvMissingError(found.missing, found.binDir);
  const bin = found.paths;

  const { pki, logs } = await prepareStateDir(dir, { log, runner, metricsServer, realNode });

  const ports = pickPorts(options.portPicker ?? freePort);
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const { kubeconfigPath, componentKubeconfig } = await writeKubeconfigs(dir, context, server, pki);

  const env: Testenv = {
    dir,
    kubeconfigPath,
    context,
    server,
    nodes: [],
    processes: [],
    versions: readVersions(resolveBinDir(options.binDir)),
    metricsServer,
  };
  const saveState = () => Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(env, null, 2));
  const start = async (name: Binary, args: string[], extraEnv: Record<string, string> = {}) => {
    const logPath = `${logs}/${name}.log`;
    const pid = await spawnDaemon([bin[name], ...args], logPath, { env: extraEnv });
    env.processes.push({ name, pid, log: logPath, binary: bin[name] });
    await saveState();
    log(`testenv: started ${name} (pid ${pid}, log ${logPath})`);
  };
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1_000, deadline - Date.now());
  const client = tlsClient(pki);
  try {
    await startControlPlane(start, {
      dir,
      ports,
      pki,
      server,
      client,
      logs,
      kubeconfig: componentKubeconfig,
      metricsServer,
      binDir: resolveBinDir(options.binDir),
      left,
      processes: env.processes,
    });

    const api = apiOf(server, client);
    env.nodes.push(...await createKwokNodes(api, nodeCount));
    await saveState();
    if (metricsServer) {
      await startMetricsServer({
        start: (args) => start(METRICS_SERVER_BINARY, args),
        api,
        pki,
        port: ports.metricsServer,
        kubeconfig: componentKubeconfig,
        timeoutMs: left(),
      });
    }
    // No StorageClass and no PersistentVolumes: the kubeadm cluster this mirrors has none,
    // so a manifest that claims a volume stays Pending here as it would there.
    await waitNodesAndServiceAccount(api, nodeCount, { logs, left, processes: env.processes });
    if (realNode) {
      env.realNode = await startRealNode({
        dir,
        binDir: resolveBinDir(options.binDir),
        imagesDir: options.imagesDir ?? DEFAULT_IMAGES_DIR,
        pki,
        apiserverPort: ports.apiserver,
        context,
        spawn: (name, binary, cmd) => spawnNodeProcess(env, { name, binary, cmd, saveState, log }),
        api,
        timeoutMs: left(),
        log,
        runner,
        record: async (state) => {
          env.realNode = state;
          await saveState();
        },
      });
      await saveState();
    }
    if (metricsServer) await waitMetricsApi(api, { logs, left, processes: env.processes });
    log(
      `testenv: ready at ${server} with ${nodeCount} kwok nodes` +
        (realNode ? ` and the real node "${REAL_NODE_NAME}"` : "") +
        (metricsServer ? " and metrics.k8s.io (metrics-server)" : ""),
    );
    return env;
  } catch (e) {
    const dead = env.processes.filter((p) => !processRuns(p.pid, p.binary));
    const notes = await Promise.all(
      dead.map(async (p) => `${p.name} exited; log tail:\n${await tailFile(p.log)}`),
    );
    await stopTestenv(dir, { log }).catch(() => {});
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `Cannot start the test control plane in "${dir}": ${msg}` +
        (notes.length ? `\n${notes.join("\n")}` : ""),
      { cause: e },
    );
  } finally {
    client.close();
  }
}

/** Starts a control-plane component (see `startTestenvOnce`). */
type StartComponent = (
  name: Binary,
  args: string[],
  extraEnv?: Record<string, string>,
) => Promise<void>;

/**
 * Starts etcd and waits for its health, the API server and waits until it is ready, then the
 * controller manager, the scheduler and kwok (whose pods' exec runs in `dir`).
 */
async function startControlPlane(start: StartComponent, o: {
  dir: string;
  ports: ControlPlanePorts;
  pki: string;
  server: string;
  client: Deno.HttpClient;
  logs: string;
  /** The components' kubeconfig. */
  kubeconfig: string;
  metricsServer: boolean;
  binDir: string;
  left: () => number;
  processes: Testenv["processes"];
}): Promise<void> {
  await start("etcd", etcdArgs(o.dir, o.ports));
  await waitUntil(
    "etcd /health",
    Math.min(o.left(), 30_000),
    async () => {
      const r = await fetch(`http://127.0.0.1:${o.ports.etcdClient}/health`);
      const body = await r.text();
      return r.ok && body.includes("true");
    },
    () => tailFile(`${o.logs}/etcd.log`),
    o.processes,
  );

  await start("kube-apiserver", apiserverArgs(o.ports, o.pki), {
    // HTTP/1.1 only: when the server stops, HTTP/2 GOAWAY frames crash Deno's node:http2
    // client (nghttp2 assertion) in the test process; HTTP/1.1 has no such path.
    GODEBUG: "http2server=0",
  });
  await waitUntil(
    "kube-apiserver /readyz",
    Math.min(o.left(), 90_000),
    async () => {
      const r = await fetch(`${o.server}/readyz`, { client: o.client });
      await r.body?.cancel();
      return r.status === 200;
    },
    () => tailFile(`${o.logs}/kube-apiserver.log`),
    o.processes,
  );

  await start("kube-controller-manager", controllerManagerArgs(o.kubeconfig, o.ports, o.pki));
  await start("kube-scheduler", schedulerArgs(o.kubeconfig, o.ports));
  const stages = new URL("./kwok_stages.yaml", import.meta.url).pathname;
  // `kubectl exec` into a kwok pod runs the command on this machine (in `dir`): the
  // exec path (API server -> kubelet API -> process) is then real end to end.
  const execConfig = `${o.dir}/kwok-exec.yaml`;
  await Deno.writeTextFile(
    execConfig,
    JSON.stringify({
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "ClusterExec",
      metadata: { name: "meshbench-local" },
      spec: { execs: [{ local: { workDir: o.dir } }] },
    }),
  );
  await start(
    "kwok",
    kwokArgs({
      kubeconfig: o.kubeconfig,
      stages,
      execConfig,
      metricsConfig: o.metricsServer
        ? new URL("./kwok_metrics.yaml", import.meta.url).pathname
        : undefined,
      ports: o.ports,
      pki: o.pki,
    }),
    {
      // Exec into a pod runs here: the installed tools (fortio) come first on PATH.
      PATH: `${o.binDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    },
  );
}

/** Waits until the metrics.k8s.io APIService is Available (metrics-server registered). */
async function waitMetricsApi(
  api: ReturnType<typeof apiOf>,
  o: { logs: string; left: () => number; processes: Testenv["processes"] },
): Promise<void> {
  await waitUntil("the metrics.k8s.io APIService to be Available", o.left(), async () => {
    const r = await api("GET", `/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE}`);
    // deno-lint-ignore no-explicit-any
    return (r.body?.status?.conditions ?? []).some((c: any) =>
      c.type === "Available" && c.status === "True"
    );
  }, async () => {
    const r = await api("GET", `/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE}`)
      .catch(() => null);
    return `APIService status: ${JSON.stringify(r?.body?.status ?? null)}\n` +
      `metrics-server log:\n${await tailFile(`${o.logs}/metrics-server.log`)}`;
  }, o.processes);
}

/**
 * Makes `dir` ready for a new start: refuses while an environment recorded there still runs,
 * stops and removes a dead one's leftovers, and writes the certificates. Returns where the
 * certificates and logs are.
 */
async function prepareStateDir(
  dir: string,
  o: {
    log: (message: string) => void;
    runner: Runner;
    metricsServer: boolean;
    realNode: boolean;
  },
): Promise<{ pki: string; logs: string }> {
  const existing = await readTestenvState(dir);
  if (existing && testenvAlive(existing)) {
    throw new Error(
      `Cannot start the test control plane in "${dir}": it is already running ` +
        `(kube-apiserver pid ${
          existing.processes.find((p) => p.name === "kube-apiserver")?.pid
        });` +
        ` stop it first with: deno task testenv:down`,
    );
  }
  if (existing) await stopTestenv(dir, { log: o.log });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const pki = `${dir}/pki`;
  const logs = `${dir}/logs`;
  await Deno.mkdir(logs, { recursive: true });
  o.log(`testenv: certificates in ${pki}`);
  await makePki(o.runner, pki, { metricsServer: o.metricsServer, realNode: o.realNode });
  return { pki, logs };
}

/**
 * Writes the user's kubeconfig (`<dir>/kubeconfig`, no current context) and the components'
 * own copy with `context` current.
 */
async function writeKubeconfigs(
  dir: string,
  context: string,
  server: string,
  pki: string,
): Promise<{ kubeconfigPath: string; componentKubeconfig: string }> {
  const kubeconfigPath = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfigPath,
    renderKubeconfig(context, server, {
      ca: await Deno.readTextFile(`${pki}/ca.crt`),
      cert: await Deno.readTextFile(`${pki}/admin.crt`),
      key: await Deno.readTextFile(`${pki}/admin.key`),
    }),
  );
  // Components need a current-context; this file is theirs, never the user's.
  const componentKubeconfig = `${dir}/components.kubeconfig`;
  const kc = JSON.parse(await Deno.readTextFile(kubeconfigPath));
  kc["current-context"] = context;
  await Deno.writeTextFile(componentKubeconfig, JSON.stringify(kc, null, 2));
  return { kubeconfigPath, componentKubeconfig };
}

/** Calls the API server at `server` as the admin (JSON in and out; an {@linkcode Api}). */
function apiOf(server: string, client: Deno.HttpClient) {
  return async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${server}${path}`, {
      client,
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

/** Creates `count` kwok nodes (the first for servers, the rest for clients); their names. */
async function createKwokNodes(api: Api, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `kwok-node-${i}`;
    const res = await api("POST", "/api/v1/nodes", fakeNode(name, i === 0 ? "server" : "client"));
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(
        `Cannot create node "${name}": HTTP ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
    names.push(name);
  }
  return names;
}

/** Waits until `nodeCount` kwok nodes are Ready and the default service account exists. */
async function waitNodesAndServiceAccount(
  api: Api,
  nodeCount: number,
  o: { logs: string; left: () => number; processes: Testenv["processes"] },
): Promise<void> {
  await waitUntil(
    `${nodeCount} Ready kwok nodes`,
    o.left(),
    async () => {
      const r = await api("GET", "/api/v1/nodes?labelSelector=type%3Dkwok");
      // deno-lint-ignore no-explicit-any
      const ready = ((r.body?.items ?? []) as any[]).filter((n: any) =>
        // deno-lint-ignore no-explicit-any
        n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True")
      );
      return ready.length >= nodeCount;
    },
    () => tailFile(`${o.logs}/kwok.log`),
    o.processes,
  );
  await waitUntil(
    "the default service account",
    o.left(),
    async () => {
      const r = await api("GET", "/api/v1/namespaces/default/serviceaccounts/default");
      return r.status === 200;
    },
    () => tailFile(`${o.logs}/kube-controller-manager.log`),
    o.processes,
  );
}

/**
 * Starts one of the real node's processes detached, records it in `env` (and its state
 * file) and waits until it runs `binary`: the command execs through nsenter/unshare/sh.
 */
async function spawnNodeProcess(
  env: Testenv,
  o: {
    name: string;
    binary: string;
    cmd: string[];
    saveState: () => Promise<void>;
    log: (message: string) => void;
  },
): Promise<NodeProcess> {
  const { name, binary } = o;
  const logPath = `${env.dir}/logs/${name}.log`;
  const pid = await spawnDaemon(o.cmd, logPath);
  const p = { name, pid, log: logPath, binary };
  env.processes.push(p);
  await o.saveState();
  // The command execs through nsenter/unshare/sh into the binary: wait for that.
  const until = Date.now() + 5_000;
  while (!processRuns(pid, binary) && Date.now() < until) await sleep(20);
  if (!processRuns(pid, binary)) {
    throw new Error(`${name} exited at start; log tail:\n${await tailFile(logPath)}`);
  }
  o.log(`testenv: started ${name} (pid ${pid}, log ${logPath})`);
  return p;
}

type Api = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> | null }>;

/** The APIService metrics-server registers. */
const APISERVICE = "v1beta1.metrics.k8s.io";

/**
 * Starts metrics-server on loopback and registers it with the aggregation layer: the
 * `v1beta1.metrics.k8s.io` APIService pointing at Service `kube-system/metrics-server`, an
 * ExternalName Service for 127.0.0.1 (the API server dials `<externalName>:<APIService
 * port>`; an EndpointSlice may not hold a loopback address, and no kube-proxy would route
 * a cluster IP here). The API server verifies metrics-server's cert with the test CA under
 * the name `metrics-server.kube-system.svc`. metrics-server scrapes kwok's kubelet endpoint
 * of every node (`metrics.k8s.io/resource-metrics-path` on the node), verifying kwok's
 * serving cert with the test CA.
 */
async function startMetricsServer(o: {
  start: (args: string[]) => Promise<void>;
  api: Api;
  pki: string;
  port: number;
  kubeconfig: string;
  timeoutMs: number;
}): Promise<void> {
  await o.start([
    `--kubeconfig=${o.kubeconfig}`,
    `--authentication-kubeconfig=${o.kubeconfig}`,
    `--authorization-kubeconfig=${o.kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${o.port}`,
    `--tls-cert-file=${o.pki}/metrics-server.crt`,
    `--tls-private-key-file=${o.pki}/metrics-server.key`,
    "--kubelet-preferred-address-types=InternalIP",
    "--kubelet-use-node-status-port",
    `--kubelet-certificate-authority=${o.pki}/ca.crt`,
    `--metric-resolution=${METRICS_RESOLUTION_S}s`,
    // Must stay under 90 % of the resolution (metrics-server checks).
    "--kubelet-request-timeout=5s",
    "--v=1",
  ]);
  const labels = { "k8s-app": "metrics-server" };
  const objects: Array<[string, Record<string, unknown>]> = [
    ["/api/v1/namespaces/kube-system/services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "metrics-server", namespace: "kube-system", labels },
      spec: { type: "ExternalName", externalName: "127.0.0.1" },
    }],
    ["/apis/apiregistration.k8s.io/v1/apiservices", {
      apiVersion: "apiregistration.k8s.io/v1",
      kind: "APIService",
      metadata: { name: APISERVICE, labels },
      spec: {
        group: "metrics.k8s.io",
        version: "v1beta1",
        service: { name: "metrics-server", namespace: "kube-system", port: o.port },
        caBundle: btoa(await Deno.readTextFile(`${o.pki}/ca.crt`)),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    }],
  ];
  for (const [path, object] of objects) {
    const what = `${object.kind} "${(object.metadata as { name: string }).name}"`;
    // kube-system is created by the API server shortly after it is ready: retry on 404 only.
    const deadline = Date.now() + Math.min(o.timeoutMs, 30_000);
    let res = await o.api("POST", path, object);
    while (res.status === 404 && Date.now() < deadline) {
      await sleep(250);
      res = await o.api("POST", path, object);
    }
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`Cannot create ${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    }
  }
}

/**
 * A kwok-managed Node object; `role` goes into the `meshbench.io/role` label. The
 * `metrics.k8s.io/resource-metrics-path` annotation tells metrics-server where kwok serves
 * this node's kubelet resource metrics.
 */
export function fakeNode(name: string, role: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: {
        "kwok.x-k8s.io/node": "fake",
        "node.alpha.kubernetes.io/ttl": "0",
        "metrics.k8s.io/resource-metrics-path": `/metrics/nodes/${name}/metrics/resource`,
      },
      labels: {
        type: "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64",
        "meshbench.io/role": role,
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: "8", memory: "32Gi", pods: "250" },
      capacity: { cpu: "8", memory: "32Gi", pods: "250" },
    },
  };
}

/**
 * Stops every process recorded in `<dir>/state.json` (SIGTERM, SIGKILL after 10 s), only if
 * the pid still runs the recorded binary. Returns the names it stopped.
 */
export async function stopTestenv(
  dir = DEFAULT_STATE_DIR,
  options: { log?: (m: string) => void; removeState?: boolean } = {},
): Promise<string[]> {
  const log = options.log ?? (() => {});
  const env = await readTestenvState(dir);
  if (!env) return [];
  const stopped: string[] = [];
  const stop = async (p: NodeProcess) => {
    if (!processRuns(p.pid, p.binary)) return;
    Deno.kill(p.pid, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while (processRuns(p.pid, p.binary) && Date.now() < deadline) await sleep(50);
    if (processRuns(p.pid, p.binary)) {
      log(`testenv: ${p.name} (pid ${p.pid}) ignored SIGTERM for 10 s; sending SIGKILL`);
      Deno.kill(p.pid, "SIGKILL");
      while (processRuns(p.pid, p.binary)) await sleep(50);
    }
    stopped.push(p.name);
    log(`testenv: stopped ${p.name} (pid ${p.pid})`);
  };
  let nodeProblems: string[] = [];
  if (env.realNode) {
    // The node first, while the API server still runs: its pods leave through the kubelet.
    const pki = `${dir}/pki`;
    let client: Deno.HttpClient | undefined;
    try {
      client = tlsClient(pki);
    } catch { /* no certificates: the node is removed without the API */ }
    const api = client
      ? async (method: string, path: string, body?: unknown) => {
        const r = await fetch(`${env.server}${path}`, {
          client,
          method,
          headers: {
            "content-type": method === "PATCH"
              ? "application/merge-patch+json"
              : "application/json",
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      }
      : undefined;
    nodeProblems = await stopRealNode({
      state: env.realNode,
      processes: env.processes,
      api,
      stop,
      log,
    }).finally(() => client?.close());
    if (!nodeProblems.length) {
      log("testenv: real node removed (network namespace, uplink, cgroups, containers, files)");
    }
  }
  // Reverse start order: kwok and controllers first, etcd last.
  for (const p of [...env.processes].reverse()) await stop(p);
  // With node leftovers the state stays, so a second testenv:down can retry.
  if ((options.removeState ?? true) && !nodeProblems.length) {
    await Deno.remove(`${dir}/etcd`, { recursive: true }).catch(() => {});
    await Deno.remove(`${dir}/state.json`).catch(() => {});
  }
  if (nodeProblems.length) {
    throw new Error(
      `The real node was not removed completely:\n  ${nodeProblems.join("\n  ")}`,
    );
  }
  return stopped;
}

/** Parses a kubeconfig file (YAML or JSON) into plain data. */
export async function readKubeconfig(path: string): Promise<Record<string, unknown>> {
  return parseYaml(await Deno.readTextFile(path)) as Record<string, unknown>;
}
