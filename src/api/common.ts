/**
 * What every route of Firebreak's own API shares: who is calling (a verified bearer token), whether
 * they are an operator, bounded Durable Object calls, work after the response, and the one refusal
 * shape (`{ error, reason, message }`, status from the closed reason table, never a detail on the
 * wire), or its page for people.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { MessagePage } from "../approvals/page";
import { DEFAULT_MESSAGES, httpFor, type Reason } from "../core/reasons";
import type { Refusal, Result } from "../core/result";
import type { Env } from "../env";
import { bearerToken } from "../identity/bearer";
import { type Caller, verifyCaller } from "../identity/caller";
import { agentMatches } from "../policy/evaluate";
import type { BundleState, LoadedBundle } from "../policy/load";
import type { IssuerSpec } from "../policy/types";
import { htmlPage } from "../ui/index";

export type Ctx = Context<{ Bindings: Env }>;

const MAX_JSON_BODY = 4096;

/** An agent (task or workload token); `issuers` widens the workload issuers (operators: every issuer). */
export async function authenticate(
  c: Ctx,
  bundle: LoadedBundle,
  now: Date,
  issuers?: IssuerSpec[],
): Promise<{ ok: true; caller: Caller } | Refusal> {
  const bearer = bearerToken(c.req.header("authorization") ?? null);
  if (!bearer.ok) return bearer;
  return verifyCaller(bearer.token, bundle.spec, envOf(c), now, issuers);
}

/** Where a route reads the caller's token from. */
export type TokenSource = (request: Request) => Result<{ token: string }>;

/** The `Authorization: Bearer` header only: the JSON API, whose operator routes change state. */
export const bearerOnly: TokenSource = (request) => bearerToken(request.headers.get("authorization"));

/**
 * The token must be of a workload or person issuer (never a task token) and match `settings.admins`.
 * The JSON API reads it from the bearer header only: a browser attaches Access's cookie (and so its
 * header) to a cross-site POST by itself, so an ambient credential must never revoke a task. Pages
 * that only read (the dashboard) pass `personToken` and take it the way approvers' pages do.
 */
export async function operator(
  c: Ctx,
  getBundle: () => BundleState,
  tokenOf: TokenSource = bearerOnly,
): Promise<{ ok: true; by: string } | Refusal> {
  const state = getBundle();
  if (!state.ok) return { ok: false, reason: "bundle.invalid" };
  const token = tokenOf(c.req.raw);
  if (!token.ok) return token;
  const who = await verifyCaller(token.token, state.bundle.spec, envOf(c), new Date(), state.bundle.spec.issuers);
  if (!who.ok) return who;
  if (!isOperator(state.bundle, who.caller)) return { ok: false, reason: "admin.denied" };
  return { ok: true, by: `${who.caller.agent.issuer} ${who.caller.agent.sub}` };
}

/** An operator: a token of `settings.admins` (workload or person issuer), never a task token. */
export function isOperator(bundle: LoadedBundle, caller: Caller): boolean {
  const admins = bundle.spec.settings.admins;
  return caller.task === null && admins !== null && agentMatches(admins, caller.agent);
}

/** A small JSON object body, or null (too large, not JSON, not an object). */
export async function jsonBody(request: Request, max = MAX_JSON_BODY): Promise<Record<string, unknown> | null> {
  const text = await request.text();
  if (text.length > max) return null;
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** The refusal answer of Firebreak's own API; details of 5xx go to the log line, never to the caller. */
export function fail(c: Ctx, refusal: Refusal): Response {
  const { status, error } = httpFor(refusal.reason);
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (status === 401) headers["www-authenticate"] = 'Bearer error="invalid_token"';
  if (refusal.retryAfter !== undefined) headers["retry-after"] = String(refusal.retryAfter);
  if (status >= 500) {
    console.error(JSON.stringify({ event: "firebreak.api", reason: refusal.reason, detail: refusal.detail ?? null }));
  }
  const message = DEFAULT_MESSAGES[refusal.reason as Reason] ?? refusal.reason;
  return c.json({ error, reason: refusal.reason, message }, status as 400, headers);
}

/** A Durable Object call that threw or timed out: 503 `task.unavailable`, its cause in the log line only. */
export function unreachable(what: string, e: unknown): Refusal {
  return { ok: false, reason: "task.unavailable", detail: `${what}: ${(e as Error)?.message ?? "error"}` };
}

/** Titles of a refusal page: not signed in (401), and everything else. */
export interface PageTitles {
  signIn: string;
  refused: string;
}

/** A refusal as a page for people: the same status and reason code as the JSON answer, never a detail. */
export function refusalPage(c: Ctx, refusal: Refusal, titles: PageTitles, message?: string): Promise<Response> {
  const { status } = httpFor(refusal.reason);
  if (status >= 500) {
    console.error(JSON.stringify({ event: "firebreak.api", reason: refusal.reason, detail: refusal.detail ?? null }));
  }
  const text = message ?? DEFAULT_MESSAGES[refusal.reason as Reason] ?? refusal.reason;
  const title = status === 401 ? titles.signIn : titles.refused;
  return htmlPage(c, MessagePage({ title, message: `${text} (${refusal.reason})` }), status as ContentfulStatusCode);
}

/** `ctx.waitUntil`, or, with no execution context (app.fetch called directly, as tests do), the work just runs unawaited. */
export function background(c: Ctx): (work: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return (work) => void work.catch(() => undefined);
  }
}

export function envOf(c: Ctx): Record<string, unknown> {
  return (c.env ?? {}) as unknown as Record<string, unknown>;
}
