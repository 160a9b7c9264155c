/**
 * Stage 2, identity: verify the agent's bearer token with jose against the issuer the bundle trusts.
 * Per issuer: pinned algorithms, exact issuer and audience, `exp` required, bounded clock tolerance,
 * optional maximum token age, optional SPIFFE JWT-SVID subject rules. The clock is an argument.
 */
import { decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify } from "jose";
import { MAX_TOKEN_LENGTH } from "../core/limits";
import type { Reason } from "../core/reasons";
import { type Result, refuse } from "../core/result";
import type { Agent } from "../policy/evaluate";
import type { IssuerSpec } from "../policy/types";
import { KeysUnavailable, keysFor } from "./jwks";
import { cachedAgent, rememberAgent } from "./token-cache";

const KEY_NAMING_HEADERS = ["jku", "x5u", "jwk", "x5c"];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function bearerToken(authorization: string | null): Result<{ token: string }> {
  if (authorization === null) return refuse("identity.missing");
  const [scheme, token] = authorization.trim().split(/\s+/);
  if (scheme.toLowerCase() !== "bearer" || !token) return refuse("identity.missing", "not a bearer credential");
  if (token.length > MAX_TOKEN_LENGTH) return refuse("identity.token_too_large", String(token.length));
  if (!JWT_SHAPE.test(token)) return refuse("identity.malformed");
  return { ok: true, token };
}

export async function verifyAgent(
  token: string,
  issuers: IssuerSpec[],
  env: Record<string, unknown>,
  now: Date,
): Promise<Result<{ agent: Agent }>> {
  const cached = cachedAgent(token, issuers, env, now);
  if (cached) return { ok: true, agent: cached };
  return verifyUncached(token, issuers, env, now);
}

async function verifyUncached(
  token: string,
  issuers: IssuerSpec[],
  env: Record<string, unknown>,
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
  const claims: Record<string, unknown> = {};
  for (const name of issuer.claims) if (Object.hasOwn(payload, name)) claims[name] = payload[name];
  const agent: Agent = Object.freeze({ issuer: issuer.name, iss: issuer.issuer, sub, claims: Object.freeze(claims) });
  rememberAgent(token, issuer, env, agent, payload, now);
  return { ok: true, agent };
}

export function reasonForJoseError(e: unknown): Reason {
  const { code, claim, reason } = e as { code?: string; claim?: string; reason?: string };
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return claim === "iat" ? "identity.too_old" : "identity.expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (reason === "missing") return "identity.missing_claim";
      if (claim === "aud") return "identity.bad_audience";
      if (claim === "nbf" || claim === "iat") return "identity.not_yet_valid";
      return "identity.missing_claim";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return "identity.bad_algorithm";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "identity.bad_signature";
    default:
      return "identity.malformed";
  }
}

/**
 * A SPIFFE ID per the SPIFFE-ID spec: `spiffe://<trust domain>/<path>`, lower-case trust domain of
 * [a-z0-9.-_], a non-empty path of segments [A-Za-z0-9.-_] that are not `.` or `..`, nothing else.
 */
export function isSpiffeId(sub: string, trustDomains: string[]): boolean {
  const m = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._\-/]+)$/.exec(sub);
  if (!m || sub.length > 2048) return false;
  const segments = m[2].slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return false;
  return trustDomains.includes(m[1]);
}
