/**
 * The tools every run of the local target needs; workloads add their own
 * (see `../binaries.ts` for lookup, install and versions).
 *
 * @module
 */
import type { ToolSpec } from "../binaries.ts";

/** Tools every local run needs; workloads add their own. */
export const BASE_TOOLS: ToolSpec[] = [
  {
    name: "nginx",
    purpose: "HTTP server (the design's http-server)",
    bin: "nginx",
    version: ["nginx", "-v"],
    apt: "nginx-light",
  },
  {
    name: "haproxy",
    purpose: "proxies of the emulated meshes",
    bin: "haproxy",
    version: ["haproxy", "-v"],
    apt: "haproxy",
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
