import { connect, disconnect } from "./kube.ts";
import { execInPod } from "./exec.ts";
const kube = connect("meshbench-testenv", { kubeconfig: "/tmp/tenv2/kubeconfig" });
const t = { namespace: "default", pod: "t1", container: "t1" };
console.log(
  await execInPod(kube, t, ["sh", "-c", "echo hello; echo err >&2"], { timeoutMs: 10000 }),
);
try {
  await execInPod(kube, t, ["sh", "-c", "echo out; echo bad >&2; exit 3"], { timeoutMs: 10000 });
} catch (e) {
  console.log(String(e));
}
try {
  await execInPod(kube, t, ["sleep", "5"], { timeoutMs: 1000 });
} catch (e) {
  console.log(String(e));
}
await disconnect(kube);
