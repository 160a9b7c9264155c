/**
 * Approvals (issue 4) under /_firebreak/v1/approvals:
 *
 *   GET  /approvals/:id/status    the agent polls (its task's token) -> pending | approved | denied | expired | used
 *   GET  /approvals/:id           the approval page, for a person (kind: person issuer) who may approve it
 *   POST /approvals/:id/approve   the page's form (form token + same-origin checks) -> 303 back to the page
 *   POST /approvals/:id/deny
 *
 * The task object holding the approval is named by the id's task part; it holds the record or answers
 * unknown. The agent's token only ever reads approvals of its own task. A person's decision is checked
 * (issuer kind, approver selectors, not their own request, form token, still pending) and written to the
 * task's step log with who and when; one log line per decision too.
 */
import { Hono } from "hono";
import { approverOf, mayApprove, personToken, verifyPerson } from "../approvals/approvers";
import { ApprovalPage } from "../approvals/page";
import { DEFAULT_MESSAGES } from "../core/reasons";
import type { Refusal } from "../core/result";
import type { Env } from "../env";
import type { Agent } from "../policy/evaluate";
import type { BundleState } from "../policy/load";
import { taskIdOfApproval } from "../tasks/approval-ids";
import { isOwnRequest } from "../tasks/approval-ledger";
import type { ApprovalView, DecideResult } from "../tasks/approval-types";
import { approvalSettled, note } from "../tasks/directory";
import { rpcCall } from "../tasks/rpc";
import type { TaskView } from "../tasks/task-object";
import { htmlPage } from "../ui/index";
import { authenticate, background, type Ctx, envOf, fail, refusalPage, unreachable } from "./common";

const BASE = "/_firebreak/v1/approvals";
const RECENT_STEPS = 12;

type Found = { view: ApprovalView; csrf: string | null };

export function approvalsApi(getBundle: () => BundleState): Hono<{ Bindings: Env }> {
  const api = new Hono<{ Bindings: Env }>();

  api.get("/:id/status", async (c) => {
    const state = getBundle();
    if (!state.ok) return fail(c, { ok: false, reason: "bundle.invalid" });
    const who = await authenticate(c, state.bundle, new Date());
    if (!who.ok) return fail(c, who);
    const id = c.req.param("id");
    const taskId = taskIdOfApproval(id);
    // Only the task's own token: another task (or a workload token) learns nothing, not even existence.
    if (who.caller.task === null || taskId !== who.caller.task.id)
      return fail(c, { ok: false, reason: "approval.unknown" });
    const found = await lookup(c, taskId, id, false);
    if (!found.ok) return fail(c, found);
    const a = found.found.view;
    return c.json(
      {
        id: a.id,
        status: a.status,
        expires_at: new Date(a.expires_at).toISOString(),
        decided_at: a.decided_at === null ? null : new Date(a.decided_at).toISOString(),
        action: a.request.action,
        resource: a.request.resource,
      },
      200,
      { "cache-control": "no-store" },
    );
  });

  api.get("/:id", async (c) => {
    const person = await approverFor(c, getBundle);
    if (!person.ok) return page(c, person);
    const id = c.req.param("id");
    const taskId = taskIdOfApproval(id);
    if (!taskId) return page(c, { ok: false, reason: "approval.unknown" });
    const found = await lookup(c, taskId, id, true);
    if (!found.ok) return page(c, found);
    const { view, csrf } = found.found;
    if (!mayApprove(person.person, view.approvers)) return page(c, { ok: false, reason: "approver.not_allowed" });
    const self = isOwnRequest(approverOf(person.person), view.requester.sub);
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
      return htmlPage(
        c,
        ApprovalPage({
          approval: view,
          task,
          recent: recent?.steps ?? [],
          csrf: !self && view.status === "pending" ? csrf : null,
          notice,
          base: BASE,
        }),
      );
    } catch (e) {
      return page(c, unreachable("page", e));
    }
  });

  for (const verdict of ["approve", "deny"] as const) {
    api.post(`/:id/${verdict}`, async (c) => {
      const json = (c.req.header("accept") ?? "").includes("application/json");
      const answer = (refusal: Refusal) => (json ? fail(c, refusal) : page(c, refusal));
      // The form must come from the approval page of this origin: a cross-site post is refused before
      // anything else, whatever credentials the browser attached to it.
      if (!sameOrigin(c.req.raw)) return answer({ ok: false, reason: "approval.csrf", detail: "cross-site" });
      const person = await approverFor(c, getBundle);
      if (!person.ok) return answer(person);
      const id = c.req.param("id");
      const taskId = taskIdOfApproval(id);
      if (!taskId) return answer({ ok: false, reason: "approval.unknown" });
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const csrf = typeof form.csrf === "string" ? form.csrf : "";
      const found = await lookup(c, taskId, id, false);
      if (!found.ok) return answer(found);
      if (!mayApprove(person.person, found.found.view.approvers))
        return answer({ ok: false, reason: "approver.not_allowed" });
      const who = approverOf(person.person);
      let result: DecideResult;
      try {
        result = await rpcCall<DecideResult>(
          c.env.TASKS!.getByName(taskId).decideApproval(id, verdict, who, csrf, Date.now()),
        );
      } catch (e) {
        return answer(unreachable("decide", e));
      }
      if (!result.ok) return answer({ ok: false, reason: result.reason });
      note(c.env, background(c), approvalSettled(id, taskId, result.status, Date.now()));
      console.log(
        JSON.stringify({
          event: "firebreak.approval_decision",
          approval_id: id,
          task_id: taskId,
          decision: result.status,
          by: `${who.issuer} ${who.sub}`,
          action: found.found.view.request.action,
          at: new Date().toISOString(),
        }),
      );
      if (json) return c.json({ id, status: result.status }, 200, { "cache-control": "no-store" });
      return c.redirect(`${BASE}/${id}`, 303);
    });
  }

  return api;
}

/** A verified person: a token of a person issuer, never an agent's or a task's. */
async function approverFor(c: Ctx, getBundle: () => BundleState): Promise<{ ok: true; person: Agent } | Refusal> {
  const state = getBundle();
  if (!state.ok) return { ok: false, reason: "bundle.invalid" };
  const token = personToken(c.req.raw);
  if (!token.ok) return token;
  return verifyPerson(token.token, state.bundle.spec, envOf(c), new Date());
}

async function lookup(
  c: Ctx,
  taskId: string,
  id: string,
  withForm: boolean,
): Promise<{ ok: true; found: Found } | Refusal> {
  const TASKS = c.env?.TASKS;
  if (!TASKS) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" };
  try {
    const found = await rpcCall<Found | null>(TASKS.getByName(taskId).approval(id, Date.now(), withForm));
    return found ? { ok: true, found } : { ok: false, reason: "approval.unknown" };
  } catch (e) {
    return unreachable("approval", e);
  }
}

/** `Sec-Fetch-Site` (sent by every current browser) and `Origin`, when present, must say same origin. */
function sameOrigin(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return false;
  const origin = request.headers.get("origin");
  return origin === null || origin === new URL(request.url).origin;
}

const TITLES = { signIn: "Sign in to approve", refused: "Nothing to approve here" };

/** A refusal as a page for people (the same status and reason code as the JSON answer). */
function page(c: Ctx, refusal: Refusal): Promise<Response> {
  return refusalPage(c, refusal, TITLES);
}
