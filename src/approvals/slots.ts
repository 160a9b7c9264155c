/**
 * An agent's approval slots, held in its agent Durable Object (src/tasks/agent-object.ts): at most
 * MAX_AGENT_PENDING_APPROVALS approvals wait for a person at once across all the agent's tasks.
 *
 *   hold     before the task object opens a new approval (fails closed: no answer, no approval)
 *   opened   the approval's id and expiry bound to its slot; a new one takes its notice (announce.ts)
 *   release  a person decided it, its call was admitted, or the task refused to open it
 *
 * A slot that is never released stops counting at its approval's expiry, so a lost release costs
 * capacity for at most one approval lifetime, never correctness.
 */
import { APPROVAL_NOTICE_WINDOW_MS, APPROVAL_NOTICES_PER_WINDOW, MAX_AGENT_PENDING_APPROVALS } from "../core/limits";
import type { Result } from "../core/result";
import type { Env } from "../env";
import { type AgentObject, agentKey, type HoldResult, type NoticeVerdict } from "../tasks/agent-object";
import { rpcCall } from "../tasks/rpc";

export interface AgentRef {
  issuer: string;
  sub: string;
}

const stubOf = (env: Env, agent: AgentRef): DurableObjectStub<AgentObject> | null =>
  env.AGENTS?.getByName(agentKey(agent)) ?? null;

/**
 * Takes a slot for this request, or finds the one it holds already (`held: false`: a retry).
 * `approval.agent_limit` at the cap, with Retry-After; `agent.unavailable` when the agent object is
 * missing, fails or does not answer: no approval is opened then.
 */
export async function holdSlot(
  env: Env,
  agent: AgentRef,
  slot: { task_id: string; digest: string; expires_at: number; now: number },
): Promise<Result<{ held: boolean }>> {
  let result: HoldResult;
  try {
    const stub = stubOf(env, agent);
    if (!stub) return { ok: false, reason: "agent.unavailable", detail: "AGENTS binding missing" };
    result = await rpcCall<HoldResult>(stub.holdApproval({ ...slot, limit: MAX_AGENT_PENDING_APPROVALS }));
  } catch (e) {
    return {
      ok: false,
      reason: "agent.unavailable",
      detail: `hold: ${(e as Error)?.message ?? "error"}`.slice(0, 200),
    };
  }
  if (result.ok) return { ok: true, held: result.held };
  const retry = result.retry_after_s !== undefined ? { retryAfter: result.retry_after_s } : {};
  const detail = `${MAX_AGENT_PENDING_APPROVALS} approvals waiting for ${agent.issuer}:${agent.sub}`.slice(0, 200);
  return { ok: false, reason: result.reason, detail, ...retry };
}

/**
 * Binds the opened approval to its slot; for a new approval (`notify`) the verdict of the agent's
 * notification window. Null when the agent object did not answer (the caller then posts: the
 * approvers are told rather than not).
 */
export async function openedSlot(
  env: Env,
  agent: AgentRef,
  opened: { digest: string; approval_id: string; expires_at: number; now: number },
  notify: boolean,
): Promise<NoticeVerdict | null> {
  const notices = { per_window: APPROVAL_NOTICES_PER_WINDOW, window_ms: APPROVAL_NOTICE_WINDOW_MS };
  try {
    const stub = stubOf(env, agent);
    if (!stub) return null;
    return await rpcCall<NoticeVerdict | null>(stub.approvalOpened({ ...opened, ...(notify ? { notices } : {}) }));
  } catch (e) {
    failed("opened", opened.approval_id, e);
    return null;
  }
}

/** Gives a slot back; best effort (never throws): an unreleased slot still ends at its expiry. */
export async function releaseSlot(
  env: Env | undefined,
  agent: AgentRef,
  by: { digest: string } | { approval_id: string },
  now: number,
): Promise<void> {
  try {
    const stub = env ? stubOf(env, agent) : null;
    if (stub) await rpcCall<unknown>(stub.releaseApproval(by, now));
  } catch (e) {
    failed("release", "approval_id" in by ? by.approval_id : null, e);
  }
}

/** One log line: which call, the approval id, the error's words (never a digest's request or a token). */
function failed(call: string, approval_id: string | null, e: unknown): void {
  const detail = `${(e as Error)?.name ?? "Error"}: ${String((e as Error)?.message ?? "").slice(0, 200)}`;
  console.error(JSON.stringify({ event: "firebreak.approval_slot_failed", call, approval_id, detail }));
}
