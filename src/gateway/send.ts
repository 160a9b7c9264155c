/**
 * The call's way out, once admitted: forwarded with the service's credential (and, for an MCP server,
 * the session id the pipeline checked), its answer recorded in the task's log (settle, after the
 * response, src/gateway/settles.ts), the upstream's new session id bound to the task and a
 * `tools/list` answer filtered (src/gateway/mcp.ts).
 */
import type { Refusal } from "../core/result";
import { type Admission, NO_ADMISSION } from "./admit";
import type { Call } from "./call";
import { forward } from "./forward";
import { agentAnswer } from "./mcp";
import { decisionResponse } from "./respond";

export async function forwardAndSettle(
  call: Call,
  admission: Admission,
  body: Uint8Array | null,
  staticSecret: string | null,
  stop: (r: Refusal) => Response,
  rpcMethod: string | null = null,
): Promise<Response> {
  const { request, req, bundle, rec, deps } = call;
  // The task's own credential when its object minted one; a minting service without it fails closed
  // (its reservation is given back: nothing was sent).
  const secret = admission.credential ?? staticSecret;
  if (secret === null) {
    admission.settle(null, deps.now().getTime(), deps.background, rec.decision_id);
    return stop({
      ok: false,
      reason: "credential.unavailable",
      detail: `${req.service.name}: the task holds no credential`,
    });
  }
  const mcp = call.endpoint === "mcp" ? req.service.mcp : null;
  const forwarded = await forward({
    req,
    headers: request.headers,
    set: call.upstreamSet,
    body: body ?? request.body,
    secret,
    settings: bundle.spec.settings,
    fetcher: deps.fetcher,
  });
  const outcome = forwarded.ok ? forwarded.response.status : forwarded.reason === "upstream.timeout" ? "timeout" : null;
  // Recorded after the answer: the task object counts the step from admission whatever comes of it.
  admission.settle(outcome, deps.now().getTime(), deps.background, rec.decision_id);
  if (!forwarded.ok) return stop(forwarded);
  rec.upstream_status = forwarded.response.status;
  if (mcp === null) return decisionResponse(forwarded.response, rec);
  const answer = { req, endpoint: mcp, bundle, agent: call.agent, task: call.task, env: deps.env };
  const answered = await agentAnswer(forwarded.response, { ...answer, method: rpcMethod, decisionId: rec.decision_id });
  return answered.ok ? decisionResponse(answered.response, rec) : stop(answered);
}

/**
 * An MCP message that names no action (initialize, ping, the lists, notifications, the session's GET
 * and DELETE): nothing to decide or admit, so it is forwarded as allowed, its session checked.
 */
export function passThrough(
  call: Call,
  body: Uint8Array | null,
  rpcMethod: string | null,
  secret: string | null,
  stop: (r: Refusal) => Response,
): Promise<Response> {
  const { rec } = call;
  rec.effect = "allow";
  rec.reason = "policy.allowed";
  rec.detail = `mcp ${rpcMethod ?? call.req.method}: no action`.slice(0, 256);
  return forwardAndSettle(call, NO_ADMISSION, body, secret, stop, rpcMethod);
}
