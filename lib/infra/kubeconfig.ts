/**
 * The kubeconfig handed to the operator: kubeadm's admin.conf with its server moved to
 * the control plane's public address and its names changed to one named context.
 *
 * @module
 */
import { parse, stringify } from "yaml";

/** Options for {@linkcode namedKubeconfig}. */
export interface NamedKubeconfigOptions {
  /** Context name (also used for the cluster and user entries). */
  context: string;
  /** API server URL reachable from the operator, e.g. `https://192.0.2.10:6443`. */
  server: string;
}

/**
 * Rewrites kubeadm's admin.conf (one cluster, one user, one context) into a kubeconfig
 * whose only context is `options.context`, pointing at `options.server`.
 */
export function namedKubeconfig(adminConf: string, options: NamedKubeconfigOptions): string {
  if (!/^[A-Za-z0-9._@-]+$/.test(options.context)) {
    throw new Error(
      `Cannot name the kubeconfig context ${JSON.stringify(options.context)}: ` +
        "use letters, digits, '.', '_', '@' or '-'",
    );
  }
  if (!/^https:\/\/[^/\s]+$/.test(options.server)) {
    throw new Error(
      `Cannot point the kubeconfig at server ${JSON.stringify(options.server)}: ` +
        'expected "https://<host>:<port>"',
    );
  }
  let doc: unknown;
  try {
    doc = parse(adminConf);
  } catch (e) {
    throw new Error(`Cannot parse the fetched admin.conf: ${(e as Error).message}`);
  }
  const fail = (why: string): never => {
    throw new Error(`Cannot rewrite the fetched admin.conf: ${why}`);
  };
  if (typeof doc !== "object" || doc === null) fail("it is not a YAML mapping");
  const d = doc as Record<string, unknown>;
  if (d.kind !== "Config") fail(`"kind" must be "Config", got ${JSON.stringify(d.kind)}`);
  const one = (key: string) => {
    const list = d[key];
    if (!Array.isArray(list) || list.length !== 1) {
      fail(
        `"${key}" must hold exactly one entry, got ${Array.isArray(list) ? list.length : "none"}`,
      );
    }
    return (list as Array<Record<string, unknown>>)[0];
  };
  const cluster = one("clusters");
  const user = one("users");
  one("contexts");
  const clusterBody = cluster.cluster as Record<string, unknown> | undefined;
  if (!clusterBody || typeof clusterBody["certificate-authority-data"] !== "string") {
    fail('"clusters[0].cluster.certificate-authority-data" is missing');
  }
  const name = options.context;
  const out = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { ...clusterBody, server: options.server } }],
    users: [{ name, user: user.user }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    preferences: {},
  };
  return stringify(out, { version: "1.1" });
}
