/**
 * Commands inside pods (the load generators run in client pods, so the client-side proxy is
 * in the path): exec through the API server with a bounded time, output collected, a
 * non-zero exit or a timeout is an error naming the pod, the command and the stderr tail.
 *
 * @module
 */

import { Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { tail } from "../command.ts";
import { ClusterStageError } from "./deploy.ts";
import { apiReason, type Kube } from "./kube.ts";
import { MANAGED_SELECTOR } from "./manifests.ts";

/** What a command in a pod returned. */
export interface PodExecResult {
  pod: string;
  code: number;
  stdout: string;
  stderr: string;
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Uint8Array[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
      cb();
    },
  });
  return { stream, text: () => new TextDecoder().decode(concat(chunks)) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Exit code from the exec status channel (Success, or NonZeroExitCode with ExitCode cause). */
export function exitCodeOf(status: k8s.V1Status): number {
  if (status.status === "Success") return 0;
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  if (cause?.message !== undefined && Number.isFinite(Number(cause.message))) {
    return Number(cause.message);
  }
  // Some kubelet implementations (kwok) report the exit only in the message.
  const m = /exit status (\d+)/.exec(status.message ?? "");
  return m ? Number(m[1]) : -1;
}

/**
 * Runs `command` in `container` of pod `namespace/pod` and waits at most `timeoutMs`.
 * Throws a `load` stage error on a non-zero exit (unless in `okCodes`) or a timeout.
 */
export async function execInPod(
  kube: Kube,
  target: { namespace: string; pod: string; container: string },
  command: string[],
  options: { timeoutMs: number; okCodes?: number[]; signal?: AbortSignal },
): Promise<PodExecResult> {
  const out = collector();
  const err = collector();
  const id = `pod "${target.namespace}/${target.pod}" container "${target.container}"`;
  const exec = new k8s.Exec(kube.config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let socket: { close(): void } | undefined;
  try {
    const status = await new Promise<k8s.V1Status>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      if (options.signal?.aborted) reject(new Error("interrupted"));
      options.signal?.addEventListener("abort", () => reject(new Error("interrupted")), {
        once: true,
      });
      exec.exec(
        target.namespace,
        target.pod,
        target.container,
        command,
        out.stream,
        err.stream,
        null,
        false,
        resolve,
      ).then((ws) => {
        socket = ws;
        ws.on("close", () =>
          // The status callback fires before close; a close without it is a lost stream.
          setTimeout(() => reject(new Error("the exec stream closed without a status")), 1000));
        ws.on("error", (e: Error) => reject(e));
      }, reject);
    });
    const code = exitCodeOf(status);
    const result = { pod: target.pod, code, stdout: out.text(), stderr: err.text() };
    if (code !== 0 && !(options.okCodes ?? []).includes(code)) {
      throw new ClusterStageError(
        "load",
        id,
        `command ${JSON.stringify(command.join(" "))} exited ${code}: ${status.message ?? ""}\n` +
          tail(result.stderr || result.stdout),
      );
    }
    return result;
  } catch (e) {
    if (e instanceof ClusterStageError) throw e;
    throw new ClusterStageError(
      "load",
      id,
      `exec of ${JSON.stringify(command.join(" "))} failed: ${apiReason(e)}` +
        (err.text() ? `\n${tail(err.text())}` : ""),
    );
  } finally {
    clearTimeout(timer);
    socket?.close();
  }
}

/** Ready meshbench pods matching `app` in `namespace`, sorted by name. */
export async function readyPods(kube: Kube, namespace: string, app: string): Promise<string[]> {
  const list = await kube.core.listNamespacedPod({
    namespace,
    labelSelector: `${MANAGED_SELECTOR},app=${app}`,
  });
  return list.items
    .filter((p) =>
      !p.metadata?.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    )
    .map((p) => p.metadata!.name!)
    .sort();
}
