/**
 * The agent Durable Object: one object per agent (`getByName(agentKey(agent))`), SQLite
 * storage, native RPC. It holds the per-agent caps (live tasks at once, tasks started per sliding hour),
 * the agent kill switch, and what bounds the agent's reach to people through approvals: a slot per
 * approval waiting in any of its tasks (at most `limit` at once), and the notification window that
 * decides which new approvals are posted to the approvers (docs/approvals.md, "Limits").
 *
 * The limits are arguments, not stored: the caller passes them from bundle settings on every start, so
 * a bundle change applies to the next start without touching the object.
 *
 * Every method that checks and writes does so in one synchronous `transactionSync` of `sql.exec` calls,
 * nothing awaited: concurrent starts cannot both pass a check only one of them may pass (TOOLCHAIN.md).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { AgentStore, type AgentTaskRow, HOUR_MS, type NoticeWindowRow } from "./agent-store";

export interface AgentLimits {
  /** Tasks live at once (not ended, deadline in the future). */
  live_tasks: number;
  /** Tasks started in any sliding hour, ended ones included. */
  starts_per_hour: number;
}

export interface StartRequest {
  task_id: string;
  limits: AgentLimits;
  /** The task's hard end, epoch milliseconds: past it the task no longer holds a live slot. */
  deadline: number;
  /** Epoch milliseconds. */
  now: number;
}

export type StartReason = "agent.live_tasks" | "agent.start_rate" | "agent.revoked";

export type StartResult = { ok: true } | { ok: false; reason: StartReason; retry_after_s?: number };

export interface HoldRequest {
  task_id: string;
  /** The approval's request digest: a retry of a request already waiting holds no second slot. */
  digest: string;
  /** When the approval would expire, epoch ms: from then on the slot no longer counts. */
  expires_at: number;
  /** Approvals waiting at once across the agent's tasks. */
  limit: number;
  /** Epoch milliseconds. */
  now: number;
}

/**
 * `held: true`: a new slot was taken for this request; `false`: one was waiting already (a retry).
 * Refused: `retry_after_s` is when the first waiting slot expires (absent for a limit of 0: never).
 */
export type HoldResult =
  | { ok: true; held: boolean }
  | { ok: false; reason: "approval.agent_limit"; retry_after_s?: number };

export interface NoticeLimits {
  /** Approvals posted one by one per window; the next one gets the window's one summary instead. */
  per_window: number;
  window_ms: number;
}

export interface OpenedRequest {
  digest: string;
  approval_id: string;
  expires_at: number;
  /** Present for a new approval: take a notice from the window. Absent: only bind the slot. */
  notices?: NoticeLimits;
  now: number;
}

/**
 * What to tell the approvers of a new approval: post it; post the window's one summary instead (the
 * agent's waiting approvals, and until when no more are posted); or nothing (the summary said so).
 */
export type NoticeVerdict =
  | { notify: "post" }
  | { notify: "summary"; waiting: number; posted: number; window_ends: number }
  | { notify: "quiet"; window_ends: number };

export interface AgentView {
  revoked: boolean;
  revoked_at: number | null;
  revoked_by: string | null;
  reinstated_at: number | null;
  reinstated_by: string | null;
  /** Tasks holding a live slot at `now`, oldest start first. */
  live: Omit<AgentTaskRow, "ended_at">[];
  /** Starts in the sliding hour before `now`. */
  starts_last_hour: number;
  /** Approvals waiting at `now` across the agent's tasks (slots held). */
  approvals_waiting: number;
}

/**
 * The name of an agent's object. The issuer is percent-encoded so it holds no `:`; the first `:` then
 * separates issuer from sub, and (issuer `https://idp:8443`, sub `s`) cannot share an object with
 * (issuer `https://idp`, sub `8443:s`).
 */
export function agentKey(agent: { issuer: string; sub: string }): string {
  return `${encodeURIComponent(agent.issuer)}:${agent.sub}`;
}

export class AgentObject extends DurableObject<Env> {
  private readonly store: AgentStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new AgentStore(ctx.storage.sql);
    this.store.migrate();
  }

  /**
   * Checks the agent's caps and, when they allow it, reserves a live slot and a start. Checks in order:
   * revoked, live tasks, starts in the last hour. Starting a task id the object already holds is a retry:
   * `{ ok: true }` with nothing moved (the task object stays the authority on that task's state).
   * Malformed limits or a deadline not after `now` throw (the caller's bug; 503, never a silent pass).
   */
  startTask(req: StartRequest): StartResult {
    validate(req);
    return this.ctx.storage.transactionSync((): StartResult => {
      if (this.store.agent().revoked) return { ok: false, reason: "agent.revoked" };
      if (this.store.task(req.task_id)) return { ok: true };
      const { live_tasks, starts_per_hour } = req.limits;
      if (this.store.liveCount(req.now) >= live_tasks) return { ok: false, reason: "agent.live_tasks" };
      const starts = this.store.startsSince(req.now - HOUR_MS);
      if (starts.length >= starts_per_hour) {
        // One more start fits once the (count - limit + 1)-th oldest start has left the hour.
        const leaving = starts[starts.length - starts_per_hour];
        if (leaving === undefined) return { ok: false, reason: "agent.start_rate" }; // a limit of 0: never
        return { ok: false, reason: "agent.start_rate", retry_after_s: secondsUntil(leaving + HOUR_MS, req.now) };
      }
      this.store.prune(req.now);
      this.store.insertTask(req.task_id, req.now, req.deadline);
      return { ok: true };
    });
  }

  /**
   * Frees the task's live slot (its start still counts for the hour) and its approval slots (an ended
   * task's approvals can no longer be decided or used). Idempotent; unknown ids: no-op.
   */
  endTask(task_id: string, now: number): { ended: boolean } {
    return this.ctx.storage.transactionSync(() => {
      this.store.releaseTaskSlots(task_id, now);
      return { ended: this.store.endTask(task_id, now) };
    });
  }

  /**
   * Takes a slot for a new approval, before the task object opens it. In one transaction: a slot of
   * this digest still waiting is a retry (`held: false`, nothing moved); else the waiting slots (not
   * released, not expired) are counted against `limit`; under it, the slot is written. A slot expires
   * with its approval, or with its task's deadline when that comes first. Malformed input throws.
   */
  holdApproval(req: HoldRequest): HoldResult {
    validateHold(req);
    return this.ctx.storage.transactionSync((): HoldResult => {
      const { digest, now } = req;
      const existing = this.store.slot(digest);
      if (existing && existing.released_at === null && existing.expires_at > now) return { ok: true, held: false };
      const waiting = this.store.waitingSlots(now);
      if (waiting.length >= req.limit) {
        const first = waiting[0];
        // A limit of 0 refuses every approval: no slot freeing makes room.
        if (first === undefined || req.limit === 0) return { ok: false, reason: "approval.agent_limit" };
        return { ok: false, reason: "approval.agent_limit", retry_after_s: secondsUntil(first.expires_at, now) };
      }
      this.store.pruneSlots(now);
      const deadline = this.store.task(req.task_id)?.deadline ?? Number.POSITIVE_INFINITY;
      this.store.holdSlot(digest, req.task_id, now, Math.min(req.expires_at, deadline));
      return { ok: true, held: true };
    });
  }

  /**
   * The task object opened (or found) the approval of a held slot: the slot is bound to its id and
   * expiry, so that a person's decision can release it by id. With `notices`, a new approval also
   * takes its notice from the agent's notification window (one verdict per approval, in order).
   */
  approvalOpened(req: OpenedRequest): NoticeVerdict | null {
    return this.ctx.storage.transactionSync((): NoticeVerdict | null => {
      this.store.bindSlot(req.digest, req.approval_id, req.expires_at, req.now);
      return req.notices ? this.takeNotice(req.notices, req.now) : null;
    });
  }

  /**
   * Gives an approval's slot back: decided (`approval_id`), used, or never opened (`digest`).
   * Idempotent; a slot not waiting any more: `released: false`, nothing written.
   */
  releaseApproval(by: { digest: string } | { approval_id: string }, now: number): { released: boolean } {
    return this.ctx.storage.transactionSync(() => ({ released: this.store.releaseSlot(by, now) }));
  }

  /**
   * Fixed windows of `window_ms`, the first opened by the first approval after the last one ended: the
   * first `per_window` approvals are posted one by one, the next gets the window's one summary, any
   * later one nothing (the summary said until when). So at most `per_window + 1` posts a window.
   */
  private takeNotice(limits: NoticeLimits, now: number): NoticeVerdict {
    const current = this.store.noticeWindow();
    const open = current !== null && now >= current.window_start && now < current.window_start + limits.window_ms;
    const w: NoticeWindowRow = open ? current : { window_start: now, posts: 0, summarized: false, quiet: 0 };
    const window_ends = w.window_start + limits.window_ms;
    let verdict: NoticeVerdict;
    if (w.posts < limits.per_window) {
      w.posts++;
      verdict = { notify: "post" };
    } else if (!w.summarized) {
      w.summarized = true;
      verdict = { notify: "summary", waiting: this.store.waitingCount(now), posted: w.posts, window_ends };
    } else {
      w.quiet++;
      verdict = { notify: "quiet", window_ends };
    }
    this.store.setNoticeWindow(w);
    return verdict;
  }

  /**
   * The kill switch: the agent is revoked (every later start is refused `agent.revoked` until
   * `reinstate`) and the ids of its live tasks are returned for the caller to revoke each task object.
   * The tasks are not ended here: the caller calls `endTask` once a task object is revoked, so calling
   * `revokeAll` again (a retry after a partial failure) returns the tasks not yet ended. Revoking an
   * agent already revoked keeps the first `revoked_at`/`revoked_by`.
   */
  revokeAll(now: number, by: string): { task_ids: string[] } {
    return this.ctx.storage.transactionSync(() => {
      if (!this.store.agent().revoked) this.store.setRevoked(now, by);
      return { task_ids: this.store.live(now).map((t) => t.task_id) };
    });
  }

  /** Lifts the kill switch; `reinstated: false` when the agent was not revoked (nothing written). */
  reinstate(by: string, now: number): { reinstated: boolean } {
    return this.ctx.storage.transactionSync(() => {
      if (!this.store.agent().revoked) return { reinstated: false };
      this.store.setReinstated(now, by);
      return { reinstated: true };
    });
  }

  /** Whether the kill switch is on: read on the calls of bare workload tokens, which have no task to end. */
  isRevoked(): boolean {
    return this.store.agent().revoked;
  }

  inspect(now: number): AgentView {
    return {
      ...this.store.agent(),
      live: this.store.live(now).map(({ task_id, started, deadline }) => ({ task_id, started, deadline })),
      starts_last_hour: this.store.startsSince(now - HOUR_MS).length,
      approvals_waiting: this.store.waitingCount(now),
    };
  }
}

function validate(req: StartRequest): void {
  const count = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 0;
  if (!(count(req.limits?.live_tasks) && count(req.limits?.starts_per_hour))) {
    throw new Error("agent.bad_request: limits must be integers >= 0");
  }
  if (typeof req.task_id !== "string" || req.task_id === "") throw new Error("agent.bad_request: task_id");
  if (!(Number.isFinite(req.now) && Number.isFinite(req.deadline) && req.deadline > req.now)) {
    throw new Error("agent.bad_request: deadline must be after now");
  }
}

function validateHold(req: HoldRequest): void {
  if (!(typeof req.limit === "number" && Number.isInteger(req.limit) && req.limit >= 0)) {
    throw new Error("agent.bad_request: limit must be an integer >= 0");
  }
  if (typeof req.task_id !== "string" || req.task_id === "") throw new Error("agent.bad_request: task_id");
  if (typeof req.digest !== "string" || req.digest === "") throw new Error("agent.bad_request: digest");
  if (!(Number.isFinite(req.now) && Number.isFinite(req.expires_at) && req.expires_at > req.now)) {
    throw new Error("agent.bad_request: expires_at must be after now");
  }
}

/** Whole seconds from `now` until `at`, at least 1 (a Retry-After). */
function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}
