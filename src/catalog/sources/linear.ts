/**
 * Linear's GraphQL API (https://linear.app/developers), from `@linear/sdk`: the schema read back from
 * the SDK's generated TypeScript (./linear-schema.ts; the package ships no schema file). Every root
 * field is an action named as the field (`linear:issueCreate`, `linear:issues`): Linear has no REST API,
 * so no prefix tells the protocols apart. Node only.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { buildSchema, type GraphQLSchema } from "graphql";
import { graphqlOperations, schemaText } from "../graphql";
import type { CatalogSource } from "../source";
import { linearSdl } from "./linear-schema";

const PACKAGE = "@linear/sdk";
const nodeRequire = createRequire(import.meta.url);

/** The package's folder (its `exports` name only the modules). */
function packageDir(): string {
  for (const dir of nodeRequire.resolve.paths(PACKAGE) ?? []) {
    if (existsSync(join(dir, PACKAGE, "package.json"))) return join(dir, PACKAGE);
  }
  throw new Error(`${PACKAGE} is not installed: npm ci`);
}

let cached: GraphQLSchema | undefined;
export function linearSchema(): GraphQLSchema {
  cached ??= buildSchema(linearSdl(join(packageDir(), "dist")));
  return cached;
}

const version = (): string =>
  (JSON.parse(readFileSync(join(packageDir(), "package.json"), "utf8")) as { version: string }).version;

export const source: CatalogSource = {
  service: "linear",
  get origin() {
    return `${PACKAGE}@${version()}`;
  },
  operations: () => graphqlOperations(linearSchema(), { path: "/graphql", prefix: "" }),
  graphqlSchema: () => schemaText(linearSchema()),
};

export default source;
