/**
 * A GraphQL request -> the steps it asks for: one ProtocolCall per root field of the operation the
 * server will execute. The stages, each refusing with its own reason:
 *
 *   1. body       one JSON object { query, variables, operationName } (no batch, no persisted id)
 *   2. parse      graphql-js, bounded in tokens
 *   3. operation  the one named by operationName, else the only one; subscriptions refused
 *   4. limits     depth and field count of every operation, fragments expanded
 *   5. validate   against the service's schema (the rules in ./rules.ts)
 *   6. variables  coerced against the operation's definitions, as the server coerces them
 *   7. collect    the root fields by response key (aliases, fragments, @skip/@include)
 *   8. classify   each root field -> its action (`query` / `mutation` map), arguments and params
 *
 * Mutation fields run one after another on the upstream and query fields in parallel; either way each
 * is one step, so classification does not depend on it. Pure apart from the per-isolate schema cache.
 */
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLObjectType,
  getArgumentValues,
  getVariableValues,
  parse,
  validate,
} from "graphql";
import { type Result, refuse } from "../../core/result";
import type { ActionSpec, GraphqlEndpoint } from "../../policy/types";
import type { ProtocolCall } from "../types";
import { declaredArgs } from "./args";
import { readGraphqlBody } from "./body";
import { collectRootFields, fragmentsOf, limitProblem, operationOf, type RootField } from "./collect";
import { VALIDATION_RULES } from "./rules";
import { schemaOf } from "./schema";

export interface GraphqlOperation {
  type: "query" | "mutation";
  name: string | null;
}

/** Tokens a document may have per allowed field: room for arguments, aliases and fragments. */
const TOKENS_PER_FIELD = 30;

/** Fields at the root that read the schema, not data: allowed only where the endpoint says so. */
const INTROSPECTION = new Set(["__schema", "__type"]);

export function graphqlCalls(
  endpoint: GraphqlEndpoint,
  actions: ActionSpec[],
  body: string,
  contentType: string | null,
): Result<{ calls: ProtocolCall[]; operation: GraphqlOperation }> {
  const read = readGraphqlBody(body, contentType);
  if (!read.ok) return read;
  const { query, variables, operationName } = read.request;
  if (operationName === "") return refuse("graphql.operation", "operationName is empty");

  let doc: DocumentNode;
  try {
    doc = parse(query, { noLocation: true, maxTokens: Math.max(1000, endpoint.max_fields * TOKENS_PER_FIELD) });
  } catch (e) {
    const message = e instanceof GraphQLError ? e.message : "parse failed";
    return refuse(message.includes("tokens") ? "graphql.too_large" : "graphql.syntax", message.slice(0, 200));
  }
  const selected = operationOf(doc, operationName);
  if (!selected.ok) return selected;
  const { operation } = selected;
  if (operation.operation === "subscription") return refuse("graphql.subscription", operation.name?.value);

  const fragments = fragmentsOf(doc);
  const limit = limitProblem(doc, fragments, endpoint.max_depth, endpoint.max_fields);
  if (limit !== null) return refuse("graphql.too_large", limit);

  const schema = schemaOf(endpoint);
  const errors = validate(schema, doc, VALIDATION_RULES, { maxErrors: 1 });
  if (errors.length > 0) return refuse("graphql.invalid", errors[0]?.message.slice(0, 200));

  const root = operation.operation === "mutation" ? schema.getMutationType() : schema.getQueryType();
  if (!root) return refuse("graphql.invalid", `the schema has no ${operation.operation} type`);
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 1 });
  if (coerced.errors) return refuse("graphql.variables", coerced.errors[0]?.message.slice(0, 200));

  const collected = collectRootFields(schema, root, operation, fragments, coerced.coerced);
  if (!collected.ok) return collected;
  const type = operation.operation;
  const calls: ProtocolCall[] = [];
  for (const field of collected.fields) {
    if (field.name === "__typename") continue;
    const call = callOf(endpoint, actions, root, type, field, coerced.coerced);
    if (!call.ok) return call;
    calls.push(call.call);
  }
  return { ok: true, calls, operation: { type, name: operation.name?.value ?? null } };
}

function callOf(
  endpoint: GraphqlEndpoint,
  actions: ActionSpec[],
  root: GraphQLObjectType,
  type: "query" | "mutation",
  field: RootField,
  variables: Record<string, unknown>,
): Result<{ call: ProtocolCall }> {
  const at = field.key === field.name ? field.name : `${field.key}: ${field.name}`;
  if (INTROSPECTION.has(field.name) && !endpoint.introspection) return refuse("graphql.introspection", at);
  const map = type === "mutation" ? endpoint.mutation : endpoint.query;
  const index = Object.hasOwn(map, field.name) ? map[field.name] : undefined;
  const action = index === undefined ? undefined : actions[index];
  if (index === undefined || action === undefined) return refuse("action.unknown", `${type} ${field.name}`);
  let values: Record<string, unknown> = {};
  const def = root.getFields()[field.name];
  const node = field.nodes[0];
  // __schema and __type are not fields of the root type: their arguments are not declared arguments.
  if (def !== undefined && node !== undefined) {
    try {
      values = getArgumentValues(def, node, variables);
    } catch (e) {
      return refuse("graphql.variables", e instanceof Error ? e.message.slice(0, 200) : at);
    }
  }
  const read = declaredArgs(action, values);
  if (!read.ok) return read;
  return { ok: true, call: { action: index, args: read.args, params: read.params, at } };
}
