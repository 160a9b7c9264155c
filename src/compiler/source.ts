/**
 * Policy sources: YAML files parsed with positions, so every error can name file:line, and validated
 * against the published JSON Schemas with ajv.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { type Document, isMap, isNode, isScalar, LineCounter, parseDocument } from "yaml";
import { configSchema, profilesSchema, rulesSchema, serviceSchema, testsSchema } from "./schema";

export class Problems {
  readonly list: { where: string; message: string }[] = [];
  add(where: string, message: string): void {
    this.list.push({ where, message });
  }
  get any(): boolean {
    return this.list.length > 0;
  }
  format(): string {
    return this.list.map((p) => `${p.where}: ${p.message}`).join("\n");
  }
}

export interface SourceFile {
  /** Path relative to the policy root's parent, as shown in errors (`policies/rules/x.yaml`). */
  file: string;
  /** The path it was read from, for files it names beside it (a service's GraphQL schema). */
  path: string;
  data: unknown;
  /** `file:line` of the node at `path` (or of its nearest existing parent). */
  at(path: (string | number)[]): string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = {
  config: ajv.compile(configSchema),
  service: ajv.compile(serviceSchema),
  rules: ajv.compile(rulesSchema),
  profiles: ajv.compile(profilesSchema),
  tests: ajv.compile(testsSchema),
} satisfies Record<string, ValidateFunction>;
export type SourceKind = keyof typeof validators;

/** Policy files of a folder; `*.overrides.yaml` are the catalog importer's input, not policy (docs/design/catalogs.md). */
export function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => (f.endsWith(".yaml") || f.endsWith(".yml")) && !/\.overrides\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Reads, parses and schema-checks one file; returns null (with problems added) when it is unusable. */
export function readSource(path: string, kind: SourceKind, root: string, problems: Problems): SourceFile | null {
  const file = relative(root, path) || path;
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(path, "utf8"), { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const lineOf = (offset: number) => `${file}:${lines.linePos(offset).line}`;
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.add(lineOf(e.pos[0]), `YAML: ${e.message.split("\n")[0]}`);
    return null;
  }
  const data = doc.toJS();
  const at = (path: (string | number)[]) => lineOf(offsetOf(doc, path));
  const validate = validators[kind];
  if (!validate(data)) {
    for (const e of validate.errors ?? []) problems.add(at(errorPath(e)), schemaMessage(e));
    return null;
  }
  return { file, path, data, at };
}

function offsetOf(doc: Document, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    // A mapping entry is shown on the line of its key: its value may start on a later line (a block
    // mapping), or have no node at all (`key:` with an empty value), and the parent's line says neither.
    const parent = n > 0 ? doc.getIn(path.slice(0, n - 1), true) : undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === path[n - 1]);
      if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
    }
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}

/** Where an error is shown: an unknown key on its own line, not on its parent's first line. */
function errorPath(e: ErrorObject): (string | number)[] {
  const path = pointer(e.instancePath);
  if (e.keyword === "additionalProperties") path.push((e.params as { additionalProperty: string }).additionalProperty);
  return path;
}

function pointer(instancePath: string): (string | number)[] {
  if (instancePath === "") return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function schemaMessage(e: ErrorObject): string {
  const field = e.instancePath ? `"${e.instancePath.slice(1).replaceAll("/", ".")}"` : "the file";
  switch (e.keyword) {
    case "additionalProperties":
      return `${field} has an unknown key "${(e.params as { additionalProperty: string }).additionalProperty}": remove it or check its spelling`;
    case "required":
      return `${field} is missing "${(e.params as { missingProperty: string }).missingProperty}": add it`;
    case "enum":
      return `${field} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")}`;
    case "pattern":
      return `${field} must match ${(e.params as { pattern: string }).pattern}`;
    default:
      return `${field} ${e.message ?? "is invalid"}`;
  }
}
