/**
 * A GitHub App's side of GitHub, as GitHub behaves (docs.github.com/rest/apps), for the demo upstream
 * and the tests: it mints installation access tokens for an App JWT it verifies against the App's
 * public key, revokes them, and refuses the calls a token it minted does not cover. It records what it
 * was asked (repositories, permissions) and what it refused.
 *
 *   POST /app/installations/{id}/access_tokens  App JWT (RS256, iss = App id, exp at most 10 min ahead)
 *                                               -> 201 {token, expires_at, permissions, repository_selection, repositories}
 *                                               401 bad JWT, 404 unknown installation, 422 repositories or
 *                                               permissions beyond the installation's
 *   DELETE /installation/token                  204; the token is refused afterwards (401 Bad credentials)
 *   any other call with a token it minted       401 revoked/expired, 404 a repository outside the token,
 *                                               403 "Resource not accessible by integration" without the
 *                                               permission (X-Accepted-GitHub-Permissions says which);
 *                                               otherwise `authorize` answers null and the caller answers
 *
 * The permission each endpoint needs is this file's own small table, not Firebreak's map: a test that
 * the minted token covers a call must not ask Firebreak's own answer.
 */
import { importJWK, type JWK, jwtVerify } from "jose";

export type Level = "read" | "write" | "admin";
const RANK: Record<string, number> = { read: 1, write: 2, admin: 3 };
const DOCS = "https://docs.github.com/rest";

export interface FakeInstallation {
  id: string;
  account: string;
  repositories: string[];
  permissions: Record<string, Level>;
}

export interface FakeGithubAppOptions {
  appId: string;
  /** The App's public key (the private half signs the App JWT). */
  publicKey: JWK;
  installations: FakeInstallation[];
  now?: () => number;
  /** GitHub's tokens live an hour. */
  tokenLifetimeMs?: number;
}

export interface TokenRequest {
  installation: string;
  /** As asked; null when the request named none (GitHub then grants every repository). */
  repositories: string[] | null;
  permissions: Record<string, string> | null;
  status: number;
}

interface Issued {
  installation: FakeInstallation;
  repositories: string[] | null;
  permissions: Record<string, Level>;
  expiresAt: number;
  revoked: boolean;
}

export class FakeGithubApp {
  readonly tokenRequests: TokenRequest[] = [];
  readonly revocations: { status: number }[] = [];
  readonly refusals: { method: string; path: string; status: number }[] = [];
  /** By token id (the first 16 hex digits of its sha256, as Firebreak logs it): what each token minted covers. */
  readonly issued: { token_id: string; repositories: string[] | null; permissions: Record<string, Level> }[] = [];
  /** The ids of the tokens revoked. */
  readonly revokedIds: string[] = [];
  private readonly tokens = new Map<string, Issued>();
  private key: Promise<CryptoKey | Uint8Array> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: FakeGithubAppOptions) {
    this.now = options.now ?? (() => Date.now());
  }

  /** The App endpoints' answer, or null for any other request. `path` is GitHub's (no mount prefix). */
  async handle(request: Request, path: string): Promise<Response | null> {
    const mint = /^\/app\/installations\/([^/]+)\/access_tokens$/.exec(path);
    if (mint && request.method === "POST") return this.mint(request, decodeURIComponent(mint[1]!));
    if (path === "/installation/token" && request.method === "DELETE") return this.revoke(request);
    return null;
  }

  /** Null when the call may go on: no token of this fake, or one that covers it; else GitHub's refusal. */
  authorize(request: Request, path: string): Response | null {
    const token = bearerOf(request);
    const issued = token ? this.tokens.get(token) : undefined;
    if (!issued) return null;
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) => {
      this.refusals.push({ method: request.method, path, status });
      return Response.json({ message, documentation_url: DOCS, status: String(status) }, { status, headers });
    };
    if (issued.revoked || issued.expiresAt <= this.now()) return refuse(401, "Bad credentials");
    const repo = /^\/repos\/([^/]+)\/([^/]+)/.exec(path);
    if (!repo) return null;
    const [owner, name] = [repo[1]!.toLowerCase(), repo[2]!.toLowerCase()];
    const covered = issued.repositories ?? issued.installation.repositories;
    if (owner !== issued.installation.account.toLowerCase() || !covered.some((r) => r.toLowerCase() === name))
      return refuse(404, "Not Found");
    const [permission, level] = needed(request.method, path.slice(repo[0].length));
    if (permission === "metadata") return null; // every installation token reads its repositories' metadata
    const has = issued.permissions[permission];
    if (has === undefined || RANK[has]! < RANK[level]!)
      return refuse(403, "Resource not accessible by integration", {
        "x-accepted-github-permissions": `${permission}=${level}`,
      });
    return null;
  }

  private async mint(request: Request, id: string): Promise<Response> {
    const body = (await request.json().catch(() => ({}))) as { repositories?: unknown; permissions?: unknown };
    const record: TokenRequest = {
      installation: id,
      repositories: Array.isArray(body.repositories) ? body.repositories.map(String) : null,
      permissions: isObject(body.permissions) ? (body.permissions as Record<string, string>) : null,
      status: 0,
    };
    this.tokenRequests.push(record);
    const answer = (status: number, json: unknown) => {
      record.status = status;
      return Response.json(json, { status });
    };
    const jwtProblem = await this.checkJwt(bearerOf(request));
    if (jwtProblem) return answer(401, { message: jwtProblem, documentation_url: DOCS });
    const installation = this.options.installations.find((i) => i.id === id);
    if (!installation) return answer(404, { message: "Not Found", documentation_url: DOCS });
    const known = new Set(installation.repositories.map((r) => r.toLowerCase()));
    if (record.repositories?.some((r) => !known.has(r.toLowerCase())))
      return answer(422, {
        message:
          "There is at least one repository that does not exist or is not accessible to the parent installation.",
        documentation_url: DOCS,
      });
    const asked = record.permissions ?? installation.permissions;
    for (const [permission, level] of Object.entries(asked)) {
      const granted = installation.permissions[permission];
      if (granted === undefined || !(level in RANK) || RANK[granted]! < RANK[level]!)
        return answer(422, {
          message: "The permissions requested are not granted to this installation.",
          documentation_url: DOCS,
        });
    }
    const token = `ghs_${randomText(36)}`;
    const expiresAt = this.now() + (this.options.tokenLifetimeMs ?? 3_600_000);
    const permissions = asked as Record<string, Level>;
    this.tokens.set(token, { installation, repositories: record.repositories, permissions, expiresAt, revoked: false });
    this.issued.push({ token_id: await tokenId(token), repositories: record.repositories, permissions });
    const names = record.repositories ?? installation.repositories;
    return answer(201, {
      token,
      expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
      permissions,
      repository_selection: record.repositories ? "selected" : "all",
      repositories: names.map((name) => ({ name, full_name: `${installation.account}/${name}` })),
    });
  }

  private async revoke(request: Request): Promise<Response> {
    const token = bearerOf(request);
    const issued = token ? this.tokens.get(token) : undefined;
    if (!issued || issued.revoked || issued.expiresAt <= this.now()) {
      this.revocations.push({ status: 401 });
      return Response.json({ message: "Bad credentials", documentation_url: DOCS }, { status: 401 });
    }
    issued.revoked = true;
    this.revocations.push({ status: 204 });
    this.revokedIds.push(await tokenId(token!));
    return new Response(null, { status: 204 });
  }

  /** GitHub's words for an App JWT it does not take, or null. */
  private async checkJwt(jwt: string | null): Promise<string | null> {
    if (!jwt) return "A JSON web token could not be decoded";
    this.key ??= importJWK(this.options.publicKey, "RS256");
    const now = this.now();
    try {
      const { payload } = await jwtVerify(jwt, await this.key, {
        algorithms: ["RS256"],
        currentDate: new Date(now),
        clockTolerance: 0,
      });
      if (String(payload.iss) !== this.options.appId) return "Integration not found";
      if (typeof payload.iat !== "number" || payload.iat * 1000 > now)
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
      if (typeof payload.exp !== "number" || payload.exp * 1000 > now + 600_000)
        return "'Expiration time' claim ('exp') is too far in the future";
      return null;
    } catch (err) {
      return (err as { code?: string }).code === "ERR_JWT_EXPIRED"
        ? "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
        : "A JSON web token could not be decoded";
    }
  }
}

/** The permission a repository endpoint needs (`rest` is the path after /repos/{owner}/{repo}). */
function needed(method: string, rest: string): [string, Level] {
  const level: Level = method === "GET" || method === "HEAD" ? "read" : "write";
  if (method === "PUT" && /^\/pulls\/\d+\/merge$/.test(rest)) return ["contents", "write"];
  if (/^\/issues(\/|$)/.test(rest)) return ["issues", level];
  if (/^\/pulls(\/|$)/.test(rest)) return ["pull_requests", level];
  if (/^\/(contents|git|releases|commits|compare|branches)(\/|$)/.test(rest)) return ["contents", level];
  return level === "read" ? ["metadata", "read"] : ["administration", "write"];
}

function bearerOf(request: Request): string | null {
  const m = /^(?:Bearer|token) (\S+)$/i.exec(request.headers.get("authorization") ?? "");
  return m ? m[1]! : null;
}

const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);

function randomText(n: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...crypto.getRandomValues(new Uint8Array(n))].map((b) => alphabet[b % alphabet.length]).join("");
}

/** A token's id as Firebreak's step log names it: the first 16 hex digits of sha256(token). */
export async function tokenId(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
