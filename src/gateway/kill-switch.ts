/**
 * The kill switch for calls without a task (`bare_workload_tokens: true`): a task token's calls are
 * refused by its revoked task object, but a bare workload token has no task, so its agent's object is
 * asked. The answer is remembered per isolate for KILL_SWITCH_TTL_MS: a revoked agent's bare calls stop
 * within that time on every isolate (docs/design/tasks.md). No answer: refused, never let through.
 */
import type { Result } from "../core/result";
import type { Env } from "../env";
import type { Agent } from "../policy/evaluate";
import { agentKey } from "../tasks/agent-object";
import { rpcCall } from "../tasks/rpc";

export const KILL_SWITCH_TTL_MS = 5_000;
const MAX_AGENTS = 10_000;

const seen = new Map<string, { revoked: boolean; at: number }>();

export async function bareCallAllowed(agent: Agent, env: Env, now: number): Promise<Result<object>> {
  const key = agentKey(agent);
  let entry = seen.get(key);
  if (entry === undefined || now - entry.at >= KILL_SWITCH_TTL_MS || now < entry.at) {
    const ns = env.AGENTS;
    if (!ns) return { ok: false, reason: "task.unavailable", detail: "AGENTS binding missing" };
    try {
      entry = { revoked: await rpcCall<boolean>(ns.getByName(key).isRevoked()), at: now };
    } catch (e) {
      return { ok: false, reason: "task.unavailable", detail: `kill switch: ${(e as Error)?.message ?? "error"}` };
    }
    if (seen.size >= MAX_AGENTS && !seen.has(key)) seen.delete(seen.keys().next().value as string);
    seen.set(key, entry);
  }
  return entry.revoked ? { ok: false, reason: "agent.revoked", detail: "kill switch" } : { ok: true };
}
