/**
 * What the compiler reads of a GraphQL schema to check an endpoint's actions, read from the compact
 * string the bundle carries (src/protocols/graphql/compact.ts): the root fields with their arguments,
 * the input objects' fields, and which named types are scalars or enums. Types are SDL strings
 * (`[String!]!`), as graphql-js prints them. Reading it costs a JSON.parse, where building a graphql-js
 * schema from it costs a quarter of a second in a fresh process.
 */

type Value = [string, string] | [string, string, string];
type Field = [string, string] | [string, string, Value[]];
type CompactType = [string, string, ...unknown[]];

export interface FieldView {
  name: string;
  /** Argument name -> its type. */
  args: Map<string, string>;
}

export interface SchemaView {
  /** A root field (`query` for anything but `mutation`, as `ref.split(".")` gives). */
  root(type: string, name: string): FieldView | undefined;
  /** Input field name -> type, when `type` names an input object (not a list, not non-null). */
  inputFields(type: string): Map<string, string> | undefined;
  /** `S` (scalar), `E` (enum), `O`, `I`, `U` or `N` (input object) for a named type; undefined otherwise. */
  kind(type: string): string | undefined;
}

export function schemaView(compact: string): SchemaView {
  const c = JSON.parse(compact) as { q: string; m: string | null; t: CompactType[] };
  const kinds = new Map<string, string>();
  const objects = new Map<string, Field[]>();
  const inputs = new Map<string, Map<string, string>>();
  for (const t of c.t) {
    const [kind, name] = t;
    kinds.set(name, kind);
    if (kind === "O") objects.set(name, t[2] as Field[]);
    if (kind === "N") inputs.set(name, new Map((t[2] as Value[]).map((v) => [v[0], v[1]])));
  }
  const roots = new Map<string, Map<string, FieldView>>();
  for (const [type, name] of [
    ["query", c.q],
    ["mutation", c.m],
  ] as const) {
    const fields = name === null ? undefined : objects.get(name);
    if (fields === undefined) continue;
    const byName = new Map<string, FieldView>();
    for (const f of fields) byName.set(f[0], { name: f[0], args: new Map((f[2] ?? []).map((a) => [a[0], a[1]])) });
    roots.set(type, byName);
  }
  return {
    root: (type, name) => roots.get(type === "mutation" ? "mutation" : "query")?.get(name),
    inputFields: (type) => inputs.get(type),
    kind: (type) => kinds.get(type),
  };
}

/** graphql-js's getNullableType on an SDL type string. */
export function nullable(type: string): string {
  return type.endsWith("!") ? type.slice(0, -1) : type;
}
