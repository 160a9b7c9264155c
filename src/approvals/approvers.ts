/**
 * Who is approving: a person's JWT from an issuer the bundle declares with `kind: person`
 * (Cloudflare Access or any OIDC provider), verified with the same checks as agents' tokens. An agent
 * identity can never approve: a task token, or a token of a workload issuer, is refused as such before
 * any further look. The person must then match every approver selector the approval carries.
 */

import { decodeJwt } from "jose";
import type { Result } from "../core/result";
import type { Env } from "../env";
import { bearerToken } from "../identity/bearer";
import { gatewayOrigin, issuersOf } from "../identity/caller";
import { verifyAgent } from "../identity/workload";
import { type Agent, agentMatches } from "../policy/evaluate";
import type { AgentMatch, Bundle } from "../policy/types";
import type { Approver } from "../tasks/approval-types";

/**
 * The person's token: Cloudflare Access's `Cf-Access-Jwt-Assertion` header (Access adds it to every
 * request it lets through), else a bearer token, else Access's `CF_Authorization` cookie.
 */
export function personToken(request: Request): Result<{ token: string }> {
  const access = request.headers.get("cf-access-jwt-assertion");
  if (access !== null) return bearerToken(`Bearer ${access.trim()}`);
  const authorization = request.headers.get("authorization");
  if (authorization !== null) return bearerToken(authorization);
  const cookie = /(?:^|;\s*)CF_Authorization=([^;]+)/.exec(request.headers.get("cookie") ?? "");
  return bearerToken(cookie ? `Bearer ${cookie[1]}` : null);
}

export async function verifyPerson(
  token: string,
  bundle: Bundle,
  env: Env,
  now: Date,
): Promise<Result<{ person: Agent }>> {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    iss = undefined;
  }
  const origin = gatewayOrigin(env);
  if ((origin !== "" && iss === origin) || issuersOf(bundle, "workload").some((i) => i.issuer === iss)) {
    return { ok: false, reason: "approver.agent_identity" };
  }
  const verified = await verifyAgent(token, issuersOf(bundle, "person"), env, now);
  return verified.ok ? { ok: true, person: verified.agent } : verified;
}

/** A person may approve when they match every selector (one per rule or profile that asked). */
export function mayApprove(person: Agent, approvers: AgentMatch[]): boolean {
  return approvers.length > 0 && approvers.every((m) => agentMatches(m, person));
}

export function approverOf(person: Agent): Approver {
  const email = person.claims.email;
  return { issuer: person.issuer, sub: person.sub, email: typeof email === "string" ? email : null };
}
