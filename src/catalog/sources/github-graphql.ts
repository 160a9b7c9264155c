/**
 * GitHub's GraphQL API as GitHub describes it: the introspection result in `@octokit/graphql-schema`
 * (its schema.json: the package's schema.graphql repeats some fields and does not build). Every root
 * field is an operation (src/catalog/graphql.ts), named `graphql.<field>` beside the REST actions.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { buildClientSchema, type GraphQLSchema, type IntrospectionQuery } from "graphql";
import { graphqlOperations, schemaText } from "../graphql";
import type { SourceOperation } from "../source";

const PACKAGE = "@octokit/graphql-schema";
const nodeRequire = createRequire(import.meta.url);
let cached: GraphQLSchema | undefined;

/** A file of the installed package (its `exports` name only the module, not its data files). */
function packageFile(name: string): string {
  for (const dir of nodeRequire.resolve.paths(PACKAGE) ?? []) {
    const file = join(dir, PACKAGE, name);
    if (existsSync(file)) return file;
  }
  throw new Error(`${PACKAGE} is not installed: npm ci`);
}

export function githubGraphqlSchema(): GraphQLSchema {
  cached ??= buildClientSchema(JSON.parse(readFileSync(packageFile("schema.json"), "utf8")) as IntrospectionQuery);
  return cached;
}

export const githubGraphqlOrigin = (): string =>
  `${PACKAGE}@${(JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as { version: string }).version}`;

export const githubGraphqlOperations = (): SourceOperation[] =>
  graphqlOperations(githubGraphqlSchema(), { path: "/graphql", prefix: "graphql." });

export const githubGraphqlText = (): string => schemaText(githubGraphqlSchema());
