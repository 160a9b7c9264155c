/**
 * What every route of Firebreak's own API shares: whether a caller is an operator, small JSON bodies,
 * work after the response, and the one refusal shape (`{ error, reason, message }`, status from the
 * closed reason table, never a detail on the wire), or its page for people. Who is calling is decided
 * by the middleware in `auth.ts`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { MessagePage } from "../approvals/page";
import { DEFAULT_MESSAGES, httpFor, type Reason } from "../core/reasons";
import type { Refusal } from "../core/result";
import type { Env } from "../env";
import { readBody } from "../gateway/body";
import type { Caller } from "../identity/caller";
import { agentMatches } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import { htmlPage } from "../ui/index";

/** The app's one clock (`createApp`'s `clock`): tests move it to reach a deadline instead of waiting. */
export type Clock = () => Date;

/**
 * What every route's context has: the worker's bindings and `c.var.now`, the app's clock, set once by
 * `withClock` where the API is mounted (routes.ts). Its middleware adds more typed variables (auth.ts).
 */
export type ApiEnv = { Bindings: Env; Variables: { now: Clock } };
export type Ctx<E extends ApiEnv = ApiEnv> = Context<E>;

/** Sets `c.var.now` for every route below it: no handler reads the time any other way. */
export function withClock(clock: Clock): MiddlewareHandler<ApiEnv> {
  return createMiddleware<ApiEnv>(async (c, next) => {
    c.set("now", clock);
    await next();
  });
}

/** The app's time in epoch ms, as the Durable Objects' RPCs take it. */
export const nowMs = <E extends ApiEnv>(c: Ctx<E>): number => c.var.now().getTime();

const MAX_JSON_BODY = 4096;

/** An operator: a token of `settings.admins` (workload or person issuer), never a task token. */
export function isOperator(bundle: LoadedBundle, caller: Caller): boolean {
  const admins = bundle.spec.settings.admins;
  return caller.task === null && admins !== null && agentMatches(admins, caller.agent);
}

/**
 * A small JSON object body, or null (too large, not JSON, not an object). The size is checked before
 * the body is read (Content-Length) and while it is (the stream is cancelled past `max`).
 */
export async function jsonBody(request: Request, max = MAX_JSON_BODY): Promise<Record<string, unknown> | null> {
  const read = await readBody(request, max);
  if (!read.ok) return null;
  const { text } = read;
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** A small form body (`application/x-www-form-urlencoded`), read bounded as `jsonBody` is; null when too large. */
export async function formBody(request: Request, max = MAX_JSON_BODY): Promise<URLSearchParams | null> {
  const read = await readBody(request, max);
  return read.ok ? new URLSearchParams(read.text) : null;
}

/** The refusal answer of Firebreak's own API; details of 5xx go to the log line, never to the caller. */
export function fail<E extends ApiEnv>(c: Ctx<E>, refusal: Refusal): Response {
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
export function refusalPage<E extends ApiEnv>(
  c: Ctx<E>,
  refusal: Refusal,
  titles: PageTitles,
  message?: string,
): Promise<Response> {
  const { status } = httpFor(refusal.reason);
  if (status >= 500) {
    console.error(JSON.stringify({ event: "firebreak.api", reason: refusal.reason, detail: refusal.detail ?? null }));
  }
  const text = message ?? DEFAULT_MESSAGES[refusal.reason as Reason] ?? refusal.reason;
  const title = status === 401 ? titles.signIn : titles.refused;
  return htmlPage(c, MessagePage({ title, message: `${text} (${refusal.reason})` }), status as ContentfulStatusCode);
}

/** `ctx.waitUntil`, or, with no execution context (app.fetch called directly, as tests do), the work just runs unawaited. */
export function background(c: Pick<Context, "executionCtx">): (work: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return (work) => void work.catch(() => undefined);
  }
}

export function envOf<E extends ApiEnv>(c: Ctx<E>): Env {
  return c.env;
}
