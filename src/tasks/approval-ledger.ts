/**
 * What the task object does with approvals, one synchronous step each, called inside the
 * object's `transactionSync` after the liveness check: open a request, let a person decide it, and
 * redeem it on the agent's retry together with the budgets (no await between the check and the write,
 * so concurrent retries with one approval admit exactly one). Every step lands in the step log.
 */

import { canonicalJson } from "../core/canonical-json";
import { type AdmitAll, type Refusal, reserveAll } from "./admission";
import { newApprovalId } from "./approval-ids";
import { type ApprovalStore, statusOf, viewOf } from "./approval-store";
import type {
  ApprovalView,
  Approver,
  DecideResult,
  NewApproval,
  NotifyOutcome,
  RedeemReason,
  RequestResult,
} from "./approval-types";
import { callEntry, factsOf } from "./steps";
import type { TaskRow, TaskStore } from "./task-store";
import type { StepRequest } from "./types";

export class ApprovalLedger {
  constructor(
    private readonly tasks: TaskStore,
    private readonly approvals: ApprovalStore,
  ) {}

  /**
   * A new request, or the one already waiting for exactly this request (no second notification). A
   * call the budgets or sequence rules refuse now (`refused`: the task object checked every step) is
   * refused as such: nobody is asked to approve a call that could not go through (the retry is checked
   * again, for real).
   */
  request(task: TaskRow, a: NewApproval, refused: Refusal | null): RequestResult {
    if (refused) {
      for (const step of a.steps ?? [a.step]) this.tasks.append(callEntry(step, refused.reason));
      return { ok: false, ...refused };
    }
    const waiting = this.approvals.waiting(a.digest, a.now);
    const entry = (id: string, expires_at: number, outcome: string) =>
      this.tasks.append({
        ts: a.now,
        kind: "approval",
        decision_id: a.decision_id,
        action: a.request.action,
        service: a.request.service,
        resource: a.request.resource,
        args: canonicalJson({ approval_id: id, digest: a.digest, expires_at }),
        outcome,
        reason: "approval.required",
        facts: factsOf(a.step),
      });
    if (waiting) {
      entry(waiting.id, waiting.expires_at, "waiting");
      return { ok: true, id: waiting.id, expires_at: waiting.expires_at, created: false };
    }
    if (this.approvals.pendingCount(a.now) >= a.max_pending) return { ok: false, reason: "approval.pending_limit" };
    const id = newApprovalId(task.task_id);
    const expires_at = a.now + a.ttl_s * 1000;
    this.approvals.insert({
      id,
      created: a.now,
      expires_at,
      state: "pending",
      digest: a.digest,
      decision_id: a.decision_id,
      request: JSON.stringify(a.request),
      rules: JSON.stringify(a.rules),
      approvers: JSON.stringify(a.approvers),
      csrf: randomToken(),
    });
    entry(id, expires_at, "requested");
    return { ok: true, id, expires_at, created: true };
  }

  view(task: TaskRow, id: string, now: number): ApprovalView | null {
    const row = this.approvals.get(id);
    return row ? viewOf(row, task, now) : null;
  }

  /** The form token of the approval page: only ever rendered to an authenticated approver. */
  csrf(id: string): string | null {
    return this.approvals.get(id)?.csrf ?? null;
  }

  /** A person's yes or no; the caller has checked that the person may approve this request. */
  decide(
    task: TaskRow,
    id: string,
    verdict: "approve" | "deny",
    who: Approver,
    csrf: string,
    now: number,
  ): DecideResult {
    const row = this.approvals.get(id);
    if (!row) return { ok: false, reason: "approval.unknown" };
    if (!sameToken(csrf, row.csrf)) return { ok: false, reason: "approval.csrf" };
    const status = statusOf(row, now);
    if (status === "expired") return { ok: false, reason: "approval.expired" };
    if (status !== "pending") return { ok: false, reason: "approval.decided" };
    if (isOwnRequest(who, task.sub)) return { ok: false, reason: "approver.self" };
    const state = verdict === "approve" ? "approved" : "denied";
    const by = `${who.issuer} ${who.sub}`;
    this.approvals.decide(id, state, now, by);
    this.tasks.append({
      ts: now,
      kind: verdict,
      decision_id: row.decision_id,
      action: (JSON.parse(row.request) as { action: string }).action,
      args: canonicalJson({ approval_id: id, email: who.email }),
      outcome: state,
      by,
    });
    return { ok: true, status: state };
  }

  /**
   * The agent repeats the approved request: the approval must be this exact request, approved, unused
   * and unexpired, and the step must pass the task's budgets; then both are written at once.
   */
  redeem(
    task: TaskRow,
    id: string,
    digest: string,
    steps: StepRequest[],
  ): AdmitAll | { ok: false; reason: RedeemReason } {
    const row = this.approvals.get(id);
    const first = steps[0];
    const refusal: { reason: RedeemReason } | null = !row
      ? { reason: "approval.unknown" }
      : row.digest !== digest
        ? { reason: "approval.mismatch" }
        : first === undefined
          ? { reason: "approval.mismatch" }
          : redeemable(statusOf(row, first.now));
    if (refusal || first === undefined) {
      for (const step of steps) this.tasks.append(callEntry(step, refusal?.reason ?? null, `approval ${id}`));
      return { ok: false, reason: refusal?.reason ?? "approval.mismatch" };
    }
    // The approval is used only when every step passes the budgets: a refusal rolls this back too.
    const reserved = reserveAll(this.tasks, task.profile, steps, `approval ${id}`, "redeem");
    this.approvals.markUsed(id, first.now, first.decision_id);
    return { ok: true, ...reserved };
  }

  /** Whether the approvers were told: recorded, never part of the decision. */
  noteNotification(id: string, note: NotifyOutcome, now: number): void {
    this.tasks.append({
      ts: now,
      kind: "notify",
      args: canonicalJson({ approval_id: id, attempts: note.attempts }),
      outcome: note.outcome,
      reason: note.detail,
    });
  }
}

function redeemable(status: string): { reason: RedeemReason } | null {
  switch (status) {
    case "approved":
      return null;
    case "used":
      return { reason: "approval.used" };
    case "denied":
      return { reason: "approval.denied" };
    case "expired":
      return { reason: "approval.expired" };
    default:
      return { reason: "approval.pending" };
  }
}

/** Nobody approves a request made under their own subject (their sub, or their email as the agent's sub). */
export function isOwnRequest(who: Approver, requesterSub: string): boolean {
  if (who.sub === requesterSub) return true;
  return who.email !== null && who.email.toLowerCase() === requesterSub.toLowerCase();
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Constant-time comparison of two form tokens. */
function sameToken(a: string, b: string): boolean {
  if (typeof a !== "string" || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
