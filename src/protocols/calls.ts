/**
 * The steps a protocol endpoint's body asks for, by protocol: the one entry the request's front half
 * (src/request/decide-call.ts) calls for GraphQL and MCP.
 */
import type { Result } from "../core/result";
import type { ActionSpec, ServiceSpec } from "../policy/types";
import type { ProtocolCall } from "./types";

export function protocolCalls(
  kind: "graphql" | "mcp",
  req: { service: ServiceSpec; method: string },
  actions: ActionSpec[],
  body: string,
  headers: Headers,
): Result<{ calls: ProtocolCall[] }> {
  if (req.method !== "POST") return { ok: false, reason: "action.unknown", detail: `${kind}: ${req.method}` };
  void actions;
  void body;
  void headers;
  return { ok: false, reason: "action.unknown", detail: `${kind}: not classified yet` };
}
