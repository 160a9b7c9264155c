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
import type { Budgets, ProfileSpec } from "../policy/types";
import {
  type Admit,
  type AdmitAll,
  effectsOf,
  liveness,
  type Refusal,
  release,
  reserveAll,
  StepRefused,
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
import { GENESIS, verifyChain } from "./hash-chain";
import { callEntry, type StepView, stepView } from "./steps";
import { type TaskRow, type TaskState, TaskStore } from "./task-store";
import type { StepRequest } from "./types";

export type { Admit, AdmitAll, AdmitReason } from "./admission";
export type { StepView } from "./steps";
export type { TaskState } from "./task-store";

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

type Claim = string | number | boolean | null | string[];

/** What rules may read as CEL `task`, and renew reads: state, deadline, calls, services, data read. */
export interface TaskStateView {
  state: TaskState;
  deadline: number;
  calls: number;
  services: string[];
  labels_read: string[];
}

export interface TaskView {
  task: Omit<TaskRow, "profile" | "issuer" | "sub" | "claims"> & {
    /** The claims kept at the start (JSON values; typed flat so RPC types stay finite). */
    agent: { issuer: string; sub: string; claims: Record<string, Claim> };
    profile: string;
  };
  budgets: Budgets;
  /** Raw counters: `calls`, `action:<a>`, `label:<l>`, `service:<s>`, `total:<action>:<arg>` (reservations included). */
  counters: Record<string, number>;
  services: string[];
  /** Admitted calls still inside the longest window. */
  window_calls: number;
  labels_read: string[];
  resources_read: { action: string; resource: string }[];
  steps: StepView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: number | null;
  /** Entries in the whole log (the seq of the last one): `cursor = log_length - n` reads the last n. */
  log_length: number;
}

/** Thrown to roll back a check that reserved nothing for real (`wouldRefuse`). */
const DRY_RUN = new Error("dry run");

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly approvals: ApprovalStore;
  private readonly ledger: ApprovalLedger;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new TaskStore(ctx.storage.sql);
    this.store.migrate();
    this.approvals = new ApprovalStore(ctx.storage.sql);
    this.approvals.migrate();
    this.ledger = new ApprovalLedger(this.store, this.approvals);
  }

  /**
   * Creates the task once. Opening again for the same agent returns the original deadline and keeps
   * the original profile; another agent (or task id) is refused `task.agent_mismatch`, as a result, not
   * an exception: an exception from this object means "unavailable" (503) to the gateway.
   */
  async open(init: OpenInit): Promise<OpenResult> {
    const deadline = this.ctx.storage.transactionSync((): number | OpenResult => {
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
    return this.reserving(steps, null, (task) => ({
      ok: true,
      seqs: reserveAll(this.store, task.profile, steps, null),
    }));
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
      const result = this.ctx.storage.transactionSync((): T | ({ ok: false } & Refusal) => {
        const task = this.store.task();
        if (!task) return { ok: false, reason: "task.unknown" };
        const dead = liveness(this.store, task, now);
        if (!dead) return reserve(task);
        for (const step of steps) this.store.append(callEntry(step, dead.reason, by));
        return { ok: false, ...dead };
      });
      return result;
    } catch (e) {
      if (!(e instanceof StepRefused)) throw e;
      refusal = e.refusal;
    }
    this.ctx.storage.transactionSync(() => {
      for (const step of steps) this.store.append(callEntry(step, refusal.reason, by));
    });
    return { ok: false, ...refusal };
  }

  /**
   * Records the upstream answer of a reserved step, once. 2xx: the step's `data:*` labels join
   * labels_read, its action joins the succeeded set and its resource resources_read. No answer (null)
   * or >= 500: its running-total reservations are given back; its calls stay counted (the attempt
   * happened). Anything else (3xx, 4xx) keeps the reservation. `timedOut` (no answer in time: the
   * upstream may have acted) records status null and keeps the reservation. Unknown, refused or settled
   * seqs: no-op.
   */
  settle(seq: number, status: number | null, now: number, timedOut = false): void {
    this.settleAll([seq], status, now, timedOut);
  }

  /** The one upstream answer to a request of several steps, recorded for each of them at once. */
  settleAll(seqs: number[], status: number | null, now: number, timedOut = false): void {
    this.ctx.storage.transactionSync(() => {
      const task = this.store.task();
      if (task) for (const seq of seqs) this.settleOne(task, seq, status, now, timedOut);
    });
  }

  private settleOne(task: TaskRow, seq: number, status: number | null, now: number, timedOut: boolean): void {
    const step = this.store.step(seq);
    if (step?.kind !== "call" || step.outcome !== "reserved" || step.settled) return;
    this.store.markSettled(seq, status);
    this.store.append({ ts: now, kind: "settle", ref: seq, status });
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
    const task = this.store.task();
    if (!task) return null;
    const counters = this.store.counters();
    return {
      state: task.state,
      deadline: task.deadline,
      calls: counters.calls ?? 0,
      services: Object.keys(counters)
        .filter((k) => k.startsWith("service:"))
        .map((k) => k.slice("service:".length))
        .sort(),
      labels_read: this.store.labelsRead(),
    };
  }

  /** A call that needs a person: a new approval, or the one waiting for this exact request. */
  requestApproval(a: NewApproval): RequestResult {
    // No await between the check and the request: nothing can run in between.
    const refused = this.wouldRefuse(a.steps ?? [a.step]);
    return this.ctx.storage.transactionSync((): RequestResult => {
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
      this.ctx.storage.transactionSync(() => {
        const task = this.store.task();
        if (task?.state === "live") reserveAll(this.store, task.profile, steps, null);
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
    return this.ctx.storage.transactionSync((): DecideResult => {
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
    this.ctx.storage.transactionSync(() => {
      if (this.store.task()) this.ledger.noteNotification(id, note, now);
    });
  }

  /**
   * A call of this task that the gateway refused before admission (a rule denied it, the request was
   * malformed, ...): logged so the task's log holds every step it tried, counting nothing.
   */
  logRefused(steps: StepRequest[], reason: string): void {
    this.ctx.storage.transactionSync(() => {
      if (this.store.task()) for (const step of steps) this.store.append(callEntry(step, reason));
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
    const task = this.store.task();
    if (!task) return null;
    const size = Math.min(Math.max(Math.trunc(limit) || 1, 1), 500);
    const rows = this.store.steps(cursor, size + 1);
    const page = rows.slice(0, size);
    const counters = this.store.counters();
    // `id` is the row key of the one-row table, not the task's: left out of the view.
    const { id: _rowKey, profile, issuer, sub, claims, ...rest } = task as TaskRow & { id?: number };
    return {
      task: {
        ...rest,
        agent: { issuer, sub, claims: claims === null ? {} : (JSON.parse(claims) as Record<string, Claim>) },
        profile: profile.name,
      },
      budgets: profile.budgets,
      counters,
      services: Object.keys(counters)
        .filter((k) => k.startsWith("service:"))
        .map((k) => k.slice("service:".length)),
      window_calls: this.store.windowCount(Number.NEGATIVE_INFINITY),
      labels_read: this.store.labelsRead(),
      resources_read: this.store.resourcesRead(),
      steps: page.map(stepView),
      next_cursor: rows.length > size ? page[page.length - 1]!.seq : null,
      log_length: this.store.head().seq,
    };
  }

  /**
   * Recomputes the chain from the stored columns, then checks that every call's settled status is the
   * one its (hashed) settle entry carries. `broken_at` is the first seq that does not hold.
   */
  verifyLog(): { ok: boolean; broken_at?: number } {
    const links = [...this.store.links()];
    const head = this.store.task() ? this.store.head() : { seq: 0, hash: GENESIS };
    const chain = verifyChain(links, head);
    if (!chain.ok) return chain;
    const settledBy = new Map<number, number | null>();
    for (const { row } of links) if (row.kind === "settle") settledBy.set(row.ref!, row.status);
    for (const { row } of links) {
      if (row.kind !== "call") continue;
      const recorded = settledBy.has(row.seq);
      if (recorded !== Boolean(row.settled) || (recorded ? settledBy.get(row.seq) : null) !== row.status) {
        return { ok: false, broken_at: row.seq };
      }
    }
    return { ok: true };
  }

  /** At the deadline a live task expires and the log records it; an early alarm re-arms itself. */
  async alarm(): Promise<void> {
    const task = this.store.task();
    if (task?.state !== "live") return;
    const now = Date.now();
    if (now < task.deadline) {
      await this.ctx.storage.setAlarm(task.deadline);
      return;
    }
    this.ctx.storage.transactionSync(() => liveness(this.store, task, now));
  }

  private async end(state: "completed" | "revoked", now: number, by: string | null): Promise<EndResult> {
    const result = this.ctx.storage.transactionSync((): EndResult => {
      const task = this.store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const refusal = liveness(this.store, task, now);
      if (refusal) return { ok: false, reason: refusal.reason as `task.${Exclude<TaskState, "live">}` };
      this.store.endTask(state, now, by);
      this.store.append({ ts: now, kind: state === "completed" ? "complete" : "revoke", by });
      return { ok: true };
    });
    if (result.ok) await this.ctx.storage.deleteAlarm();
    return result;
  }
}
