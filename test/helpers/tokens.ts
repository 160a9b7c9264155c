/** Signs test tokens with the committed test keys (test/fixtures/keys.json). Runs in Node and workerd. */
import { importJWK, type JWK, SignJWT } from "jose";
import keys from "../fixtures/keys.json" with { type: "json" };

export type KeyName = "rs256" | "es256" | "rs256_other" | "es256_spiffe";

export interface TokenOptions {
  key?: KeyName;
  iss?: string;
  aud?: string | string[];
  sub?: string;
  /** Seconds from now; negative for an expired token. Omit the claim with `null`. */
  exp?: number | null;
  iat?: number | null;
  nbf?: number;
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  now?: number;
}

export const ISSUERS = {
  remote: "https://oidc.acme.example",
  inline: "https://inline.test.example",
  pinned: "https://pinned.test.example",
  spiffe: "https://spire.test.example",
  down: "https://down.test.example",
  people: "https://people.test.example",
} as const;
export const AUDIENCE = "https://firebreak.test";

export async function token(opts: TokenOptions = {}): Promise<string> {
  const keyName = opts.key ?? "rs256";
  const k = keys[keyName];
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: opts.iss ?? ISSUERS.remote,
    aud: opts.aud ?? AUDIENCE,
    sub: opts.sub ?? "agent-1",
    ...opts.claims,
  };
  if (opts.exp !== null) payload.exp = now + (opts.exp ?? 300);
  if (opts.iat !== null) payload.iat = now + (opts.iat ?? 0);
  if (opts.nbf !== undefined) payload.nbf = now + opts.nbf;
  const key = await importJWK(k.private as JWK, k.alg);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: k.alg, kid: k.private.kid, typ: "JWT", ...opts.header })
    .sign(key);
}
