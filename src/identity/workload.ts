/**
 * Stage 2, identity: verify the agent's bearer token with jose against the issuer the bundle trusts.
 * Per issuer: pinned algorithms, exact issuer and audience, `exp` required, bounded clock tolerance,
 * optional maximum token age, optional SPIFFE JWT-SVID subject rules. The clock is an argument.
 */

import { decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import { type Result, refuse } from "../core/result";
import type { Env } from "../env";
import type { Agent } from "../policy/evaluate";
import type { IssuerSpec } from "../policy/types";
import { KEY_NAMING_HEADERS } from "./bearer";
import { reasonForJoseError } from "./jose-errors";
import { KeysUnavailable, keysFor } from "./jwks";
import { cachedAgent, rememberAgent } from "./token-cache";

export async function verifyAgent(
  token: string,
  issuers: IssuerSpec[],
  env: Env,
  now: Date,
): Promise<Result<{ agent: Agent }>> {
  const cached = cachedAgent(token, issuers, env, now);
  if (cached) return { ok: true, agent: cached };
  return verifyUncached(token, issuers, env, now);
}

async function verifyUncached(
  token: string,
  issuers: IssuerSpec[],
  env: Env,
  now: Date,
): Promise<Result<{ agent: Agent }>> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    unverified = decodeJwt(token);
  } catch {
    return refuse("identity.malformed");
  }
  const issuer = issuers.find((i) => i.issuer === unverified.iss);
  if (!issuer) return refuse("identity.unknown_issuer", String(unverified.iss).slice(0, 128));
  if (KEY_NAMING_HEADERS.some((h) => h in header)) return refuse("identity.forbidden_header");
  if (typeof header.alg !== "string" || !issuer.algorithms.includes(header.alg)) {
    return refuse("identity.bad_algorithm", String(header.alg).slice(0, 16));
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keysFor(issuer, env), {
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: issuer.algorithms,
      clockTolerance: issuer.clock_tolerance_s,
      maxTokenAge: issuer.max_token_age_s ?? undefined,
      requiredClaims: ["exp", "sub"],
      currentDate: now,
    }));
  } catch (e) {
    if (e instanceof KeysUnavailable) return refuse("identity.jwks_unavailable", `${issuer.name}: ${e.message}`);
    return refuse(reasonForJoseError(e), `${issuer.name}: ${(e as { code?: string }).code ?? "error"}`);
  }
  // jose checks that `sub` is present, not what it holds: a number, an array or "" would reach the
  // rules and the decision record as something other than an agent's name (an array even passes the
  // SPIFFE regex, which stringifies it).
  if (typeof payload.sub !== "string" || payload.sub === "") {
    return refuse("identity.missing_claim", `${issuer.name}: sub is not a non-empty string`);
  }
  const lifetime = (payload.exp as number) - (payload.iat ?? Math.floor(now.getTime() / 1000));
  if (issuer.max_token_lifetime_s !== null && lifetime > issuer.max_token_lifetime_s) {
    return refuse("identity.lifetime_too_long", `${issuer.name}: ${lifetime}s`);
  }
  const sub = payload.sub;
  if (issuer.spiffe && !isSpiffeId(sub, issuer.spiffe.trust_domains)) {
    return refuse("identity.bad_spiffe_id", issuer.name);
  }
  const unmet = unmetRequirement(payload, issuer.require);
  if (unmet !== null) return refuse("identity.missing_claim", `${issuer.name}: ${unmet}`);
  const claims: Record<string, unknown> = {};
  for (const name of issuer.claims) if (Object.hasOwn(payload, name)) claims[name] = payload[name];
  const agent: Agent = Object.freeze({ issuer: issuer.name, iss: issuer.issuer, sub, claims: Object.freeze(claims) });
  rememberAgent(token, issuer, env, agent, payload, now);
  return { ok: true, agent };
}

/**
 * The first claim of the issuer's `require` that the token does not carry with one of its listed
 * string values (a list, a number or an absent claim never matches), or null when all are met.
 */
export function unmetRequirement(payload: JWTPayload, require: IssuerSpec["require"]): string | null {
  for (const [claim, values] of Object.entries(require ?? {})) {
    const v = Object.hasOwn(payload, claim) ? payload[claim] : undefined;
    if (typeof v !== "string" || !values.includes(v)) return `${claim} is not one of the required values`;
  }
  return null;
}

/**
 * A SPIFFE ID per the SPIFFE-ID spec: `spiffe://<trust domain>/<path>`, lower-case trust domain of
 * [a-z0-9.-_], a non-empty path of segments [A-Za-z0-9.-_] that are not `.` or `..`, nothing else.
 */
export function isSpiffeId(sub: string, trustDomains: string[]): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._\-/]+)$/.exec(sub);
  const domain = m?.[1];
  const path = m?.[2];
  if (domain === undefined || path === undefined || sub.length > 2048) return false;
  const segments = path.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return false;
  return trustDomains.includes(domain);
}
