/**
 * Stage 6, forward: only allowlisted request headers are sent (src/request/headers.ts), the service
 * credential is injected from its Worker secret, the call is made with `redirect: "manual"`, and the
 * response comes back through a header allowlist. Bodies stream both ways unless already read to
 * extract declared arguments (then the same bytes are sent).
 */

import { type Result, refuse } from "../core/result";
import type { Settings } from "../policy/types";
import { upstreamHeaders } from "../request/headers";
import type { CanonicalRequest } from "../request/route";
import { aliasedPath, rewriteLinkHeader, rewriteLocation } from "./links";

/** Response headers passed back to the agent; everything else (set-cookie, scopes, ...) is dropped. */
const RESPONSE_ALLOW = new Set([
  "content-type",
  "content-language",
  "content-disposition",
  "etag",
  "last-modified",
  "cache-control",
  "expires",
  "vary",
  "link",
  "location",
  "retry-after",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  "x-ratelimit-used",
  "x-ratelimit-resource",
  "x-github-request-id",
  "x-github-media-type",
  "x-slack-req-id",
  "request-id",
  "stripe-version",
  "idempotency-key",
]);

/**
 * With the request (its service's upstream and the gateway's URL for it), `Link` and `Location`
 * pointing at the upstream are pointed back at the gateway (src/gateway/links.ts); a Link to the same
 * endpoint under one of the service's `link_aliases` is pointed at the request's own address.
 */
export function responseHeaders(upstream: Headers, req?: CanonicalRequest): Headers {
  const out = new Headers();
  const base = req?.publicBase;
  // An MCP server's session id comes back to be bound to the task (src/gateway/mcp.ts), never as it is.
  const mcpPath = req?.service.mcp?.path;
  const mcp = mcpPath !== undefined && req?.path === mcpPath;
  for (const [name, value] of upstream) {
    if (!RESPONSE_ALLOW.has(name) && !(mcp && name === "mcp-session-id")) continue;
    if (req && base !== undefined && name === "link") {
      const alias = (path: string) => aliasedPath(path, req.segments, req.service.link_aliases);
      out.append(name, rewriteLinkHeader(value, req.service.upstream, base, alias));
    } else if (base !== undefined && req && name === "location") {
      out.append(name, rewriteLocation(value, req.service.upstream, base));
    } else out.append(name, value);
  }
  return out;
}

export interface ForwardInput {
  req: CanonicalRequest;
  headers: Headers;
  /** The bytes already read for argument extraction, or the incoming stream. */
  body: BodyInit | null;
  secret: string;
  settings: Settings;
  fetcher: (request: Request) => Promise<Response>;
  /** Headers the gateway itself sets, after the allowlist: an MCP session id it checked. */
  set?: Record<string, string>;
}

export async function forward(input: ForwardInput): Promise<Result<{ response: Response }>> {
  const { req } = input;
  const url = `${req.service.upstream}${req.path}${req.rawQuery}`;
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  // The timeout bounds the wait for the upstream's response headers only: a long download that has
  // started must not be cut off mid-body.
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new DOMException("upstream timeout", "TimeoutError")),
    input.settings.upstream_timeout_ms,
  );
  const request = new Request(url, {
    method: req.method,
    headers: withSet(upstreamHeaders(input.headers, req.service, input.settings, input.secret), input.set),
    body: hasBody ? input.body : null,
    redirect: "manual",
    signal: abort.signal,
  });
  let upstream: Response;
  try {
    upstream = await input.fetcher(request);
  } catch {
    return refuse(abort.signal.aborted ? "upstream.timeout" : "upstream.unreachable");
  } finally {
    clearTimeout(timer);
  }
  return {
    ok: true,
    response: new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders(upstream.headers, req),
    }),
  };
}

function withSet(headers: Headers, set: Record<string, string> | undefined): Headers {
  for (const [name, value] of Object.entries(set ?? {})) headers.set(name, value);
  return headers;
}
