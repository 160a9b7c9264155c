/**
 * The fake outside world for tests inside workerd: every outbound fetch of the worker lands here (the
 * pool's `outboundService`), so nothing can reach the internet. It serves the test issuers' JWKS,
 * answers like the SaaS APIs, and records every request it receives. Tests read and reset the record
 * through `http://recorder.test/` from inside the worker.
 *
 * Hosts:
 *   oidc.acme.example, jwks.test.example    JWKS of the test keys
 *   jwks-down.test.example                  always 503 (an unreachable issuer)
 *   api.github.com, slack.com, api.stripe.com, *.test.example
 *                                           echo the request as JSON (status from `x-fake-status`)
 *   api.github.com/repos/acme/paged/issues  5 issues in pages of `per_page` (default 2), with GitHub's
 *                                           `Link` header as GitHub writes it: absolute URLs that name
 *                                           the repository by id (/repositories/4242/issues?page=2)
 *   POST api.github.com/graphql             a GraphQL answer: `{"data": {"echo": <the JSON body received>}}`
 *   POST crm.test.example/mcp initialize    an MCP server's answer with an Mcp-Session-Id over the 512-character
 *                                           bound (the gateway cannot bind it: mcp.response_invalid)
 *   slow.test.example                       answers after 3 s (for upstream timeouts)
 *   slowbody.test.example                   headers at once, the body's second half 1.5 s later
 *   unreachable.test.example                network error
 *   hooks-down.test.example                 recorded, then 500 (an approval webhook that fails)
 *   api.github.com (App endpoints, minted tokens), oauth.test.example
 *                                           the fake token servers of test/helpers/token-servers.ts
 *                                           (their record: recorder.test/token-servers)
 *   any other host                          unmocked egress: 599, and the test file fails
 */
import keys from "../fixtures/keys.json" with { type: "json" };
import { resetTokenServers, tokenServersAnswer, tokenServersRecord } from "./token-servers.ts";

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

const recorded: Recorded[] = [];
const unmocked: string[] = [];
const FAKE_HOSTS = new Set(["api.github.com", "slack.com", "api.stripe.com"]);
const publicJwks = JSON.stringify({ keys: [keys.rs256.public, keys.es256.public, keys.es256_spiffe.public] });

export async function outbound(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.hostname === "recorder.test") {
    if (url.pathname === "/reset") {
      recorded.length = 0;
      resetTokenServers();
    }
    if (url.pathname === "/token-servers") return Response.json(tokenServersRecord());
    if (url.pathname === "/unmocked") return Response.json(unmocked);
    if (url.pathname === "/unmocked-clear") unmocked.length = 0;
    return Response.json(recorded);
  }
  if (url.hostname === "oidc.acme.example" || url.hostname === "jwks.test.example") {
    return new Response(publicJwks, { headers: { "content-type": "application/json" } });
  }
  if (url.hostname === "jwks-down.test.example") return new Response("down", { status: 503 });
  if (url.hostname === "unreachable.test.example") throw new TypeError("connection refused");
  if (!FAKE_HOSTS.has(url.hostname) && !url.hostname.endsWith(".test.example")) {
    // test/helpers/no-egress.ts fails the test file that caused it.
    unmocked.push(`${request.method} ${url.origin}${url.pathname}`);
    return new Response(`unmocked egress to ${url.hostname}: tests never reach the internet`, { status: 599 });
  }
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => {
    headers[k] = v;
  });
  const body = await request.text();
  recorded.push({ method: request.method, url: request.url, headers, body });
  const minted = await tokenServersAnswer(request, url, body);
  if (minted) return minted;
  if (url.hostname === "slow.test.example") await new Promise((r) => setTimeout(r, 3000));
  if (url.hostname === "slowbody.test.example") return slowBody();
  if (url.hostname === "hooks-down.test.example") return new Response("webhook down", { status: 500 });
  if (url.hostname === "api.github.com" && url.pathname === PAGED_ISSUES) return pagedIssues(url);
  if (url.hostname === "crm.test.example" && url.pathname === "/mcp") {
    const initialize = mcpInitialize(body);
    if (initialize) return initialize;
  }
  if (url.hostname === "api.github.com" && url.pathname === "/graphql" && request.method === "POST") {
    return graphqlAnswer(body);
  }
  const status = Number(request.headers.get("x-fake-status") ?? 200);
  return new Response(
    status === 204 || status === 304
      ? null
      : JSON.stringify({ ok: true, echo: { method: request.method, path: url.pathname } }),
    {
      status,
      headers: {
        "content-type": "application/json",
        "set-cookie": "session=upstream-cookie",
        "x-oauth-scopes": "repo, admin:org",
        "x-ratelimit-remaining": "4999",
        etag: '"abc"',
        location: status >= 300 && status < 400 ? "https://elsewhere.example/next" : "",
      },
    },
  );
}

const PAGED_ISSUES = "/repos/acme/paged/issues";
const PAGED_TOTAL = 5;

/** A page of issues as GitHub sends it: the JSON array, and `Link` with first/prev/next/last. */
function pagedIssues(url: URL): Response {
  const perPage = Math.max(1, Number(url.searchParams.get("per_page") ?? 2) || 2);
  const last = Math.ceil(PAGED_TOTAL / perPage);
  const page = Math.min(Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1), last);
  const issues = [];
  for (let n = (page - 1) * perPage + 1; n <= Math.min(page * perPage, PAGED_TOTAL); n++) {
    issues.push({ number: n, title: `Issue ${n}` });
  }
  const at = (p: number) => {
    const next = new URL(url.href);
    next.searchParams.set("page", String(p));
    return `<https://api.github.com/repositories/4242/issues${next.search}>`;
  };
  const links: string[] = [];
  if (page > 1) links.push(`${at(page - 1)}; rel="prev"`);
  if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`);
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (links.length > 0) headers.link = links.join(", ");
  return new Response(JSON.stringify(issues), { headers });
}

/** GitHub's GraphQL endpoint as a client reads it: 200 with `data` (here, what it was sent), or `errors`. */
function graphqlAnswer(body: string): Response {
  let echo: unknown;
  try {
    echo = JSON.parse(body);
  } catch {
    return Response.json({ errors: [{ message: "Problems parsing JSON" }] }, { status: 400 });
  }
  return Response.json({ data: { echo } }, { headers: { "x-ratelimit-remaining": "4999" } });
}

/** An MCP server's answer to `initialize`, its session id over the gateway's bound; null for any other body. */
function mcpInitialize(body: string): Response | null {
  let message: { method?: unknown; id?: unknown };
  try {
    message = JSON.parse(body);
  } catch {
    return null;
  }
  if (message?.method !== "initialize") return null;
  const result = { protocolVersion: "2025-06-18", capabilities: {}, serverInfo: { name: "fake-crm", version: "1" } };
  const headers = { "mcp-session-id": "s".repeat(513) };
  return Response.json({ jsonrpc: "2.0", id: message.id ?? null, result }, { headers });
}

/** Headers at once, then a body that takes longer than the gateway's upstream timeout to finish. */
function slowBody(): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(encoder.encode("first half,"));
      await new Promise((r) => setTimeout(r, 1500));
      controller.enqueue(encoder.encode("second half"));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain" } });
}
