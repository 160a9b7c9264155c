/**
 * The service's GraphQLSchema, built from the bundle's compact introspection string on the first
 * GraphQL call of an isolate and kept for the endpoint object's lifetime (a new bundle is a new
 * object). `assumeValid`: the compiler validated the schema when it wrote the string, so the worker
 * skips graphql-js's schema validation (tens of milliseconds for GitHub's).
 */
import { buildClientSchema, type GraphQLSchema, type IntrospectionQuery } from "graphql";
import type { GraphqlEndpoint } from "../../policy/types";

const built = new WeakMap<GraphqlEndpoint, GraphQLSchema>();

export function schemaOf(endpoint: GraphqlEndpoint): GraphQLSchema {
  let schema = built.get(endpoint);
  if (schema === undefined) {
    const introspection = JSON.parse(endpoint.schema) as IntrospectionQuery;
    schema = buildClientSchema(introspection, { assumeValid: true });
    built.set(endpoint, schema);
  }
  return schema;
}
