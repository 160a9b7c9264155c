/** The bearer credential of a call: size first, then the compact JWS shape, before any parsing. */
import { MAX_TOKEN_LENGTH } from "../core/limits";
import { type Result, refuse } from "../core/result";

/** Three base64url parts: a compact JWS, the only token shape either kind of token has. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** JOSE headers that name a key to verify with: a token never chooses its own key. */
export const KEY_NAMING_HEADERS = ["jku", "x5u", "jwk", "x5c"];

export function bearerToken(authorization: string | null): Result<{ token: string }> {
  if (authorization === null) return refuse("identity.missing");
  const [scheme, token] = authorization.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== "bearer" || !token) return refuse("identity.missing", "not a bearer credential");
  return tokenShape(token);
}

/** A token however it was carried (a bearer, `Firebreak-Agent-Token`): size first, then the compact JWS shape. */
export function tokenShape(token: string): Result<{ token: string }> {
  if (token.length > MAX_TOKEN_LENGTH) return refuse("identity.token_too_large", String(token.length));
  if (!JWT_SHAPE.test(token)) return refuse("identity.malformed");
  return { ok: true, token };
}
