/**
 * A service's GraphQL endpoint (docs/design/graphql.md): the schema file beside the service, the root
 * fields its actions map, the limits, and the compact introspection string the worker builds its
 * schema from. Node only.
 *
 *   graphql: { path: /graphql, schema: github.graphql, max_depth: 20, max_fields: 1000 }
 *   actions:
 *     graphql.mergePullRequest: { method: POST, path: /graphql, graphql: mutation.mergePullRequest,
 *                                 args: { input.pullRequestId: string }, ... }
 *
 * A declared argument is a path through the field's arguments and input objects; a resource `{param}`
 * is such a path too (`repo:{owner}/{name}`). Every path must end at a scalar or enum of the declared
 * type, so the worker reads nothing the schema does not promise.
 */

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionSpec, ArgType, GraphqlEndpoint, Kind, ResourcePart, Risk } from "../policy/types";
import { actionSpecOf } from "./action-spec";
import { type EndpointSchema, endpointSchema } from "./graphql-schema";
import { type FieldView, nullable, type SchemaView } from "./graphql-view";
import type { Problems, SourceFile } from "./source";

export interface GraphqlData {
  path: string;
  schema: string;
  max_depth?: number;
  max_fields?: number;
}

/** What an action of a GraphQL endpoint says in YAML: `graphql: mutation.mergePullRequest` (or a list). */
export interface GraphqlActionData {
  graphql?: string | string[];
  path: string;
  kind: Kind;
  risk: Risk;
  data?: string[];
  resource?: string;
  args?: Record<string, ArgType>;
  same_effect_as?: string[];
  forbidden?: string;
}

export const DEFAULT_MAX_DEPTH = 20;
export const DEFAULT_MAX_FIELDS = 1000;
const INTROSPECTION_FIELDS = new Set(["__schema", "__type"]);

/** The parts of a resource template whose `{param}`s are argument paths of a GraphQL field. */
export function graphqlResource(tpl: string, fail: (m: string) => void): { parts: ResourcePart[]; params: string[] } {
  const parts: ResourcePart[] = [];
  const params: string[] = [];
  for (const piece of tpl.split(/(\{[^}]*\})/)) {
    if (piece === "") continue;
    const m = /^\{(args\.)?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}$/.exec(piece);
    const name = m?.[2];
    if (name === undefined) {
      if (piece.includes("{") || piece.includes("}")) fail(`"${piece}" in resource is not {argument.path}`);
      parts.push({ t: piece });
    } else if (m?.[1]) {
      parts.push({ arg: name });
    } else {
      parts.push({ param: name });
      if (!params.includes(name)) params.push(name);
    }
  }
  return { parts, params };
}

/**
 * The endpoint of a service, and its actions checked against the schema. `entries` are the service's
 * actions as written; `first` is the bundle index of the first of them.
 */
export function compileGraphql(
  g: GraphqlData | undefined,
  src: SourceFile,
  entries: [string, GraphqlActionData][],
  first: number,
  problems: Problems,
): GraphqlEndpoint | null {
  const mapped = entries.filter(([, a]) => a.graphql !== undefined);
  if (g === undefined) {
    for (const [key] of mapped)
      problems.add(
        src.at(["actions", key, "graphql"]),
        "the service has no graphql endpoint: add graphql: or remove this",
      );
    return null;
  }
  const loaded = loadSchema(g, src, problems);
  if (loaded === null) return null;
  const { view } = loaded;
  const endpoint: GraphqlEndpoint = {
    path: g.path,
    query: {},
    mutation: {},
    schema: loaded.compact,
    max_depth: g.max_depth ?? DEFAULT_MAX_DEPTH,
    max_fields: g.max_fields ?? DEFAULT_MAX_FIELDS,
    introspection: false,
  };
  const seen = new Map<string, string>();
  entries.forEach(([key, a], i) => {
    if (a.graphql === undefined) return;
    const at = (...p: (string | number)[]) => src.at(["actions", key, ...p]);
    if (a.path !== g.path) problems.add(at("path"), `a GraphQL action's path is the endpoint's (${g.path})`);
    const fields = Array.isArray(a.graphql) ? a.graphql : [a.graphql];
    const defs: (FieldView | null)[] = [];
    fields.forEach((ref, j) => {
      const where = Array.isArray(a.graphql) ? at("graphql", j) : at("graphql");
      const [type, name = ""] = ref.split(".") as ["query" | "mutation", string];
      const def = view.root(type, name);
      const meta = type === "query" && INTROSPECTION_FIELDS.has(name);
      if (!meta && def === undefined) {
        problems.add(where, `the schema has no ${type} field "${name}" (${g.schema})`);
        return;
      }
      const other = seen.get(ref);
      if (other !== undefined) problems.add(where, `${ref} is already the action ${other}: one action per field`);
      seen.set(ref, key);
      endpoint[type][name] = first + i;
      if (meta) endpoint.introspection = true;
      defs.push(def ?? null);
    });
    checkPaths(a, defs, view, at, problems);
  });
  return endpoint;
}

function loadSchema(g: GraphqlData, src: SourceFile, problems: Problems): EndpointSchema | null {
  const file = join(dirname(src.path), g.schema);
  let sdl: string;
  try {
    sdl = readFileSync(file, "utf8");
  } catch {
    problems.add(src.at(["graphql", "schema"]), `cannot read the schema ${g.schema} beside ${src.file}`);
    return null;
  }
  const built = endpointSchema(file, sdl);
  if ("error" in built) {
    problems.add(src.at(["graphql", "schema"]), `${g.schema}: ${built.error}`);
    return null;
  }
  return built;
}

/** Declared arguments and resource params: paths to a scalar of the declared type, for every field. */
function checkPaths(
  a: GraphqlActionData,
  defs: (FieldView | null)[],
  view: SchemaView,
  at: (...p: (string | number)[]) => string,
  problems: Problems,
): void {
  for (const def of defs) {
    for (const [path, type] of Object.entries(a.args ?? {})) {
      const problem = pathProblem(def, path, type, view);
      if (problem !== null) problems.add(at("args", path), problem);
    }
    if (a.resource === undefined) continue;
    const { parts } = graphqlResource(a.resource, (m) => problems.add(at("resource"), m));
    for (const part of parts) {
      if ("arg" in part && !Object.hasOwn(a.args ?? {}, part.arg))
        problems.add(at("resource"), `resource uses {args.${part.arg}} but args does not declare it: declare it`);
      if ("param" in part) {
        const problem = pathProblem(def, part.param, "string", view);
        if (problem !== null) problems.add(at("resource"), problem);
      }
    }
  }
}

/** Null when `path` names a scalar argument (or input field) of `def` that reads as `type`. */
export function pathProblem(def: FieldView | null, path: string, type: ArgType, view: SchemaView): string | null {
  if (def === null) return `${path}: introspection fields have no declared arguments`;
  const [head = "", ...rest] = path.split(".");
  let t = def.args.get(head);
  if (t === undefined) return `${def.name} has no argument "${head}"`;
  for (const seg of rest) {
    const named = nullable(t);
    const fields = view.inputFields(named);
    if (fields === undefined) return `${path}: ${t} has no field "${seg}" (not an input object)`;
    t = fields.get(seg);
    if (t === undefined) return `${path}: ${named} has no field "${seg}"`;
  }
  const leaf = nullable(t);
  const kind = view.kind(leaf);
  if (kind !== "S" && kind !== "E") return `${path} is ${t} in the schema, not a scalar: declare one of its fields`;
  const want = readsAs(leaf, kind === "E");
  if (want !== null && want !== type && !(want === "integer" && type === "number"))
    return `${path} is ${t} in the schema: declare it as ${want}`;
  return null;
}

/** The declared type a schema scalar reads as; null for a custom scalar (checked per request). */
function readsAs(name: string, isEnum: boolean): ArgType | null {
  if (isEnum || name === "String" || name === "ID") return "string";
  if (name === "Int") return "integer";
  if (name === "Float") return "number";
  if (name === "Boolean") return "boolean";
  return null;
}

/** The ActionSpec of a GraphQL action: not in the route trie; its params are the resource's argument paths. */
export function graphqlActionSpec(
  service: string,
  key: string,
  a: GraphqlActionData,
  at: (...p: string[]) => string,
  problems: Problems,
): ActionSpec {
  const resource = a.resource === undefined ? null : graphqlResource(a.resource, () => {});
  const own = {
    method: ["POST" as const],
    params: resource?.params ?? [],
    resource: resource?.parts ?? null,
    body_format: null,
  };
  return actionSpecOf(service, key, a, own, at, problems);
}
