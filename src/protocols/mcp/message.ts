/**
 * One JSON-RPC 2.0 message of MCP's Streamable HTTP transport, read from a POST body exactly as an MCP
 * server reads it: a request (`method` and an `id`), a notification (`method`, no `id`), or the
 * client's response to a request of the server (`result` or `error`, and the `id` it answers). Pure.
 *
 * Refused: a body that is not one JSON object (`mcp.malformed`; a JSON array is a batch, `mcp.batch`:
 * protocol version 2025-06-18 removed batching, and one HTTP request that is many steps with one
 * answer is what a gateway cannot decide call by call without also rewriting the answer), duplicate
 * keys at any depth (`request.duplicate_key`: servers differ on which one wins), and anything that is
 * not a well-formed JSON-RPC 2.0 message as MCP restricts it (`params` an object, an `id` a string or
 * an integer and never null on a request).
 */
import { duplicateKey } from "../../core/json-keys";
import { type Result, refuse } from "../../core/result";

export type JsonRpcId = string | number;

export type JsonRpcMessage =
  | { kind: "request"; id: JsonRpcId; method: string; params: Record<string, unknown> }
  | { kind: "notification"; id: null; method: string; params: Record<string, unknown> }
  | { kind: "response"; id: JsonRpcId | null; method: null; params: null };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const isJsonRpcId = (v: unknown): v is JsonRpcId =>
  (typeof v === "string" && v.length <= 256) || Number.isSafeInteger(v);

/** The body's one message. */
export function readMessage(body: string): Result<{ message: JsonRpcMessage }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse("mcp.malformed", "body is not JSON");
  }
  if (Array.isArray(parsed)) return refuse("mcp.batch", `a batch of ${parsed.length}`);
  if (!isObject(parsed)) return refuse("mcp.malformed", "body is not a JSON object");
  const dup = duplicateKey(body);
  if (dup !== null) return refuse("request.duplicate_key", dup.slice(0, 64));
  return messageOf(parsed);
}

function messageOf(o: Record<string, unknown>): Result<{ message: JsonRpcMessage }> {
  if (o.jsonrpc !== "2.0") return refuse("mcp.malformed", 'jsonrpc is not "2.0"');
  const hasId = Object.hasOwn(o, "id");
  const answers = Object.hasOwn(o, "result") || Object.hasOwn(o, "error");
  if (!Object.hasOwn(o, "method")) {
    if (!answers || (Object.hasOwn(o, "result") && Object.hasOwn(o, "error")))
      return refuse("mcp.malformed", "neither a request nor a response");
    // An error answering a message the client could not read carries id null.
    const id = o.id;
    if (!hasId || !(isJsonRpcId(id) || (id === null && Object.hasOwn(o, "error"))))
      return refuse("mcp.malformed", "response id");
    if (Object.hasOwn(o, "error") && !isObject(o.error)) return refuse("mcp.malformed", "error is not an object");
    return { ok: true, message: { kind: "response", id, method: null, params: null } };
  }
  const { method, params } = o;
  if (answers) return refuse("mcp.malformed", "a request with a result or error");
  if (typeof method !== "string" || method === "" || method.length > 128)
    return refuse("mcp.malformed", "method is not a name");
  if (params !== undefined && !isObject(params)) return refuse("mcp.malformed", "params is not an object");
  const p = (params ?? {}) as Record<string, unknown>;
  if (!hasId) return { ok: true, message: { kind: "notification", id: null, method, params: p } };
  if (!isJsonRpcId(o.id)) return refuse("mcp.malformed", "request id is not a string or an integer");
  return { ok: true, message: { kind: "request", id: o.id, method, params: p } };
}

/**
 * The id a refusal answers: the request's, when the body is one request; otherwise null (a
 * notification or a response gets no JSON-RPC answer of its own, and a body that does not parse has
 * no id to echo). Never throws.
 */
export function requestIdOf(body: string | null): JsonRpcId | null {
  if (body === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(parsed) || typeof parsed.method !== "string") return null;
  return isJsonRpcId(parsed.id) ? parsed.id : null;
}
