/**
 * Policy sources: YAML files parsed with positions, so every error can name file:line, and validated
 * against the published JSON Schemas with ajv. Plain block YAML (nearly every policy file) is read by
 * ./yaml-block.ts; anything else, and every YAML error, by the `yaml` package.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import {
  type Document,
  isCollection,
  isMap,
  isNode,
  isScalar,
  LineCounter,
  type Pair,
  parseDocument,
  YAMLMap,
} from "yaml";
import { configSchema, profilesSchema, rulesSchema, serviceSchema, testsSchema } from "./schema";
import { readBlockYaml } from "./yaml-block";

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
const schemas = {
  config: configSchema,
  service: serviceSchema,
  rules: rulesSchema,
  profiles: profilesSchema,
  tests: testsSchema,
};
export type SourceKind = keyof typeof schemas;
const validators = new Map<SourceKind, ValidateFunction>();

/** Each schema is compiled when a file of its kind is first read: `compile` never reads tests. */
function validatorOf(kind: SourceKind): ValidateFunction {
  let validate = validators.get(kind);
  if (validate === undefined) {
    validate = ajv.compile(schemas[kind]);
    validators.set(kind, validate);
  }
  return validate;
}

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
  const parsed = parseYaml(readFileSync(path, "utf8"));
  if (!parsed.ok) {
    for (const e of parsed.errors) problems.add(`${file}:${e.line}`, `YAML: ${e.message}`);
    return null;
  }
  const { data } = parsed;
  const at = (path: (string | number)[]) => `${file}:${parsed.lineOf(path)}`;
  const validate = validatorOf(kind);
  if (!validate(data)) {
    for (const e of validate.errors ?? []) problems.add(at(errorPath(e)), schemaMessage(e));
    return null;
  }
  return { file, path, data, at };
}

export type ParsedYaml =
  | { ok: true; data: unknown; lineOf(path: (string | number)[]): number }
  | { ok: false; errors: { line: number; message: string }[] };

/** A policy file's data and lines: the fast reader when the file is plain block YAML, else `yaml`'s document. */
export function parseYaml(text: string): ParsedYaml {
  const block = readBlockYaml(text);
  return block === null ? parseYamlDocument(text) : { ok: true, ...block };
}

/** The `yaml` package's document: any YAML, every error with its line. */
export function parseYamlDocument(text: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => ({
      line: lines.linePos(e.pos[0]).line,
      message: e.message.split("\n")[0] ?? "",
    }));
    return { ok: false, errors };
  }
  return { ok: true, data: doc.toJS(), lineOf: (path) => lines.linePos(offsetOf(doc, path)).line };
}

function offsetOf(doc: Document, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    // A mapping entry is shown on the line of its key: its value may start on a later line (a block
    // mapping), or have no node at all (`key:` with an empty value), and the parent's line says neither.
    const parent = n > 0 ? nodeAt(doc, path, n - 1) : undefined;
    if (isMap(parent)) {
      const pair = pairOf(parent, path[n - 1] as string | number);
      if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
    }
    const node = nodeAt(doc, path, n);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}

/**
 * `doc.getIn(path.slice(0, length), true)`, with each mapping's keys looked up in an index: every
 * rule and action names its own line, and a catalog's `actions` mapping has thousands of keys.
 */
function nodeAt(doc: Document, path: (string | number)[], length: number): unknown {
  let node: unknown = doc.contents;
  for (let i = 0; i < length; i++) {
    if (!isCollection(node)) return undefined;
    const key = path[i] as string | number;
    // Subclasses of YAMLMap (`!!set`) read keys their own way: ask them.
    node = node.constructor === YAMLMap ? (pairOf(node as YAMLMap, key)?.value ?? undefined) : node.get(key, true);
  }
  return node;
}

const keyIndexes = new WeakMap<YAMLMap, Map<unknown, Pair>>();

/** The first entry whose key (a scalar's value) is `key`, as YAMLMap's own lookup finds it. */
function pairOf(map: YAMLMap, key: string | number): Pair | undefined {
  let index = keyIndexes.get(map);
  if (index === undefined) {
    index = new Map();
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? pair.key.value : pair.key;
      if (!index.has(k)) index.set(k, pair as Pair);
    }
    keyIndexes.set(map, index);
  }
  return index.get(key);
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
