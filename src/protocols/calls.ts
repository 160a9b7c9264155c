/**
 * The steps a protocol endpoint's body asks for, by protocol: the one entry the request's front half
 * (src/request/decide-call.ts) calls for GraphQL and MCP. Only POST carries a document or a message
 * here; anything else at the endpoint is refused.
 */
import { type Result, refuse } from "../core/result";
import type { ActionSpec, ServiceSpec } from "../policy/types";
import { graphqlCalls } from "./graphql/calls";
import { mcpCalls } from "./mcp/calls";
import type { ProtocolCall } from "./types";

export function protocolCalls(
  kind: "graphql" | "mcp",
  req: { service: ServiceSpec; method: string },
  actions: ActionSpec[],
  body: string,
  headers: Headers,
): Result<{ calls: ProtocolCall[] }> {
  if (kind === "graphql") {
    const endpoint = req.service.graphql;
    if (endpoint === null) return refuse("action.unknown", "no GraphQL endpoint");
    if (req.method !== "POST") return refuse("graphql.method", req.method);
    const found = graphqlCalls(endpoint, actions, body, headers.get("content-type"));
    return found.ok ? { ok: true, calls: found.calls } : found;
  }
  const endpoint = req.service.mcp;
  if (endpoint === null) return refuse("action.unknown", "no MCP endpoint");
  if (req.method !== "POST") return refuse("action.unknown", `MCP ${req.method}`);
  const found = mcpCalls(endpoint, actions, body, headers);
  return found.ok ? { ok: true, calls: found.calls } : found;
}
