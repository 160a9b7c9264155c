/**
 * Approval records: a call a person must approve first, bound to the exact request by a
 * digest, kept in the task's Durable Object next to the task's budgets and step log.
 */
import type { AgentMatch } from "../policy/types";
import type { AdmitReason } from "./admission";
import type { StepRequest } from "./types";

/** What is stored; `expired` and `used` are derived (docs/approvals.md). */
export type ApprovalState = "pending" | "approved" | "denied";
export type ApprovalStatus = ApprovalState | "expired" | "used";

/** The request as the approver sees it: facts only, never a header, a token or the body itself. */
export interface ApprovalRequest {
  method: string;
  service: string;
  /** The canonical path (after normalisation). */
  path: string;
  /** Sorted `[name, value]` pairs of the query. */
  query: [string, string][];
  action: string;
  kind: string;
  risk: string;
  resource: string;
  /** The action's declared arguments, as read by the gateway. */
  args: Record<string, unknown>;
  /** sha256 (hex) of the body bytes (of the empty string when there is none). */
  body_sha256: string;
  /** How the body was read, as the upstream parses it ("" when there is none). */
  media_type?: string;
  /** The service's semantic headers sent with the call (`stripe-account`), by lower-case name. */
  headers?: Record<string, string>;
  /**
   * Every step of a request of several (a GraphQL document's root fields, a JSON-RPC batch), in order:
   * one approval admits them all, so the person is shown each, not only the first. Absent for one step.
   */
  steps?: ApprovalStep[];
}

export interface ApprovalStep {
  /** Where the step is in the message (`b: mergePullRequest`). */
  at: string;
  action: string;
  resource: string;
  args: Record<string, unknown>;
}

export interface NewApproval {
  /** The request digest (see digest.ts): method, service, path, query, body hash, agent, task, action. */
  digest: string;
  decision_id: string;
  request: ApprovalRequest;
  /** Ids of the rules (or `profile:<name>`) that asked for a person. */
  rules: string[];
  /** A person must match every one of these (one per deciding rule or profile setting). */
  approvers: AgentMatch[];
  ttl_s: number;
  /** At most this many approvals may wait at once in one task. */
  max_pending: number;
  /**
   * The step as it would be admitted: a call the task's budgets or sequence rules would refuse anyway
   * is refused now, and no person is asked for it.
   */
  step: StepRequest;
  /** Every step of a request of several, the first being `step`: all are checked before a person is asked. */
  steps?: StepRequest[];
  /** Epoch milliseconds. */
  now: number;
}

export interface Approver {
  /** Bundle name of the person issuer. */
  issuer: string;
  sub: string;
  email: string | null;
}

export interface ApprovalView {
  id: string;
  task_id: string;
  status: ApprovalStatus;
  created: number;
  expires_at: number;
  request: ApprovalRequest;
  rules: string[];
  approvers: AgentMatch[];
  requester: { issuer: string; sub: string };
  decided_at: number | null;
  decided_by: string | null;
  used_at: number | null;
  used_by_decision: string | null;
}

export type RequestResult =
  | { ok: true; id: string; expires_at: number; created: boolean }
  | {
      ok: false;
      reason: AdmitReason | "approval.pending_limit";
      /** `budget.window`: seconds until the window has room. */
      retry_after_s?: number;
    };

export type DecideResult =
  | { ok: true; status: "approved" | "denied" }
  | {
      ok: false;
      reason:
        | "task.unknown"
        | "task.completed"
        | "task.revoked"
        | "task.expired"
        | "approval.unknown"
        | "approval.csrf"
        | "approval.decided"
        | "approval.expired"
        | "approver.self";
    };

/** Refusals of a retried call carrying `Firebreak-Approval`, before the budgets are checked. */
export type RedeemReason =
  | "approval.unknown"
  | "approval.mismatch"
  | "approval.used"
  | "approval.denied"
  | "approval.expired"
  | "approval.pending";

/** What became of an approval request's notification to its approvers (src/approvals/notify.ts). */
export interface NotifyOutcome {
  outcome: "sent" | "failed" | "skipped";
  attempts: number;
  /** Why it failed or was skipped: a status or an error class, never the URL. */
  detail: string | null;
}
