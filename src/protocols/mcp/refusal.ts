/**
 * Refusals of MCP calls as JSON-RPC errors, so that an MCP client's agent loop sees an answer to the
 * call it made, not a transport failure. Pure.
 *
 *   {"jsonrpc": "2.0", "id": <the request's id>, "error": {"code", "message",
 *     "data": {"reason", "decision_id", "error", ...extra (approval, retry_after)}}}
 *
 * HTTP status: 200 for a refused request whose id can be echoed. The SDK's Streamable HTTP client
 * turns any non-2xx answer into a transport error that keeps only the text (`StreamableHTTPError`),
 * while a 200 with a JSON-RPC error rejects exactly that call with an `McpError` whose `data` holds
 * the reason and decision id. Three exceptions keep their transport status, because the transport
 * acts on it: identity refusals (401, which an MCP client answers with its authorization flow),
 * `mcp.session_mismatch` (404, the spec's "session not found", on which a client starts a new session,
 * this time bound to its own task), and `mcp.header_mismatch` (400, as SEP-2243 asks). Everything that
 * is not one request (a notification, a client's response, a batch, a body that does not parse) has no
 * id to answer: the status of the reason (docs/reasons.md) with `id: null`.
 *
 * Codes: JSON-RPC's own for messages it defines as invalid (-32700 parse error, -32600 invalid request,
 * -32602 invalid params), SEP-2243's -32001 for a header mismatch, and for decisions -31000 minus the
 * HTTP status Firebreak would answer in REST (-31403 forbidden, -31429 rate limited, -31503 unavailable):
 * outside the range JSON-RPC reserves (-32768..-32000), and readable at a glance. Clients branch on
 * `data.reason`.
 *
 * An approval needed is such an error (-31403, reason `approval.required`) with `data.approval`
 * (`id`, `status_url`, `expires_at`), and the status URL at the end of the message too, for hosts that
 * show the model only the message. MCP's URL-elicitation error (-32042) would let hosts open the URL,
 * but the SDK rebuilds that error keeping `data.elicitations` only: the reason and decision id would be
 * lost, so it is not used.
 */
import { httpFor, type Reason } from "../../core/reasons";
import { type JsonRpcId, requestIdOf } from "./message";

export interface JsonRpcAnswer {
  status: number;
  /** The JSON-RPC error message, `application/json`. */
  body: string;
}

const TRANSPORT_STATUS = new Set<Reason>(["mcp.session_mismatch", "mcp.header_mismatch"]);

/** The refusal of the call in `body` (the request as received; null when it was not read). */
export function jsonRpcRefusal(
  body: string | null,
  reason: Reason,
  message: string,
  decisionId: string,
  extra: Record<string, unknown> = {},
): JsonRpcAnswer {
  const id = requestIdOf(body);
  const { status } = httpFor(reason);
  const keepsStatus = id === null || status === 401 || TRANSPORT_STATUS.has(reason);
  return {
    status: keepsStatus ? status : 200,
    body: jsonRpcError(id, reason, message, decisionId, extra, body !== null && !parses(body)),
  };
}

/** One JSON-RPC error message answering `id` (also an SSE event's data, tools-list.ts). */
export function jsonRpcError(
  id: JsonRpcId | null,
  reason: Reason,
  message: string,
  decisionId: string,
  extra: Record<string, unknown> = {},
  parseError = false,
): string {
  const { status, error } = httpFor(reason);
  const approval = extra.approval as { status_url?: unknown } | undefined;
  const url = typeof approval?.status_url === "string" ? approval.status_url : null;
  const text = url !== null && !message.includes(url) ? `${message} Status: ${url}` : message;
  const data = { ...extra, reason, decision_id: decisionId, error };
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    error: { code: parseError ? -32700 : codeFor(reason, status), message: text, data },
  });
}

function codeFor(reason: Reason, status: number): number {
  if (reason === "mcp.header_mismatch") return -32001;
  if (reason === "request.body_invalid") return -32602;
  if (status === 400 || status === 413 || status === 415) return -32600;
  return -31000 - status;
}

function parses(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}
