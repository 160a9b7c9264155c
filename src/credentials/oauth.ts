/**
 * OAuth 2.0 access tokens from a token endpoint, form-encoded, the client authenticated with HTTP Basic
 * (RFC 6749 section 2.3.1: id and secret form-encoded, then base64):
 *   client credentials (RFC 6749 section 4.4)  `grant_type=client_credentials`, `scope`
 *   token exchange (RFC 8693 section 2.1)      the agent's verified workload JWT as `subject_token`,
 *                                              `audience` and `scope` for the task
 * and revoked, where the server has one, at its RFC 7009 revocation endpoint.
 */
import type { CredentialProviderSpec } from "../policy/types";
import { type Answer, callEndpoint, credentialId, refusal } from "./http";
import {
  type CredentialProvider,
  type CredentialResult,
  fail,
  type MintedCredential,
  type MintRequest,
  type ProviderDeps,
} from "./types";

export type ClientCredentialsSpec = Extract<CredentialProviderSpec, { provider: "oauth2_client_credentials" }>;
export type TokenExchangeSpec = Extract<CredentialProviderSpec, { provider: "token_exchange" }>;

export const GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";
export const TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token";
/** A token whose answer has no `expires_in` (RFC 6749 leaves it RECOMMENDED) is used for this long, then renewed. */
export const DEFAULT_LIFETIME_S = 300;
const MAX_TOKEN_CHARS = 8192;

interface Client {
  token_url: string;
  client_id: string | null;
  client_secret: string | null;
  revocation_url: string | null;
}

export function clientCredentialsProvider(spec: ClientCredentialsSpec, deps: ProviderDeps): CredentialProvider {
  return {
    kind: "oauth2_client_credentials",
    mint: (request) => {
      const scopes = request.scopes ?? spec.scopes;
      const form: Record<string, string> = { grant_type: "client_credentials" };
      if (scopes.length > 0) form.scope = scopes.join(" ");
      return requestToken(spec, deps, form, scopes, []);
    },
    revoke: (credential) => revokeToken(spec, deps, credential),
  };
}

export function tokenExchangeProvider(spec: TokenExchangeSpec, deps: ProviderDeps): CredentialProvider {
  return {
    kind: "token_exchange",
    mint: (request: MintRequest) => {
      const subject = request.subjectToken;
      if (!subject)
        return Promise.resolve(fail("credential.unavailable", "no subject token: the agent's workload JWT is needed"));
      const scopes = request.scopes ?? spec.scopes;
      const form: Record<string, string> = {
        grant_type: GRANT_TOKEN_EXCHANGE,
        subject_token: subject,
        subject_token_type: TOKEN_TYPE_JWT,
        requested_token_type: TOKEN_TYPE_ACCESS,
        audience: request.audience ?? spec.audience,
      };
      if (scopes.length > 0) form.scope = scopes.join(" ");
      return requestToken(spec, deps, form, scopes, [subject]);
    },
    revoke: (credential) => revokeToken(spec, deps, credential),
  };
}

/** The Authorization header of a confidential client, or why it cannot be made; null for a public client. */
function clientAuth(
  client: Client,
  deps: ProviderDeps,
): CredentialResult<{ header: string | null; secret: string | null }> {
  if (client.client_secret === null) return { ok: true, header: null, secret: null };
  const secret = deps.secret(client.client_secret);
  if (!secret) return fail("credential.unavailable", `secret ${client.client_secret} (the client secret) is not set`);
  // Form-encoded first (RFC 6749 section 2.3.1), which leaves only ASCII for base64.
  const encode = (v: string) => new URLSearchParams({ v }).toString().slice(2);
  const basic = btoa(`${encode(client.client_id ?? "")}:${encode(secret)}`);
  return { ok: true, header: `Basic ${basic}`, secret };
}

async function post(
  client: Client,
  url: string,
  deps: ProviderDeps,
  form: Record<string, string>,
  handled: string[],
): Promise<CredentialResult<{ answer: Answer; secrets: string[] }>> {
  const auth = clientAuth(client, deps);
  if (!auth.ok) return auth;
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (auth.header) headers.authorization = auth.header;
  else if (client.client_id) form.client_id = client.client_id;
  const secrets = [...handled, ...(auth.secret ? [auth.secret, auth.header as string] : [])];
  const called = await callEndpoint(
    deps,
    url,
    { method: "POST", headers, body: new URLSearchParams(form).toString() },
    secrets,
  );
  return called.ok ? { ok: true, answer: called.answer, secrets } : called;
}

async function requestToken(
  client: Client,
  deps: ProviderDeps,
  form: Record<string, string>,
  scopes: string[],
  handled: string[],
): Promise<CredentialResult<{ credential: MintedCredential }>> {
  const called = await post(client, client.token_url, deps, form, handled);
  if (!called.ok) return called;
  const { answer, secrets } = called;
  if (answer.status !== 200) return refusal(client.token_url, answer, secrets);
  const exchange = form.grant_type === GRANT_TOKEN_EXCHANGE;
  const parsed = await accessTokenOf(answer.json, scopes, exchange, deps.clock.now());
  if (parsed.ok) return parsed;
  if (parsed.leaked) await revokeToken(client, deps, parsed.leaked);
  return fail("credential.malformed", parsed.detail);
}

type Parsed = { ok: true; credential: MintedCredential } | { ok: false; detail: string; leaked?: MintedCredential };

/** RFC 6749 section 5.1 (and RFC 8693 section 2.2.1 for an exchange): a bearer token no broader than asked. */
async function accessTokenOf(
  body: Record<string, unknown> | null,
  scopes: string[],
  exchange: boolean,
  now: number,
): Promise<Parsed> {
  const token = body?.access_token;
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_CHARS)
    return { ok: false, detail: "the answer has no usable access_token" };
  const expiresIn = body?.expires_in ?? DEFAULT_LIFETIME_S;
  const credential: MintedCredential = {
    secret: token,
    expiresAt: typeof expiresIn === "number" ? now + expiresIn * 1000 : Number.NaN,
    id: await credentialId(token),
  };
  if (typeof body?.token_type !== "string" || body.token_type.toLowerCase() !== "bearer")
    return { ok: false, detail: `token_type ${String(body?.token_type)} is not Bearer`, leaked: credential };
  if (exchange && body.issued_token_type !== TOKEN_TYPE_ACCESS && body.issued_token_type !== TOKEN_TYPE_JWT)
    return {
      ok: false,
      detail: `issued_token_type ${String(body.issued_token_type)} is not an access token`,
      leaked: credential,
    };
  if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0)
    return { ok: false, detail: "expires_in is not a positive number", leaked: credential };
  if (body.scope !== undefined) {
    const asked = new Set(scopes);
    const extra = String(body.scope)
      .split(" ")
      .filter((s) => s !== "" && !asked.has(s));
    if (extra.length > 0)
      return {
        ok: false,
        detail: `token ${credential.id} has scopes not asked for: ${extra.join(" ")}`,
        leaked: credential,
      };
  }
  return { ok: true, credential };
}

/** RFC 7009: `token` and `token_type_hint` at the revocation endpoint; without one the token only expires. */
async function revokeToken(
  client: Client,
  deps: ProviderDeps,
  credential: MintedCredential,
): Promise<CredentialResult<{ revoked: boolean }>> {
  if (client.revocation_url === null) return { ok: true, revoked: false };
  const form = { token: credential.secret, token_type_hint: "access_token" };
  const called = await post(client, client.revocation_url, deps, form, [credential.secret]);
  if (!called.ok) return called;
  return called.answer.status === 200
    ? { ok: true, revoked: true }
    : refusal(client.revocation_url, called.answer, called.secrets);
}
