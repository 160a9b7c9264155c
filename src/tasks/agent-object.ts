/**
 * The agent Durable Object: one object per agent (`getByName(agentKey(agent))`), SQLite
 * storage, native RPC. It holds the per-agent caps (live tasks at once, tasks started per sliding hour)
 * and the agent kill switch.
 *
 * The limits are arguments, not stored: the caller passes them from bundle settings on every start, so
 * a bundle change applies to the next start without touching the object.
 *
 * Every method that checks and writes does so in one synchronous `transactionSync` of `sql.exec` calls,
 * nothing awaited: concurrent starts cannot both pass a check only one of them may pass (TOOLCHAIN.md).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { AgentStore, type AgentTaskRow, HOUR_MS } from "./agent-store";

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
        const retry_after_s = Math.max(1, Math.ceil((leaving + HOUR_MS - req.now) / 1000));
        return { ok: false, reason: "agent.start_rate", retry_after_s };
      }
      this.store.prune(req.now);
      this.store.insertTask(req.task_id, req.now, req.deadline);
      return { ok: true };
    });
  }

  /** Frees the task's live slot (its start still counts for the hour). Idempotent; unknown ids: no-op. */
  endTask(task_id: string, now: number): { ended: boolean } {
    return this.ctx.storage.transactionSync(() => ({ ended: this.store.endTask(task_id, now) }));
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
