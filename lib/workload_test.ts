import { doesNotThrow, throws } from "node:assert/strict";
import { checkWarmup } from "./workload.ts";

Deno.test("a warm-up with failed operations throws naming the ports, the count and the kinds", () => {
  doesNotThrow(() =>
    checkWarmup("gRPC", "calls", [1, 2], { errors: 0, operations: 9, errorKinds: {} })
  );
  throws(
    () =>
      checkWarmup("WebSocket", "messages", [8001, 8002], {
        errors: 2,
        operations: 300,
        errorKinds: { closed: 2 },
      }),
    {
      message: 'WebSocket warm-up through ports 8001,8002: 2 of 300 messages failed: {"closed":2}',
    },
  );
});
