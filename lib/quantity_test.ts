import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { cpuCores, memoryMiB, parseCpu, parseMemory } from "./quantity.ts";

Deno.test("Kubernetes quantities parse to cores and MB", () => {
  assertEquals(parseCpu("250m"), 0.25);
  assertEquals(parseCpu("2"), 2);
  assertEquals(parseCpu("1500000n"), 0.0015);
  assertEquals(parseMemory("128Mi"), 134.217728);
  assertEquals(parseMemory("1000000"), 1);
  assertEquals(parseMemory("2048Ki"), 2.097152);
  throws(() => parseCpu("lots"), /Cannot parse CPU quantity "lots"/);
});

Deno.test("Kubernetes quantities: CPU in cores, memory in MiB", () => {
  assertEquals([cpuCores("2"), cpuCores("1500m"), cpuCores("0.5"), cpuCores(undefined)], [
    2,
    1.5,
    0.5,
    0,
  ]);
  assertEquals(
    [memoryMiB("16Gi"), memoryMiB("16384Mi"), memoryMiB("17179869184"), memoryMiB("1G")],
    [16384, 16384, 16384, 954],
  );
  throws(() => memoryMiB("lots"), /Cannot parse memory quantity "lots"/);
  // YAML gives bare numbers for "cpu: 1" and "memory: 1048576".
  assertEquals([cpuCores(1), memoryMiB(1048576)], [1, 1]);
});
