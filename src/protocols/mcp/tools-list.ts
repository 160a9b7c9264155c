/**
 * `tools/list` answers filtered to the tools the agent's task may call: the model never sees a tool it
 * would be refused, and a tool the catalog does not know is dropped too (its call would be
 * `action.unknown`). The predicate is the caller's: the same decision the call would get. Pure, apart
 * from reading the response body it is handed.
 *
 * Only the answer to a `tools/list` request goes through here; every other MCP response streams through
 * untouched. The answer is JSON or an SSE stream (sse.ts) whose events are JSON-RPC messages; in
 * either, a message whose `result.tools` is a list is rewritten, every other message is passed as it
 * came. A message that cannot be read (not JSON, duplicate keys, larger than the bound) is replaced by
 * the caller's JSON-RPC error (`mcp.response_invalid`): an unfiltered list never reaches the agent.
 */
import { duplicateKey } from "../../core/json-keys";
import { type Refusal, type Result, refuse } from "../../core/result";
import { rewriteSse } from "./sse";

export type ToolAllowed = (action: number) => boolean;

/** One JSON-RPC message's text, its tool list filtered; `dropped` names the tools removed. */
export function filterToolsList(
  text: string,
  tools: Record<string, number>,
  allowed: ToolAllowed,
): Result<{ text: string; dropped: string[] }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse("mcp.response_invalid", "tools/list answer is not JSON");
  }
  // A parser that keeps the first of two keys could read another list than the one filtered here.
  const dup = duplicateKey(text);
  if (dup !== null) return refuse("mcp.response_invalid", `duplicate key ${dup.slice(0, 64)}`);
  const result = (parsed as { result?: { tools?: unknown } } | null)?.result;
  if (typeof result !== "object" || result === null || !Array.isArray(result.tools)) {
    return { ok: true, text, dropped: [] };
  }
  const dropped: string[] = [];
  const kept = result.tools.filter((tool: unknown) => {
    const name = (tool as { name?: unknown } | null)?.name;
    const ok = typeof name === "string" && Object.hasOwn(tools, name) && allowed(tools[name] as number);
    if (!ok) dropped.push(typeof name === "string" ? name.slice(0, 128) : "(no name)");
    return ok;
  });
  if (dropped.length === 0) return { ok: true, text, dropped };
  return { ok: true, text: JSON.stringify({ ...(parsed as object), result: { ...result, tools: kept } }), dropped };
}

export interface ToolsListFilter {
  tools: Record<string, number>;
  allowed: ToolAllowed;
  /** The JSON-RPC message sent instead of one that cannot be read (the refusal says why). */
  fallback: (refusal: Refusal) => string;
  /** Largest JSON body or SSE event read, in characters (default 4 MiB). */
  maxBytes?: number;
  /** Called with the tools removed from each rewritten message (for the decision record). */
  onDropped?: (dropped: string[]) => void;
}

export const MAX_TOOLS_LIST_BYTES = 4 * 1024 * 1024;

/**
 * The upstream's answer to a `tools/list` request, filtered: a JSON body is read (bounded) and
 * rewritten, an SSE body is rewritten event by event as it streams; any other answer (an error status,
 * 202, another type) is returned as it is.
 */
export async function filterToolsListResponse(res: Response, f: ToolsListFilter): Promise<Response> {
  const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (res.body === null || res.status !== 200) return res;
  const max = f.maxBytes ?? MAX_TOOLS_LIST_BYTES;
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  const rewrite = (data: string): Result<{ text: string }> => {
    const out = filterToolsList(data, f.tools, f.allowed);
    if (out.ok && out.dropped.length > 0) f.onDropped?.(out.dropped);
    return out;
  };
  if (type === "text/event-stream") {
    const body = rewriteSse(res.body, { rewrite, fallback: f.fallback, maxEventBytes: max });
    return new Response(body, { status: res.status, headers });
  }
  if (type !== "application/json") return res;
  const text = await readBounded(res.body, max);
  const out = text === null ? refuse("mcp.response_invalid", `answer over ${max} bytes`) : rewrite(text);
  return new Response(out.ok ? out.text : f.fallback(out), { status: res.status, headers });
}

/** The whole body as UTF-8 text, or null past `max` characters or when it is not UTF-8 (then cancelled). */
async function readBounded(body: ReadableStream<Uint8Array>, max: number): Promise<string | null> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text + decoder.decode();
      text += decoder.decode(value, { stream: true });
      if (text.length > max) {
        await reader.cancel();
        return null;
      }
    }
  } catch {
    await reader.cancel().catch(() => {});
    return null;
  }
}
