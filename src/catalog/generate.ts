/**
 * A catalog from a source and its overrides: the operations the vendor describes, with what a person
 * decided laid over them, as the text of policies/services/<name>.yaml. Pure apart from nothing: the
 * caller reads the source and the files. Defaults are in docs/design/catalogs.md.
 */
import { stringify } from "yaml";
import type { BodyFormat, Kind, Risk } from "../policy/types";
import { type ActionEntry, type ActionOverride, globMatches, type Overrides } from "./overrides";
import type { SourceOperation } from "./source";

const RISK_BY_KIND: Record<Kind, Risk> = { read: "low", write: "medium", delete: "high", admin: "high" };

export interface Generated {
  /** Action name -> entry, sorted by name. */
  actions: Record<string, ActionEntry>;
  /** Override keys that name no source operation: a typo, or an operation the vendor removed. */
  unused: string[];
}

export function generate(ops: SourceOperation[], o: Overrides): Generated {
  const entries: [string, ActionEntry][] = [];
  const used = new Set<string>();
  for (const op of ops) {
    const over = o.actions?.[op.id];
    if (over) used.add(op.id);
    entries.push(entryFor(op, over, o));
  }
  for (const [name, entry] of Object.entries(o.extra ?? {})) entries.push([name, entry]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const actions: Record<string, ActionEntry> = {};
  for (const [name, entry] of entries) {
    if (Object.hasOwn(actions, name)) throw new Error(`two operations are named ${name}: rename one in the overrides`);
    actions[name] = entry;
  }
  const unused = Object.keys(o.actions ?? {}).filter((id) => !used.has(id));
  return { actions, unused };
}

function entryFor(op: SourceOperation, over: ActionOverride | undefined, o: Overrides): [string, ActionEntry] {
  const { name: rename, ...decided } = over ?? {};
  const name = rename ?? op.name;
  const path = greedyPath(op.path, o.greedy ?? []);
  const labelled = labelsFor(name, o);
  const kind = decided.kind ?? labelled.kind ?? op.kind ?? kindOf(op.method);
  const entry: ActionEntry = {
    method: op.method,
    path,
    kind,
    risk: labelled.risk ?? RISK_BY_KIND[kind],
  };
  if (labelled.data.length > 0) entry.data = labelled.data;
  const resource = resourceFor(path, o);
  if (resource !== undefined) entry.resource = resource;
  const args = argsFor(op, o);
  if (args) entry.args = args;
  if (labelled.same_effect_as.length > 0) entry.same_effect_as = labelled.same_effect_as;
  if (labelled.body_format) entry.body_format = labelled.body_format;
  if (op.graphql) entry.graphql = op.graphql;
  if (op.mcp) entry.mcp = op.mcp;
  if (op.description) entry.description = op.description;
  if (op.deprecated) entry.deprecated = true;
  // A person's decision wins over every default and every label rule.
  return [name, { ...entry, ...decided }];
}

const kindOf = (method: string): Kind => (method === "GET" ? "read" : method === "DELETE" ? "delete" : "write");

/** `{x}` as the last segment becomes `{x+}` when the upstream lets x span segments. */
function greedyPath(path: string, greedy: string[]): string {
  const segs = path.split("/");
  const last = segs[segs.length - 1] ?? "";
  const m = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(last);
  if (m && greedy.includes(m[1] ?? "")) segs[segs.length - 1] = `{${m[1]}+}`;
  return segs.join("/");
}

function labelsFor(name: string, o: Overrides) {
  const out = {
    data: [] as string[],
    risk: undefined as Risk | undefined,
    kind: undefined as Kind | undefined,
    body_format: undefined as BodyFormat | undefined,
  };
  const same: string[] = [];
  for (const rule of o.labels ?? []) {
    if (!globMatches(rule.match, name)) continue;
    for (const d of rule.data ?? []) if (!out.data.includes(d)) out.data.push(d);
    for (const t of rule.same_effect_as ?? []) if (t !== name && !same.includes(t)) same.push(t);
    if (rule.risk) out.risk = rule.risk;
    if (rule.kind) out.kind = rule.kind;
    if (rule.body_format) out.body_format = rule.body_format;
  }
  return { ...out, same_effect_as: same };
}

/** The longest `resources` prefix of the path whose template names only parameters the path has. */
function resourceFor(path: string, o: Overrides): string | undefined {
  const params = new Set([...path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\+?\}/g)].map((m) => m[1]));
  let best: { prefix: string; resource: string } | undefined;
  for (const r of o.resources ?? []) {
    if (!underPrefix(path, r.prefix)) continue;
    const names = [...r.resource.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
    if (!names.every((n) => params.has(n))) continue;
    if (!best || r.prefix.length > best.prefix.length) best = r;
  }
  return best?.resource;
}

/** Segment by segment; a `{param}` of the prefix matches any parameter of the path. */
function underPrefix(path: string, prefix: string): boolean {
  const p = path.split("/");
  const q = prefix.split("/");
  if (q.length > p.length) return false;
  return q.every((seg, i) => seg === p[i] || (seg.startsWith("{") && (p[i] ?? "").startsWith("{")));
}

function argsFor(op: SourceOperation, o: Overrides): ActionEntry["args"] | undefined {
  if (!op.args || Object.keys(op.args).length === 0) return undefined;
  const argsIn = o.service.args_in ?? ["body"];
  const hasBody = op.method !== "GET" && op.method !== "DELETE";
  // Arguments come from where the service reads them: a GET on a body-only service declares none.
  if (hasBody ? !argsIn.includes("body") : !argsIn.includes("query")) return undefined;
  return op.args;
}

/** The whole <name>.yaml: the header comment, the service-level keys, the actions. */
export function catalogText(g: Generated, o: Overrides, origin: string): string {
  const header = (o.header ?? "").trimEnd().split("\n");
  const lines = [
    "# yaml-language-server: $schema=../schema/service.schema.json",
    `# Generated by \`firebreak catalog import ${o.service.service}\` from ${origin}: edit`,
    `# ${o.service.service}.overrides.yaml, not this file (docs/design/catalogs.md).`,
    ...header.filter((l) => l !== "").map((l) => `# ${l}`),
  ];
  const body = stringify({ ...o.service, actions: g.actions }, { lineWidth: 0, aliasDuplicateObjects: false });
  return `${lines.join("\n")}\n${body}`;
}
