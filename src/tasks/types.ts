/**
 * Task profiles as the compiler emits them and the task Durable Object enforces them (issue 3).
 * Selectors are resolved at compile time: every action reference is a qualified action name that
 * exists in the bundle, every label is `kind:<k>`, `risk:<r>` or `data:<d>`.
 */
import type { AgentMatch, Risk } from "../policy/types";

export interface ProfileSpec {
  name: string;
  /** Which agents may start a task of this profile (null: any verified agent). */
  agents: AgentMatch | null;
  /** Task token lifetime in seconds (default 600). */
  ttl_s: number;
  /** Hard end of the task, from its start, in seconds; renewals never pass it. */
  max_lifetime_s: number;
  /** Qualified action names a task of this profile may call at all (tool-level segmentation). */
  actions: string[];
  budgets: Budgets;
  sequence: SequenceRules;
  approvals: ApprovalSettings;
  source: string;
}

/** Human approval in tasks of this profile (issue 4). */
export interface ApprovalSettings {
  /** How long an approval request waits for a person, then it is `expired` (default 900 s). */
  ttl_s: number;
  /** Calls of actions at or above this risk need a person's approval even when a rule allows them. */
  risk: Risk | null;
  /** Who approves for this profile (null: the deciding rules' approvers, else settings.approvers). */
  approvers: AgentMatch | null;
}

export interface Budgets {
  /** Total calls admitted in the task. */
  calls: number | null;
  /** Qualified action name -> max calls. */
  per_action: Record<string, number>;
  /** Label (`kind:write`, `risk:high`, `data:pii`) -> max calls of actions carrying it. */
  per_label: Record<string, number>;
  /** Distinct services the task may touch. */
  services: number | null;
  /** At most `calls` in any sliding `seconds` window (429 + Retry-After). */
  windows: { calls: number; seconds: number }[];
  /** Running total of a declared numeric argument of one action, in-flight reservations included. */
  totals: { action: string; arg: string; max: number }[];
}

export interface SequenceRules {
  /** `action` is admitted only after one of `after` succeeded (2xx) in this task. */
  requires: { action: string; after: string[] }[];
  /**
   * Once an action carrying one of `read` labels succeeded, actions matching `deny` labels are refused
   * unless their service is in `allow_services` (the toxic flow).
   */
  forbid_after: { read: string[]; deny: string[]; allow_services: string[] }[];
  /** `action` may only target a resource that one of `read_by` returned successfully in this task. */
  correlate: { action: string; read_by: string[] }[];
}

/** What the pipeline asks the task object to admit: everything is already classified and decided. */
export interface StepRequest {
  decision_id: string;
  action: string;
  service: string;
  /** `kind:<k>`, `risk:<r>`, `data:<d>` labels of the action. */
  labels: string[];
  resource: string;
  /** Declared numeric arguments (for running totals). */
  args: Record<string, number>;
  /** What the call asked for, kept in the step log for `firebreak replay` (absent: not recorded). */
  facts?: StepFacts;
  /** Epoch milliseconds. */
  now: number;
}

/** A call's request facts: never a header, a body or a token; long strings cut (docs/replay.md). */
export interface StepFacts {
  method: string;
  /** The canonical path, without the service prefix. */
  path: string;
  /** Sorted `[name, value]` pairs. */
  query: [string, string][];
  /** The action's declared arguments as read from the query and body (string, number or boolean). */
  args: Record<string, string | number | boolean>;
  /** The service's semantic headers the call carried (`stripe-account`), by lower-case name. */
  headers?: Record<string, string>;
  /** How the body was read (`application/json`, `application/x-www-form-urlencoded`); absent: no body read. */
  media_type?: string;
  /** Set when the facts were cut to fit the step log's bound (src/tasks/steps.ts). */
  truncated?: true;
}
