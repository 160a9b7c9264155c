/**
 * The `Mcp-Method` and `Mcp-Name` request headers (SEP-2243, HTTP header standardization for the
 * Streamable HTTP transport): they mirror the body's `method` and its `params.name` (tools/call,
 * prompts/get) or `params.uri` (resources/read, subscribe, unsubscribe) so that intermediaries can
 * route without reading the body. A server or proxy that routes, logs or rate-limits by the header
 * would see another call than the one Firebreak decides by the body: when a header is present it must
 * match the body exactly, or the request is refused (`mcp.header_mismatch`). Absent headers are fine:
 * clients of earlier protocol versions (and the TypeScript SDK 1.x) do not send them. Pure.
 *
 * A name that is not plain ASCII travels as `=?base64?<base64 of its UTF-8>?=` and is compared decoded.
 */
import { type Refusal, refuse } from "../../core/result";
import type { JsonRpcMessage } from "./message";

/** Methods whose `Mcp-Name` is `params.name`, and those whose `Mcp-Name` is `params.uri`. */
const NAME_PARAM = new Set(["tools/call", "prompts/get"]);
const URI_PARAM = new Set(["resources/read", "resources/subscribe", "resources/unsubscribe"]);

/** What `Mcp-Name` must say for this message: a string, or undefined when the method names nothing. */
export function nameOf(message: JsonRpcMessage): unknown {
  if (message.kind === "response") return undefined;
  if (NAME_PARAM.has(message.method)) return message.params.name;
  if (URI_PARAM.has(message.method)) return message.params.uri;
  return undefined;
}

/** null when the headers agree with the body (or are absent); otherwise the refusal. */
export function headerMismatch(message: JsonRpcMessage, headers: Headers): Refusal | null {
  const method = headers.get("mcp-method");
  if (method !== null && method !== message.method) {
    return refuse("mcp.header_mismatch", `Mcp-Method ${method.slice(0, 64)} for ${message.method ?? "a response"}`);
  }
  const name = headers.get("mcp-name");
  if (name !== null) {
    const expected = nameOf(message);
    if (typeof expected !== "string" || decodeName(name) !== expected) {
      return refuse("mcp.header_mismatch", `Mcp-Name does not name the body's ${message.method ?? "response"}`);
    }
  }
  return null;
}

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/** The header's value, its base64 form decoded; null when that form is not valid base64 of UTF-8. */
export function decodeName(value: string): string | null {
  const m = SENTINEL.exec(value);
  if (!m) return value;
  try {
    const binary = atob(m[1] as string);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}
