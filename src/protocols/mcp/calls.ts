/**
 * Classify an MCP POST body (Streamable HTTP, protocol versions 2025-06-18 and later) into the steps it
 * asks for: one JSON-RPC message, at most one action. Pure: the pipeline read the (bounded) body.
 *
 *   tools/call           -> endpoint.tools[params.name], `params.arguments` read as the action's
 *                           declared arguments (typed as declared; others are not arguments)
 *   prompts/get          -> endpoint.prompts[params.name], `params.arguments` likewise
 *   resources/read       -> endpoint.resources by `params.uri`: an exact URI, else the most specific
 *   resources/subscribe     template (uris.ts), whose `{name}` values are the step's params; a
 *                           subscription is classified as the read it announces
 *   no action (pass)     -> initialize, ping, tools/list, resources/list, resources/templates/list,
 *                           prompts/list, logging/setLevel, resources/unsubscribe, notifications/*,
 *                           and the client's responses to the server's requests (sampling, elicitation,
 *                           roots): housekeeping that reads or changes no data; tools/list answers are
 *                           filtered to what the task may call (tools-list.ts)
 *   anything else        -> action.unknown (completion/complete, tasks/*, and every method not above)
 *
 * Unknown tool, prompt or resource: action.unknown. Refused as malformed or ambiguous: see message.ts
 * (not one JSON-RPC object, batches, duplicate keys), headers.ts (`Mcp-Method` / `Mcp-Name` that do not
 * match the body), a Content-Type other than JSON (`request.content_type`), a named method without its
 * name or with arguments that are not an object, a known request method sent as a notification (a
 * server that runs it would act with no answer to decide on: `mcp.malformed`).
 */
import { type Result, refuse } from "../../core/result";
import type { ActionSpec, ArgType, McpEndpoint } from "../../policy/types";
import type { ProtocolCall } from "../types";
import { headerMismatch } from "./headers";
import { type JsonRpcId, type JsonRpcMessage, readMessage } from "./message";
import { matchResource } from "./uris";

/** One JSON-RPC message of the body, as the gateway answers it. */
export interface McpMessage {
  kind: "request" | "notification" | "response";
  /** The request's id, echoed in a refusal; null for a notification (and an error answering one). */
  id: JsonRpcId | null;
  /** null for a response. */
  method: string | null;
  /** The tool or prompt name, or the resource URI, the method names; null when it names none. */
  name: string | null;
}

export interface McpCalls {
  /** The steps to decide, one per message that names an action; empty when the message passes. */
  calls: ProtocolCall[];
  /** The body's messages: exactly one (batches are refused). */
  messages: McpMessage[];
}

/** Requests that need no action: the session's housekeeping and the lists of what the server offers. */
const PASS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "resources/list",
  "resources/templates/list",
  "prompts/list",
  "logging/setLevel",
  "resources/unsubscribe",
]);
/** Request methods that are never meaningful as notifications. */
const KNOWN = new Set([...PASS, "tools/call", "prompts/get", "resources/read", "resources/subscribe"]);

export function mcpCalls(
  endpoint: McpEndpoint,
  actions: ActionSpec[],
  body: string,
  headers: Headers,
): Result<McpCalls> {
  if (!isJsonType(headers.get("content-type"))) return refuse("request.content_type", "MCP bodies are JSON");
  const read = readMessage(body);
  if (!read.ok) return read;
  const { message } = read;
  const mismatch = headerMismatch(message, headers);
  if (mismatch) return mismatch;
  const step = stepOf(endpoint, actions, message);
  if (!step.ok) return step;
  const name = step.call === null ? passedName(message) : step.name;
  const described: McpMessage = { kind: message.kind, id: message.id, method: message.method, name };
  return { ok: true, calls: step.call === null ? [] : [step.call], messages: [described] };
}

type Step = Result<{ call: ProtocolCall; name: string } | { call: null }>;

function stepOf(endpoint: McpEndpoint, actions: ActionSpec[], message: JsonRpcMessage): Step {
  if (message.kind === "response") return { ok: true, call: null };
  const { method, params } = message;
  if (message.kind === "notification") {
    if (method.startsWith("notifications/")) return { ok: true, call: null };
    if (KNOWN.has(method)) return refuse("mcp.malformed", `${method} without an id`);
    return refuse("action.unknown", `notification ${method.slice(0, 64)}`);
  }
  switch (method) {
    case "tools/call":
      return named(method, params, endpoint.tools, actions);
    case "prompts/get":
      return named(method, params, endpoint.prompts, actions);
    case "resources/read":
    case "resources/subscribe":
      return resource(method, params, endpoint.resources, actions);
    default:
      if (PASS.has(method)) return method === "resources/unsubscribe" ? uriOnly(params) : { ok: true, call: null };
      return refuse("action.unknown", `method ${method.slice(0, 64)}`);
  }
}

/** tools/call and prompts/get: the action of the name, with its declared arguments. */
function named(
  method: string,
  params: Record<string, unknown>,
  table: Record<string, number>,
  actions: ActionSpec[],
): Step {
  const name = params.name;
  if (typeof name !== "string" || name === "" || name.length > 256) return refuse("mcp.malformed", `${method} name`);
  const at = `${method} ${name}`.slice(0, 128);
  if (!Object.hasOwn(table, name)) return refuse("action.unknown", at);
  const action = table[name] as number;
  const spec = actions[action];
  if (spec === undefined) return refuse("bundle.invalid", `${at}: no action ${action}`);
  const args = declaredArgs(spec, params.arguments);
  if (!args.ok) return args;
  return { ok: true, name, call: { action, args: args.args, params: Object.create(null), at } };
}

/** resources/read and resources/subscribe: the action of the URI, its template's values as params. */
function resource(
  method: string,
  params: Record<string, unknown>,
  table: Record<string, number>,
  actions: ActionSpec[],
): Step {
  const uri = params.uri;
  if (typeof uri !== "string" || uri === "" || uri.length > 2048) return refuse("mcp.malformed", `${method} uri`);
  const at = `${method} ${uri}`.slice(0, 128);
  const found = matchResource(table, uri);
  if (!found.ok) return refuse(found.why === "none" ? "action.unknown" : "mcp.malformed", at);
  if (actions[found.action] === undefined) return refuse("bundle.invalid", `${at}: no action ${found.action}`);
  return { ok: true, name: uri, call: { action: found.action, args: Object.create(null), params: found.params, at } };
}

function uriOnly(params: Record<string, unknown>): Step {
  return typeof params.uri === "string" ? { ok: true, call: null } : refuse("mcp.malformed", "unsubscribe uri");
}

/**
 * The declared arguments of the call, typed as declared; an argument of another type is refused. A
 * declared name may be a path into nested objects (`recipient.email`), as a GraphQL action's are.
 */
function declaredArgs(spec: ActionSpec, raw: unknown): Result<{ args: Record<string, unknown> }> {
  if (raw !== undefined && !isObject(raw)) return refuse("mcp.malformed", "arguments is not an object");
  const given = (raw ?? {}) as Record<string, unknown>;
  const args: Record<string, unknown> = Object.create(null);
  for (const [name, type] of Object.entries(spec.args)) {
    const found = at(given, name);
    if (!found.present) continue;
    if (!ofType(found.value, type)) return refuse("request.body_invalid", `argument ${name} is not a ${type}`);
    args[name] = found.value;
  }
  return { ok: true, args };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The value at a dotted path of own properties; a step through a non-object is absent. */
function at(root: Record<string, unknown>, path: string): { present: boolean; value?: unknown } {
  let node: unknown = root;
  for (const key of path.split(".")) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return { present: false };
    node = node[key];
  }
  return { present: true, value: node };
}

function ofType(value: unknown, type: ArgType): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return Number.isSafeInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
  }
}

/** For a message that passes, the name it still carries (resources/unsubscribe's URI). */
function passedName(message: JsonRpcMessage): string | null {
  if (message.kind !== "request" || message.method !== "resources/unsubscribe") return null;
  return typeof message.params.uri === "string" ? message.params.uri : null;
}

/** `application/json`, with no charset or UTF-8. */
function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const [type, ...params] = contentType.split(";");
  if ((type ?? "").trim().toLowerCase() !== "application/json") return false;
  return params.every((p) => {
    const [k, v] = p.split("=").map((x) =>
      x
        .trim()
        .toLowerCase()
        .replace(/^"(.*)"$/, "$1"),
    );
    return k !== "charset" || v === "utf-8" || v === "utf8";
  });
}
