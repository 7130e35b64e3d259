/**
 * Checks every `resource "oci_*"` and `data "oci_*"` block of the root module against the
 * schema of the pinned oracle/oci provider (`terraform providers schema -json`, committed in
 * `terraform/schema/`), because the provider binary cannot be downloaded here and so
 * `terraform validate` cannot run: a misspelt argument, a missing required one, a value set
 * on a computed-only attribute or an attribute written as a block fails `infra:check`.
 *
 * @module
 */
import { parse } from "@cdktf/hcl2json";
import { join } from "node:path";

type Hcl = Record<string, unknown>;

/** One attribute of a provider block schema. */
interface SchemaAttribute {
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  deprecated?: boolean;
}

/** A block of a provider schema: attributes and nested block types. */
export interface SchemaBlock {
  attributes?: Record<string, SchemaAttribute>;
  block_types?: Record<
    string,
    { nesting_mode: string; block: SchemaBlock; min_items?: number; max_items?: number }
  >;
}

/** The parts of `terraform providers schema -json` this check reads. */
export interface ProviderSchema {
  provider: { block: SchemaBlock };
  resources: Record<string, { block: SchemaBlock }>;
  dataSources: Record<string, { block: SchemaBlock }>;
  /** e.g. `registry.terraform.io/oracle/oci`, for messages. */
  address: string;
}

/** The committed schema of the pinned provider. */
export const OCI_SCHEMA_PATH = join(
  import.meta.dirname ?? ".",
  "..",
  "..",
  "terraform",
  "schema",
  "oci-provider-7.31.0.schema.json",
);

/** Reads a `terraform providers schema -json` document for one provider. */
export async function readProviderSchema(
  path: string,
  address = "registry.terraform.io/oracle/oci",
): Promise<ProviderSchema> {
  const doc = JSON.parse(await Deno.readTextFile(path)) as {
    provider_schemas?: Record<string, Hcl>;
  };
  const p = doc.provider_schemas?.[address] as
    | {
      provider: { block: SchemaBlock };
      resource_schemas?: Record<string, { block: SchemaBlock }>;
      data_source_schemas?: Record<string, { block: SchemaBlock }>;
    }
    | undefined;
  if (!p) throw new Error(`${path} holds no schema for provider "${address}"`);
  return {
    provider: p.provider,
    resources: p.resource_schemas ?? {},
    dataSources: p.data_source_schemas ?? {},
    address,
  };
}

/** Terraform's meta-arguments, allowed on every resource or data block. */
const META = new Set(["count", "for_each", "depends_on", "provider", "lifecycle"]);
/** Blocks Terraform itself defines inside resources (not the provider). */
const META_BLOCKS = new Set(["lifecycle", "connection", "provisioner", "dynamic"]);

/** A near-miss suggestion (edit distance at most 2, or a shared prefix of 4). */
function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Where a block starts in its file, to point messages at a line. */
interface Located {
  file: string;
  lines: string[];
  /** 0-based line of the block header. */
  start: number;
}

/** The 1-based line at or after `from` where `name` is set or opened, or the header's. */
function lineOf(loc: Located, name: string): number {
  const re = new RegExp(`^\\s*(${name}\\s*[={]|dynamic\\s+"${name}"|${name}\\s*$)`);
  for (let i = loc.start + 1; i < loc.lines.length; i++) {
    if (/^(resource|data|provider|module|variable|output|locals|terraform)\b/.test(loc.lines[i])) {
      break;
    }
    if (re.test(loc.lines[i])) return i + 1;
  }
  return loc.start + 1;
}

function checkBlock(
  body: Hcl,
  schema: SchemaBlock,
  where: string,
  loc: Located,
  problems: string[],
  topLevel: boolean,
): void {
  const attrs = schema.attributes ?? {};
  const blocks = schema.block_types ?? {};
  const set = new Set<string>();
  const visit = (name: string, value: unknown, dynamic: boolean) => {
    set.add(name);
    const at = `${loc.file}:${lineOf(loc, name)}`;
    if (topLevel && META.has(name)) return;
    if (name in attrs) {
      const a = attrs[name];
      if (dynamic) {
        problems.push(
          `${at} ${where}: "${name}" is an argument, not a block; it cannot be dynamic`,
        );
      } else if (a.computed && !a.optional && !a.required) {
        problems.push(`${at} ${where}: "${name}" is read-only (computed by the provider)`);
      }
      return;
    }
    if (name in blocks) {
      const bt = blocks[name];
      const items = dynamic
        ? ((value as Hcl[]) ?? []).flatMap((d) => (d.content as Hcl[] | undefined) ?? [])
        : Array.isArray(value)
        ? (value as Hcl[])
        : [];
      if (!dynamic && !Array.isArray(value)) {
        problems.push(
          `${at} ${where}: "${name}" is a block; write ${name} { ... }, not ${name} = ...`,
        );
        return;
      }
      if (!dynamic && bt.max_items !== undefined && items.length > bt.max_items) {
        problems.push(
          `${at} ${where}: at most ${bt.max_items} "${name}" block(s), got ${items.length}`,
        );
      }
      for (const item of items) {
        checkBlock(item, bt.block, `${where}.${name}`, loc, problems, false);
      }
      return;
    }
    const hint = closest(name, [...Object.keys(attrs), ...Object.keys(blocks)]);
    problems.push(
      `${at} ${where}: "${name}" is not an argument or block of the provider` +
        (hint ? ` (did you mean "${hint}"?)` : ""),
    );
  };
  for (const [name, value] of Object.entries(body)) {
    if (name === "dynamic") {
      for (const [dname, dvalue] of Object.entries(value as Hcl)) visit(dname, dvalue, true);
    } else if (topLevel && META_BLOCKS.has(name)) {
      continue;
    } else {
      visit(name, value, false);
    }
  }
  for (const [name, a] of Object.entries(attrs)) {
    if (a.required && !set.has(name)) {
      problems.push(
        `${loc.file}:${loc.start + 1} ${where}: required argument "${name}" is not set`,
      );
    }
  }
  for (const [name, bt] of Object.entries(blocks)) {
    if ((bt.min_items ?? 0) > 0 && !set.has(name)) {
      problems.push(`${loc.file}:${loc.start + 1} ${where}: required block "${name}" is missing`);
    }
  }
}

/**
 * Returns the problems (empty when none) of every `oci_*` resource, data source and the
 * `oci` provider block in the `.tf` files of `dir` (not recursive: modules have no provider
 * blocks), each as `file:line address: message`.
 */
export async function providerSchemaProblems(
  dir: string,
  schema: ProviderSchema,
): Promise<string[]> {
  const problems: string[] = [];
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".tf"))
    .map((e) => e.name).sort();
  for (const name of names) {
    const file = join(dir, name);
    const text = await Deno.readTextFile(file);
    const lines = text.split("\n");
    const json = await parse(name, text) as Hcl;
    const header = (kind: string, type: string, label?: string) => {
      const re = label === undefined
        ? new RegExp(`^${kind}\\s+"${type}"\\s*\\{`)
        : new RegExp(`^${kind}\\s+"${type}"\\s+"${label}"\\s*\\{`);
      return Math.max(0, lines.findIndex((l) => re.test(l)));
    };
    for (
      const [kind, table, label] of [
        ["resource", schema.resources, "resource"],
        ["data", schema.dataSources, "data source"],
      ] as const
    ) {
      for (const [type, byName] of Object.entries((json[kind] as Hcl | undefined) ?? {})) {
        if (!type.startsWith("oci_")) continue;
        const s = table[type];
        for (const [rname, bodies] of Object.entries(byName as Hcl)) {
          const loc = { file, lines, start: header(kind, type, rname) };
          const addr = `${kind === "data" ? "data." : ""}${type}.${rname}`;
          if (!s) {
            problems.push(
              `${file}:${loc.start + 1} ${addr}: ${label} type "${type}" is not in the pinned ` +
                `provider schema (${schema.address}); extend terraform/schema/ rather than skip`,
            );
            continue;
          }
          for (const body of bodies as Hcl[]) checkBlock(body, s.block, addr, loc, problems, true);
        }
      }
    }
    for (
      const body of (((json.provider as Hcl | undefined) ?? {}).oci as Hcl[] | undefined) ?? []
    ) {
      const loc = { file, lines, start: header("provider", "oci") };
      const { alias: _alias, ...rest } = body;
      checkBlock(rest, schema.provider.block, 'provider "oci"', loc, problems, false);
    }
  }
  return problems;
}
