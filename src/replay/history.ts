/**
 * What a task's log says happened, entry by entry: the rules' decision that was recorded for each
 * call, and the task state (CEL `task.calls`, `task.services`, `task.labels_read`) as the task object
 * held it when the call was decided. Both come from the log alone; nothing here knows a bundle.
 */
import type { Outcome } from "../policy/evaluate";
import type { StepFacts } from "../request/decide-call";
import type { LogEntry } from "./log";

/** What the rules (and the profile's approval risk) said then. */
export interface Recorded {
  effect: Outcome;
  reason: string;
  /** How the call ended when it was not a refusal of the rules: `reserved`, or the task object's refusal reason. */
  ended: string | null;
}

/** Why an entry is not re-decided. */
export type Skip = "no_facts" | "request_refused" | "unknown_outcome";

/** Refusals made by the rules or the classification: the recorded decision is a deny with this reason. */
const RULE_REFUSALS = new Set([
  "policy.denied",
  "policy.no_match",
  "policy.condition_error",
  "action.forbidden",
  "action.unknown",
]);

/**
 * Refusals made after the rules allowed the call: the task object's (budgets, sequence rules, a task
 * that is no longer live) and a service credential missing at run time.
 */
const AFTER_THE_RULES = /^(budget|sequence|task)\.|^credential\.unavailable$/;

/**
 * The recorded decision of a call or approval entry; a Skip when the log cannot say what the rules
 * decided (a request refused before any rule ran: its arguments were never read, and the body is not
 * kept) or the outcome is one replay does not know.
 */
export function recordedDecision(e: LogEntry): Recorded | Skip {
  if (e.kind === "approval") return { effect: "approval_required", reason: "approval.required", ended: e.outcome };
  // The retry of an approved call: the rules asked for a person, the approval admitted (or refused) it.
  if (e.by?.startsWith("approval ")) {
    return { effect: "approval_required", reason: "approval.required", ended: e.reason ?? e.outcome };
  }
  if (e.outcome === "reserved") return { effect: "allow", reason: "policy.allowed", ended: "reserved" };
  const reason = e.reason ?? "";
  if (e.outcome !== "refused") return "unknown_outcome";
  if (RULE_REFUSALS.has(reason)) return { effect: "deny", reason, ended: null };
  if (AFTER_THE_RULES.test(reason)) return { effect: "allow", reason: "policy.allowed", ended: reason };
  if (/^(request|route)\./.test(reason)) return "request_refused";
  return "unknown_outcome";
}

/** CEL `task` state, as TaskObject.view() returns it. */
export interface TaskState {
  calls: number;
  services: string[];
  labels_read: string[];
}

/**
 * The task object's state replayed from its log, in seq order: admitted calls count (and their
 * services), `data:*` labels are read once a call settled 2xx. `before(entry)` is the state the
 * gateway read when it decided that entry's call.
 */
export class TaskHistory {
  private calls = 0;
  private readonly services = new Set<string>();
  private readonly labelsRead = new Set<string>();
  private readonly reserved = new Map<number, LogEntry>();

  state(): TaskState {
    return { calls: this.calls, services: [...this.services].sort(), labels_read: [...this.labelsRead].sort() };
  }

  /** Moves the state past `e`. */
  apply(e: LogEntry): void {
    if (e.kind === "call" && e.outcome === "reserved") {
      this.calls++;
      if (e.service) this.services.add(e.service);
      this.reserved.set(e.seq, e);
    } else if (e.kind === "settle" && e.ref !== null && e.status !== null && e.status >= 200 && e.status < 300) {
      const call = this.reserved.get(e.ref);
      for (const l of call?.labels ?? []) if (l.startsWith("data:")) this.labelsRead.add(l);
    }
  }
}

/**
 * The request facts of each approval: its own (kept since approval entries carry them), else those of
 * the retry that redeemed it (the approval is bound to the request digest: the same request).
 */
export function approvalFacts(entries: LogEntry[]): Map<string, StepFacts> {
  const out = new Map<string, StepFacts>();
  for (const e of entries) {
    const id = e.by?.startsWith("approval ") ? e.by.slice("approval ".length) : null;
    if (e.kind === "call" && id && e.facts && !out.has(id)) out.set(id, e.facts);
  }
  return out;
}

/** The facts to re-decide `e` with, or null. */
export function factsFor(e: LogEntry, approvals: Map<string, StepFacts>): StepFacts | null {
  if (e.facts) return e.facts;
  const id = e.kind === "approval" ? e.args?.approval_id : undefined;
  return typeof id === "string" ? (approvals.get(id) ?? null) : null;
}
