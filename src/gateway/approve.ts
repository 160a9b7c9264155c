/**
 * Stage 5 for calls that wait for a person, instead of a plain admit: the request is bound to
 * a digest; without `Firebreak-Approval` the task object opens (or finds) the approval and the agent is
 * refused `approval.required` with where to poll; with it, the task object checks that the approval is
 * for this exact request, approved, unused and unexpired, and admits the step against the budgets in
 * the same synchronous block. Nothing is forwarded unless that passes. Approvals need a task: the
 * record lives in the task's Durable Object.
 *
 * What one agent can do to people is bounded across its tasks by its agent object (approvals/slots.ts):
 * a new approval first takes one of the agent's slots (`approval.agent_limit` at the cap; the agent
 * object unreachable is `agent.unavailable`, and no approval is opened), and its notification goes
 * through the agent's notification window (approvals/announce.ts).
 */
import { announce } from "../approvals/announce";
import { requestDigest } from "../approvals/digest";
import { holdSlot, openedSlot, releaseSlot } from "../approvals/slots";
import type { Result } from "../core/result";
import type { Env } from "../env";
import type { TaskRef } from "../identity/caller";
import type { Agent } from "../policy/evaluate";
import type { ActionSpec } from "../policy/types";
import type { PersonNeeded } from "../request/decide";
import type { CanonicalRequest } from "../request/route";
import { sortedQuery } from "../request/route";
import type { AdmitAll } from "../tasks/admission";
import type { ApprovalStep, NewApproval, RedeemReason, RequestResult } from "../tasks/approval-types";
import { approvalSettled, type DirectoryEvent, note } from "../tasks/directory";
import { rpcCall } from "../tasks/rpc";
import type { TaskObject } from "../tasks/task-object";
import type { StepRequest } from "../tasks/types";
import { type Admission, logRefused, settling } from "./admit";
import { carrying } from "./settles";

export const APPROVAL_HEADER = "firebreak-approval";
/** Where operators see waiting approvals, grouped by agent (src/dashboard/page.tsx). */
const DASHBOARD_PATH = "/_firebreak/v1/dashboard";
/** Approvals waiting at once in one task; more is `approval.pending_limit` (429). */
const MAX_PENDING = 10;

export interface ApprovalInput {
  request: Request;
  req: CanonicalRequest;
  spec: ActionSpec;
  resource: string;
  /** The declared arguments, as a plain object (RPC cannot send the null-prototype record). */
  args: Record<string, string | number | boolean>;
  /** The semantic headers forwarded with the call, and the media type its body was read as. */
  headers: Record<string, string>;
  mediaType: string;
  body: Uint8Array | null;
  agent: Agent;
  task: TaskRef;
  /** The request's steps, admitted together when the approval is redeemed; the first is the approval's. */
  steps: [StepRequest, ...StepRequest[]];
  needed: PersonNeeded;
  env: Env;
  /** Where approvers and agents reach Firebreak (GATEWAY_ORIGIN, else the request's origin). */
  origin: string;
  fetcher: (request: Request) => Promise<Response>;
  background: (work: Promise<unknown>) => void;
  /** The app's clock: when the notification's outcome is written to the step log. */
  now: () => Date;
}

type Redeemed = AdmitAll | { ok: false; reason: RedeemReason };

export type Approved = Result<{ admission: Admission; approvalId: string }>;

export async function approve(input: ApprovalInput): Promise<Approved> {
  const ns = input.env.TASKS;
  if (!ns) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" };
  const { digest, body_sha256 } = digestOf(input);
  const stub = ns.getByName(input.task.id);
  const presented = input.request.headers.get(APPROVAL_HEADER);
  try {
    if (presented === null) return await open(input, stub, digest, body_sha256);
    const id = presented.trim();
    const result = await carrying(ns, input.task.id, input.background, (settles) =>
      rpcCall<Redeemed>(stub.redeemApproval(id, digest, input.steps, settles)),
    );
    if (!result.ok) return { ok: false, reason: result.reason, detail: `approval ${id.slice(0, 60)}` };
    note(input.env, input.background, approvalSettled(id, input.task.id, "used", input.steps[0].now));
    // Decided already (the decision released the slot); this is the backstop if that release was lost.
    input.background(releaseSlot(input.env, input.agent, { approval_id: id }, input.steps[0].now));
    return { ok: true, admission: settling(ns, input.task.id, result.seqs, result.credential), approvalId: id };
  } catch (e) {
    return {
      ok: false,
      reason: "task.unavailable",
      detail: `approval: ${(e as Error)?.message ?? "error"}`.slice(0, 200),
    };
  }
}

/** What the approval binds: the request as the upstream will act on it, the agent, the task, the action. */
function digestOf(input: ApprovalInput): { digest: string; body_sha256: string } {
  const { req, spec, agent, task } = input;
  return requestDigest({
    method: req.method,
    service: req.service.name,
    path: req.path,
    query: req.query,
    body: input.body,
    mediaType: input.mediaType,
    args: input.args,
    resource: input.resource,
    headers: input.headers,
    agent: { issuer: agent.issuer, sub: agent.sub },
    task: task.id,
    action: spec.name,
  });
}

/**
 * Opens the approval (or finds the one already waiting for this digest): the agent is told where to
 * poll. The agent's slot is taken first; a task that refuses to open the approval gives it back.
 */
async function open(
  input: ApprovalInput,
  stub: DurableObjectStub<TaskObject>,
  digest: string,
  body_sha256: string,
): Promise<Approved> {
  const { task, agent } = input;
  const now = input.steps[0].now;
  const expires_at = now + input.needed.ttl_s * 1000;
  const slot = await holdSlot(input.env, agent, { task_id: task.id, digest, expires_at, now });
  if (!slot.ok) {
    // The task's log holds every call it tried, this one too (the task object was never asked).
    input.background(logRefused(input.steps, slot.reason, task, input.env));
    return slot;
  }
  // An exception here leaves the slot held: whether the approval was opened is unknown, and a retry
  // of this request finds the slot (the cap errs on the side of fewer approvals, until it expires).
  const opened = await carrying(input.env.TASKS!, task.id, input.background, (settles) =>
    rpcCall<RequestResult>(stub.requestApproval(newApproval(input, digest, body_sha256), settles)),
  );
  if (!opened.ok) {
    if (slot.held) await releaseSlot(input.env, agent, { digest }, now);
    const retry = opened.retry_after_s !== undefined ? { retryAfter: opened.retry_after_s } : {};
    return { ok: false, reason: opened.reason, detail: `task ${task.id}`, ...retry };
  }
  const page = `${input.origin}/_firebreak/v1/approvals/${opened.id}`;
  if (opened.created) {
    input.background(tell(input, digest, opened.id, page, opened.expires_at));
    note(input.env, input.background, listed(input, opened.id, opened.expires_at));
  } else if (slot.held) {
    // A waiting approval this agent object did not know of (its slot lost): the new slot stands for it.
    const bind = { digest, approval_id: opened.id, expires_at: opened.expires_at, now };
    input.background(openedSlot(input.env, agent, bind, false));
  }
  return {
    ok: false,
    reason: "approval.required",
    detail: `approval ${opened.id}`,
    approval: { id: opened.id, status_url: `${page}/status`, expires_at: new Date(opened.expires_at).toISOString() },
  };
}

/** The approval as the task object opens it: the request as the person will see it, the steps, the caps. */
function newApproval(input: ApprovalInput, digest: string, body_sha256: string): NewApproval {
  const { req, spec } = input;
  return {
    digest,
    decision_id: input.steps[0].decision_id,
    request: {
      method: req.method,
      service: req.service.name,
      path: req.path,
      query: sortedQuery(req.query),
      action: spec.name,
      kind: spec.kind,
      risk: spec.risk,
      resource: input.resource,
      args: input.args,
      body_sha256,
      media_type: input.mediaType,
      // A plain copy: RPC cannot send the null-prototype record.
      headers: { ...input.headers },
      ...(input.steps.length > 1 ? { steps: input.steps.map(approvalStep) } : {}),
    },
    rules: input.needed.rules,
    approvers: input.needed.approvers,
    ttl_s: input.needed.ttl_s,
    max_pending: MAX_PENDING,
    step: input.steps[0],
    ...(input.steps.length > 1 ? { steps: input.steps } : {}),
    now: input.steps[0].now,
  };
}

/** What the person is shown of one step of several. */
function approvalStep(s: StepRequest): ApprovalStep {
  return { at: s.facts?.at ?? "", action: s.action, resource: s.resource, args: { ...(s.facts?.args ?? {}) } };
}

/** The approval as the directory lists it for the dashboard (src/tasks/directory.ts). */
function listed(input: ApprovalInput, id: string, expires: number): DirectoryEvent {
  const { agent, task } = input;
  const who = { issuer: agent.issuer, sub: agent.sub };
  return {
    kind: "approval.opened",
    id,
    task_id: task.id,
    action: input.spec.name,
    resource: input.resource,
    agent: who,
    created: input.steps[0].now,
    expires,
  };
}

/** Notifies in the background, within the agent's notification limit; never throws. */
function tell(input: ApprovalInput, digest: string, id: string, url: string, expires_at: number): Promise<void> {
  const { req, spec, agent, task } = input;
  return announce({
    env: input.env,
    agent,
    digest,
    notice: {
      approval_id: id,
      url,
      agent: `${agent.issuer}:${agent.sub}`,
      task_id: task.id,
      action: spec.name,
      risk: spec.risk,
      method: req.method,
      path: req.path,
      resource: input.resource,
      expires_at,
    },
    dashboard: `${input.origin}${DASHBOARD_PATH}`,
    fetcher: input.fetcher,
    now: input.now,
    opened_at: input.steps[0].now,
  });
}
