/**
 * External tools (binaries): the one lookup on PATH and Go's bin directories, how to
 * install them, and their versions for provenance. Missing tools are installed when
 * possible (apt-get as root, go install when Go is present); otherwise the run stops
 * before starting with one message listing what is missing and how to get it.
 *
 * @module
 */
import { join } from "node:path";
import type { Runner } from "./command.ts";

/** A missing prerequisite and how to get it. */
export interface Requirement {
  name: string;
  /** Why it is needed. */
  purpose: string;
  /** Command that installs it on Debian/Ubuntu, or a sentence. */
  install: string;
  /** True when meshbench can install it itself (apt as root, go install). */
  autoInstallable: boolean;
}

/** How to get one tool. */
export interface ToolSpec {
  name: string;
  purpose: string;
  /** Binary to look for on PATH and in Go's bin directory. */
  bin: string;
  /** Command that prints its version. */
  version: string[];
  apt?: string;
  /** `go install` module path with a pinned version. */
  go?: string;
  /**
   * Arguments the binary must run with exit 0 for the tool to count as installed (a Python
   * module: `["-c", "import sklearn"]`, its interpreter being `bin`).
   */
  requires?: string[];
  /** How to install it by hand, where neither apt nor go applies. */
  install?: string;
  /**
   * An installer script of this repository that meshbench runs itself (with bash) when the
   * tool is missing (e.g. `.ci/install_envoy.sh`); `install` says the same for humans.
   */
  script?: string;
  /** Directories searched before PATH (e.g. the repository's `.testenv/bin`). */
  dirs?: string[];
}

function goBinDirs(): string[] {
  const env = Deno.env.toObject();
  const dirs: string[] = [];
  if (env.GOBIN) dirs.push(env.GOBIN);
  if (env.GOPATH) dirs.push(...env.GOPATH.split(":").map((p) => join(p, "bin")));
  if (env.HOME) dirs.push(join(env.HOME, "go", "bin"));
  return dirs;
}

/** Whether `path` is an executable file. */
export function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Absolute path of a binary: the one lookup of meshbench. Searched in `extraDirs` first,
 * then PATH, Go's bin directories, /usr/sbin and /sbin; undefined when absent.
 */
export function findBinary(bin: string, extraDirs: readonly string[] = []): string | undefined {
  if (bin.startsWith("/")) return isExecutable(bin) ? bin : undefined;
  const dirs = [
    ...extraDirs,
    ...(Deno.env.get("PATH") ?? "").split(":"),
    ...goBinDirs(),
    "/usr/sbin",
    "/sbin",
  ];
  return dirs.filter((d) => d).map((d) => join(d, bin)).find(isExecutable);
}

/** Path of a tool's binary when the tool is installed (its `requires` check passes too). */
export function toolPath(tool: ToolSpec): string | undefined {
  const path = findBinary(tool.bin, tool.dirs ?? []);
  if (!path || !tool.requires) return path;
  try {
    const r = new Deno.Command(path, { args: tool.requires, stdout: "null", stderr: "null" })
      .outputSync();
    return r.success ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Requirements not met, with install hints. */
export function missingTools(tools: ToolSpec[]): Requirement[] {
  const goAvailable = findBinary("go") !== undefined;
  const isRoot = Deno.uid() === 0;
  const aptAvailable = findBinary("apt-get") !== undefined;
  const bashAvailable = findBinary("bash") !== undefined;
  return tools.filter((t) => toolPath(t) === undefined).map((t) => ({
    name: t.name,
    purpose: t.purpose,
    install: t.apt
      ? `apt-get install -y ${t.apt}`
      : t.go
      ? `go install ${t.go}   (needs Go: apt-get install -y golang-go)`
      : t.install ?? `install "${t.bin}"`,
    autoInstallable: (t.apt !== undefined && isRoot && aptAvailable) ||
      (t.go !== undefined && goAvailable) || (t.script !== undefined && bashAvailable),
  }));
}

/** Installs what can be installed; returns what is still missing. */
export async function installTools(
  runner: Runner,
  tools: ToolSpec[],
  log: (line: string) => void,
): Promise<Requirement[]> {
  const missing = missingTools(tools);
  const apt = tools.filter((t) =>
    t.apt && missing.some((m) => m.name === t.name && m.autoInstallable)
  );
  if (apt.length > 0) {
    log(`Installing with apt-get: ${apt.map((t) => t.apt).join(" ")}`);
    await runner.run(["apt-get", "update", "-q"], { timeoutMs: 600_000 });
    await runner.run(["apt-get", "install", "-y", "-q", ...apt.map((t) => t.apt!)], {
      timeoutMs: 900_000,
      env: { DEBIAN_FRONTEND: "noninteractive" },
    });
  }
  const go = tools.filter((t) =>
    t.go && findBinary(t.bin, t.dirs ?? []) === undefined && findBinary("go") !== undefined
  );
  for (const t of go) {
    log(`Installing with go install: ${t.go}`);
    await runner.run([findBinary("go")!, "install", t.go!], { timeoutMs: 900_000 });
  }
  const scripts = tools.filter((t) =>
    t.script && missing.some((m) => m.name === t.name && m.autoInstallable)
  );
  for (const t of scripts) {
    log(`Installing ${t.name} with ${t.script}`);
    await runner.run([findBinary("bash")!, t.script!], { timeoutMs: 900_000 });
  }
  return missingTools(tools);
}

/** Formats missing requirements as one message. */
export function missingMessage(missing: Requirement[]): string {
  return `Cannot start: ${missing.length} required tool(s) missing:\n` +
    missing.map((m) => `  - ${m.name} (${m.purpose}): ${m.install}`).join("\n");
}

/** Version line of each tool, as it prints it (Go binaries: their module version). */
export async function versionsOf(
  runner: Runner,
  tools: ToolSpec[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tools) {
    const path = findBinary(t.bin, t.dirs ?? []);
    if (!path) {
      out[t.name] = "not installed";
      continue;
    }
    try {
      if (t.go) {
        const goBin = findBinary("go");
        const r = goBin
          ? await runner.run([goBin, "version", "-m", path], { timeoutMs: 10_000 })
          : { stdout: "" };
        const mod = r.stdout.split("\n").find((l) => l.trim().startsWith("mod\t"));
        out[t.name] = mod ? mod.trim().split(/\s+/).slice(1, 3).join(" ") : `${t.go} (pinned)`;
      } else {
        const r = await runner.run([path, ...t.version.slice(1)], {
          timeoutMs: 10_000,
          okCodes: [1, 2],
        });
        out[t.name] = (r.stdout + r.stderr).split("\n").map((l) => l.trim()).find((l) => l) ??
          "unknown";
      }
    } catch (e) {
      out[t.name] = `version check failed: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  return out;
}
