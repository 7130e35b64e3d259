/**
 * Kubernetes access for the cluster target: a client bundle for one kubeconfig context,
 * chosen only by name (never the kubeconfig's current-context), and error helpers that turn
 * API failures into messages naming the action, the object and the server's reason.
 *
 * @module
 */

import * as k8s from "@kubernetes/client-node";

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Kubeconfig path; default `$KUBECONFIG` or `~/.kube/config`. */
  kubeconfig?: string;
}

/**
 * A KubeConfig whose API requests share one connection pool. client-node 2.0.1 builds a new
 * undici Agent for every request, each keeping its socket alive: hundreds of idle sockets
 * over a run, and under Deno a crash when the server closes them all at once. Sharing the
 * first Agent bounds the sockets and lets {@linkcode disconnect} close them.
 */
class PooledKubeConfig extends k8s.KubeConfig {
  #shared: ReturnType<k8s.RequestContext["getDispatcher"]>;
  override async applySecurityAuthentication(context: k8s.RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const own = context.getDispatcher();
    if (!own) return;
    if (!this.#shared) this.#shared = own;
    else if (own !== this.#shared) {
      context.setDispatcher(this.#shared);
      own.destroy().catch(() => {});
    }
  }
  /** Closes the shared pool's sockets (a later request opens a new pool). */
  async closePool(): Promise<void> {
    const d = this.#shared;
    this.#shared = undefined;
    await d?.destroy().catch(() => {});
  }
}

/** The clients meshbench uses, all bound to one named context. */
export interface Kube {
  context: string;
  server: string;
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  batch: k8s.BatchV1Api;
  objects: k8s.KubernetesObjectApi;
  apiext: k8s.ApiextensionsV1Api;
  discovery: k8s.DiscoveryV1Api;
}

/** No context was named, or the named one is not in the kubeconfig. */
export class ContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContextError";
  }
}

/** The kubeconfig path meshbench reads: explicit, `$KUBECONFIG`'s first entry, or the default. */
export function kubeconfigPath(explicit?: string): string {
  if (explicit) return explicit;
  const env = Deno.env.get("KUBECONFIG");
  if (env) return env.split(":")[0];
  return `${Deno.env.get("HOME") ?? "/root"}/.kube/config`;
}

/**
 * Clients for the context named `context` in the kubeconfig. Refuses an empty name: the
 * kubeconfig's current-context is never used implicitly, so a benchmark cannot land on
 * whatever cluster the shell happened to point at.
 */
export function connect(context: string | undefined, options: ConnectOptions = {}): Kube {
  if (!context) {
    throw new ContextError(
      "Cannot connect to a cluster: no context named (pass --context NAME; meshbench never uses the kubeconfig's current-context)",
    );
  }
  const path = kubeconfigPath(options.kubeconfig);
  const config = new PooledKubeConfig();
  try {
    config.loadFromFile(path);
  } catch (e) {
    throw new ContextError(
      `Cannot read kubeconfig "${path}": ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!config.getContextObject(context)) {
    const names = config.getContexts().map((c) => `"${c.name}"`).join(", ") || "none";
    throw new ContextError(
      `Cannot use context "${context}": not in kubeconfig "${path}" (contexts: ${names})`,
    );
  }
  config.setCurrentContext(context);
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new ContextError(`Cannot use context "${context}": its cluster is not in "${path}"`);
  }
  return {
    context,
    server: cluster.server,
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    batch: config.makeApiClient(k8s.BatchV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(config),
    apiext: config.makeApiClient(k8s.ApiextensionsV1Api),
    discovery: config.makeApiClient(k8s.DiscoveryV1Api),
  };
}

/** Closes the connections a {@linkcode Kube} holds open (call before its server goes away). */
export async function disconnect(kube: Kube): Promise<void> {
  if (kube.config instanceof PooledKubeConfig) await kube.config.closePool();
}

/** HTTP status of a client-node API error, or undefined for other errors. */
export function apiStatus(e: unknown): number | undefined {
  if (e instanceof k8s.ApiException) return e.code;
  const code = (e as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

/** The server's reason from a client-node error (its Status message), else the error text. */
export function apiReason(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    const body = e.body as unknown;
    let parsed: unknown = body;
    if (typeof body === "string") {
      try {
        parsed = JSON.parse(body);
      } catch { /* plain text */ }
    }
    const msg = (parsed as { message?: unknown })?.message;
    return `HTTP ${e.code}: ${(typeof msg === "string" ? msg : String(body).slice(0, 500)).trim()}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * True for an error that carries no answer of the API server (the request's connection
 * failed, was reset or timed out: undici's "fetch failed"), as opposed to an HTTP status. A
 * poll may ask again after one; an HTTP answer is the server's word. On the real test node
 * the API server timed out its handlers and dropped connections while the machine was
 * overloaded (etcd starved), and single polls failed so.
 */
export function isNoAnswer(e: unknown): boolean {
  return apiStatus(e) === undefined && e instanceof TypeError && /fetch failed/.test(e.message);
}

/** The error's text with its cause (undici puts the socket's error there). */
export function errorText(e: unknown): string {
  const cause = (e as { cause?: unknown })?.cause;
  return `${apiReason(e)}${cause instanceof Error ? ` (${cause.message})` : ""}`;
}

/** True for a 404 from the API server. */
export function isNotFound(e: unknown): boolean {
  return apiStatus(e) === 404;
}

/**
 * Checks that the API server answers `/readyz` within `timeoutMs`; an unreachable cluster
 * becomes an error naming the context and server instead of a hang.
 */
export async function checkReachable(kube: Kube, timeoutMs = 10_000): Promise<string> {
  const api = kube.config.makeApiClient(k8s.VersionApi);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const info = await Promise.race([
      api.getCode(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    return info.gitVersion;
  } catch (e) {
    throw new Error(
      `Cannot reach the cluster of context "${kube.context}" at ${kube.server}: ${apiReason(e)}`,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
  }
}
