/**
 * The checks a task object runs on one step, in order, and the reservation it writes
 * when they pass. Every function is synchronous over the task's SQLite store: the task object calls
 * `check` and then `reserve` in one block, so no other call can run between the check and the write.
 */

import type { CredentialFailureCode } from "../credentials/types";
import { type Decision, finishDecision } from "../policy/evaluate";
import type { ProfileSpec } from "../policy/types";
import { callEntry } from "./steps";
import { key, type TaskRow, type TaskStore } from "./task-store";
import type { StepRequest } from "./types";

/** Stable reason codes of a refused step (docs/reasons.md). */
export type AdmitReason =
  | "task.unknown"
  | "task.completed"
  | "task.revoked"
  | "task.expired"
  | "task.action_not_in_profile"
  | "budget.exhausted"
  | "budget.services"
  | "budget.window"
  | "budget.total_exceeded"
  | "budget.total_unknown"
  | "sequence.requires"
  | "sequence.pending"
  | "sequence.forbidden_after"
  | "sequence.unread_resource"
  | "task.log_full"
  | "task.out_of_scope"
  /** The task's credential for the service could not be renewed (src/tasks/credentials.ts). */
  | CredentialFailureCode
  /** A rule reading the task's state decided (the object finished the decision). */
  | Decision["reason"];

export interface Refusal {
  reason: AdmitReason;
  /** `budget.window`, `sequence.pending`: seconds until a retry may pass. */
  retry_after_s?: number;
  /** For the decision record: what a credential failure was (never a secret). */
  detail?: string;
  /** The decisions the object finished, by step (null: the step was decided by the gateway). */
  decisions?: (Decision | null)[];
}

export type Admit = { ok: true; seq: number } | ({ ok: false } & Refusal);

/**
 * The steps of one request (a GraphQL document's root fields, a JSON-RPC batch), all admitted or none.
 * `decisions`: the ones the object finished (rules reading the task's state), by step.
 */
export type AdmitAll =
  | {
      ok: true;
      seqs: number[];
      decisions?: (Decision | null)[];
      /** The task's own credential for the steps' service, to forward with (never logged); absent: the static one. */
      credential?: string;
    }
  | ({ ok: false } & Refusal);

/**
 * Thrown by `reserveAll` so that the caller's transaction rolls every reservation of the request back.
 * `logged`: the refusal is a step's (written to the log as refused); `approval.required` is not one.
 */
export class StepRefused extends Error {
  constructor(
    readonly refusal: Refusal,
    readonly logged = true,
  ) {
    super(refusal.reason);
  }
}

/**
 * `admit`: a step a person must decide is not reserved (the caller asks for the approval); `redeem`:
 * the approval being redeemed stands for that person.
 */
export type ReserveMode = "admit" | "redeem";

/**
 * Checks each step against the state the steps before it left, and reserves it: a document of two
 * merges under a budget of one merge is refused, as two calls would be. A step whose decision was left
 * to the object (rules reading `task.*`) is decided here first, against that same state, so the rule
 * is exact under concurrency. Call inside a transaction; a refusal throws StepRefused, which rolls back
 * what the earlier steps reserved.
 */
export function reserveAll(
  store: TaskStore,
  profile: ProfileSpec,
  steps: StepRequest[],
  by: string | null,
  mode: ReserveMode,
): { seqs: number[]; decisions?: (Decision | null)[] } {
  const seqs: number[] = [];
  const decisions: (Decision | null)[] = [];
  let person = false;
  for (const step of steps) {
    const final = step.pending ? finishDecision(step.pending, taskState(store)) : null;
    decisions.push(final);
    if (final?.effect === "deny") throw new StepRefused({ reason: final.reason, ...finished(decisions) });
    // A person: the step says so (decided by the gateway, or the profile's risk on an allowed step), or
    // the object's decision asks for one.
    person ||= step.person === true || final?.effect === "approval_required";
    const refusal = check(store, profile, step);
    if (refusal) throw new StepRefused({ ...refusal, ...finished(decisions) });
    const seq = store.append(callEntry(step, null, by));
    reserve(store, profile, step, seq);
    seqs.push(seq);
  }
  // Checked after every step: a later step's deny or budget wins over asking a person.
  if (person && mode === "admit") throw new StepRefused({ reason: "approval.required", ...finished(decisions) }, false);
  return { seqs, ...finished(decisions) };
}

/** The decisions the object finished, when it finished any (else nothing: the gateway decided them all). */
function finished(decisions: (Decision | null)[]): { decisions?: (Decision | null)[] } {
  return decisions.some((d) => d !== null) ? { decisions } : {};
}

/** CEL `task`'s state: calls admitted, the services touched and the `data:*` labels read (reserved reads count). */
export function taskState(store: TaskStore): { calls: number; services: string[]; labels_read: string[] } {
  return { calls: store.counter(key.calls), services: store.services(), labels_read: store.labelsRead() };
}

/** Refusal for a task that is not live; a live task past its deadline expires here, logged once. */
export function liveness(store: TaskStore, task: TaskRow, now: number): Refusal | null {
  if (task.state !== "live") return { reason: `task.${task.state}` };
  if (now < task.deadline) return null;
  store.endTask("expired", now, null);
  store.append({ ts: now, kind: "expire" });
  return { reason: "task.expired" };
}

/** Everything after liveness: profile membership, budgets, then sequence rules. */
export function check(store: TaskStore, profile: ProfileSpec, step: StepRequest): Refusal | null {
  if (!profile.actions.includes(step.action)) return { reason: "task.action_not_in_profile" };
  return (
    checkCounts(store, profile, step) ??
    checkWindows(store, profile, step) ??
    checkTotals(store, profile, step) ??
    checkSequence(store, profile, step)
  );
}

/** Calls, per action, per label, distinct services. */
function checkCounts(store: TaskStore, profile: ProfileSpec, step: StepRequest): Refusal | null {
  const b = profile.budgets;
  if (b.calls !== null && store.counter(key.calls) >= b.calls) return { reason: "budget.exhausted" };
  for (const name of effectsOf(profile, step.action)) {
    const perAction = own(b.per_action, name);
    if (perAction !== undefined && store.counter(key.action(name)) >= perAction) return { reason: "budget.exhausted" };
  }
  for (const label of new Set(step.labels)) {
    const cap = own(b.per_label, label);
    if (cap !== undefined && store.counter(key.label(label)) >= cap) return { reason: "budget.exhausted" };
  }
  if (b.services !== null && store.counter(key.service(step.service)) === 0) {
    if (store.distinctServices() >= b.services) return { reason: "budget.services" };
  }
  return null;
}

/** Sliding windows: at most `calls` admitted in any `seconds`; Retry-After is when the blocking call leaves. */
function checkWindows(store: TaskStore, profile: ProfileSpec, step: StepRequest): Refusal | null {
  let retry = 0;
  for (const w of profile.budgets.windows) {
    const span = w.seconds * 1000;
    const since = step.now - span;
    const count = store.windowCount(since);
    if (count < w.calls) continue;
    // Room for one more once all but `calls - 1` of them have left: the (count - calls)-th oldest leaves last.
    const leaving = store.windowAt(since, count - w.calls);
    retry = Math.max(retry, Math.ceil((leaving + span - step.now) / 1000), 1);
  }
  return retry > 0 ? { reason: "budget.window", retry_after_s: retry } : null;
}

/** Running totals, counting the reservations of calls still in flight. */
function checkTotals(store: TaskStore, profile: ProfileSpec, step: StepRequest): Refusal | null {
  const totals = totalsOf(profile, step);
  if (totals === null) return { reason: "budget.total_unknown" };
  for (const t of totals) {
    if (store.counter(t.key) + t.amount > t.max) return { reason: "budget.total_exceeded" };
  }
  return null;
}

function checkSequence(store: TaskStore, profile: ProfileSpec, step: StepRequest): Refusal | null {
  const s = profile.sequence;
  const names = effectsOf(profile, step.action);
  for (const rule of s.requires) {
    if (!names.includes(rule.action) || store.succeededAny(rule.after)) continue;
    // Its prerequisite still in flight: it may yet succeed, so "not yet" is the answer, not "never".
    if (inFlight(store, profile, step, rule.after)) return { reason: "sequence.pending", retry_after_s: 1 };
    return { reason: "sequence.requires" };
  }
  if (s.forbid_after.length > 0) {
    for (const rule of s.forbid_after) {
      if (!rule.read.some((l) => store.hasRead(l))) continue;
      if (!rule.deny.some((l) => step.labels.includes(l))) continue;
      if (!rule.allow_services.includes(step.service)) return { reason: "sequence.forbidden_after" };
    }
  }
  for (const rule of s.correlate) {
    if (!names.includes(rule.action) || store.succeededAny(rule.read_by, step.resource)) continue;
    if (inFlight(store, profile, step, rule.read_by, step.resource))
      return { reason: "sequence.pending", retry_after_s: 1 };
    return { reason: "sequence.unread_resource" };
  }
  return null;
}

/**
 * Whether an earlier call, reserved and not settled, counts as one of `actions` (on `resource`, when
 * given). A step of the same call does not: retrying that call cannot find it settled.
 */
function inFlight(
  store: TaskStore,
  profile: ProfileSpec,
  step: StepRequest,
  actions: string[],
  resource?: string,
): boolean {
  return store
    .openCalls()
    .some(
      (c) =>
        c.decision_id !== step.decision_id &&
        (resource === undefined || c.resource === resource) &&
        effectsOf(profile, c.action).some((a) => actions.includes(a)),
    );
}

/** Writes what an admitted step uses: counters, its window timestamp and its running-total reservations. */
export function reserve(store: TaskStore, profile: ProfileSpec, step: StepRequest, seq: number): void {
  store.addCounter(key.calls, 1);
  for (const name of effectsOf(profile, step.action)) store.addCounter(key.action(name), 1);
  for (const label of new Set(step.labels)) store.addCounter(key.label(label), 1);
  store.addCounter(key.service(step.service), 1);
  // A reserved read counts as read from now on, whatever its answer: a write admitted after it is
  // ordered after it, even when the read's answer has not come back yet.
  store.recordRead(step.labels);
  const longest = Math.max(0, ...profile.budgets.windows.map((w) => w.seconds * 1000));
  if (longest > 0) store.recordWindow(seq, step.now, step.now - longest);
  for (const t of totalsOf(profile, step) ?? []) store.addCounter(t.key, t.amount);
}

/** Gives back the running-total reservations of a step whose upstream call failed. */
export function release(store: TaskStore, profile: ProfileSpec, action: string, args: Record<string, number>): void {
  for (const t of totalsOf(profile, { action, args }) ?? []) store.addCounter(t.key, -t.amount);
}

/**
 * The amounts a step adds to running totals. A totals action whose argument is missing, not a finite
 * number, or negative (which would lower the total) makes the whole step unknown: null, fail closed.
 */
function totalsOf(
  profile: ProfileSpec,
  step: Pick<StepRequest, "action" | "args">,
): { key: string; amount: number; max: number }[] | null {
  const out: { key: string; amount: number; max: number }[] = [];
  for (const t of profile.budgets.totals) {
    if (t.action !== step.action) continue;
    const amount = own(step.args, t.arg);
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) return null;
    out.push({ key: key.total(t.action, t.arg), amount, max: t.max });
  }
  return out;
}

/**
 * The action and the actions whose effect it has (same_effect_as): a step counts, and is ordered, as
 * each of them. A profile frozen before `effects` existed has none.
 */
export function effectsOf(profile: ProfileSpec, action: string): string[] {
  const targets = profile.effects ? own(profile.effects, action) : undefined;
  return targets === undefined ? [action] : [action, ...targets];
}

/** A record's own property only: an action named `constructor` must not find Object.prototype's. */
function own<T>(record: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
