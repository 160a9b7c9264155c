/**
 * Starting a task across its two objects (docs/design/tasks.md):
 *
 *   1. reserve  the agent object takes a live slot and a start (the caps, the kill switch);
 *   2. open     the task object is created with the profile, the agent and the task's scope;
 *   3. confirm  the agent object is asked again with the same id (a retry moves nothing): a `revokeAll`
 *               that ran between 1 and 2 listed this id but found no task to revoke, so the start is
 *               refused now rather than handing out a token the kill switch missed.
 *
 * Each step stops at the first refusal and undoes what the earlier steps did: a failed open gives the
 * slot back; a failed confirm revokes the task and gives the slot back. The undo is best effort: a
 * slot that could not be given back still ends at the task's deadline. Every call is bounded by the
 * RPC timeout; an exception or timeout is `task.unavailable`.
 */
import type { Result } from "../core/result";
import type { MintPlan } from "../credentials/types";
import type { Agent } from "../policy/evaluate";
import type { Scope } from "../policy/scope";
import type { ProfileSpec } from "../policy/types";
import type { AgentLimits, StartRequest, StartResult } from "./agent-object";
import { rpcCall } from "./rpc";
import type { OpenInit, OpenResult } from "./task-object";

/**
 * The agent's object and the new task's object: the stubs `getByName` gives, or a test's own. Each
 * answer is typed where it is read (`rpcCall<T>`), as RPC results are thenables of a union.
 */
export interface StartObjects {
  agent: {
    startTask(request: StartRequest): PromiseLike<unknown>;
    endTask(task_id: string, now: number): PromiseLike<unknown>;
  };
  task: {
    open(init: OpenInit): PromiseLike<unknown>;
    revoke(now: number, by: string): PromiseLike<unknown>;
  };
}

export interface StartInput {
  task_id: string;
  profile: ProfileSpec;
  agent: Agent;
  purpose: string;
  /**
   * What the task declared it reaches, checked against its profile's (src/policy/scope.ts `checkTaskScope`);
   * null or absent: the profile sets no scope.
   */
  scope?: Scope | null;
  /** The credentials its object mints before it opens (src/credentials/plan.ts); a failure refuses the start. */
  credentials?: MintPlan[];
  /** The agent's workload JWT, only when a plan exchanges it (token exchange). */
  subject_token?: string;
  limits: AgentLimits;
  /** Epoch milliseconds. */
  now: number;
}

/** The task is open and counted: its deadline (start + the profile's max lifetime), epoch ms. */
export type Started = Result<{ deadline: number }>;

export async function startTask(objects: StartObjects, input: StartInput): Promise<Started> {
  const { task_id, profile, now } = input;
  const request: StartRequest = { task_id, limits: input.limits, deadline: now + profile.max_lifetime_s * 1000, now };
  const ask = () => reserve(objects.agent, request);
  const release = () => rpcCall<unknown>(objects.agent.endTask(task_id, now)).catch(() => {});
  const revoke = () => rpcCall<unknown>(objects.task.revoke(now, "agent.revoked")).catch(() => {});

  const reserved = await ask();
  if (!reserved.ok) return reserved;
  const opened = await open(objects.task, input);
  if (!opened.ok) {
    await release();
    return opened;
  }
  const confirmed = await ask();
  if (!confirmed.ok) {
    await revoke();
    await release();
    return confirmed;
  }
  return opened;
}

/** The agent object's check-and-reserve: a retry with the same id moves nothing, so it also confirms. */
async function reserve(agent: StartObjects["agent"], request: StartRequest): Promise<Result<object>> {
  const reserved = await attempt(() => rpcCall<StartResult>(agent.startTask(request)));
  if (!reserved.ok || reserved.value.ok) return reserved;
  return { ok: false, reason: reserved.value.reason, retryAfter: reserved.value.retry_after_s };
}

async function open(task: StartObjects["task"], input: StartInput): Promise<Started> {
  const { task_id, profile, agent, purpose, now } = input;
  const init: OpenInit = {
    task_id,
    profile,
    agent: { issuer: agent.issuer, sub: agent.sub },
    claims: { ...agent.claims },
    purpose,
    scope: input.scope ?? null,
    credentials: input.credentials ?? [],
    ...(input.subject_token === undefined ? {} : { subject_token: input.subject_token }),
    now,
  };
  const opened = await attempt(() => rpcCall<OpenResult>(task.open(init)));
  if (!opened.ok) return opened;
  const refused = opened.value;
  // No credential could be minted: its own reason (503), and no task.
  if (!refused.ok && refused.reason !== "task.agent_mismatch")
    return { ok: false, reason: refused.reason, detail: refused.detail };
  // A fresh random id cannot belong to another agent; if it does, refuse rather than share it.
  if (!refused.ok) return { ok: false, reason: "task.unavailable", detail: refused.reason };
  return { ok: true, deadline: refused.deadline };
}

/** One object call: its answer, or `task.unavailable` when it threw or timed out (the cause as detail). */
async function attempt<T>(call: () => Promise<T>): Promise<Result<{ value: T }>> {
  try {
    return { ok: true, value: await call() };
  } catch (e) {
    return { ok: false, reason: "task.unavailable", detail: `start: ${(e as Error)?.message ?? "error"}` };
  }
}
