/**
 * Task tokens already verified in this isolate, as workload tokens are (src/identity/token-cache.ts):
 * an agent's calls with one task token pay the EdDSA check (~80-120 us in workerd) once a minute, not on
 * every call. An entry is used only for the exact token string, verified with the same key set (a new
 * secret value imports a new set, so a rotated-out key stops at once), audience and issuer, for at most
 * TTL_MS, with `exp` and `nbf` re-checked on every use. Refusals are never remembered. What a task may
 * do is not cached: the task object admits every call (revoked, completed, expired tasks are refused
 * there), and the agent is re-checked against the bundle in force on every call (src/identity/caller.ts).
 */
import {
  TASK_CLOCK_TOLERANCE_S,
  type TaskClaims,
  type TaskKeys,
  type TaskKeysResult,
  type TaskTokenResult,
  verifyTaskToken,
} from "./task-token";

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  keys: TaskKeys;
  audience: string;
  issuer: string;
  claims: TaskClaims;
  storedAt: number;
}

const entries = new Map<string, Entry>();

export async function verifyTaskTokenCached(
  token: string,
  keys: TaskKeysResult,
  opts: { audience: string; issuer: string; now: Date },
  verify: typeof verifyTaskToken = verifyTaskToken,
): Promise<TaskTokenResult> {
  if (!keys.ok) return keys;
  const t = opts.now.getTime();
  const s = t / 1000;
  const e = entries.get(token);
  if (e) {
    const fresh =
      e.keys === keys.keys &&
      e.audience === opts.audience &&
      e.issuer === opts.issuer &&
      t - e.storedAt < TTL_MS &&
      e.claims.exp > s - TASK_CLOCK_TOLERANCE_S &&
      e.claims.nbf <= s + TASK_CLOCK_TOLERANCE_S;
    if (fresh) return { ok: true, claims: e.claims };
    entries.delete(token);
  }
  const verified = await verify(token, keys, opts);
  if (verified.ok) {
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
    entries.set(token, {
      keys: keys.keys,
      audience: opts.audience,
      issuer: opts.issuer,
      claims: verified.claims,
      storedAt: t,
    });
  }
  return verified;
}
