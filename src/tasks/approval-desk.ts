/**
 * The task object's approvals, apart from redeeming one (which admits steps, in the object with the
 * rest of admission): asking, deciding, reading and noting notifications, each one synchronous
 * transaction of the object's (`txn`), checked against the task's liveness first.
 */
import { liveness, type Refusal, reserveAll, StepRefused } from "./admission";
import type { ApprovalLedger } from "./approval-ledger";
import type { ApprovalStore } from "./approval-store";
import type { ApprovalView, Approver, DecideResult, NewApproval, NotifyOutcome, RequestResult } from "./approval-types";
import type { TaskState, TaskStore } from "./task-store";
import type { StepRequest } from "./types";

export interface ApprovalDeskDeps {
  txn: <T>(work: () => T) => T;
  store: TaskStore;
  approvals: ApprovalStore;
  ledger: ApprovalLedger;
}

type Ended = `task.${Exclude<TaskState, "live">}`;

/** Thrown to roll back a check that reserved nothing for real (`wouldRefuse`). */
const DRY_RUN = new Error("dry run");

export class ApprovalDesk {
  constructor(private readonly deps: ApprovalDeskDeps) {}

  /** A new approval, or the one waiting for this exact request. */
  request(a: NewApproval): RequestResult {
    const { txn, store, ledger } = this.deps;
    // No await between the check and the request: nothing can run in between.
    const refused = this.wouldRefuse(a.steps ?? [a.step]);
    return txn((): RequestResult => {
      const task = store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const dead = liveness(store, task, a.now);
      return dead ? { ok: false, reason: dead.reason as Ended } : ledger.request(task, a, refused);
    });
  }

  /** What admitting these steps now would refuse, if anything: reserved as admission would, then rolled back. */
  private wouldRefuse(steps: StepRequest[]): Refusal | null {
    const { txn, store } = this.deps;
    try {
      txn(() => {
        const task = store.task();
        if (task?.state === "live") reserveAll(store, task.profile, steps, null, "redeem");
        throw DRY_RUN;
      });
    } catch (e) {
      if (e instanceof StepRefused) return e.refusal;
      if (e !== DRY_RUN) throw e;
    }
    return null;
  }

  decide(id: string, verdict: "approve" | "deny", who: Approver, csrf: string, now: number): DecideResult {
    const { txn, store, ledger } = this.deps;
    return txn((): DecideResult => {
      const task = store.task();
      if (!task) return { ok: false, reason: "task.unknown" };
      const dead = liveness(store, task, now);
      if (dead) return { ok: false, reason: dead.reason as Ended };
      return ledger.decide(task, id, verdict, who, csrf, now);
    });
  }

  one(id: string, now: number, withForm: boolean): { view: ApprovalView; csrf: string | null } | null {
    const { store, ledger } = this.deps;
    const task = store.task();
    const view = task ? ledger.view(task, id, now) : null;
    if (!task || !view) return null;
    return { view, csrf: withForm ? ledger.csrf(id) : null };
  }

  list(now: number, limit: number): ApprovalView[] {
    const { store, approvals, ledger } = this.deps;
    const task = store.task();
    if (!task) return [];
    return approvals.list(Math.min(Math.max(limit, 1), 200)).map((row) => ledger.view(task, row.id, now)!);
  }

  noteNotification(id: string, note: NotifyOutcome, now: number): void {
    const { txn, store, ledger } = this.deps;
    txn(() => {
      if (store.task()) ledger.noteNotification(id, note, now);
    });
  }
}
