/**
 * A GraphQL schema as catalog operations (docs/design/graphql.md): one per root field, the id
 * `query.<field>` / `mutation.<field>` (the key the overrides use), the name the adapter's prefix plus
 * the field (`graphql.mergePullRequest`). Mutations write, or delete when the name says so
 * (`deleteIssue`, `issueDelete`); query fields read. Arguments: the field's scalar and enum arguments,
 * and the scalar fields of its input objects as paths (`input.pullRequestId`), two input levels deep,
 * never through lists. Node only.
 */
import {
  buildClientSchema,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isScalarType,
  lexicographicSortSchema,
  printSchema,
} from "graphql";
import type { ArgType } from "../policy/types";
import { compactSchema, expandSchema } from "../protocols/graphql/compact";
import type { SourceOperation } from "./source";

export interface GraphqlNaming {
  /** The endpoint's path under the service (`/graphql`). */
  path: string;
  /** Prepended to the field for the action name: `graphql.` for GitHub (which has REST too), none for Linear. */
  prefix: string;
}

/** Input fields that never carry a decision: a client's own correlation id. */
const SKIPPED_ARGS = new Set(["clientMutationId"]);
/** Scalars whose values are JSON objects or lists, not one value a rule compares. */
const OPAQUE_SCALARS = /^JSON/;
const MAX_INPUT_DEPTH = 2;

export function graphqlOperations(schema: GraphQLSchema, naming: GraphqlNaming): SourceOperation[] {
  const out: SourceOperation[] = [];
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
  ] as const;
  for (const [type, root] of roots) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      const deletes = /^delete[A-Z]|Delete$/.test(field.name);
      const op: SourceOperation = {
        id: `${type}.${field.name}`,
        name: `${naming.prefix}${field.name}`,
        method: "POST",
        path: naming.path,
        graphql: `${type}.${field.name}`,
        kind: type === "query" ? "read" : deletes ? "delete" : "write",
        deprecated: field.deprecationReason !== null && field.deprecationReason !== undefined,
        description: (field.description ?? "").split("\n")[0]?.trim() ?? "",
      };
      const args = argsOf(field, type === "mutation" ? MAX_INPUT_DEPTH : 0);
      if (Object.keys(args).length > 0) op.args = args;
      out.push(op);
    }
  }
  return out;
}

function argsOf(field: GraphQLField<unknown, unknown>, depth: number): Record<string, ArgType> {
  const args: Record<string, ArgType> = {};
  const visit = (path: string, t: GraphQLInputType, left: number) => {
    const type = getNullableType(t);
    if (isListType(type)) return;
    const leaf = leafType(type);
    if (leaf !== null) {
      args[path] = leaf;
      return;
    }
    if (!isInputObjectType(type) || left === 0) return;
    for (const f of Object.values(type.getFields())) {
      if (!SKIPPED_ARGS.has(f.name)) visit(`${path}.${f.name}`, f.type, left - 1);
    }
  };
  for (const a of field.args) if (!SKIPPED_ARGS.has(a.name)) visit(a.name, a.type, depth);
  return args;
}

function leafType(t: GraphQLInputType): ArgType | null {
  if (isEnumType(t)) return "string";
  if (!isScalarType(t) || OPAQUE_SCALARS.test(t.name)) return null;
  if (t.name === "Int") return "integer";
  if (t.name === "Float") return "number";
  if (t.name === "Boolean") return "boolean";
  return "string";
}

/**
 * The schema file the import writes beside the catalog (`<name>.graphql`): SDL sorted by name, without
 * descriptions or deprecations, exactly what the compiler builds the bundle's introspection from.
 */
export function schemaText(schema: GraphQLSchema): string {
  const bare = buildClientSchema(expandSchema(compactSchema(schema)));
  return `${printSchema(lexicographicSortSchema(bare))}\n`;
}
