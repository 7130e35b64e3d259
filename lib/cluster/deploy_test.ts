import type * as k8s from "@kubernetes/client-node";
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { ClusterStageError, serviceEndpointProblems, waitHealthy } from "./deploy.ts";
import { connect, disconnect, isNoAnswer } from "./kube.ts";
import { freePort } from "../process.ts";
import { ServiceRefusedError, untilServiceAnswers } from "./target.ts";

const ns = "grpc-benchmark";

function pod(name: string, ready: boolean, app = "grpc-server"): k8s.V1Pod {
  return {
    metadata: { name, namespace: ns, labels: { app } },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{
        name: "server",
        ready,
        image: "x",
        imageID: "x",
        restartCount: 0,
      }],
    },
    spec: { nodeName: "meshbench-node", containers: [] },
  };
}

function service(name: string, selector?: Record<string, string>): k8s.V1Service {
  return { metadata: { name, namespace: ns }, spec: { selector } };
}

function slice(service: string, endpoints: Array<[string, boolean]>): k8s.V1EndpointSlice {
  return {
    addressType: "IPv4",
    metadata: {
      name: `${service}-abcde`,
      namespace: ns,
      labels: { "kubernetes.io/service-name": service },
    },
    endpoints: endpoints.map(([name, ready], i) => ({
      addresses: [`198.18.1.${i + 10}`],
      conditions: { ready },
      targetRef: { kind: "Pod", name, namespace: ns },
    })),
  };
}

Deno.test("health waits for a Service whose Ready pods are not yet its ready endpoints (kube-proxy would refuse)", () => {
  const pods = [pod("grpc-server-a", true), pod("grpc-server-b", true)];
  const svc = service("grpc-server", { app: "grpc-server" });
  // Pods Ready, the EndpointSlice controller not there yet: what the real node's first
  // warm-up met ("connect: connection refused" on the ClusterIP).
  assertEquals(serviceEndpointProblems([svc], pods, []), [{
    object: 'Service "grpc-benchmark/grpc-server"',
    reason: "2 Ready pod(s) not yet ready endpoints: grpc-server-a, grpc-server-b",
  }]);
  // One listed, the other listed but not ready yet.
  assertEquals(
    serviceEndpointProblems([svc], pods, [
      slice("grpc-server", [["grpc-server-a", true], ["grpc-server-b", false]]),
    ]).map((p) => p.reason),
    ["1 Ready pod(s) not yet ready endpoints: grpc-server-b"],
  );
  // Every Ready pod a ready endpoint (across slices): nothing pending.
  assertEquals(
    serviceEndpointProblems([svc], pods, [
      slice("grpc-server", [["grpc-server-a", true]]),
      slice("grpc-server", [["grpc-server-b", true]]),
    ]),
    [],
  );
});

Deno.test("endpoint readiness counts only the Ready pods a Service selects, and skips Services without a selector", () => {
  const pods = [
    pod("redis-0", true, "redis"),
    pod("redis-1", false, "redis"),
    pod("client-x", true, "redis-client"),
  ];
  const headless = service("redis-cluster", { app: "redis" });
  // The unready pod is the pods check's concern; the client is not selected.
  assertEquals(
    serviceEndpointProblems([headless], pods, [slice("redis-cluster", [["redis-0", true]])]),
    [],
  );
  // Another Service's slice does not count.
  assertEquals(
    serviceEndpointProblems([headless], pods, [slice("other", [["redis-0", true]])]).length,
    1,
  );
  assertEquals(serviceEndpointProblems([service("external")], pods, []), []);
});

Deno.test("the warm-up retries a Service that refuses connections, within its bound, and nothing else", async () => {
  const logs: string[] = [];
  let calls = 0;
  const refusedOnce = () => {
    calls++;
    if (calls === 1) {
      return Promise.reject(
        new Error("dial tcp 10.96.74.191:9000: connect: connection refused"),
      );
    }
    return Promise.resolve("answered");
  };
  assertEquals(await untilServiceAnswers(refusedOnce, "grpc", (m) => logs.push(m)), "answered");
  assertEquals(calls, 2);
  assertEquals(logs.length, 1);
  // Any other failure is not retried.
  calls = 0;
  await rejects(
    untilServiceAnswers(
      () => {
        calls++;
        return Promise.reject(new Error("exited 137"));
      },
      "grpc",
      () => {},
    ),
    /exited 137/,
  );
  assertEquals(calls, 1);
  // A warm-up that counted only unopened connections (the WebSocket client's way of saying
  // refused: the real node's first WebSocket warm-up after its block was deployed) is retried.
  calls = 0;
  const wsRefusedOnce = () => {
    calls++;
    if (calls === 1) {
      return Promise.reject(
        new ServiceRefusedError("warmup", 'namespace "websocket-benchmark"', "300 of 300"),
      );
    }
    return Promise.resolve("answered");
  };
  assertEquals(await untilServiceAnswers(wsRefusedOnce, "websocket", () => {}), "answered");
  assertEquals(calls, 2);
  // A refusal past the bound fails with the refusal.
  await rejects(
    untilServiceAnswers(
      () => Promise.reject(new Error("connect: connection refused")),
      "grpc",
      () => {},
      0,
    ),
    /connection refused/,
  );
});

Deno.test("health asks again while the API server gives no answer, then fails naming the stage and why", async () => {
  // A server address nothing listens on: every request is refused, as the real test node's
  // API requests failed ("fetch failed") while the machine ran out of memory.
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "meshbench-deploy-test-" });
  const path = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: `https://127.0.0.1:${port}` } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "gone", context: { cluster: "c", user: "u" } }],
    }),
  );
  const kube = connect("gone", { kubeconfig: path });
  const logs: string[] = [];
  try {
    await rejects(
      waitHealthy(kube, ["db-benchmark"], {
        timeoutMs: 1_000,
        pollMs: 200,
        log: (m) => logs.push(m),
      }),
      (e: unknown) =>
        e instanceof ClusterStageError && e.stage === "health" &&
        /the API server did not answer/.test(e.reason),
    );
    assertEquals(logs.length > 1, true, logs.join("\n"));
    // The kind of error every poll (health, the ML Job's) asks again after: no HTTP answer.
    await rejects(kube.core.listNamespace(), (e: unknown) => isNoAnswer(e));
    assertEquals(logs.every((l) => /the API server did not answer .*asking again/.test(l)), true);
  } finally {
    await disconnect(kube);
    await Deno.remove(dir, { recursive: true });
  }
});
