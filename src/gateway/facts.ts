/**
 * Request facts for policy: the declared arguments of an action, read from the query and/or the body
 * (JSON or form-encoded) as the service declares, typed as the catalog says. Pure: the pipeline reads
 * the (bounded) body and hands the bytes in. Anything that could be read two ways is refused.
 */
import type { ActionSpec, ArgType, ServiceSpec } from "../policy/types";
import { type Refusal, type Result, refuse } from "./result";
import { percentDecode } from "./route";

/** Whether the pipeline must read the body before deciding. */
export function needsBody(service: ServiceSpec, action: ActionSpec): boolean {
  return service.inspect_body || (service.args_in.includes("body") && Object.keys(action.args).length > 0);
}

export function extractArgs(
  service: ServiceSpec,
  action: ActionSpec,
  query: Record<string, string>,
  contentType: string | null,
  body: string | null,
): Result<{ args: Record<string, unknown> }> {
  for (const p of service.reject_params) if (p in query) return refuse("request.agent_credential", `query ${p}`);
  const fromBody = body === null || body === "" ? Object.create(null) : parseBody(contentType, body);
  if ("ok" in fromBody && fromBody.ok === false) return fromBody as Refusal;
  const bodyFields = fromBody as Record<string, unknown>;
  for (const p of service.reject_params)
    if (Object.hasOwn(bodyFields, p)) return refuse("request.agent_credential", `body ${p}`);
  if (Object.hasOwn(bodyFields, "_method")) return refuse("route.method_override", "body _method");

  const args: Record<string, unknown> = Object.create(null);
  for (const [name, type] of Object.entries(action.args)) {
    const inQuery = service.args_in.includes("query") && name in query;
    const inBody = service.args_in.includes("body") && Object.hasOwn(bodyFields, name);
    if (inQuery && inBody) return refuse("request.arg_ambiguous", name);
    if (!inQuery && !inBody) continue;
    const value = coerce(inQuery ? query[name] : bodyFields[name], type, !inQuery && isJson(contentType));
    if (value === undefined) return refuse("request.body_invalid", `argument ${name} is not a ${type}`);
    args[name] = value;
  }
  return { ok: true, args };
}

const isJson = (contentType: string | null) => /^application\/([a-z.+-]*\+)?json\b/i.test(contentType ?? "");

function parseBody(contentType: string | null, body: string): Record<string, unknown> | Refusal {
  if (isJson(contentType)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return refuse("request.body_invalid", "JSON does not parse");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return refuse("request.body_invalid", "JSON body is not an object");
    }
    return parsed as Record<string, unknown>;
  }
  if (/^application\/x-www-form-urlencoded\b/i.test(contentType ?? "")) return parseForm(body);
  return refuse("request.body_invalid", "declared arguments need a JSON or form-encoded body");
}

function parseForm(body: string): Record<string, unknown> | Refusal {
  const out: Record<string, unknown> = Object.create(null);
  for (const pair of body.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = percentDecode((eq === -1 ? pair : pair.slice(0, eq)).replaceAll("+", " "));
    const value = percentDecode((eq === -1 ? "" : pair.slice(eq + 1)).replaceAll("+", " "));
    if (key === null || value === null) return refuse("request.body_invalid", "form encoding");
    if (key in out) return refuse("request.arg_ambiguous", key.slice(0, 64));
    out[key] = value;
  }
  return out;
}

/** Typed value, or undefined when it is not of the declared type. Query and form values are strings. */
function coerce(value: unknown, type: ArgType, json: boolean): unknown {
  if (!json && typeof value === "string") {
    if (type === "string") return value;
    if (type === "boolean") return value === "true" ? true : value === "false" ? false : undefined;
    if (type === "integer") return /^-?\d{1,15}$/.test(value) ? Number(value) : undefined;
    return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
  }
  switch (type) {
    case "string":
      return typeof value === "string" ? value : undefined;
    case "boolean":
      return typeof value === "boolean" ? value : undefined;
    case "integer":
      return Number.isSafeInteger(value) ? value : undefined;
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? value : undefined;
  }
}
