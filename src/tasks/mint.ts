/**
 * Minting a task token, for a start and for a renewal alike: the gateway's own origin as `iss` and
 * `aud`, the current signing key, the agent and the task as claims, `exp` = min(now + the profile's
 * ttl, the task's deadline).
 */

import type { Refusal, Result } from "../core/result";
import type { Env } from "../env";
import { gatewayOrigin } from "../identity/caller";
import { signTaskToken, type TaskSigningKey, taskKeys } from "../identity/task-token";
import type { Agent } from "../policy/evaluate";
import type { ProfileSpec } from "../policy/types";

/** What signs task tokens: the gateway's origin and the current key. */
export interface TaskSigner {
  origin: string;
  key: TaskSigningKey;
}

/**
 * The signer of this environment. Refused `task.unavailable` without `GATEWAY_ORIGIN` (tasks are off),
 * `task.keys_unavailable` without a usable key; the detail names the variable, never the key.
 */
export async function taskSigner(env: Env): Promise<Result<{ signer: TaskSigner }>> {
  const origin = gatewayOrigin(env);
  if (origin === "") return { ok: false, reason: "task.unavailable", detail: "GATEWAY_ORIGIN not set" };
  const keys = await taskKeys(env);
  if (!keys.ok) return { ok: false, reason: keys.reason, detail: keys.detail } satisfies Refusal;
  return { ok: true, signer: { origin, key: keys.keys.current } };
}

/** A signed task token and its `exp` in epoch milliseconds. */
export interface Minted {
  token: string;
  expires_at: number;
}

/** Signs a token of `task_id` for `agent`; throws (as signTaskToken does) once the deadline has passed. */
export function mintTaskToken(
  signer: TaskSigner,
  grant: { task_id: string; agent: Agent; profile: ProfileSpec },
  deadline: number,
  now: number,
): Promise<Minted> {
  const { agent, profile } = grant;
  return signTaskToken(
    signer.key,
    {
      sub: agent.sub,
      agent_issuer: agent.issuer,
      task_id: grant.task_id,
      profile: profile.name,
      agent_claims: agent.claims,
    },
    { audience: signer.origin, issuer: signer.origin, ttl_s: profile.ttl_s, deadline_ms: deadline, now: new Date(now) },
  );
}
