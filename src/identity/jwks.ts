/**
 * One key set per issuer, kept for the life of the isolate. Remote sets use jose's cache, cooldown and
 * refetch on an unknown `kid` (rotation); inline sets come from a Worker var or secret. The key is
 * always chosen by the issuer's configuration, never by the token (no jku, x5u, jwk).
 */

import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import { bindingOf, type Env } from "../env";
import type { IssuerSpec } from "../policy/types";

/** Keys could not be obtained: the caller answers 503 and forwards nothing. */
export class KeysUnavailable extends Error {}

const REMOTE_OPTIONS = { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 };

const remote = new Map<string, JWTVerifyGetKey>();
const inline = new Map<string, { source: string; keys: JWTVerifyGetKey }>();

export function keysFor(issuer: IssuerSpec, env: Env): JWTVerifyGetKey {
  const resolver = resolverFor(issuer, env);
  return async (header, token) => {
    try {
      return await resolver(header, token);
    } catch (e) {
      // An unknown kid after a refetch, or no kid where the set holds several keys for the algorithm
      // (jose does not try each one; an ambiguous key is refused, not guessed), is the token's fault:
      // identity.bad_signature, 401. Anything else is ours to fail closed on: 503.
      const code = (e as { code?: string }).code;
      if (code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw e;
      throw new KeysUnavailable(code ?? "fetch failed");
    }
  };
}

function resolverFor(issuer: IssuerSpec, env: Env): JWTVerifyGetKey {
  if ("uri" in issuer.jwks) {
    const key = `${issuer.name} ${issuer.jwks.uri}`;
    let set = remote.get(key);
    if (!set) {
      set = createRemoteJWKSet(new URL(issuer.jwks.uri), REMOTE_OPTIONS);
      remote.set(key, set);
    }
    return set;
  }
  const source = bindingOf(env, issuer.jwks.var);
  if (typeof source !== "string" || source === "") {
    throw new KeysUnavailable(`var ${issuer.jwks.var} is not set`);
  }
  const cached = inline.get(issuer.name);
  if (cached && cached.source === source) return cached.keys;
  let keys: JWTVerifyGetKey;
  try {
    keys = createLocalJWKSet(JSON.parse(source));
  } catch {
    throw new KeysUnavailable(`var ${issuer.jwks.var} is not a JWKS`);
  }
  inline.set(issuer.name, { source, keys });
  return keys;
}
