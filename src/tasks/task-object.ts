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
import { systemClock } from "../credentials/types";
import { bindingOf, type Env } from "../env";
import { outsideScope, type Scope } from "../policy/scope";
import { type Admit, type AdmitAll, liveness, type Refusal, reserveAll, StepRefused, taskState } from "./admission";
import { ApprovalDesk } from "./approval-desk";
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
import { CredentialDesk } from "./credential-desk";
import { TaskCredentials } from "./credentials";
import { closeMissing, HeldSettles, MAX_HELD, SETTLE_GRACE_MS } from "./settle";
import { TaskLog } from "./task-log";
import type { EndResult, OpenInit, OpenResult, RenewResult, TaskStateView } from "./task-rpc";
import { type TaskRow, type TaskState, TaskStore } from "./task-store";
import { type TaskView, viewOf } from "./task-view";
import type { SettleNote, StepRequest } from "./types";

export type { Admit, AdmitAll, AdmitReason } from "./admission";
export { SETTLE_GRACE_MS } from "./settle";
export type { StepView } from "./steps";
export type { EndResult, OpenInit, OpenResult, RenewResult, TaskStateView } from "./task-rpc";
export type { TaskState } from "./task-store";
export type { TaskView } from "./task-view";

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly ledger: ApprovalLedger;
  private readonly approvalDesk: ApprovalDesk;
  private readonly log: TaskLog;
  private readonly desk: CredentialDesk;
  /** Off only in a test that shows the minted token's own limit (task-credentials.test.ts). */
  private enforceScope = true;
  private scopeCache: { raw: string; scope: Scope } | null = null;
  /** Settles received since the last transaction (src/tasks/settle.ts). */
  private readonly held = new HeldSettles();
  /** When the alarm is set for (null: none, or not known yet). */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new TaskStore(ctx.storage.sql);
    this.store.migrate();
    const approvals = new ApprovalStore(ctx.storage.sql);
    approvals.migrate();
    this.ledger = new ApprovalLedger(this.store, approvals);
    this.approvalDesk = new ApprovalDesk({
      txn: (work) => this.txn(work),
      store: this.store,
      approvals,
      ledger: this.ledger,
    });
    this.log = new TaskLog(this.store, ctx.storage.sql);
    this.log.migrate();
    const secret = (name: string) => {
      const v = bindingOf(env, name);
      return typeof v === "string" ? v : undefined;
    };
    const credentials = new TaskCredentials(ctx.storage.sql, { fetch: (r) => fetch(r), clock: systemClock, secret });
    credentials.migrate();
    this.desk = new CredentialDesk(credentials, {
      txn: (work) => this.txn(work),
      store: this.store,
      logRefusals: (steps, reason, by) => this.logRefusals(steps, reason, by),
      waitUntil: (work) => ctx.waitUntil(work),
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * One synchronous transaction, the held settles written first so that every check sees them, and
   * the store's counters and log head written last (`flush`). A transaction that throws is rolled
   * back: the store's in-memory copies are dropped and the settles stay held for the next one.
   */
  private txn<T>(work: () => T): T {
    const n = this.held.size;
    try {
      const result = this.ctx.storage.transactionSync(() => {
        this.held.apply(this.store, n);
        const out = work();
        this.store.flush();
        return out;
      });
      this.held.drop(n);
      return result;
    } catch (e) {
      this.store.forget();
      this.log.forget();
      this.desk.credentials.forget();
      throw e;
    }
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
    // Minted before the task exists, so that a task whose credential cannot be had never opens.
    const plans = this.store.task() ? [] : (init.credentials ?? []);
    const minted = plans.length === 0 ? [] : await this.desk.credentials.mintAll(plans, init.subject_token ?? null);
    if ("ok" in minted) return { ok: false, reason: minted.code, detail: minted.detail };
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
      const scope = init.scope ? canonicalJson(init.scope as unknown as Json) : null;
      this.store.createTask({ ...init, ...init.agent, claims, scope, created: init.now, deadline: end });
      const args = canonicalJson({ profile: init.profile.name, purpose: init.purpose, deadline: end });
      this.store.append({ ts: init.now, kind: "open", by: `${init.agent.issuer} ${init.agent.sub}`, args });
      for (const note of this.desk.credentials.save(minted)) this.desk.log(note, init.now);
      return end;
    });
    if (typeof deadline !== "number") {
      // Another open won the race: what this one minted is not used.
      for (const h of minted) this.ctx.waitUntil(this.desk.credentials.revokeUpstream(h));
      return deadline;
    }
    this.alarmAt = deadline;
    await this.ctx.storage.setAlarm(deadline);
    return { ok: true, deadline };
  }

  /** Checks the step and, when it passes, reserves it; a refused step is logged and moves no counter. */
  admit(step: StepRequest): Admit {
    const admitted = this.admitNow([step]);
    return admitted.ok ? { ok: true, seq: admitted.seqs[0]! } : admitted;
  }

  /**
   * The steps of one request, checked in order (each against what the ones before it reserved) and
   * reserved together, or all refused and logged so, moving no counter. `settles`: the answers to
   * earlier calls of this task that the gateway isolate carried with this call instead of sending
   * them alone; they are written first, in the same transaction, so the checks see them.
   */
  admitAll(steps: [StepRequest, ...StepRequest[]], settles: SettleNote[] = []): AdmitAll | Promise<AdmitAll> {
    this.held.hold(settles);
    return this.desk.withCredential(steps, () => this.admitNow(steps));
  }

  private admitNow(steps: [StepRequest, ...StepRequest[]]): AdmitAll {
    return this.reserving(steps, null, (task) => {
      this.checkScope(task, steps);
      const reserved = reserveAll(this.store, task.profile, steps, null, "admit");
      this.armFor(steps[0].now);
      return { ok: true, ...reserved };
    });
  }

  /** A step that reaches a repository outside the task's scope is refused before anything is reserved. */
  private checkScope(task: TaskRow, steps: StepRequest[]): void {
    if (task.scope === null || !this.enforceScope) return;
    if (this.scopeCache?.raw !== task.scope) this.scopeCache = { raw: task.scope, scope: JSON.parse(task.scope) };
    const { scope } = this.scopeCache;
    if (steps.some((s) => outsideScope(scope, s.service, s.resource)))
      throw new StepRefused({ reason: "task.out_of_scope" });
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
   * Records the upstream answer of a reserved step, once: held in memory and written by the next
   * transaction, no commit of its own (src/tasks/settle.ts says what each answer does and what stays
   * fail closed meanwhile).
   */
  settle(seq: number, status: number | null, now: number, timedOut = false): void {
    this.settleMany([{ seqs: [seq], status, now, timedOut }]);
  }

  /** The one upstream answer to a request of several steps, recorded for each of them at once. */
  settleAll(seqs: number[], status: number | null, now: number, timedOut = false): void {
    this.settleMany([{ seqs, status, now, timedOut }]);
  }

  /** The answers to several calls (a gateway isolate's held settles of this task, sent together). */
  settleMany(notes: SettleNote[]): void {
    if (this.held.size + notes.length > MAX_HELD) this.txn(() => undefined);
    this.held.hold(notes);
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

  /** A call that needs a person: a new approval, or the one waiting for this exact request (`settles`: as admitAll's). */
  requestApproval(a: NewApproval, settles: SettleNote[] = []): RequestResult {
    this.held.hold(settles);
    return this.approvalDesk.request(a);
  }

  /** The agent's retry with `Firebreak-Approval`: the approval and the budgets, checked and written at once. */
  redeemApproval(
    id: string,
    digest: string,
    steps: [StepRequest, ...StepRequest[]],
    settles: SettleNote[] = [],
  ): AdmitAll | { ok: false; reason: RedeemReason } | Promise<AdmitAll | { ok: false; reason: RedeemReason }> {
    this.held.hold(settles);
    return this.desk.withCredential(steps, () =>
      this.reserving(steps, `approval ${id}`, (task) => {
        this.checkScope(task, steps);
        return this.ledger.redeem(task, id, digest, steps);
      }),
    );
  }

  /** A person approves or denies; the caller has checked who may. */
  decideApproval(id: string, verdict: "approve" | "deny", who: Approver, csrf: string, now: number): DecideResult {
    return this.approvalDesk.decide(id, verdict, who, csrf, now);
  }

  /** One approval as it stands now; `withForm` adds the page's form token (approvers only). */
  approval(id: string, now: number, withForm = false): { view: ApprovalView; csrf: string | null } | null {
    return this.approvalDesk.one(id, now, withForm);
  }

  /** The task's approvals, newest first (the dashboard's pending list). */
  listApprovals(now: number, limit = 50): ApprovalView[] {
    return this.approvalDesk.list(now, limit);
  }

  noteNotification(id: string, note: NotifyOutcome, now: number): void {
    this.approvalDesk.noteNotification(id, note, now);
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
      const due = closeMissing(this.store, task, now);
      if (task.state !== "live") return due;
      if (now >= task.deadline) {
        liveness(this.store, task, now);
        return due;
      }
      return due === null ? task.deadline : Math.min(due, task.deadline);
    });
    this.alarmAt = next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
    if (this.store.task()?.state !== "live") await this.desk.revokeAll(now);
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
    if (result.ok) await this.desk.revokeAll(now);
    // The alarm stays while calls are in flight: it closes those whose settle never comes.
    if (result.ok && !this.store.hasOpenCalls()) {
      this.alarmAt = null;
      await this.ctx.storage.deleteAlarm();
    }
    return result;
  }
}
