/**
 * The service's GraphQLSchema, built from the bundle's compact schema string (./compact.ts) on the first
 * GraphQL call of an isolate and kept for the endpoint object's lifetime (a new bundle is a new
 * object). `assumeValid`: the compiler validated the schema when it wrote the string, so the worker
 * skips graphql-js's schema validation (tens of milliseconds for GitHub's).
 */
import { buildClientSchema, type GraphQLSchema } from "graphql";
import type { GraphqlEndpoint } from "../../policy/types";
import { expandSchema } from "./compact";

const built = new WeakMap<GraphqlEndpoint, GraphQLSchema>();

export function schemaOf(endpoint: GraphqlEndpoint): GraphQLSchema {
  let schema = built.get(endpoint);
  if (schema === undefined) {
    schema = buildClientSchema(expandSchema(endpoint.schema), { assumeValid: true });
    built.set(endpoint, schema);
  }
  return schema;
}
