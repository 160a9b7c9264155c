/**
 * GitHub App installation tokens, one per task: the App JWT (RS256, jose) buys an installation access
 * token limited to the task's repositories and to the permissions its profile's actions need
 * (`POST /app/installations/{id}/access_tokens`), and `DELETE /installation/token` revokes it.
 * https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app
 * https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token
 *
 * Never asked without narrowing: GitHub answers a request with no `repositories` with a token for every
 * repository of the installation, and one with no `permissions` with every permission of the App.
 */
import { importJWK, importPKCS8, type JWK, SignJWT } from "jose";
import type { CredentialProviderSpec } from "../policy/types";
import { type Answer, callEndpoint, credentialId, refusal } from "./http";
import { type PermissionLevel, permissionsFor } from "./permissions";
import {
  type CredentialProvider,
  type CredentialResult,
  fail,
  type MintedCredential,
  type MintRequest,
  type ProviderDeps,
} from "./types";

export type GithubAppSpec = Extract<CredentialProviderSpec, { provider: "github_app" }>;

/** GitHub takes at most 500 repositories in one token request. */
export const MAX_REPOSITORIES = 500;
const API_VERSION = "2022-11-28";
const MAX_TOKEN_CHARS = 4096;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;
const RANK: Record<string, number> = { read: 1, write: 2, admin: 3 };

export function githubAppProvider(service: string, spec: GithubAppSpec, deps: ProviderDeps): CredentialProvider {
  let cached: { pem: string; key: Promise<CryptoKey | null> } | undefined;
  const signingKey = (pem: string) => {
    if (cached?.pem !== pem) cached = { pem, key: importKey(pem).catch(() => null) };
    return cached.key;
  };
  return {
    kind: "github_app",
    mint: (request) => mint(service, spec, deps, request, signingKey),
    revoke: (credential) => revoke(spec, deps, credential),
  };
}

/** The App JWT GitHub asks for: issued a minute in the past (clock drift), expiring within ten minutes. */
export async function appJwt(appId: string, key: CryptoKey, nowMs: number): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuer(appId)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + 540)
    .sign(key);
}

async function mint(
  service: string,
  spec: GithubAppSpec,
  deps: ProviderDeps,
  request: MintRequest,
  signingKey: (pem: string) => Promise<CryptoKey | null>,
): Promise<CredentialResult<{ credential: MintedCredential }>> {
  const scope = scopeOf(service, spec, request);
  if (!scope.ok) return scope;
  const pem = deps.secret(spec.private_key);
  if (!pem) return fail("credential.unavailable", `secret ${spec.private_key} (the App's private key) is not set`);
  const key = await signingKey(pem);
  if (!key) return fail("credential.unavailable", `secret ${spec.private_key} is not an RSA private key (PEM or JWK)`);
  const jwt = await appJwt(spec.app_id, key, deps.clock.now());
  const url = `${spec.api}/app/installations/${encodeURIComponent(spec.installation_id)}/access_tokens`;
  const secrets = [pem, jwt];
  const called = await callEndpoint(
    deps,
    url,
    {
      method: "POST",
      headers: { ...githubHeaders(`Bearer ${jwt}`), "content-type": "application/json" },
      body: JSON.stringify({ repositories: scope.repositories, permissions: scope.permissions }),
    },
    secrets,
  );
  if (!called.ok) return called;
  if (called.answer.status !== 201 && called.answer.status !== 200) return refusal(url, called.answer, secrets);
  const token = await tokenOf(called.answer, scope, deps.clock.now());
  if (!token.ok && token.leaked) await revoke(spec, deps, token.leaked);
  return token.ok ? { ok: true, credential: token.credential } : fail(token.code, token.detail);
}

interface Scope {
  ok: true;
  repositories: string[];
  permissions: Record<string, PermissionLevel>;
}

/** The repositories (names within the installation's account) and permissions to ask for, or why not. */
export function scopeOf(service: string, spec: GithubAppSpec, request: MintRequest): CredentialResult<Scope> {
  const names = new Set<string>();
  for (const repo of request.repositories ?? []) {
    const slash = repo.indexOf("/");
    const owner = slash === -1 ? spec.account : repo.slice(0, slash);
    const name = slash === -1 ? repo : repo.slice(slash + 1);
    if (owner.toLowerCase() !== spec.account.toLowerCase())
      return fail("credential.unscoped", `repository ${repo} is not of the installation's account ${spec.account}`);
    if (!NAME.test(name)) return fail("credential.unscoped", `"${repo}" is not a repository name`);
    names.add(name);
  }
  if (names.size === 0)
    return fail("credential.unscoped", "the task names no repository: a token would cover every repository");
  if (names.size > MAX_REPOSITORIES)
    return fail("credential.unscoped", `the task names ${names.size} repositories; GitHub takes at most 500`);
  const permissions = permissionsFor(request.actions ?? [], service);
  if (Object.keys(permissions).length === 0)
    return fail("credential.unscoped", "the profile's actions need no permission: a token would have all of the App's");
  return { ok: true, repositories: [...names].sort(), permissions };
}

type TokenOutcome =
  | { ok: true; credential: MintedCredential }
  | { ok: false; code: "credential.malformed"; detail: string; leaked?: MintedCredential };

/** `token` and `expires_at` from the answer, checked to be no broader than what was asked. */
async function tokenOf(answer: Answer, scope: Scope, now: number): Promise<TokenOutcome> {
  const body = answer.json;
  const token = body?.token;
  const expiresAt = typeof body?.expires_at === "string" ? Date.parse(body.expires_at) : Number.NaN;
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_CHARS)
    return { ok: false, code: "credential.malformed", detail: "the answer has no usable token" };
  const credential: MintedCredential = { secret: token, expiresAt, id: await credentialId(token) };
  if (!Number.isFinite(expiresAt) || expiresAt <= now)
    return { ok: false, code: "credential.malformed", detail: "expires_at is missing or past", leaked: credential };
  const broader = broaderThanAsked(body as Record<string, unknown>, scope);
  if (broader)
    return {
      ok: false,
      code: "credential.malformed",
      detail: `token ${credential.id} is broader than asked: ${broader}`,
      leaked: credential,
    };
  return { ok: true, credential };
}

function broaderThanAsked(body: Record<string, unknown>, scope: Scope): string | null {
  const granted = body.permissions;
  if (granted === null || typeof granted !== "object") return "the answer does not say which permissions it has";
  for (const [permission, level] of Object.entries(granted as Record<string, unknown>)) {
    const asked = scope.permissions[permission];
    if (asked === undefined || (RANK[String(level)] ?? 99) > RANK[asked]!) return `${permission}: ${String(level)}`;
  }
  if (body.repository_selection !== undefined && body.repository_selection !== "selected")
    return `repository_selection ${String(body.repository_selection)}`;
  const asked = new Set(scope.repositories.map((n) => n.toLowerCase()));
  for (const repo of Array.isArray(body.repositories) ? body.repositories : []) {
    const name = String((repo as { name?: unknown })?.name ?? "").toLowerCase();
    if (!asked.has(name)) return `repository ${name || "(unnamed)"}`;
  }
  return null;
}

async function revoke(
  spec: GithubAppSpec,
  deps: ProviderDeps,
  credential: MintedCredential,
): Promise<CredentialResult<{ revoked: boolean }>> {
  const url = `${spec.api}/installation/token`;
  const secrets = [credential.secret];
  const called = await callEndpoint(
    deps,
    url,
    { method: "DELETE", headers: githubHeaders(`Bearer ${credential.secret}`) },
    secrets,
  );
  if (!called.ok) return called;
  if (called.answer.status === 204) return { ok: true, revoked: true };
  // 401: GitHub no longer takes the token (expired, or revoked already): nothing is left to revoke.
  if (called.answer.status === 401) return { ok: true, revoked: false };
  return refusal(url, called.answer, secrets);
}

function githubHeaders(authorization: string): Record<string, string> {
  return {
    accept: "application/vnd.github+json",
    authorization,
    "x-github-api-version": API_VERSION,
    "user-agent": "firebreak",
  };
}

/** The App's key: a JWK, PKCS#8 PEM, or the PKCS#1 PEM GitHub hands out ("BEGIN RSA PRIVATE KEY"). */
async function importKey(text: string): Promise<CryptoKey> {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return (await importJWK(JSON.parse(trimmed) as JWK, "RS256")) as CryptoKey;
  const pkcs1 = /-----BEGIN RSA PRIVATE KEY-----([\s\S]+?)-----END RSA PRIVATE KEY-----/.exec(trimmed);
  const pem = pkcs1 ? pkcs8Pem(base64Decode(pkcs1[1]!)) : trimmed;
  return importPKCS8(pem, "RS256");
}

/**
 * PKCS#1 RSAPrivateKey -> PKCS#8 PrivateKeyInfo: the same key wrapped in
 * SEQUENCE { INTEGER 0, SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING { RSAPrivateKey } } (RFC 5208),
 * since WebCrypto imports PKCS#8 only.
 */
export function pkcs8Pem(pkcs1: Uint8Array): string {
  const algorithm = [
    0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
  ];
  const octets = [0x04, ...derLength(pkcs1.length)];
  const inner = algorithm.length + octets.length + pkcs1.length;
  const der = new Uint8Array([0x30, ...derLength(inner), ...algorithm, ...octets, ...pkcs1]);
  const b64 = btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----`;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function base64Decode(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}
