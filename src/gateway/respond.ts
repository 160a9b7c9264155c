/**
 * Responses Firebreak decided: every one carries `Firebreak-Decision` and `Firebreak-Decision-Id`.
 * A refusal is DESIGN.md's JSON shape; its message is a fixed text per reason or the operator's rule
 * message, never a detail that could carry request data.
 */
import { DEFAULT_MESSAGES, httpFor, type Reason } from "./reasons";
import type { DecisionRecord } from "./record";
import type { Refusal } from "./result";

/**
 * Failures after the call was allowed and sent: the decision stays `allow`, because the upstream may
 * have acted on the call (a timed-out merge can still have merged), and the record must not say it was
 * refused.
 */
const AFTER_FORWARD: ReadonlySet<Reason> = new Set(["upstream.timeout", "upstream.unreachable"]);

export function refusalResponse(refusal: Refusal, rec: DecisionRecord): Response {
  const { status, error } = httpFor(refusal.reason);
  const effect =
    refusal.reason === "approval.required" ? "approval_required" : AFTER_FORWARD.has(refusal.reason) ? "allow" : "deny";
  rec.effect = effect;
  const headers = new Headers({
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "firebreak-decision": effect,
    "firebreak-decision-id": rec.decision_id,
  });
  if (status === 401) headers.set("www-authenticate", 'Bearer error="invalid_token"');
  if (refusal.retryAfter !== undefined) headers.set("retry-after", String(refusal.retryAfter));
  const body = {
    error,
    reason: refusal.reason,
    decision_id: rec.decision_id,
    message: refusal.message ?? DEFAULT_MESSAGES[refusal.reason] ?? refusal.reason,
    ...(refusal.approval ? { approval: refusal.approval } : {}),
  };
  return new Response(JSON.stringify(body), { status, headers });
}

export function decisionResponse(response: Response, rec: DecisionRecord): Response {
  response.headers.set("firebreak-decision", rec.effect);
  response.headers.set("firebreak-decision-id", rec.decision_id);
  if (rec.would) response.headers.set("firebreak-would", `${rec.would.effect}; reason=${rec.would.reason}`);
  return response;
}
