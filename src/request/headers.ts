/**
 * Request headers by allowlist (docs/decisions.md, "what Firebreak sees is what the upstream gets"): a
 * header Firebreak does not know could change what the upstream does (a URL-rewrite header, an API
 * key, a connected account), unseen by rules and approvals. So only these reach the upstream:
 *   - the defaults below, which SDKs need and which do not change the action;
 *   - the service's `forward_headers` (API versions) and the bundle's `settings.forward_headers`;
 *   - the service's `semantic_headers`, which are arguments: rules read them, approvals bind them.
 * Pure.
 */

import { type Result, refuse } from "../core/result";
import type { ServiceSpec, Settings } from "../policy/types";

/** Headers any SDK sends that select a representation or a precondition, never another action. */
export const DEFAULT_FORWARD: ReadonlySet<string> = new Set([
  "accept",
  "accept-language",
  "content-type",
  "user-agent",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "idempotency-key",
]);

/** The upstream request's headers: the allowlisted ones as sent, then the service credential. */
export function upstreamHeaders(incoming: Headers, service: ServiceSpec, settings: Settings, secret: string): Headers {
  const out = new Headers();
  // A header the client nominates in Connection is hop-by-hop (RFC 9110 section 7.6.1), whatever its name.
  const hopByHop = new Set(
    (incoming.get("connection") ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of incoming) {
    if (!hopByHop.has(name) && forwarded(name, service, settings)) out.set(name, value);
  }
  // A replacer function, not a string: String.replace would expand `$&`, `$'`, `$$`... inside the
  // secret itself and send a mangled (or format-leaking) credential.
  const credential = service.credential.format.replace("{secret}", () => secret);
  out.set(service.credential.header, credential);
  return out;
}

function forwarded(name: string, service: ServiceSpec, settings: Settings): boolean {
  if (service.strip_headers.includes(name)) return false;
  return (
    DEFAULT_FORWARD.has(name) ||
    service.forward_headers.includes(name) ||
    settings.forward_headers.includes(name) ||
    service.semantic_headers.some((h) => h.name === name)
  );
}

/**
 * The service's semantic headers the request carries, by lower-case name. Headers joins repeated
 * fields with ", ", and an upstream may take either one: a list is refused, never guessed.
 */
export function semanticHeaders(incoming: Headers, service: ServiceSpec): Result<{ headers: Record<string, string> }> {
  const headers: Record<string, string> = Object.create(null);
  for (const { name } of service.semantic_headers) {
    const value = incoming.get(name);
    if (value === null) continue;
    if (value.includes(",") || value.trim() === "" || value.length > MAX_SEMANTIC_HEADER) {
      return refuse("request.header_ambiguous", name);
    }
    headers[name] = value.trim();
  }
  return { ok: true, headers };
}

const MAX_SEMANTIC_HEADER = 256;

/** The resource with the scope prefixes of the semantic headers sent (`account:acct_1/customer:cus_1`). */
export function scopedResource(service: ServiceSpec, headers: Record<string, string>, resource: string): string {
  let prefix = "";
  for (const { name, scope } of service.semantic_headers) {
    const value = headers[name];
    if (scope !== null && value !== undefined) prefix += scope.replace("{value}", () => value);
  }
  return prefix + resource;
}
