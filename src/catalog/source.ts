/**
 * Catalog import (Node only, never in the worker bundle): a service's operations read from the vendor's
 * own machine-readable description (an OpenAPI document, an SDK's method table), merged with the
 * service's overrides file (what a person decided), written as policies/services/<name>.yaml.
 *
 *   source adapter (src/catalog/sources/<name>.ts)  ->  SourceOperation[]
 *   + policies/services/<name>.overrides.yaml       ->  generate() -> <name>.yaml text + a diff
 *
 * An adapter only reads its source and says what each operation is; every decision a person may want
 * to change (names, risk, labels, aliases, arguments, resources) can be overridden.
 */
import type { ArgType, Kind, Method } from "../policy/types";

export interface SourceOperation {
  /** The source's own stable id (an operationId, an SDK method name): the key overrides use. */
  id: string;
  /** Default action name: dotted segments of [a-z][A-Za-z0-9_]* (`pulls.merge`, `chat.postMessage`). */
  name: string;
  method: Exclude<Method, "HEAD">;
  /**
   * Path template: literals and `{param}`; a parameter the upstream lets span segments (a git ref,
   * a file path) as `{param+}` in the last segment.
   */
  path: string;
  /** What the operation does, when the source says it better than the method does. */
  kind?: Kind;
  deprecated: boolean;
  /** One line, from the source. */
  description: string;
  /** Scalar body or query parameters the source declares (objects and arrays are not arguments). */
  args?: Record<string, ArgType>;
  /** A GraphQL root field (`mutation.mergePullRequest`): classified by the document, not by method + path. */
  graphql?: string;
  /** A tool of an MCP server (its tools/list answer): classified by the JSON-RPC message, not by the path. */
  mcp?: { tool: string };
}

export interface CatalogSource {
  service: string;
  /** The package and version the operations come from (`@octokit/openapi@23.0.2`), for the header. */
  origin: string;
  operations(): SourceOperation[];
  /** The text of `<service>.graphql` beside the catalog, for a service with a GraphQL endpoint. */
  graphqlSchema?(): string;
}
