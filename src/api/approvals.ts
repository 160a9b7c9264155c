/**
 * Approvals under /_firebreak/v1/approvals:
 *
 *   GET  /approvals/:id/status    the agent polls (its task's token) -> pending | approved | denied | expired | used
 *   GET  /approvals/:id           the approval page, for a person (kind: person issuer) who may approve it
 *   POST /approvals/:id/approve   the page's form (form token + same-origin checks) -> 303 back to the page
 *   POST /approvals/:id/deny
 *
 * The task object holding the approval is named by the id's task part; it holds the record or answers
 * unknown. The agent's token only ever reads approvals of its own task. A person's decision is checked
 * (issuer kind, approver selectors, not their own request, form token, still pending) and written to the
 * task's step log with who and when; one log line per decision too. A decided approval gives its slot
 * back to the requesting agent's object, in the background (src/approvals/slots.ts).
 */
import { type Context, Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { approverOf, mayApprove } from "../approvals/approvers";
import { ApprovalPage } from "../approvals/page";
import { releaseSlot } from "../approvals/slots";
import { DEFAULT_MESSAGES } from "../core/reasons";
import type { Refusal } from "../core/result";
import type { BundleState } from "../policy/load";
import { taskIdOfApproval } from "../tasks/approval-ids";
import { isOwnRequest } from "../tasks/approval-ledger";
import type { ApprovalView, DecideResult } from "../tasks/approval-types";
import { approvalSettled, note } from "../tasks/directory";
import { rpcCall } from "../tasks/rpc";
import type { TaskView } from "../tasks/task-object";
import { htmlPage } from "../ui/index";
import { type AgentEnv, type Answer, agent, type PersonEnv, person, withBundle } from "./auth";
import { type ApiEnv, background, type Ctx, fail, formBody, nowMs, refusalPage, unreachable } from "./common";

const BASE = "/_firebreak/v1/approvals";
const RECENT_STEPS = 12;
const NO_STORE = { "cache-control": "no-store" };
const TITLES = { signIn: "Sign in to approve", refused: "Nothing to approve here" };

type Found = { view: ApprovalView; csrf: string | null };

export function approvalsApi(getBundle: () => BundleState): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  api.get("/:id/status", withBundle(getBundle), agent(), status);
  api.get("/:id", withBundle(getBundle, page), person(page), approvalPage);
  // The form must come from the approval page of this origin: a cross-site post is refused before
  // anything else, whatever credentials the browser attached to it.
  const decided = [sameSite, withBundle(getBundle, answer), person(answer)] as const;
  api.post("/:id/approve", ...decided, decide("approve"));
  api.post("/:id/deny", ...decided, decide("deny"));
  return api;
}

/** The agent polls its approval: only its task's own token; another task (or a workload token) learns nothing. */
async function status(c: Context<AgentEnv>): Promise<Response> {
  const task = c.var.caller.task;
  const id = c.req.param("id") ?? "";
  const taskId = taskIdOfApproval(id);
  if (task === null || taskId === null || taskId !== task.id) return fail(c, { ok: false, reason: "approval.unknown" });
  const found = await lookup(c, taskId, id, false);
  if (!found.ok) return fail(c, found);
  const a = found.found.view;
  const answer = {
    id: a.id,
    status: a.status,
    expires_at: new Date(a.expires_at).toISOString(),
    decided_at: a.decided_at === null ? null : new Date(a.decided_at).toISOString(),
    action: a.request.action,
    resource: a.request.resource,
  };
  return c.json(answer, 200, NO_STORE);
}

/** The approval page for a person who may approve it: the request, the task, its recent steps, the form. */
async function approvalPage(c: Context<PersonEnv>): Promise<Response> {
  const approver = c.var.caller;
  const id = c.req.param("id") ?? "";
  const taskId = taskIdOfApproval(id);
  if (!taskId) return page(c, { ok: false, reason: "approval.unknown" });
  const found = await lookup(c, taskId, id, true);
  if (!found.ok) return page(c, found);
  const { view, csrf } = found.found;
  if (!mayApprove(approver, view.approvers)) return page(c, { ok: false, reason: "approver.not_allowed" });
  const self = isOwnRequest(approverOf(approver), view.requester.sub);
  const notice = self
    ? DEFAULT_MESSAGES["approver.self"]!
    : view.status === "pending"
      ? null
      : `This approval is ${view.status}: there is nothing to decide.`;
  try {
    const stub = c.env.TASKS!.getByName(taskId);
    const task = await rpcCall<TaskView | null>(stub.inspect(0, 1));
    if (!task) return page(c, { ok: false, reason: "approval.unknown" });
    const from = Math.max(0, task.log_length - RECENT_STEPS);
    const recent = await rpcCall<TaskView | null>(stub.inspect(from, RECENT_STEPS));
    const form = !self && view.status === "pending" ? csrf : null;
    const steps = recent?.steps ?? [];
    return htmlPage(c, ApprovalPage({ approval: view, task, recent: steps, csrf: form, notice, base: BASE }));
  } catch (e) {
    return page(c, unreachable("page", e));
  }
}

/** The page's form (or a JSON client, by `Accept`): a person's verdict, checked by the task object. */
function decide(verdict: "approve" | "deny") {
  return async (c: Context<PersonEnv>): Promise<Response> => {
    const id = c.req.param("id") ?? "";
    const taskId = taskIdOfApproval(id);
    if (!taskId) return answer(c, { ok: false, reason: "approval.unknown" });
    const form = await formBody(c.req.raw);
    const csrf = form?.get("csrf") ?? "";
    const found = await lookup(c, taskId, id, false);
    if (!found.ok) return answer(c, found);
    const { view } = found.found;
    if (!mayApprove(c.var.caller, view.approvers)) return answer(c, { ok: false, reason: "approver.not_allowed" });
    const who = approverOf(c.var.caller);
    const now = nowMs(c);
    let result: DecideResult;
    try {
      result = await rpcCall<DecideResult>(c.env.TASKS!.getByName(taskId).decideApproval(id, verdict, who, csrf, now));
    } catch (e) {
      return answer(c, unreachable("decide", e));
    }
    if (!result.ok) return answer(c, { ok: false, reason: result.reason });
    note(c.env, background(c), approvalSettled(id, taskId, result.status, now));
    background(c)(releaseSlot(c.env, view.requester, { approval_id: id }, now));
    const decision = { approval_id: id, task_id: taskId, decision: result.status, by: `${who.issuer} ${who.sub}` };
    const at = new Date(now).toISOString();
    console.log(JSON.stringify({ event: "firebreak.approval_decision", ...decision, action: view.request.action, at }));
    if (wantsJson(c)) return c.json({ id, status: result.status }, 200, NO_STORE);
    return c.redirect(`${BASE}/${id}`, 303);
  };
}

async function lookup<E extends ApiEnv>(
  c: Ctx<E>,
  taskId: string,
  id: string,
  withForm: boolean,
): Promise<{ ok: true; found: Found } | Refusal> {
  const TASKS = c.env?.TASKS;
  if (!TASKS) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" };
  try {
    const found = await rpcCall<Found | null>(TASKS.getByName(taskId).approval(id, nowMs(c), withForm));
    return found ? { ok: true, found } : { ok: false, reason: "approval.unknown" };
  } catch (e) {
    return unreachable("approval", e);
  }
}

/** `Sec-Fetch-Site` (sent by every current browser) and `Origin`, when present, must say same origin. */
const sameSite = createMiddleware<ApiEnv>(async (c, next) => {
  if (!sameOrigin(c.req.raw)) return answer(c, { ok: false, reason: "approval.csrf", detail: "cross-site" });
  await next();
});

function sameOrigin(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return false;
  const origin = request.headers.get("origin");
  return origin === null || origin === new URL(request.url).origin;
}

const wantsJson = <E extends ApiEnv>(c: Ctx<E>) => (c.req.header("accept") ?? "").includes("application/json");

/** A refusal as a page for people (the same status and reason code as the JSON answer). */
const page: Answer = (c, refusal) => refusalPage(c, refusal, TITLES);

/** A verdict's refusal: JSON to a client that asked for it, else the page. */
const answer: Answer = (c, refusal) => (wantsJson(c) ? fail(c, refusal) : page(c, refusal));
