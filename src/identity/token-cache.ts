/**
 * Tokens already verified in this isolate, workload and task tokens alike, so an agent's repeated
 * calls with one token do not pay a signature check each time (ES256 ~60 us, EdDSA ~80-120 us in
 * workerd). An entry is used only for the exact same token string, while what it was verified against
 * is unchanged (the same issuer object of the same bundle and its key source; the same task key set,
 * audience and issuer), for at most TTL_MS, with every time-based claim re-checked against `now` on
 * each use. A key withdrawn from a JWKS stops being honoured within a minute, a rotated-out task key at
 * once (a new secret value imports a new key set). Refusals are never remembered; the map is bounded.
 *
 * What a task may do is not cached: the task object admits every call, and the agent is re-checked
 * against the bundle in force on every call (src/identity/caller.ts).
 */
import { bindingOf, type Env } from "../env";
import type { Agent } from "../policy/evaluate";
import type { IssuerSpec } from "../policy/types";
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

interface Times {
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
  tolerance_s: number;
  /** The issuer's `max_token_age` (null: none). */
  max_age_s: number | null;
  storedAt: number;
}

type Entry = Times &
  (
    | { kind: "workload"; issuer: IssuerSpec; keySource: unknown; agent: Agent }
    | { kind: "task"; keys: TaskKeys; audience: string; iss: string; claims: TaskClaims }
  );

const entries = new Map<string, Entry>();

/** The entry for `token` if its time claims still hold at `now`; a stale one is dropped. */
function recall(token: string, now: Date): Entry | null {
  const e = entries.get(token);
  if (!e) return null;
  const t = now.getTime();
  const s = t / 1000;
  const tol = e.tolerance_s;
  const fresh =
    t - e.storedAt < TTL_MS &&
    e.exp > s - tol &&
    (e.nbf === undefined || e.nbf <= s + tol) &&
    (e.max_age_s === null || (e.iat !== undefined && s - e.iat - tol <= e.max_age_s));
  if (fresh) return e;
  entries.delete(token);
  return null;
}

function store(token: string, entry: Entry): void {
  if (entries.size >= MAX_ENTRIES && !entries.has(token)) entries.delete(entries.keys().next().value as string);
  entries.set(token, entry);
}

/** What the issuer's keys come from right now: a changed inline JWKS invalidates its entries. */
export const keySourceOf = (issuer: IssuerSpec, env: Env): unknown =>
  "uri" in issuer.jwks ? issuer.jwks.uri : bindingOf(env, issuer.jwks.var);

/** The agent a workload token was verified as, if it was verified by one of `issuers` with its keys. */
export function cachedAgent(token: string, issuers: IssuerSpec[], env: Env, now: Date): Agent | null {
  const e = recall(token, now);
  if (e === null || e.kind !== "workload") return null;
  if (issuers.includes(e.issuer) && e.keySource === keySourceOf(e.issuer, env)) return e.agent;
  entries.delete(token);
  return null;
}

export function rememberAgent(
  token: string,
  issuer: IssuerSpec,
  env: Env,
  agent: Agent,
  claims: { exp?: number; nbf?: number; iat?: number },
  now: Date,
): void {
  if (typeof claims.exp !== "number") return;
  store(token, {
    kind: "workload",
    issuer,
    keySource: keySourceOf(issuer, env),
    agent,
    exp: claims.exp,
    nbf: claims.nbf,
    iat: claims.iat,
    tolerance_s: issuer.clock_tolerance_s,
    max_age_s: issuer.max_token_age_s,
    storedAt: now.getTime(),
  });
}

/** A task token verified with `keys` for this audience and issuer, from the cache or by `verify`. */
export async function verifyTaskTokenCached(
  token: string,
  keys: TaskKeysResult,
  opts: { audience: string; issuer: string; now: Date },
  verify: typeof verifyTaskToken = verifyTaskToken,
): Promise<TaskTokenResult> {
  if (!keys.ok) return keys;
  const e = recall(token, opts.now);
  if (e !== null) {
    if (e.kind === "task" && e.keys === keys.keys && e.audience === opts.audience && e.iss === opts.issuer) {
      return { ok: true, claims: e.claims };
    }
    entries.delete(token);
  }
  const verified = await verify(token, keys, opts);
  if (verified.ok) {
    const { claims } = verified;
    store(token, {
      kind: "task",
      keys: keys.keys,
      audience: opts.audience,
      iss: opts.issuer,
      claims,
      exp: claims.exp,
      nbf: claims.nbf,
      iat: undefined,
      tolerance_s: TASK_CLOCK_TOLERANCE_S,
      max_age_s: null,
      storedAt: opts.now.getTime(),
    });
  }
  return verified;
}
