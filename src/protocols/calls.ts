/**
 * The steps a protocol endpoint's body asks for, by protocol: the one entry the request's front half
 * (src/request/decide-call.ts) calls for GraphQL and MCP. Only POST carries a document or a message;
 * MCP's GET and DELETE manage the session.
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
): Result<{ calls: ProtocolCall[]; method: string | null }> {
  if (kind === "graphql") {
    const endpoint = req.service.graphql;
    if (endpoint === null) return refuse("action.unknown", "no GraphQL endpoint");
    if (req.method !== "POST") return refuse("graphql.method", req.method);
    const found = graphqlCalls(endpoint, actions, body, headers.get("content-type"));
    return found.ok ? { ok: true, calls: found.calls, method: null } : found;
  }
  const endpoint = req.service.mcp;
  if (endpoint === null) return refuse("action.unknown", "no MCP endpoint");
  // GET opens the session's stream of server messages and DELETE ends the session: no action, and the
  // session id they carry is checked for the caller's task like any other.
  if (req.method === "GET" || req.method === "DELETE") return { ok: true, calls: [], method: null };
  if (req.method !== "POST") return refuse("action.unknown", `MCP ${req.method}`);
  const found = mcpCalls(endpoint, actions, body, headers);
  return found.ok ? { ok: true, calls: found.calls, method: found.messages[0]?.method ?? null } : found;
}
