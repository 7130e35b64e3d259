/**
 * Per-run certificates for the emulated meshes' mTLS: a CA, a server and a client
 * identity (ECDSA P-256, as mesh CAs issue), made with openssl, never committed.
 *
 * @module
 */
import { join } from "node:path";
import type { Runner } from "../command.ts";

/** Paths of the generated PEM files. HAProxy wants cert and key in one file. */
export interface CertSet {
  ca: string;
  /** Server identity: certificate followed by its key. */
  server: string;
  /** Client identity: certificate followed by its key. */
  client: string;
}

/** Generates a fresh CA and two leaf identities under `dir` (valid 2 days). */
export async function generateCerts(runner: Runner, dir: string): Promise<CertSet> {
  await Deno.mkdir(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  const ossl = (args: string[]) => runner.run(["openssl", ...args], { timeoutMs: 30_000 });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await ossl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=meshbench-emulated-mesh-ca",
  ]);
  for (const who of ["server", "client"]) {
    await ossl([
      "req",
      ...ec,
      "-keyout",
      p(`${who}.key`),
      "-out",
      p(`${who}.csr`),
      "-subj",
      `/CN=meshbench-${who}`,
    ]);
    const ext = p(`${who}.ext`);
    await Deno.writeTextFile(
      ext,
      who === "server"
        ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        : "subjectAltName=URI:spiffe://meshbench.local/ns/bench/sa/client\nextendedKeyUsage=clientAuth\n",
    );
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
      "2",
      "-extfile",
      ext,
    ]);
    const bundle = (await Deno.readTextFile(p(`${who}.crt`))) +
      (await Deno.readTextFile(p(`${who}.key`)));
    await Deno.writeTextFile(p(`${who}.pem`), bundle, { mode: 0o600 });
  }
  return { ca: p("ca.pem"), server: p("server.pem"), client: p("client.pem") };
}
