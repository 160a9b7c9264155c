/**
 * The decision record: one per request, refused or forwarded, written as one Analytics Engine data point
 * (the column map in ./layout.ts) and one JSON log line. Its fields never hold a token or a secret: no
 * headers, no bodies.
 */
import { asiOf } from "../core/reason-standards";
import type { Reason } from "../core/reasons";
import type { AsiId } from "../core/standards";

export interface DecisionRecord {
  decision_id: string;
  /** ISO time the request arrived. */
  ts: string;
  bundle_revision: string;
  /** What happened: allow, deny, approval_required. */
  effect: "allow" | "deny" | "approval_required";
  reason: Reason;
  /** Report mode: what enforce would have done (`deny`/`approval_required`) and why; else null. */
  would: { effect: string; reason: Reason; rules: string[] } | null;
  rules: string[];
  status: number;
  upstream_status: number | null;
  agent_issuer: string | null;
  agent_sub: string | null;
  task_id: string | null;
  service: string | null;
  action: string | null;
  resource: string | null;
  method: string;
  path: string | null;
  latency_ms: number;
  detail: string | null;
}

/** A request's record before anything is known of it: a refusal until a stage says otherwise. */
export function blankRecord(first: {
  decision_id: string;
  ts: string;
  bundle_revision: string;
  method: string;
}): DecisionRecord {
  return {
    decision_id: first.decision_id,
    ts: first.ts,
    bundle_revision: first.bundle_revision,
    effect: "deny",
    reason: "internal.error",
    would: null,
    rules: [],
    status: 0,
    upstream_status: null,
    agent_issuer: null,
    agent_sub: null,
    task_id: null,
    service: null,
    action: null,
    resource: null,
    method: first.method.slice(0, 16),
    path: null,
    latency_ms: 0,
    detail: null,
  };
}

/** A record as its log line carries it: every field, and `asi` (see `asiOf`) right after `reason`. */
export type LoggedRecord = DecisionRecord & { asi: AsiId | "" };

/**
 * The record with its reason's OWASP Agentic id (src/core/reason-standards.ts): "" for an allowed call
 * and wherever no agentic risk was refused. Derived from `reason`, never set apart from it, so the two
 * cannot disagree. In report mode it is the id of what happened (an allow: ""), not of `would`.
 */
export function loggedRecord(r: DecisionRecord): LoggedRecord {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(r)) {
    out[key] = value;
    if (key === "reason") out.asi = asiOf(r.reason);
  }
  return out as unknown as LoggedRecord;
}
