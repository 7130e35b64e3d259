/**
 * Checks of the root Terraform module that need no provider: where `terraform validate`
 * cannot run (the oracle/oci provider is out of reach), these still catch undeclared
 * references, arguments the topology module does not take, an example variables file
 * that drifted from the variables, and ingress that bypasses the topology's guards.
 *
 * @module
 */
import { parse } from "@cdktf/hcl2json";
import { join } from "node:path";

type Hcl = Record<string, unknown>;

async function parseDir(dir: string): Promise<{ json: Hcl[]; text: string }> {
  const json: Hcl[] = [];
  let text = "";
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".tf"))
    .map((e) => e.name).sort();
  for (const name of names) {
    const src = await Deno.readTextFile(join(dir, name));
    try {
      json.push(await parse(name, src) as Hcl);
    } catch (e) {
      throw new Error(`Cannot parse ${join(dir, name)}: ${(e as Error).message}`);
    }
    // Comments are not references.
    text += src.split("\n").map((l) => l.replace(/^\s*#.*$/, "")).join("\n") + "\n";
  }
  return { json, text };
}

function keysOf(files: Hcl[], block: string): Set<string> {
  const out = new Set<string>();
  for (const f of files) for (const k of Object.keys((f[block] as Hcl) ?? {})) out.add(k);
  return out;
}

function nestedKeys(files: Hcl[], block: string): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    for (const [type, byName] of Object.entries((f[block] as Hcl) ?? {})) {
      for (const name of Object.keys(byName as Hcl)) out.add(`${type}.${name}`);
    }
  }
  return out;
}

function declaredLocals(files: Hcl[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    for (const l of (f.locals as Hcl[] | undefined) ?? []) {
      for (const k of Object.keys(l)) out.add(k);
    }
  }
  return out;
}

const hasDefault = (files: Hcl[], name: string) =>
  files.some((f) => {
    const v = ((f.variable as Hcl) ?? {})[name] as Hcl[] | undefined;
    return v?.some((b) => "default" in b) ?? false;
  });

/**
 * Returns the problems found in the root module at `terraformDir` (empty when none),
 * each naming the file element and the quoted value.
 */
export async function staticRootProblems(terraformDir: string): Promise<string[]> {
  const problems: string[] = [];
  const root = await parseDir(terraformDir);
  const topo = await parseDir(join(terraformDir, "modules", "topology"));

  // Provider pinned exactly, state in a local backend the tasks point outside git.
  const tf = root.json.flatMap((f) => (f.terraform as Hcl[] | undefined) ?? []);
  const oci = tf.flatMap((t) => (t.required_providers as Hcl[] | undefined) ?? [])
    .map((p) => p.oci as Hcl | undefined).find((p) => p);
  if (!oci || oci.source !== "oracle/oci" || !/^= ?\d+\.\d+\.\d+$/.test(String(oci.version))) {
    problems.push(
      `provider "oci" must be oracle/oci pinned as "= X.Y.Z", got ${JSON.stringify(oci)}`,
    );
  }
  if (!tf.some((t) => t.backend && "local" in (t.backend as Hcl))) {
    problems.push('terraform must declare backend "local" (infra:up points it at the state dir)');
  }

  // References resolve to declarations.
  const vars = keysOf(root.json, "variable");
  const locals = declaredLocals(root.json);
  const resources = nestedKeys(root.json, "resource");
  const data = nestedKeys(root.json, "data");
  for (const m of new Set(root.text.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g).map((m) => m[1]))) {
    if (!vars.has(m)) problems.push(`var.${m} is referenced but not declared`);
  }
  for (const v of vars) {
    if (!new RegExp(`\\bvar\\.${v}\\b`).test(root.text)) {
      problems.push(`variable "${v}" is declared but never used`);
    }
  }
  for (const m of new Set(root.text.matchAll(/\blocal\.([a-z_][a-z0-9_]*)/g).map((m) => m[1]))) {
    if (!locals.has(m)) problems.push(`local.${m} is referenced but not declared`);
  }
  for (const m of root.text.matchAll(/(?<![.\w])(oci_[a-z0-9_]+)\.([a-z0-9_]+)/g)) {
    if (!resources.has(`${m[1]}.${m[2]}`)) {
      problems.push(`resource ${m[1]}.${m[2]} is referenced but not declared`);
    }
  }
  for (const m of root.text.matchAll(/\bdata\.(oci_[a-z0-9_]+)\.([a-z0-9_]+)/g)) {
    if (!data.has(`${m[1]}.${m[2]}`)) {
      problems.push(`data.${m[1]}.${m[2]} is referenced but not declared`);
    }
  }

  // The topology module call passes exactly the module's variables, and every required one.
  const call = root.json.map((f) => ((f.module as Hcl) ?? {}).topology as Hcl[] | undefined)
    .find((m) => m)?.[0];
  const topoVars = keysOf(topo.json, "variable");
  if (!call) {
    problems.push('module "topology" is not called: the sizing and CIDR guards would not apply');
  } else {
    for (const arg of Object.keys(call)) {
      if (arg !== "source" && !topoVars.has(arg)) {
        problems.push(`module "topology" has no variable "${arg}"`);
      }
    }
    for (const v of topoVars) {
      if (v !== "free_tier" && !(v in call)) {
        problems.push(`module "topology" is not given "${v}" (the root's value would be ignored)`);
      }
    }
  }
  for (const m of new Set(root.text.matchAll(/\bmodule\.topology\.([a-z_]+)/g).map((m) => m[1]))) {
    if (!keysOf(topo.json, "output").has(m)) {
      problems.push(`module.topology.${m} is referenced but the module has no such output`);
    }
  }

  // Ingress opened only through the topology's guarded rules (plus ICMP path-MTU).
  const sl = root.json.map((f) =>
    (((f.resource as Hcl) ?? {}).oci_core_security_list as Hcl | undefined)?.nodes as
      | Hcl[]
      | undefined
  ).find((x) => x)?.[0];
  if (!sl) {
    problems.push("resource oci_core_security_list.nodes is missing");
  } else {
    for (const rule of (sl.ingress_security_rules as Hcl[] | undefined) ?? []) {
      if (rule.protocol !== "1") {
        problems.push(
          `a static ingress rule with protocol ${JSON.stringify(rule.protocol)} bypasses the ` +
            "topology guards: add it to modules/topology instead",
        );
      }
    }
    const dyn = (((sl.dynamic as Hcl | undefined) ?? {}).ingress_security_rules ?? []) as Hcl[];
    if (!dyn.some((d) => d?.for_each === "${module.topology.ingress_rules}")) {
      problems.push("ingress rules must come from module.topology.ingress_rules");
    }
  }

  // A new image release must not replace the nodes on the next infra:up.
  const inst = root.json.map((f) =>
    (((f.resource as Hcl) ?? {}).oci_core_instance as Hcl | undefined)?.node as Hcl[] | undefined
  ).find((x) => x)?.[0];
  const ignored = ((inst?.lifecycle as Hcl[] | undefined) ?? [])
    .flatMap((l) => (l.ignore_changes as string[] | undefined) ?? []);
  if (inst && !ignored.includes("${source_details[0].source_id}")) {
    problems.push(
      "oci_core_instance.node must ignore_changes [source_details[0].source_id]: the image is " +
        "looked up as the newest on every plan, so a new release would replace every node",
    );
  }

  // The example variables file names only declared variables and sets every required one.
  const example = await Deno.readTextFile(join(terraformDir, "meshbench.tfvars.example"));
  const named = new Map<string, boolean>();
  for (const line of example.split("\n")) {
    const m = line.match(/^(#\s*)?([a-z_][a-z0-9_]*)\s*=/);
    if (m) named.set(m[2], named.get(m[2]) === true || m[1] === undefined);
  }
  for (const [name] of named) {
    if (!vars.has(name)) {
      problems.push(`meshbench.tfvars.example sets "${name}", which is not a variable`);
    }
  }
  for (const v of vars) {
    if (!hasDefault(root.json, v) && named.get(v) !== true) {
      problems.push(`meshbench.tfvars.example must set required variable "${v}"`);
    }
  }
  return problems;
}
