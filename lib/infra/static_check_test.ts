import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { staticRootProblems } from "./static_check.ts";
import { TERRAFORM_DIR } from "./tools.ts";

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.name.startsWith(".")) continue;
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

async function problemsAfter(edit: (dir: string) => Promise<void>): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-tf-" });
  try {
    await copyTree(TERRAFORM_DIR, dir);
    await edit(dir);
    return await staticRootProblems(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function replaceIn(path: string, from: string | RegExp, to: string): Promise<void> {
  const text = await Deno.readTextFile(path);
  const next = text.replace(from, to);
  if (next === text) throw new Error(`test edit found nothing to replace in ${path}: ${from}`);
  await Deno.writeTextFile(path, next);
}

Deno.test("the committed root module has no static problems", async () => {
  assertEquals(await staticRootProblems(TERRAFORM_DIR), []);
});

Deno.test("static checks catch what terraform validate would, and guard bypasses", async (t) => {
  const cases: Array<[string, (dir: string) => Promise<void>, RegExp]> = [
    [
      "an undeclared variable",
      (d) => replaceIn(join(d, "main.tf"), "= var.worker_ocpus", "= var.worker_ocpu"),
      /var\.worker_ocpu is referenced but not declared/,
    ],
    [
      "an undeclared resource",
      (d) =>
        replaceIn(join(d, "main.tf"), "= oci_core_subnet.public.id", "= oci_core_subnet.pub.id"),
      /resource oci_core_subnet\.pub is referenced but not declared/,
    ],
    [
      "a topology variable the root forgets to pass",
      (d) => replaceIn(join(d, "main.tf"), /\n\s*worker_count\s*= var\.worker_count/, ""),
      /module "topology" is not given "worker_count"/,
    ],
    [
      "a static TCP ingress rule open to the internet",
      (d) =>
        replaceIn(
          join(d, "main.tf"),
          "  # Path MTU discovery",
          '  ingress_security_rules {\n    source   = "0.0.0.0/0"\n    protocol = "6"\n  }\n\n  # Path MTU discovery',
        ),
      /protocol "6" bypasses the topology guards/,
    ],
    [
      "nodes that a new image release would replace",
      (d) =>
        replaceIn(
          join(d, "main.tf"),
          /\n\s*ignore_changes = \[source_details\[0\]\.source_id\]\n/,
          "\n",
        ),
      /must ignore_changes \[source_details\[0\]\.source_id\]/,
    ],
    [
      "an unpinned provider",
      (d) => replaceIn(join(d, "versions.tf"), '"= 7.31.0"', '"~> 7.0"'),
      /provider "oci" must be oracle\/oci pinned/,
    ],
    [
      "an example file that misses a required variable",
      (d) => replaceIn(join(d, "meshbench.tfvars.example"), /^tenancy_ocid = .*$/m, ""),
      /must set required variable "tenancy_ocid"/,
    ],
    [
      "an example file that sets an unknown variable",
      (d) => replaceIn(join(d, "meshbench.tfvars.example"), "# master_ocpus ", "# master_cpus "),
      /sets "master_cpus", which is not a variable/,
    ],
  ];
  for (const [name, edit, expected] of cases) {
    await t.step(name, async () => {
      const problems = await problemsAfter(edit);
      assert(
        problems.some((p) => expected.test(p)),
        `${expected} not in ${JSON.stringify(problems)}`,
      );
    });
  }
});
