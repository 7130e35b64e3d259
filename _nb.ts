import { executeNotebooks, NOTEBOOK_DIR } from "./lib/notebooks.ts";
import { copyFixtureRun, FIXTURE_RUNS } from "./fixtures/mod.ts";
import { join } from "node:path";
const tmp = await Deno.makeTempDir({ prefix: "meshbench_nbx_" });
for (const n of FIXTURE_RUNS) await copyFixtureRun(n, tmp);
const t0 = performance.now();
const r = await executeNotebooks(join(tmp, FIXTURE_RUNS.at(-1)!), { outDir: join(tmp, "html"), notebooks: [join(NOTEBOOK_DIR, "03_overhead.ipynb")] });
console.log((performance.now() - t0) / 1000, r[0].html);
