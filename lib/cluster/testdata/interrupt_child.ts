// Test fixture: deploys the http workload on the named context, prints "deployed", then
// waits to be interrupted; cleanupOnSignal must remove what it deployed and exit 130.
import { ClusterTarget } from "../target.ts";
import { cleanupOnSignal } from "../signal.ts";
import { makeContext } from "./context.ts";

const [kubeconfig, context, runDir] = Deno.args;
const ctx = makeContext({ kubeconfig, context, runDir, workloads: ["http"] });
const target = new ClusterTarget({ healthTimeoutMs: 60_000 });
cleanupOnSignal(async () => {
  await target.cleanup(ctx);
  await target.close();
});
await target.deploy(ctx);
await target.health(ctx);
console.log("deployed");
await new Promise((r) => setTimeout(r, 120_000)); // bounded: the test interrupts long before
console.log("not interrupted");
await target.close();
