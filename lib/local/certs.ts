/**
 * Per-run certificates for the emulated meshes' mTLS: a CA and leaf identities (ECDSA P-256,
 * as mesh CAs issue), made with openssl, never committed.
 *
 * @module
 */
import { join } from "node:path";
import type { Runner } from "../command.ts";

/** A leaf identity's PEM files. */
export interface Identity {
  cert: string;
  key: string;
}

/** Paths of the generated PEM files. */
export interface CertSet {
  ca: string;
  /** Server identity (DNS:localhost, IP:127.0.0.1): certificate followed by its key. */
  server: string;
  /** Client identity (a SPIFFE-style URI): certificate followed by its key. */
  client: string;
  /** The same identities as separate certificate and key files (Envoy reads them so). */
  serverId: Identity;
  clientId: Identity;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Makes a self-signed CA (`ca.pem`, `ca.key`) in `dir`. */
async function makeCa(runner: Runner, dir: string, cn: string, days: number): Promise<void> {
  await runner.run([
    "openssl",
    "req",
    "-x509",
    ...EC,
    "-keyout",
    join(dir, "ca.key"),
    "-out",
    join(dir, "ca.pem"),
    "-days",
    String(days),
    "-subj",
    `/CN=${cn}`,
  ], { timeoutMs: 30_000 });
}

/** Issues `<who>.crt` and `<who>.key` in `dir`, signed by the CA there, with `ext` extensions. */
async function issue(
  runner: Runner,
  dir: string,
  who: string,
  ext: string,
  days: number,
): Promise<Identity> {
  const p = (f: string) => join(dir, f);
  const ossl = (args: string[]) => runner.run(["openssl", ...args], { timeoutMs: 30_000 });
  await ossl(["req", ...EC, "-keyout", p(`${who}.key`), "-out", p(`${who}.csr`)].concat([
    "-subj",
    `/CN=meshbench-${who}`,
  ]));
  await Deno.writeTextFile(p(`${who}.ext`), ext);
  await ossl([
    "x509",
    "-req",
    "-in",
    p(`${who}.csr`),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-out",
    p(`${who}.crt`),
    "-days",
    String(days),
    "-extfile",
    p(`${who}.ext`),
  ]);
  await Deno.chmod(p(`${who}.key`), 0o600);
  return { cert: p(`${who}.crt`), key: p(`${who}.key`) };
}

/** Generates a fresh CA and two leaf identities under `dir` (valid 2 days). */
export async function generateCerts(runner: Runner, dir: string): Promise<CertSet> {
  await Deno.mkdir(dir, { recursive: true });
  await makeCa(runner, dir, "meshbench-emulated-mesh-ca", 2);
  const ids: Record<string, Identity> = {};
  for (const who of ["server", "client"]) {
    ids[who] = await issue(
      runner,
      dir,
      who,
      who === "server"
        ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        : "subjectAltName=URI:spiffe://meshbench.local/ns/bench/sa/client\nextendedKeyUsage=clientAuth\n",
      2,
    );
    // HAProxy wants certificate and key in one file.
    const bundle = (await Deno.readTextFile(ids[who].cert)) +
      (await Deno.readTextFile(ids[who].key));
    await Deno.writeTextFile(join(dir, `${who}.pem`), bundle, { mode: 0o600 });
  }
  return {
    ca: join(dir, "ca.pem"),
    server: join(dir, "server.pem"),
    client: join(dir, "client.pem"),
    serverId: ids.server,
    clientId: ids.client,
  };
}

/** The PEM texts of one mesh identity and its CA. */
export interface MeshIdentity {
  ca: string;
  cert: string;
  key: string;
  /** The identity's URI SAN. */
  uri: string;
}

/**
 * Generates a CA and one workload identity for a cluster's emulated sidecars (valid 2 days):
 * both client and server use (each sidecar is both), URI SAN `uri`. Returns the PEM texts.
 */
export async function generateMeshIdentity(
  runner: Runner,
  dir: string,
  uri: string,
): Promise<MeshIdentity> {
  await Deno.mkdir(dir, { recursive: true });
  await makeCa(runner, dir, "meshbench-envoy-sidecar-ca", 2);
  const id = await issue(
    runner,
    dir,
    "sidecar",
    `subjectAltName=URI:${uri}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    2,
  );
  return {
    ca: await Deno.readTextFile(join(dir, "ca.pem")),
    cert: await Deno.readTextFile(id.cert),
    key: await Deno.readTextFile(id.key),
    uri,
  };
}
