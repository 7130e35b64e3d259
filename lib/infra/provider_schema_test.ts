import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { OCI_SCHEMA_PATH, providerSchemaProblems, readProviderSchema } from "./provider_schema.ts";
import { TERRAFORM_DIR } from "./tools.ts";

const schema = await readProviderSchema(OCI_SCHEMA_PATH);

/** Copies the root module's .tf files, applies `edit` to main.tf, and checks the copy. */
async function problemsAfter(from: string | RegExp, to: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "meshbench-tfschema-" });
  try {
    for (const e of Deno.readDirSync(TERRAFORM_DIR)) {
      if (e.isFile && e.name.endsWith(".tf")) {
        await Deno.copyFile(join(TERRAFORM_DIR, e.name), join(dir, e.name));
      }
    }
    const main = join(dir, "main.tf");
    const text = await Deno.readTextFile(main);
    const next = text.replace(from, to);
    if (next === text) throw new Error(`test edit found nothing to replace: ${from}`);
    await Deno.writeTextFile(main, next);
    return await providerSchemaProblems(dir, schema);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the committed schema is the pinned oracle/oci provider's, with every type the module uses", async () => {
  const versions = await Deno.readTextFile(join(TERRAFORM_DIR, "versions.tf"));
  const pinned = versions.match(/version\s*=\s*"= ?(\d+\.\d+\.\d+)"/)?.[1];
  assert(OCI_SCHEMA_PATH.endsWith(`oci-provider-${pinned}.schema.json`), `pin ${pinned}`);
  assert("oci_core_instance" in schema.resources);
  assert("oci_identity_availability_domains" in schema.dataSources);
});

Deno.test("every OCI resource, data source and the provider block of the root module match the provider schema", async () => {
  assertEquals(await providerSchemaProblems(TERRAFORM_DIR, schema), []);
});

Deno.test("the provider schema check refuses what terraform validate would", async (t) => {
  const cases: Array<[string, string | RegExp, string, RegExp]> = [
    [
      "a misspelt resource argument, with the line and a suggestion",
      "  shape               = local.shape",
      "  shap                = local.shape",
      /main\.tf:\d+ oci_core_instance\.node: "shap" is not an argument .*did you mean "shape"/,
    ],
    [
      "a misspelt argument inside a nested block",
      "    memory_in_gbs = each.value.memory_gb",
      "    memory_in_gb = each.value.memory_gb",
      /oci_core_instance\.node\.shape_config: "memory_in_gb" is not an argument .*"memory_in_gbs"/,
    ],
    [
      "a misspelt argument inside a dynamic block's content",
      "          min = ingress_security_rules.value.port_min",
      "          minimum = ingress_security_rules.value.port_min",
      /oci_core_security_list\.nodes\.ingress_security_rules\.tcp_options: "minimum"/,
    ],
    [
      "a missing required argument",
      /resource "oci_core_vcn" "main" \{\n {2}compartment_id = local\.compartment_id\n/,
      'resource "oci_core_vcn" "main" {\n',
      /oci_core_vcn\.main: required argument "compartment_id" is not set/,
    ],
    [
      "a value set on a read-only (computed) attribute",
      "  dns_label      = var.name_prefix\n}",
      '  dns_label      = var.name_prefix\n  state          = "AVAILABLE"\n}',
      /oci_core_vcn\.main: "state" is read-only/,
    ],
    [
      "a block written as an argument",
      /shape_details \{\n(\s+)minimum_bandwidth_in_mbps/,
      "shape_details = {\n$1minimum_bandwidth_in_mbps",
      /"shape_details" is a block/,
    ],
    [
      "a misspelt data source argument",
      "  operating_system_version = var.ubuntu_version",
      "  os_version = var.ubuntu_version",
      /data\.oci_core_images\.ubuntu: "os_version" is not an argument/,
    ],
    [
      "a misspelt provider argument",
      "  tenancy_ocid        = var.tenancy_ocid",
      "  tenancy_id          = var.tenancy_ocid",
      /provider "oci": "tenancy_id" is not an argument .*"tenancy_ocid"/,
    ],
    [
      "a resource type the pinned provider does not have",
      'resource "oci_core_vcn" "main" {',
      'resource "oci_core_virtual_network_x" "main" {',
      /resource type "oci_core_virtual_network_x" is not in the pinned provider schema/,
    ],
  ];
  for (const [name, from, to, expected] of cases) {
    await t.step(name, async () => {
      const problems = await problemsAfter(from, to);
      assert(
        problems.some((p) => expected.test(p)),
        `${expected} not in ${JSON.stringify(problems)}`,
      );
    });
  }
});
