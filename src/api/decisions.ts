/**
 * GET /_firebreak/v1/decisions: recorded decisions for an operator (settings.admins), with the same
 * filters and views as `firebreak decisions` (src/decisions/query.ts parses both). It reads the local
 * store when this run has one (dev runs: `npm start`), else the Analytics Engine SQL API with the
 * worker's CF_ACCOUNT_ID and CF_API_TOKEN secrets, and fails closed (503 `decisions.unavailable`) when
 * it has neither. `firebreak decisions --local` is this route's client.
 */
import { type Context, Hono } from "hono";
import { httpFor } from "../core/reasons";
import { nameOf, parseQuery, type QueryInput } from "../decisions/query";
import { queryDecisions, workerSource } from "../decisions/source";
import type { BundleState } from "../policy/load";
import { type OperatorEnv, operator, withBundle } from "./auth";
import { type ApiEnv, type Ctx, envOf, fail, nowMs } from "./common";

export function decisionsApi(getBundle: () => BundleState): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  api.get("/", withBundle(getBundle), operator(), decisions);
  return api;
}

/** The decisions the query asks for, from the local store or the Analytics Engine SQL API. */
async function decisions(c: Context<OperatorEnv>): Promise<Response> {
  const input = queryInput(new URL(c.req.url).searchParams);
  const parsed = input.ok ? parseQuery(input.input, nowMs(c)) : input;
  if (!parsed.ok) return invalid(c, parsed.problem);
  const source = workerSource(envOf(c));
  if (!source) return fail(c, { ok: false, reason: "decisions.unavailable" });
  const out = await queryDecisions(source, parsed.query);
  if (!out.ok) {
    // The API's status and words go to the log line (fail() logs 5xx details), never to the caller.
    return fail(c, {
      ok: false,
      reason: "decisions.query_failed",
      detail: `${out.status ?? "no answer"}: ${out.message}`,
    });
  }
  const { filters } = parsed.query;
  return c.json(
    {
      view: out.result.view,
      source: out.source,
      estimated: out.result.estimated,
      since: new Date(filters.since).toISOString(),
      until: new Date(filters.until).toISOString(),
      rows: out.result.rows,
    },
    200,
    { "cache-control": "no-store" },
  );
}

/** One value per parameter: a repeated one is refused rather than one of them picked. */
function queryInput(params: URLSearchParams): { ok: true; input: QueryInput } | { ok: false; problem: string } {
  // No prototype: a parameter named __proto__ is just an unknown parameter.
  const input: QueryInput = Object.create(null);
  for (const [key, value] of params) {
    if (Object.hasOwn(input, key)) return { ok: false, problem: `parameter ${nameOf(key)} is repeated` };
    input[key] = value;
  }
  return { ok: true, input };
}

/** 400 with the problem as the message: it names the parameter and the expected form, never the value. */
function invalid<E extends ApiEnv>(c: Ctx<E>, problem: string): Response {
  const { status, error } = httpFor("decisions.invalid_query");
  return c.json({ error, reason: "decisions.invalid_query", message: `Invalid query: ${problem}.` }, status as 400, {
    "cache-control": "no-store",
  });
}
