/**
 * Request facts for policy: the declared arguments of an action, read from the query and/or the body
 * the way the upstream parses them (the service's `body_format`), typed as the catalog says. Pure: the
 * pipeline reads the (bounded) body and hands the text in. Anything the upstream could read
 * differently is refused: a Content-Type the upstream would not parse that way, a charset other than
 * UTF-8, duplicate JSON keys, an argument of another shape, an argument in two places.
 */

import { duplicateKey } from "../core/json-keys";
import { type Refusal, type Result, refuse } from "../core/result";
import type { ActionSpec, ArgType, BodyFormat, ServiceSpec } from "../policy/types";
import { percentDecode } from "./route";

export type MediaType = "application/json" | "application/x-www-form-urlencoded" | "";

/** How the upstream parses this action's body: its own format (Stripe's /v2 JSON), else the service's. */
export const bodyFormatOf = (service: ServiceSpec, action: ActionSpec): BodyFormat =>
  action.body_format ?? service.body_format;

/** Whether the pipeline must read the body before deciding. */
export function needsBody(service: ServiceSpec, action: ActionSpec): boolean {
  return service.inspect_body || (service.args_in.includes("body") && Object.keys(action.args).length > 0);
}

export interface Args {
  args: Record<string, unknown>;
  /** How the body was read: what an approval binds. "" when no body was read or it was empty. */
  mediaType: MediaType;
}

export function extractArgs(
  service: ServiceSpec,
  action: ActionSpec,
  query: Record<string, string>,
  contentType: string | null,
  body: string | null,
): Result<Args> {
  for (const p of service.reject_params) if (p in query) return refuse("request.agent_credential", `query ${p}`);
  const read = body === null || body === "" ? EMPTY : bodyFields(bodyFormatOf(service, action), contentType, body);
  if (!read.ok) return read;
  const { fields, mediaType } = read;
  for (const p of service.reject_params)
    if (Object.hasOwn(fields, p)) return refuse("request.agent_credential", `body ${p}`);
  if (Object.hasOwn(fields, "_method")) return refuse("route.method_override", "body _method");

  const args: Record<string, unknown> = Object.create(null);
  for (const [name, type] of Object.entries(action.args)) {
    // An upstream that merges query and body parameters could read an argument Firebreak does not.
    const inQuery = name in query;
    const inBody = Object.hasOwn(fields, name);
    if (inQuery && (inBody || !service.args_in.includes("query"))) return refuse("request.arg_ambiguous", name);
    if (inBody && !service.args_in.includes("body")) return refuse("request.arg_ambiguous", name);
    if (mediaType === "application/x-www-form-urlencoded" && bracketed(fields, name)) {
      return refuse("request.body_invalid", `argument ${name} is not a ${type}`);
    }
    if (!inQuery && !inBody) continue;
    const value = coerce(inQuery ? query[name] : fields[name], type, mediaType === "application/json" && !inQuery);
    if (value === undefined) return refuse("request.body_invalid", `argument ${name} is not a ${type}`);
    args[name] = value;
  }
  return { ok: true, args, mediaType };
}

type Fields = { ok: true; fields: Record<string, unknown>; mediaType: MediaType };
const EMPTY: Fields = Object.freeze({ ok: true as const, fields: Object.freeze(Object.create(null)), mediaType: "" });

/**
 * The body's top-level fields as the upstream reads them. Also used on its own for a body that an
 * approval binds: the approver is shown what the upstream will parse.
 */
export function bodyFields(format: BodyFormat, contentType: string | null, body: string): Fields | Refusal {
  const media = mediaTypeOf(contentType);
  if (media === null) return refuse("request.content_type", "charset is not UTF-8");
  const accepted: readonly string[] = ACCEPTED[format];
  if (!accepted.includes(media)) {
    return refuse("request.content_type", `${media || "no content type"}; upstream reads ${format}`);
  }
  return media === "application/json" ? parseJson(body) : parseForm(body);
}

const ACCEPTED: Record<BodyFormat, MediaType[]> = {
  json: ["application/json"],
  form: ["application/x-www-form-urlencoded"],
  content_type: ["application/json", "application/x-www-form-urlencoded"],
};

/**
 * The normalised media type: JSON (`application/json`, `application/*+json`), form, or the raw type
 * lower-cased; null when a charset other than UTF-8 is named (the body is decoded as UTF-8).
 */
export function mediaTypeOf(contentType: string | null): string | null {
  if (contentType === null) return "";
  const [type, ...params] = contentType.split(";");
  for (const p of params) {
    const [k, v] = p.split("=").map((x) =>
      x
        ?.trim()
        .toLowerCase()
        .replace(/^"(.*)"$/, "$1"),
    );
    if (k === "charset" && v !== "utf-8" && v !== "utf8") return null;
  }
  const media = (type ?? "").trim().toLowerCase(); // split always yields a first part
  if (/^application\/([a-z0-9.+-]*\+)?json$/.test(media)) return "application/json";
  return media;
}

function parseJson(body: string): Fields | Refusal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse("request.body_invalid", "JSON does not parse");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return refuse("request.body_invalid", "JSON body is not an object");
  }
  // JSON.parse keeps the last of two equal keys; other parsers keep the first or fail.
  const dup = duplicateKey(body);
  if (dup !== null) return refuse("request.duplicate_key", dup.slice(0, 64));
  return { ok: true, fields: parsed as Record<string, unknown>, mediaType: "application/json" };
}

function parseForm(body: string): Fields | Refusal {
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
  return { ok: true, fields: out, mediaType: "application/x-www-form-urlencoded" };
}

/** `name[...]=`: Stripe and Rails read it as an array or a hash named `name`, not as the scalar. */
function bracketed(fields: Record<string, unknown>, name: string): boolean {
  const prefix = `${name}[`;
  for (const key in fields) if (key.startsWith(prefix)) return true;
  return false;
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
