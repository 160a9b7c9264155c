/**
 * Stage 2, identity, with tasks: a bearer token whose `iss` is the gateway's own origin
 * (`GATEWAY_ORIGIN`) is verified as a task token with Firebreak's own keys; any other token is a
 * workload token verified against the bundle's issuers. The task id that keys a Durable Object comes
 * only from a verified task token, never from a header, query or body.
 */

import { decodeJwt } from "jose";
import { type Result, refuse } from "../core/result";
import type { Env } from "../env";
import type { Agent } from "../policy/evaluate";
import type { Bundle, IssuerKind, IssuerSpec } from "../policy/types";
import { taskKeys } from "./task-token";
import { cachedAgent, verifyTaskTokenCached } from "./token-cache";
import { verifyAgent } from "./workload";

export interface TaskRef {
  /** From the verified token's `task_id` claim only. */
  id: string;
  profile: string;
}

export interface Caller {
  agent: Agent;
  /** Null for a workload token (no task). */
  task: TaskRef | null;
}

/** The gateway's own origin (task tokens' `iss` and `aud`), or "" when tasks are not configured. */
export function gatewayOrigin(env: Env): string {
  const v = env.GATEWAY_ORIGIN;
  return typeof v === "string" ? v : "";
}

const byKind = new WeakMap<Bundle, Record<IssuerKind, IssuerSpec[]>>();

/** The bundle's issuers of one kind (computed once per bundle; the same objects, so caching still matches). */
export function issuersOf(bundle: Bundle, kind: IssuerKind): IssuerSpec[] {
  let split = byKind.get(bundle);
  if (!split) {
    split = {
      workload: bundle.issuers.filter((i) => i.kind === "workload"),
      person: bundle.issuers.filter((i) => i.kind === "person"),
    };
    byKind.set(bundle, split);
  }
  return split[kind];
}

/**
 * An agent: a task token, or a workload token of one of `issuers` (default: the workload issuers; a
 * person's token never acts as an agent). Operators pass every issuer (they may be people).
 */
export async function verifyCaller(
  token: string,
  bundle: Bundle,
  env: Env,
  now: Date,
  issuers: IssuerSpec[] = issuersOf(bundle, "workload"),
): Promise<Result<{ caller: Caller }>> {
  // The hot path first: a workload token verified moments ago needs no decoding at all.
  const cached = cachedAgent(token, issuers, env, now);
  if (cached) return { ok: true, caller: { agent: cached, task: null } };
  const origin = gatewayOrigin(env);
  if (origin !== "" && unverifiedIssuer(token) === origin) {
    const verified = await verifyTaskTokenCached(token, await taskKeys(env), { audience: origin, issuer: origin, now });
    if (!verified.ok) return verified;
    const c = verified.claims;
    // The agent is re-checked against the bundle in force: an issuer removed since the start is gone.
    const issuer = issuersOf(bundle, "workload").find((i) => i.name === c.agent_issuer);
    if (!issuer) return refuse("identity.unknown_issuer", "task token: agent issuer not in the bundle");
    const claims: Record<string, unknown> = {};
    for (const name of issuer.claims) if (Object.hasOwn(c.agent_claims, name)) claims[name] = c.agent_claims[name];
    const agent: Agent = Object.freeze({
      issuer: issuer.name,
      iss: issuer.issuer,
      sub: c.sub,
      claims: Object.freeze(claims),
    });
    return { ok: true, caller: { agent, task: { id: c.task_id, profile: c.profile } } };
  }
  const verified = await verifyAgent(token, issuers, env, now);
  if (!verified.ok) return verified;
  return { ok: true, caller: { agent: verified.agent, task: null } };
}

function unverifiedIssuer(token: string): unknown {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}
