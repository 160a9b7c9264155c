/**
 * Responses Firebreak decided: every one carries `Firebreak-Decision` and `Firebreak-Decision-Id`.
 * A refusal comes in the dialect of the service called (docs/reasons.md, "Refusals in each API's own
 * shape"): Firebreak's JSON, Slack's `ok: false`, or Stripe's error object, each with the reason code
 * and decision id where that API's SDKs put an error code. Its message is a fixed text per reason or
 * the operator's rule message, never a detail that could carry request data.
 */

import { DEFAULT_MESSAGES, httpFor, type Reason, type WireError } from "../core/reasons";
import type { Refusal } from "../core/result";
import type { DecisionRecord } from "../decisions/record";
import type { BundleState } from "../policy/load";
import { own } from "../policy/routes";
import type { RefusalDialect } from "../policy/types";
import { jsonRpcRefusal } from "../protocols/mcp/refusal";

/**
 * Failures after the call was allowed and sent: the decision stays `allow`, because the upstream may
 * have acted on the call (a timed-out merge can still have merged, an MCP server whose answer could not
 * be passed on did get the message), and the record must not say it was refused.
 */
const AFTER_FORWARD: ReadonlySet<Reason> = new Set([
  "upstream.timeout",
  "upstream.unreachable",
  "mcp.response_invalid",
]);

/** What every dialect says, before it is put in that dialect's shape. */
interface Said {
  status: number;
  error: WireError;
  reason: Reason;
  decision_id: string;
  message: string;
  approval: Refusal["approval"];
  retryAfter: number | undefined;
}

interface Shaped {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * A service's own dialect, or the protocol of the endpoint called: a GraphQL document gets GraphQL
 * errors, an MCP message a JSON-RPC error answering it (src/protocols/mcp/refusal.ts).
 */
export type Dialect = RefusalDialect | "graphql" | "jsonrpc";

const DIALECTS: Record<Exclude<Dialect, "jsonrpc">, (said: Said) => Shaped> = {
  firebreak: firebreakShape,
  slack: slackShape,
  stripe: stripeShape,
  graphql: graphqlShape,
};

/**
 * `dialect`: the routed service's `refusal`. Refusals before routing (the service is not known) and
 * Firebreak's own API stay `firebreak`.
 */
export function refusalResponse(
  refusal: Refusal,
  rec: DecisionRecord,
  dialect: Dialect = "firebreak",
  rpcBody: string | null = null,
): Response {
  const { status, error } = httpFor(refusal.reason);
  const effect =
    refusal.reason === "approval.required" ? "approval_required" : AFTER_FORWARD.has(refusal.reason) ? "allow" : "deny";
  rec.effect = effect;
  const said: Said = {
    status,
    error,
    reason: refusal.reason,
    decision_id: rec.decision_id,
    message: refusal.message ?? DEFAULT_MESSAGES[refusal.reason] ?? refusal.reason,
    approval: refusal.approval,
    retryAfter: refusal.retryAfter,
  };
  const shaped = dialect === "jsonrpc" ? jsonRpcShape(said, rpcBody) : (DIALECTS[dialect] ?? firebreakShape)(said);
  const headers = new Headers({
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...shaped.headers,
    "firebreak-decision": effect,
    "firebreak-decision-id": rec.decision_id,
  });
  if (shaped.status === 401) headers.set("www-authenticate", 'Bearer error="invalid_token"');
  if (refusal.retryAfter !== undefined) headers.set("retry-after", String(refusal.retryAfter));
  return new Response(JSON.stringify(shaped.body), { status: shaped.status, headers });
}

/** The refusal dialect of the service a decision record names (null: not routed), for `refusalResponse`. */
export function dialectOf(bundle: BundleState, service: string | null): RefusalDialect {
  if (!bundle.ok || service === null) return "firebreak";
  return own(bundle.bundle.spec.services, service)?.refusal ?? "firebreak";
}

/** DESIGN.md's shape; Octokit and most REST clients show `message` and keep the body. */
function firebreakShape(s: Said): Shaped {
  return {
    status: s.status,
    body: {
      error: s.error,
      reason: s.reason,
      decision_id: s.decision_id,
      message: s.message,
      ...(s.approval ? { approval: s.approval } : {}),
    },
  };
}

/** The JSON-RPC error answering the MCP request in `body` (null: not read, so no id to echo). */
function jsonRpcShape(s: Said, body: string | null): Shaped {
  const extra = {
    ...(s.approval ? { approval: s.approval } : {}),
    ...(s.retryAfter !== undefined ? { retry_after: s.retryAfter } : {}),
  };
  const answer = jsonRpcRefusal(body, s.reason, s.message, s.decision_id, extra);
  return { status: answer.status, body: JSON.parse(answer.body) };
}

/** Statuses a GraphQL client acts on at the HTTP level: sign in again, wait, or retry later. */
const GRAPHQL_HTTP = (status: number) => status === 401 || status === 429 || status >= 500;

/**
 * A GraphQL response with `errors` and no `data`. As GraphQL over HTTP serves `application/json`, a
 * request that was read but refused is answered 200: @octokit/graphql then throws its
 * GraphqlResponseError with the error's message and keeps `errors[0].extensions` (the reason code and
 * decision id), where any other status would be an HttpError around the raw body. 401, 429 (with
 * Retry-After) and 5xx keep their status: clients sign in, wait or retry on those. The decision is in
 * `Firebreak-Decision` either way.
 */
function graphqlShape(s: Said): Shaped {
  const extensions = {
    code: s.error,
    reason: s.reason,
    decision_id: s.decision_id,
    ...(s.approval ? { approval: s.approval } : {}),
  };
  const status = GRAPHQL_HTTP(s.status) ? s.status : 200;
  return { status, body: { errors: [{ message: `Firebreak: ${s.message}`, extensions }], data: null } };
}

/**
 * Slack's Web API answers errors with 200 and `{"ok": false, "error": "<code>"}`; @slack/web-api
 * retries any other status for about half an hour, and throws `WebAPIPlatformError` with the body as
 * `data` for `ok: false`. A rate-limit refusal with a Retry-After stays 429, which the SDK waits out
 * (or rejects at once with `rejectRateLimitedCalls`) as it does for Slack's own limits. The message
 * goes in `response_metadata.messages` too, which the SDK logs.
 */
function slackShape(s: Said): Shaped {
  const wait = s.status === 429 && s.retryAfter !== undefined;
  return {
    status: wait ? 429 : 200,
    body: {
      ok: false,
      error: s.reason,
      firebreak: {
        error: s.error,
        reason: s.reason,
        decision_id: s.decision_id,
        message: s.message,
        ...(s.approval ? { approval: s.approval } : {}),
      },
      response_metadata: { messages: [`[ERROR] Firebreak ${s.reason} (decision ${s.decision_id}): ${s.message}`] },
    },
  };
}

/** Statuses a Stripe client may retry: rate windows, and dependencies or upstreams that were unavailable. */
const STRIPE_RETRYABLE = new Set([429, 502, 503, 504]);

/**
 * Stripe's error object, with the status as today: stripe-node picks its error class by status
 * (400/404 StripeInvalidRequestError, 401 StripeAuthenticationError, 403 StripePermissionError, 429
 * StripeRateLimitError, 5xx StripeAPIError) and copies `code` (the reason) and the whole object
 * (`raw.decision_id`). `Stripe-Should-Retry: false` keeps the SDK from retrying a policy refusal;
 * `Request-Id` is the decision id (the SDK's `requestId`).
 */
function stripeShape(s: Said): Shaped {
  return {
    status: s.status,
    body: {
      error: {
        type: s.status >= 500 ? "api_error" : "invalid_request_error",
        code: s.reason,
        message: s.message,
        decision_id: s.decision_id,
        ...(s.approval ? { approval: s.approval } : {}),
      },
    },
    headers: {
      "request-id": s.decision_id,
      ...(STRIPE_RETRYABLE.has(s.status) ? {} : { "stripe-should-retry": "false" }),
    },
  };
}

export function decisionResponse(response: Response, rec: DecisionRecord): Response {
  response.headers.set("firebreak-decision", rec.effect);
  response.headers.set("firebreak-decision-id", rec.decision_id);
  if (rec.would) response.headers.set("firebreak-would", `${rec.would.effect}; reason=${rec.would.reason}`);
  return response;
}
