/**
 * The task Durable Object: one object per task, SQLite storage, native RPC. It holds the
 * task's profile, state and deadline, its budget counters and reads, and its hash-chained step log.
 *
 * Every method that checks and writes does so in one synchronous block (`transactionSync` around
 * `sql.exec` calls, nothing awaited): calls to one object run one at a time between awaits, so
 * concurrent admits cannot both pass a check that only one of them may pass (TOOLCHAIN.md).
 */
import { DurableObject } from "cloudflare:workers";
import { canonicalJson, type Json } from "../core/canonical-json";
import type { Env } from "../env";
import type { ProfileSpec } from "../policy/types";
import {
  type Admit,
  type AdmitAll,
  effectsOf,
  liveness,
  type Refusal,
  release,
  reserveAll,
  StepRefused,
  taskState,
} from "./admission";
import { ApprovalLedger } from "./approval-ledger";
import { ApprovalStore } from "./approval-store";
import type {
  ApprovalView,
  Approver,
  DecideResult,
  NewApproval,
  NotifyOutcome,
  RedeemReason,
  RequestResult,
} from "./approval-types";
import { TaskLog } from "./task-log";
import { type TaskRow, type TaskState, TaskStore } from "./task-store";
import { type TaskView, viewOf } from "./task-view";
import type { StepRequest } from "./types";

export type { Admit, AdmitAll, AdmitReason } from "./admission";
export type { StepView } from "./steps";
export type { TaskState } from "./task-store";
export type { TaskView } from "./task-view";

export interface OpenInit {
  task_id: string;
  profile: ProfileSpec;
  agent: { issuer: string; sub: string };
  /** The agent's claims the rules may read (the issuer's `claims:`), kept for `firebreak replay`. */
  claims?: Record<string, unknown>;
  purpose: string;
  /** Epoch milliseconds. */
  now: number;
}

export type OpenResult = { ok: true; deadline: number } | { ok: false; reason: "task.agent_mismatch" };

export type EndResult = { ok: true } | { ok: false; reason: "task.unknown" | `task.${Exclude<TaskState, "live">}` };

export type RenewResult = { ok: true; deadline: number } | Exclude<EndResult, { ok: true }>;

/** What rules may read as CEL `task`, and renew reads: state, deadline, calls, services, data read. */
export interface TaskStateView {
  state: TaskState;
  deadline: number;
  calls: number;
  services: string[];
  labels_read: string[];
}

/** Thrown to roll back a check that reserved nothing for real (`wouldRefuse`). */
const DRY_RUN = new Error("dry run");

/**
 * How long a reserved call may go without its settle before the alarm closes it as unknown: longer
 * than any upstream timeout (the settle is sent when the upstream's headers arrive, or it times out).
 */
export const SETTLE_GRACE_MS = 5 * 60_000;

/** An upstream answer received and not yet written: applied by the next transaction (admit, read, alarm). */
interface HeldSettle {
  seqs: number[];
  status: number | null;
  now: number;
  timedOut: boolean;
}

/** Settles held at once, at most: one more writes them first (a burst of answers with no admit between). */
const MAX_HELD = 256;

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly approvals: ApprovalStore;
  private readonly ledger: ApprovalLedger;
  private readonly log: TaskLog;
  /** Settles received since the last transaction (see `settleAll`). */
  private held: HeldSettle[] = [];
  /** When the alarm is set for (null: none, or not known yet). */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new TaskStore(ctx.storage.sql);
    this.store.migrate();
    this.approvals = new ApprovalStore(ctx.storage.sql);
    this.approvals.migrate();
    this.ledger = new ApprovalLedger(this.store, this.approvals);
    this.log = new TaskLog(this.store, ctx.storage.sql);
    this.log.migrate();
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * One synchronous transaction, the held settles written first so that every check sees them. A
   * transaction that throws is rolled back: the store's in-memory copies are dropped and the settles
   * stay held for the next one.
   */
  private txn<T>(work: () => T): T {
    const n = this.held.length;
    try {
      const result = this.ctx.storage.transactionSync(() => {
        this.applyHeld(n);
        return work();
      });
      this.held.splice(0, n);
      return result;
    } catch (e) {
      this.store.forget();
      this.log.forget();
      throw e;
    }
  }

  private applyHeld(n: number): void {
    if (n === 0) return;
    const task = this.store.task();
    if (!task) return;
    for (const h of this.held.slice(0, n))
      for (const seq of h.seqs) this.settleOne(task, seq, h.status, h.now, h.timedOut);
  }

  /**
   * A reserved step's settle is due within SETTLE_GRACE_MS: the alarm is moved that early if it is set
   * later. Written with the admit's own commit (nothing awaited), and about once per grace period.
   */
  private armFor(now: number): void {
    this.arm(Math.max(now, Date.now()) + SETTLE_GRACE_MS);
  }

  private arm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /**
   * Creates the task once. Opening again for the same agent returns the original deadline and keeps
   * the original profile; another agent (or task id) is refused `task.agent_mismatch`, as a result, not
   * an exception: an exception from this object means "unavailable" (503) to the gateway.
   */
  async open(init: OpenInit): Promise<OpenResult> {
    const deadline = this.txn((): number | OpenResult => {
      const existing = this.store.task();
      if (existing) {
        const same =
          existing.task_id === init.task_id && existing.issuer === init.agent.issuer && existing.sub === init.agent.sub;
        return same ? { ok: true, deadline: existing.deadline } : { ok: false, reason: "task.agent_mismatch" };
      }
      const lifetime = init.profile.max_lifetime_s;
      if (!(Number.isFinite(lifetime) && lifetime > 0)) throw new Error("task.bad_profile: max_lifetime_s");
      const end = init.now + lifetime * 1000;
      const claims = init.claims && Object.keys(init.claims).length > 0 ? canonicalJson(init.claims as Json) : null;
      this.store.createTask({ ...init, ...init.agent, claims, created: init.now, deadline: end });
      const args = canonicalJson({ profile: init.profile.name, purpose: init.purpose, deadline: end });
      this.store.append({ ts: init.now, kind: "open", by: `${init.agent.issuer} ${init.agent.sub}`, args });
      return end;
    });
    if (typeof deadline !== "number") return deadline;
    this.alarmAt = deadline;
    await this.ctx.storage.setAlarm(deadline);
    return { ok: true, deadline };
  }

  /** Checks the step and, when it passes, reserves it; a refused step is logged and moves no counter. */
  admit(step: StepRequest): Admit {
    const admitted = this.admitAll([step]);
    return admitted.ok ? { ok: true, seq: admitted.seqs[0]! } : admitted;
  }

  /**
   * The steps of one request, checked in order (each against what the ones before it reserved) and
   * reserved together, or all refused and logged so, moving no counter.
   */
  admitAll(steps: [StepRequest, ...StepRequest[]]): AdmitAll {
    return this.reserving(steps, null, (task) => {
      const reserved = reserveAll(this.store, task.profile, steps, null, "admit");
      this.armFor(steps[0].now);
      return { ok: true, ...reserved };
    });
  }

  /**
   * Runs `reserve` in one transaction after the task's liveness; when a step is refused (StepRefused),
   * everything it wrote is rolled back and every step is logged refused instead, in a second
   * transaction that nothing can run before: there is no await between the two.
   */
  private reserving<T extends { ok: boolean }>(
    steps: [StepRequest, ...StepRequest[]],
    by: string | null,
    reserve: (task: TaskRow) => T,
  ): T | ({ ok: false } & Refusal) {
    const now = steps[0].now;
    let refusal: Refusal;
    try {
      const result = this.txn((): T | ({ ok: false } & Refusal) => {
        const task = this.store.task();
        if (!task) return { ok: false, reason: "task.unknown" };
        const dead: Refusal | null =
          liveness(this.store, task, now) ?? (this.log.full() ? { reason: "task.log_full" } : null);
        if (!dead) return reserve(task);
        this.logRefusals(steps, dead.reason, by);
        return { ok: false, ...dead };
      });
      return result;
    } catch (e) {
      if (!(e instanceof StepRefused)) throw e;
      // A person must decide first: nothing reserved, nothing logged yet (the approval will be).
      if (!e.logged) return { ok: false, ...e.refusal };
      refusal = e.refusal;
    }
    this.txn(() => this.logRefusals(steps, refusal.reason, by));
    return { ok: false, ...refusal };
  }

  /** Refused steps into the log, bounded (src/tasks/task-log.ts); the alarm writes a summary left due. */
  private logRefusals(steps: StepRequest[], reason: string, by: string | null): void {
    for (const step of steps) {
      const due = this.log.refused(step, reason, by);
      if (due !== null) this.arm(Math.max(due, Date.now()));
    }
  }

  /**
   * Records the upstream answer of a reserved step, once. 2xx: the step's action joins the succeeded
   * set and its resource resources_read (its `data:*` labels were read from admission). No answer (null)
   * or >= 500: its running-total reservations are given back; its calls stay counted (the attempt
   * happened). Anything else (3xx, 4xx) keeps the reservation. `timedOut` (no answer in time: the
   * upstream may have acted) records status null and keeps the reservation. Unknown, refused or settled
   * seqs: no-op.
   *
   * The settle arrives after the agent has its answer, so it is held in memory and written by the next
   * transaction (the next admit, a read of the task, or the alarm): no commit of its own. Everything
   * that could be decided wrongly without it is fail closed while it is held: the step counts from
   * admission, a `requires` on it answers `sequence.pending`. A settle lost with the object's memory
   * leaves the step reserved until the alarm closes it as unknown.
   */
  settle(seq: number, status: number | null, now: number, timedOut = false): void {
    this.settleAll([seq], status, now, timedOut);
  }

  /** The one upstream answer to a request of several steps, recorded for each of them at once. */
  settleAll(seqs: number[], status: number | null, now: number, timedOut = false): void {
    if (this.held.length >= MAX_HELD) this.txn(() => undefined);
    this.held.push({ seqs: [...seqs], status, now, timedOut });
  }

  private settleOne(
    task: TaskRow,
    seq: number,
    status: number | null,
    now: number,
    timedOut: boolean,
    reason: string | null = timedOut ? "upstream.timeout" : null,
  ): void {
    const step = this.store.step(seq);
    if (step?.kind !== "call" || step.outcome !== "reserved" || step.settled) return;
    this.store.markSettled(seq, status);
    this.store.append({ ts: now, kind: "settle", ref: seq, status, reason });
    const action = step.action!;
    if (status !== null && status >= 200 && status < 300) {
      const labels = JSON.parse(step.labels!) as string[];
      for (const name of effectsOf(task.profile, action)) this.store.recordSuccess(name, step.resource!, labels);
    } else if (!timedOut && (status === null || status >= 500)) {
      release(this.store, task.profile, action, JSON.parse(step.args!) as Record<string, number>);
    }
  }

  /**
   * What rules may read as CEL `task`: the task's state, calls admitted so far, the services it
   * touched and the `data:*` labels it has read. Null for an unknown task. Read only, nothing written.
   */
  view(): TaskStateView | null {
    return this.txn(() => {
      const task = this.store.task();
      return task ? { state: task.state, deadline: task.deadline, ...taskState(this.store) } : null;
    });
  }

  /**
   * A renewal by the task's agent (`by`, proven by its workload token): the task must be live and more
   * than a second before its deadline (no later `exp` could be signed). Logged, so the log shows every
   * token the task was given. The deadline is what the new token may not pass.
   */
  renew(now: number, by: string): RenewResult {
    return this.txn((): RenewResult => {
      const task = this.store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const refusal = liveness(this.store, task, now);
      if (refusal) return { ok: false, reason: refusal.reason as `task.${Exclude<TaskState, "live">}` };
      if (now + 1000 >= task.deadline) return { ok: false, reason: "task.expired" };
      this.store.append({ ts: now, kind: "renew", by });
      return { ok: true, deadline: task.deadline };
    });
  }

  /** A call that needs a person: a new approval, or the one waiting for this exact request. */
  requestApproval(a: NewApproval): RequestResult {
    // No await between the check and the request: nothing can run in between.
    const refused = this.wouldRefuse(a.steps ?? [a.step]);
    return this.txn((): RequestResult => {
      const task = this.store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const dead = liveness(this.store, task, a.now);
      return dead
        ? { ok: false, reason: dead.reason as `task.${Exclude<TaskState, "live">}` }
        : this.ledger.request(task, a, refused);
    });
  }

  /** What admitting these steps now would refuse, if anything: reserved as admission would, then rolled back. */
  private wouldRefuse(steps: StepRequest[]): Refusal | null {
    try {
      this.txn(() => {
        const task = this.store.task();
        if (task?.state === "live") reserveAll(this.store, task.profile, steps, null, "redeem");
        throw DRY_RUN;
      });
    } catch (e) {
      if (e instanceof StepRefused) return e.refusal;
      if (e !== DRY_RUN) throw e;
    }
    return null;
  }

  /** The agent's retry with `Firebreak-Approval`: the approval and the budgets, checked and written at once. */
  redeemApproval(
    id: string,
    digest: string,
    steps: [StepRequest, ...StepRequest[]],
  ): AdmitAll | { ok: false; reason: RedeemReason } {
    return this.reserving(steps, `approval ${id}`, (task) => this.ledger.redeem(task, id, digest, steps));
  }

  /** A person approves or denies; the caller has checked who may. */
  decideApproval(id: string, verdict: "approve" | "deny", who: Approver, csrf: string, now: number): DecideResult {
    return this.txn((): DecideResult => {
      const task = this.store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const dead = liveness(this.store, task, now);
      if (dead) return { ok: false, reason: dead.reason as `task.${Exclude<TaskState, "live">}` };
      return this.ledger.decide(task, id, verdict, who, csrf, now);
    });
  }

  /** One approval as it stands now; `withForm` adds the page's form token (approvers only). */
  approval(id: string, now: number, withForm = false): { view: ApprovalView; csrf: string | null } | null {
    const task = this.store.task();
    const view = task ? this.ledger.view(task, id, now) : null;
    if (!task || !view) return null;
    return { view, csrf: withForm ? this.ledger.csrf(id) : null };
  }

  /** The task's approvals, newest first (the dashboard's pending list). */
  listApprovals(now: number, limit = 50): ApprovalView[] {
    const task = this.store.task();
    if (!task) return [];
    return this.approvals.list(Math.min(Math.max(limit, 1), 200)).map((row) => this.ledger.view(task, row.id, now)!);
  }

  noteNotification(id: string, note: NotifyOutcome, now: number): void {
    this.txn(() => {
      if (this.store.task()) this.ledger.noteNotification(id, note, now);
    });
  }

  /**
   * A call of this task that the gateway refused before admission (a rule denied it, the request was
   * malformed, ...): logged so the task's log holds every step it tried, counting nothing.
   */
  logRefused(steps: StepRequest[], reason: string): void {
    this.txn(() => {
      if (this.store.task()) this.logRefusals(steps, reason, null);
    });
  }

  /** The agent ends its task: every later admit is refused `task.completed`. */
  complete(now: number): Promise<EndResult> {
    return this.end("completed", now, null);
  }

  /** An operator ends the task: every later admit is refused `task.revoked`. */
  revoke(now: number, by: string): Promise<EndResult> {
    return this.end("revoked", now, by);
  }

  inspect(cursor = 0, limit = 50): TaskView | null {
    this.txn(() => undefined);
    return viewOf(this.store, this.log, cursor, limit);
  }

  /** The chain checked from where it was verified last (`full`: from the first entry). */
  verifyLog(full = false): { ok: boolean; broken_at?: number } {
    return this.txn(() => this.log.verify(full));
  }

  /**
   * The alarm: held settles written; calls reserved longer than SETTLE_GRACE_MS with no settle closed
   * as unknown (status null, reservation kept: the upstream may have acted); at the deadline a live
   * task expires and the log records it. Then it is set again for what is due next.
   */
  async alarm(): Promise<void> {
    const now = Date.now();
    const next = this.txn((): number | null => {
      const task = this.store.task();
      if (!task) return null;
      this.log.summarize(now);
      const open = this.store.openCalls();
      for (const c of open)
        if (c.ts <= now - SETTLE_GRACE_MS) this.settleOne(task, c.seq, null, now, true, "settle.missing");
      const oldest = open.find((c) => c.ts > now - SETTLE_GRACE_MS);
      const due = oldest === undefined ? null : Math.max(oldest.ts, now) + SETTLE_GRACE_MS;
      if (task.state !== "live") return due;
      if (now >= task.deadline) {
        liveness(this.store, task, now);
        return due;
      }
      return due === null ? task.deadline : Math.min(due, task.deadline);
    });
    this.alarmAt = next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private async end(state: "completed" | "revoked", now: number, by: string | null): Promise<EndResult> {
    const result = this.txn((): EndResult => {
      const task = this.store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const refusal = liveness(this.store, task, now);
      if (refusal) return { ok: false, reason: refusal.reason as `task.${Exclude<TaskState, "live">}` };
      this.log.summarize(now);
      this.store.endTask(state, now, by);
      this.store.append({ ts: now, kind: state === "completed" ? "complete" : "revoke", by });
      return { ok: true };
    });
    // The alarm stays while calls are in flight: it closes those whose settle never comes.
    if (result.ok && this.store.openCalls().length === 0) {
      this.alarmAt = null;
      await this.ctx.storage.deleteAlarm();
    }
    return result;
  }
}
