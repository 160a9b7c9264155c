/**
 * The compact introspection JSON a bundle carries for a GraphQL endpoint: exactly what graphql-js's
 * buildClientSchema reads, nothing it does not (descriptions, deprecation, the introspection types,
 * type-system directives, the `kind` of named type references). GitHub's schema is 1 MB this way
 * against 5 MB as @octokit/graphql-schema ships it; the worker parses it once per isolate.
 */
import {
  DirectiveLocation,
  type GraphQLSchema,
  type IntrospectionQuery,
  type IntrospectionTypeRef,
  introspectionFromSchema,
} from "graphql";

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

type Ref = { kind: "LIST" | "NON_NULL"; ofType: Ref } | { name: string };

const ref = (t: IntrospectionTypeRef): Ref =>
  t.kind === "LIST" || t.kind === "NON_NULL" ? { kind: t.kind, ofType: ref(t.ofType) } : { name: t.name };

interface Value {
  name: string;
  type: IntrospectionTypeRef;
  defaultValue?: string | null;
}
const value = (v: Value) =>
  v.defaultValue === null || v.defaultValue === undefined
    ? { name: v.name, type: ref(v.type) }
    : { name: v.name, type: ref(v.type), defaultValue: v.defaultValue };

export function compactIntrospection(schema: GraphQLSchema): string {
  const full = introspectionFromSchema(schema, { descriptions: false, specifiedByUrl: false, oneOf: true });
  const s = full.__schema;
  const types = s.types
    .filter((t) => !t.name.startsWith("__"))
    .map((t) => {
      switch (t.kind) {
        case "OBJECT":
        case "INTERFACE":
          return {
            kind: t.kind,
            name: t.name,
            fields: t.fields.map((f) => ({ name: f.name, args: f.args.map(value), type: ref(f.type) })),
            interfaces: t.interfaces.map((i) => ({ name: i.name })),
          };
        case "UNION":
          return { kind: t.kind, name: t.name, possibleTypes: t.possibleTypes.map((p) => ({ name: p.name })) };
        case "ENUM":
          return { kind: t.kind, name: t.name, enumValues: t.enumValues.map((v) => ({ name: v.name })) };
        case "INPUT_OBJECT":
          return t.isOneOf
            ? { kind: t.kind, name: t.name, inputFields: t.inputFields.map(value), isOneOf: true }
            : { kind: t.kind, name: t.name, inputFields: t.inputFields.map(value) };
        default:
          return { kind: t.kind, name: t.name };
      }
    });
  const compact = {
    __schema: {
      queryType: { name: s.queryType.name },
      mutationType: s.mutationType ? { name: s.mutationType.name } : null,
      subscriptionType: s.subscriptionType ? { name: s.subscriptionType.name } : null,
      types,
      directives: s.directives
        .filter((d) => d.locations.some((l) => EXECUTABLE.has(l)))
        .map((d) => ({ name: d.name, locations: d.locations, args: d.args.map(value) })),
    },
  };
  return JSON.stringify(compact satisfies Record<keyof Pick<IntrospectionQuery, "__schema">, unknown>);
}
