/**
 * Test helpers for the real node: why its tests cannot run here, and what of the machine is
 * the node's (compared before and after, so a teardown that leaves anything fails).
 *
 * @module
 */
import { testenvSkipReason } from "./fixture.ts";
import { DEFAULT_IMAGES_DIR, resolveBinDir } from "./testenv.ts";
import {
  cgroupHierarchies,
  imageArchives,
  missingRealNodeParts,
  NODE_CGROUP_ROOT,
  NODE_NETNS,
} from "./realnode.ts";

/**
 * Why real-node tests cannot run here (binaries, images, root), or null when they can.
 * `images`: images a test needs beyond the node's own (each an archive in the images
 * directory, as `.ci/install_realnode.sh` saves them); `metricsServer` (default true):
 * whether the test starts metrics-server too.
 */
export function realNodeSkipReason(
  options: { images?: readonly string[]; metricsServer?: boolean } = {},
): string | null {
  const { images = [], metricsServer = true } = options;
  const archives = imageArchives(DEFAULT_IMAGES_DIR);
  const archive = (image: string) => `${image.replace(/[/:]/g, "_")}.tar`;
  const missing = [
    ...missingRealNodeParts(resolveBinDir(), DEFAULT_IMAGES_DIR),
    ...images.filter((i) => !archives.some((a) => a.endsWith(`/${archive(i)}`)))
      .map((i) => `image ${i} in "${DEFAULT_IMAGES_DIR}"`),
  ];
  return testenvSkipReason({ metricsServer }) ??
    (missing.length
      ? `real node parts missing: ${missing.join(", ")} (run: bash .ci/install_realnode.sh)`
      : null);
}

/**
 * Polls `f` every second until it returns a value (errors count as not yet), for at most
 * `ms`; then throws, naming `what` and the last error.
 */
export async function waitFor<T>(
  what: string,
  ms: number,
  f: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`Timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

async function sh(cmd: string[]): Promise<string> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stderr: "inherit" }).output();
  return new TextDecoder().decode(out.stdout);
}

/**
 * What of the machine's network, mounts, cgroups and processes is the node's (by its names,
 * addresses and directory): interfaces, routes and iptables rules of the machine's own
 * namespace, network namespaces, mounts, cgroup directories and processes.
 */
export async function nodeTraces(dir: string): Promise<Record<string, string[]>> {
  const ours = (l: string) => /mbn-|198\.18\.|KUBE-|CNI-|cni0/.test(l);
  const netns = (() => {
    try {
      return [...Deno.readDirSync("/run/netns")].map((e) => e.name)
        .filter((n) => n === NODE_NETNS || n.startsWith("cni-"));
    } catch {
      return [];
    }
  })();
  const processes: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(dir)) processes.push(`${e.name}: ${cmd}`);
    } catch { /* gone */ }
  }
  return {
    interfaces: (await sh(["ip", "-o", "link", "show"])).split("\n").filter(ours),
    routes: (await sh(["ip", "route", "show", "table", "all"])).split("\n").filter(ours),
    iptables: (await sh(["iptables-save"])).split("\n").filter(ours),
    netns,
    mounts: Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .filter((l) => l.includes(dir) || l.includes(NODE_NETNS)),
    cgroups: cgroupHierarchies().filter((h) => {
      try {
        Deno.statSync(`${h}${NODE_CGROUP_ROOT}`);
        return true;
      } catch {
        return false;
      }
    }),
    processes,
    // containerd 1.6 keeps shim sockets in /run/containerd/s whatever its configuration.
    runContainerd: (() => {
      try {
        Deno.statSync("/run/containerd");
        return ["/run/containerd"];
      } catch {
        return [];
      }
    })(),
  };
}
