/**
 * The compact schema a bundle carries for a GraphQL endpoint, and its expansion into the introspection
 * result graphql-js's buildClientSchema reads. It holds exactly what validating and coercing a document
 * needs (types, fields, arguments with their defaults, input fields, enum values, interfaces, union
 * members, executable directives) and nothing else (descriptions, deprecations, type-system
 * directives). Arrays instead of introspection's objects and type references written as in SDL
 * (`[String!]!`): GitHub's schema is 0.3 MB this way against 0.9 MB as bare introspection JSON and 5 MB
 * as @octokit/graphql-schema ships it, and it is a string inside the bundle's JSON, so every quote of
 * it is escaped once more. The worker expands it once per isolate (./schema.ts).
 *
 *   { "q": "Query", "m": "Mutation", "s": null,
 *     "t": [["O", name, fields, interfaces], ["I", name, fields, interfaces], ["U", name, members],
 *           ["E", name, values], ["N", name, inputFields, oneOf?], ["S", name]],
 *     "d": [[name, locations, args]] }
 *   field: [name, type, args?]    arg / input field: [name, type, default?]   default: a GraphQL literal
 */
import {
  astFromValue,
  DirectiveLocation,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLSchema,
  type IntrospectionQuery,
  type IntrospectionTypeRef,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  isUnionType,
  print,
} from "graphql";

type Value = [string, string] | [string, string, string];
type Field = [string, string] | [string, string, Value[]];
type CompactType =
  | ["O" | "I", string, Field[], string[]]
  | ["U", string, string[]]
  | ["E", string, string[]]
  | ["N", string, Value[]]
  | ["N", string, Value[], 1]
  | ["S", string];
interface Compact {
  q: string;
  m: string | null;
  s: string | null;
  t: CompactType[];
  d: [string, string[], Value[]][];
}

const EXECUTABLE = new Set<string>([
  DirectiveLocation.QUERY,
  DirectiveLocation.MUTATION,
  DirectiveLocation.SUBSCRIPTION,
  DirectiveLocation.FIELD,
  DirectiveLocation.FRAGMENT_DEFINITION,
  DirectiveLocation.FRAGMENT_SPREAD,
  DirectiveLocation.INLINE_FRAGMENT,
  DirectiveLocation.VARIABLE_DEFINITION,
]);

/** The compact string of a (validated) schema: what the compiler writes into the bundle. */
export function compactSchema(schema: GraphQLSchema): string {
  const value = (v: GraphQLArgument | GraphQLInputField, withDefault = true): Value => {
    const d = withDefault ? defaultOf(v) : null;
    return d === null ? [v.name, String(v.type)] : [v.name, String(v.type), d];
  };
  const field = (f: GraphQLField<unknown, unknown>): Field =>
    f.args.length === 0 ? [f.name, String(f.type)] : [f.name, String(f.type), f.args.map((a) => value(a))];
  const types: CompactType[] = [];
  for (const t of Object.values(schema.getTypeMap())) {
    if (t.name.startsWith("__")) continue;
    if (isObjectType(t) || isInterfaceType(t)) {
      const fields = Object.values(t.getFields()).map(field);
      types.push([isObjectType(t) ? "O" : "I", t.name, fields, t.getInterfaces().map((i) => i.name)]);
    } else if (isUnionType(t)) types.push(["U", t.name, t.getTypes().map((m) => m.name)]);
    else if (isEnumType(t)) types.push(["E", t.name, t.getValues().map((v) => v.name)]);
    else if (isInputObjectType(t)) {
      const fields = Object.values(t.getFields()).map((f) => value(f));
      types.push(t.isOneOf ? ["N", t.name, fields, 1] : ["N", t.name, fields]);
    } else if (isScalarType(t)) types.push(["S", t.name]);
  }
  const compact: Compact = {
    q: schema.getQueryType()?.name ?? "Query",
    m: schema.getMutationType()?.name ?? null,
    s: schema.getSubscriptionType()?.name ?? null,
    t: types,
    d: schema
      .getDirectives()
      .filter((d) => d.locations.some((l) => EXECUTABLE.has(l)))
      .map((d) => [d.name, [...d.locations], d.args.map((a) => value(a, false))]),
  };
  return JSON.stringify(compact);
}

/**
 * A default value as a GraphQL literal, printed as introspection prints it. What a bundle holds is what
 * `introspectionFromSchema` gave (default options), so as there: none for a deprecated argument or input
 * field (default introspection leaves them out), and none for directive arguments (see the caller).
 */
function defaultOf(v: GraphQLArgument | GraphQLInputField): string | null {
  if (v.deprecationReason != null) return null;
  const ast = astFromValue(v.defaultValue, v.type);
  return ast ? print(ast) : null;
}

/** The introspection result a compact string stands for, as buildClientSchema reads it. */
export function expandSchema(text: string): IntrospectionQuery {
  const c = JSON.parse(text) as Compact;
  const refs = new Map<string, IntrospectionTypeRef>();
  const ref = (sdl: string): IntrospectionTypeRef => {
    let r = refs.get(sdl);
    if (r === undefined) {
      if (sdl.endsWith("!")) r = { kind: "NON_NULL", ofType: ref(sdl.slice(0, -1)) } as IntrospectionTypeRef;
      else if (sdl.startsWith("[")) r = { kind: "LIST", ofType: ref(sdl.slice(1, -1)) } as IntrospectionTypeRef;
      else r = { name: sdl } as IntrospectionTypeRef;
      refs.set(sdl, r);
    }
    return r;
  };
  const value = ([name, type, defaultValue]: Value) => ({ name, type: ref(type), defaultValue: defaultValue ?? null });
  const named = (name: string) => ({ name });
  const types = c.t.map((t) => {
    switch (t[0]) {
      case "O":
      case "I":
        return {
          kind: t[0] === "O" ? "OBJECT" : "INTERFACE",
          name: t[1],
          fields: t[2].map(([name, type, args]) => ({ name, type: ref(type), args: (args ?? []).map(value) })),
          interfaces: t[3].map(named),
        };
      case "U":
        return { kind: "UNION", name: t[1], possibleTypes: t[2].map(named) };
      case "E":
        return { kind: "ENUM", name: t[1], enumValues: t[2].map(named) };
      case "N":
        return { kind: "INPUT_OBJECT", name: t[1], inputFields: t[2].map(value), isOneOf: t[3] === 1 };
      default:
        return { kind: "SCALAR", name: t[1] };
    }
  });
  return {
    __schema: {
      queryType: named(c.q),
      mutationType: c.m === null ? null : named(c.m),
      subscriptionType: c.s === null ? null : named(c.s),
      types,
      directives: c.d.map(([name, locations, args]) => ({ name, locations, args: args.map(value) })),
    },
  } as unknown as IntrospectionQuery;
}
