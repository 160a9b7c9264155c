/**
 * Tokens already verified in this isolate, so that an agent's repeated calls with the same token do not
 * pay for a signature check each time (ES256 ~60 us in workerd). An entry is used only for the exact
 * same token string, for the same issuer object of the same bundle, while the issuer's key source is
 * unchanged, and every time-based claim is re-checked against `now` on each use. Entries live at most
 * TTL_MS (so a key withdrawn from a JWKS stops being honoured within a minute) and the map is bounded.
 */
import type { Agent } from "../policy/evaluate";
import type { IssuerSpec } from "../policy/types";

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  issuer: IssuerSpec;
  keySource: unknown;
  agent: Agent;
  exp: number;
  nbf: number | undefined;
  iat: number | undefined;
  storedAt: number;
}

const entries = new Map<string, Entry>();

/** What the issuer's keys come from right now: a changed inline JWKS invalidates its entries. */
export const keySourceOf = (issuer: IssuerSpec, env: Record<string, unknown>): unknown =>
  "uri" in issuer.jwks ? issuer.jwks.uri : env[issuer.jwks.var];

export function cachedAgent(
  token: string,
  issuers: IssuerSpec[],
  env: Record<string, unknown>,
  now: Date,
): Agent | null {
  const entry = entries.get(token);
  if (!entry) return null;
  const t = now.getTime();
  const tol = entry.issuer.clock_tolerance_s;
  const s = t / 1000;
  const fresh =
    t - entry.storedAt < TTL_MS &&
    issuers.includes(entry.issuer) &&
    entry.keySource === keySourceOf(entry.issuer, env) &&
    entry.exp > s - tol &&
    (entry.nbf === undefined || entry.nbf <= s + tol) &&
    (entry.issuer.max_token_age_s === null ||
      (entry.iat !== undefined && s - entry.iat - tol <= entry.issuer.max_token_age_s));
  if (!fresh) {
    entries.delete(token);
    return null;
  }
  return entry.agent;
}

export function rememberAgent(
  token: string,
  issuer: IssuerSpec,
  env: Record<string, unknown>,
  agent: Agent,
  claims: { exp?: number; nbf?: number; iat?: number },
  now: Date,
): void {
  if (typeof claims.exp !== "number") return;
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
  entries.set(token, {
    issuer,
    keySource: keySourceOf(issuer, env),
    agent,
    exp: claims.exp,
    nbf: claims.nbf,
    iat: claims.iat,
    storedAt: now.getTime(),
  });
}
