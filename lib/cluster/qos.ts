/**
 * Quality of service of the benchmark pods (METHODOLOGY rule 10: Guaranteed QoS for load
 * generators and proxies, so neither is squeezed by its neighbours). Under `cluster.qos:
 * guaranteed` meshbench renders every container with requests equal to its limits and
 * sizes injected sidecars the same way ({@linkcode guaranteeObjects}); whatever the mode,
 * the class the API server gave each pod is read back and recorded ({@linkcode qosByApp}),
 * and in guaranteed mode a pod that is not Guaranteed stops the run before load, naming
 * the containers that make it so ({@linkcode qosProblems}).
 *
 * @module
 */

import type * as k8s from "@kubernetes/client-node";
import { type KubeObject, podTemplateOf } from "./manifests.ts";

interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

interface ContainerView {
  name: string;
  resources?: Resources;
}

/**
 * Sets every container's (and init container's) requests to its limits in the pod
 * templates of `objs`, and adds `annotations` (the meshes' proxy sizing) to each template.
 * A container without CPU and memory limits is an error naming it. Returns new objects.
 */
export function guaranteeObjects(
  objs: readonly KubeObject[],
  annotations: Record<string, string>,
): KubeObject[] {
  return objs.map((o) => {
    if (!podTemplateOf(o)) return o;
    const copy = structuredClone(o);
    const template = podTemplateOf(copy) as {
      metadata?: KubeObject["metadata"];
      spec?: { containers?: ContainerView[]; initContainers?: ContainerView[] };
    };
    for (const c of [...template.spec?.containers ?? [], ...template.spec?.initContainers ?? []]) {
      const limits = c.resources?.limits ?? {};
      for (const k of ["cpu", "memory"]) {
        if (!limits[k]) {
          throw new Error(
            `Cannot make ${o.kind} "${o.metadata.name}" Guaranteed: container "${c.name}" ` +
              `has no ${k} limit`,
          );
        }
      }
      c.resources = { ...c.resources, limits: { ...limits }, requests: { ...limits } };
    }
    const meta = template.metadata ??= {} as KubeObject["metadata"];
    meta.annotations = { ...meta.annotations, ...annotations };
    return copy;
  });
}

function differs(r: Resources | undefined): string | null {
  const req = r?.requests ?? {};
  const lim = r?.limits ?? {};
  const bad = ["cpu", "memory"].filter((k) => !lim[k] || req[k] !== lim[k]);
  if (bad.length === 0) return null;
  return bad.map((k) => `${k} request ${req[k] ?? "none"}, limit ${lim[k] ?? "none"}`).join("; ");
}

/**
 * Why pods are not Guaranteed: one line per pod, naming each container (injected ones
 * included) whose requests differ from its limits. Empty when every pod is Guaranteed.
 */
export function qosProblems(pods: readonly k8s.V1Pod[]): string[] {
  const out: string[] = [];
  for (const p of pods) {
    if (p.status?.qosClass === "Guaranteed") continue;
    const containers = [
      ...(p.spec?.initContainers ?? []).map((c) => ({ c, init: true })),
      ...(p.spec?.containers ?? []).map((c) => ({ c, init: false })),
    ];
    const why = containers.flatMap(({ c, init }) => {
      const d = differs(c.resources as Resources | undefined);
      return d ? [`${init ? "init container" : "container"} "${c.name}": ${d}`] : [];
    });
    out.push(
      `pod "${p.metadata?.namespace}/${p.metadata?.name}" is ${
        p.status?.qosClass ?? "of unknown QoS"
      }: ${why.join(", ") || "no container differs (the API server says otherwise)"}`,
    );
  }
  return out;
}

/**
 * QoS classes by `namespace/app` (the pod's `app` or `app.kubernetes.io/name` label, else
 * its name): what each group of pods actually got, for the results. A group whose pods got
 * different classes lists them all, comma-separated.
 */
export function qosByApp(pods: readonly k8s.V1Pod[]): Record<string, string> {
  const groups = new Map<string, Set<string>>();
  for (const p of pods) {
    const labels = p.metadata?.labels ?? {};
    const app = labels.app ?? labels["app.kubernetes.io/name"] ?? labels["k8s-app"] ??
      p.metadata?.name ?? "?";
    const key = `${p.metadata?.namespace}/${app}`;
    const set = groups.get(key) ?? new Set<string>();
    set.add(p.status?.qosClass ?? "unknown");
    groups.set(key, set);
  }
  return Object.fromEntries(
    [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map((
      [k, v],
    ) => [k, [...v].sort().join(",")]),
  );
}
