/**
 * What every route of Firebreak's own API shares: who is calling (a verified bearer token), whether
 * they are an operator, bounded Durable Object calls, and the one refusal shape
 * (`{ error, reason, message }`, status from the closed reason table, never a detail on the wire).
 */
import type { Context } from "hono";
import type { Env } from "../env";
import { TASK_RPC_TIMEOUT_MS } from "../gateway/admit";
import { type Caller, verifyCaller } from "../gateway/caller";
import { bearerToken } from "../gateway/identity";
import { DEFAULT_MESSAGES, httpFor, type Reason } from "../gateway/reasons";
import type { Refusal } from "../gateway/result";
import { agentMatches } from "../policy/evaluate";
import type { BundleState, LoadedBundle } from "../policy/load";
import type { IssuerSpec } from "../policy/types";

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

/**
 * The bearer must be a token of a workload or person issuer (never a task token) matching
 * `settings.admins`.
 */
export async function operator(c: Ctx, getBundle: () => BundleState): Promise<{ ok: true; by: string } | Refusal> {
  const state = getBundle();
  if (!state.ok) return { ok: false, reason: "bundle.invalid" };
  const who = await authenticate(c, state.bundle, new Date(), state.bundle.spec.issuers);
  if (!who.ok) return who;
  const admins = state.bundle.spec.settings.admins;
  if (who.caller.task !== null || admins === null || !agentMatches(admins, who.caller.agent)) {
    return { ok: false, reason: "admin.denied" };
  }
  return { ok: true, by: `${who.caller.agent.issuer} ${who.caller.agent.sub}` };
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

export function envOf(c: Ctx): Record<string, unknown> {
  return (c.env ?? {}) as unknown as Record<string, unknown>;
}

/** A Durable Object RPC bounded in time (RPC results are thenables of a union: the caller names T). */
export function bounded<T>(p: PromiseLike<unknown>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${TASK_RPC_TIMEOUT_MS} ms`)), TASK_RPC_TIMEOUT_MS);
  });
  return Promise.race([Promise.resolve(p) as Promise<T>, timeout]).finally(() => clearTimeout(timer));
}
