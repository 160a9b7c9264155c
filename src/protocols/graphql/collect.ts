/**
 * What an operation executes at its root, the way a GraphQL server works it out (the spec's
 * CollectFields): aliases, named and inline fragments, `@skip` / `@include` evaluated with the coerced
 * variables, fields grouped by response key. And the size limits, counted over the document as a
 * server would expand it (every fragment spread expanded where it is used). Pure.
 */
import {
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLIncludeDirective,
  type GraphQLObjectType,
  type GraphQLSchema,
  GraphQLSkipDirective,
  getDirectiveValues,
  isAbstractType,
  Kind,
  type OperationDefinitionNode,
  print,
  type SelectionSetNode,
} from "graphql";
import { type Result, refuse } from "../../core/result";

/** The operation to execute: the one named `operationName`, else the document's only one. */
export function operationOf(
  doc: DocumentNode,
  operationName: string | null,
): Result<{ operation: OperationDefinitionNode }> {
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName === null) {
    if (ops.length === 1 && ops[0]) return { ok: true, operation: ops[0] };
    return refuse("graphql.operation", `${ops.length} operations and no operationName`);
  }
  const named = ops.filter((o) => o.name?.value === operationName);
  if (named.length === 1 && named[0]) return { ok: true, operation: named[0] };
  return refuse("graphql.operation", `${named.length} operations named ${operationName.slice(0, 64)}`);
}

export function fragmentsOf(doc: DocumentNode): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) out.set(d.name.value, d);
  return out;
}

/**
 * Deepest field nesting and number of fields (aliases and `__typename` included) of every operation of
 * the document, fragments expanded where they are spread, `@skip`/`@include` ignored: the server
 * validates and may execute all of it. Stops counting as soon as a limit is passed, so a document of
 * fragments that multiply each other costs no more than `maxFields` steps.
 */
export function limitProblem(
  doc: DocumentNode,
  fragments: Map<string, FragmentDefinitionNode>,
  maxDepth: number,
  maxFields: number,
): string | null {
  let fields = 0;
  const walk = (set: SelectionSetNode, depth: number, path: Set<string>): string | null => {
    for (const sel of set.selections) {
      let problem: string | null = null;
      if (sel.kind === Kind.FIELD) {
        if (++fields > maxFields) return `more than ${maxFields} fields`;
        if (depth > maxDepth) return `deeper than ${maxDepth}`;
        if (sel.selectionSet) problem = walk(sel.selectionSet, depth + 1, path);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        problem = walk(sel.selectionSet, depth, path);
      } else {
        const name = sel.name.value;
        const fragment = fragments.get(name);
        // Unknown and cyclic spreads are validation errors; stop here so the walk ends.
        if (fragment === undefined || path.has(name)) continue;
        path.add(name);
        problem = walk(fragment.selectionSet, depth, path);
        path.delete(name);
      }
      if (problem !== null) return problem;
    }
    return null;
  };
  for (const d of doc.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    const problem = walk(d.selectionSet, 1, new Set());
    if (problem !== null) return problem;
  }
  return null;
}

/** One root response key: the field and every node the server merges into its one execution. */
export interface RootField {
  key: string;
  name: string;
  nodes: FieldNode[];
}

/**
 * The root fields of the operation, by response key, in execution order. Two nodes under one key
 * execute once, with the first node's arguments: they must be the same field with the same
 * arguments, else the document is ambiguous (validation says the same; this does not rely on it).
 */
export function collectRootFields(
  schema: GraphQLSchema,
  root: GraphQLObjectType,
  operation: OperationDefinitionNode,
  fragments: Map<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
): Result<{ fields: RootField[] }> {
  const byKey = new Map<string, RootField>();
  const visited = new Set<string>();
  const applies = (typeName: string | undefined): boolean => {
    if (typeName === undefined || typeName === root.name) return true;
    const type = schema.getType(typeName);
    return type !== undefined && type !== null && isAbstractType(type) && schema.isSubType(type, root);
  };
  const walk = (set: SelectionSetNode): string | null => {
    for (const sel of set.selections) {
      const skipped = isSkipped(sel.directives, variables);
      if (skipped === null) return `@skip/@include on ${describe(sel)} has no value for its variable`;
      if (skipped) continue;
      if (sel.kind === Kind.FIELD) {
        const key = sel.alias?.value ?? sel.name.value;
        const group = byKey.get(key);
        if (group === undefined) byKey.set(key, { key, name: sel.name.value, nodes: [sel] });
        else if (group.name !== sel.name.value || argsText(group.nodes[0]) !== argsText(sel)) {
          return `response key ${key} names two different fields or arguments`;
        } else group.nodes.push(sel);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        if (!applies(sel.typeCondition?.name.value)) continue;
        const problem = walk(sel.selectionSet);
        if (problem !== null) return problem;
      } else {
        const name = sel.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = fragments.get(name);
        if (fragment === undefined) return `unknown fragment ${name}`;
        if (!applies(fragment.typeCondition.name.value)) continue;
        const problem = walk(fragment.selectionSet);
        if (problem !== null) return problem;
      }
    }
    return null;
  };
  const problem = walk(operation.selectionSet);
  if (problem !== null) {
    return refuse(problem.startsWith("@") ? "graphql.variables" : "graphql.ambiguous", problem.slice(0, 200));
  }
  return { ok: true, fields: [...byKey.values()] };
}

/**
 * Whether `@skip` / `@include` leave the selection out; null when a directive's `if` is a variable
 * with no value (neither sent nor defaulted): servers differ on what that means.
 */
function isSkipped(directives: readonly DirectiveNode[] | undefined, variables: Record<string, unknown>) {
  if (directives === undefined || directives.length === 0) return false;
  for (const d of directives) {
    if (d.name.value !== "skip" && d.name.value !== "include") continue;
    for (const arg of d.arguments ?? []) {
      if (arg.value.kind === Kind.VARIABLE && !Object.hasOwn(variables, arg.value.name.value)) return null;
    }
  }
  const node = { directives } as FieldNode;
  try {
    if (getDirectiveValues(GraphQLSkipDirective, node, variables)?.if === true) return true;
    const include = getDirectiveValues(GraphQLIncludeDirective, node, variables);
    return include !== undefined && include.if !== true;
  } catch {
    return null;
  }
}

const argsText = (node: FieldNode | undefined): string =>
  (node?.arguments ?? []).map((a) => `${a.name.value}:${print(a.value)}`).join(",");

function describe(sel: SelectionSetNode["selections"][number]): string {
  if (sel.kind === Kind.FIELD) return sel.name.value;
  if (sel.kind === Kind.FRAGMENT_SPREAD) return `...${sel.name.value}`;
  return "an inline fragment";
}
