/**
 * An OAuth 2.0 authorization server's token endpoint, for the demo upstream and the tests: client
 * credentials (RFC 6749 section 4.4) and token exchange (RFC 8693), the client authenticated with HTTP
 * Basic (RFC 6749 section 2.3.1), revocation (RFC 7009). It checks what it is asked for and answers
 * errors as RFC 6749 section 5.2 writes them; it records every token request and revocation.
 *
 *   POST /token   form-encoded only; Basic client auth (401 invalid_client); grant_type client_credentials
 *                 or token-exchange (400 unsupported_grant_type); every scope within the client's
 *                 (400 invalid_scope); an exchange needs a subject_token of type jwt that verifies
 *                 against the subject issuer's key (400 invalid_request / invalid_grant) and an audience
 *                 the client may ask for (400 invalid_target)
 *   POST /revoke  RFC 7009: 200, and the token is refused afterwards
 *   `authorize`   a bearer token it minted: null while live (the caller answers), 401 invalid_token after
 */
import { importJWK, type JWK, jwtVerify } from "jose";
import { tokenId } from "./github-app.ts";

export const GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";
export const TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token";

export interface FakeOAuthClient {
  id: string;
  secret: string;
  scopes: string[];
  /** Audiences the client may exchange a subject token for. */
  audiences?: string[];
}

export interface FakeOAuthOptions {
  clients: FakeOAuthClient[];
  /** The key that signs subject tokens (the agents' issuer). */
  subjectKey?: JWK;
  subjectAlgorithms?: string[];
  now?: () => number;
  lifetimeS?: number;
}

export interface OAuthTokenRequest {
  grant_type: string | null;
  client_id: string | null;
  scope: string[];
  audience: string | null;
  subject_token_type: string | null;
  /** The verified subject token's `sub`, for an exchange that got that far. */
  subject: string | null;
  status: number;
  error: string | null;
}

interface Issued {
  client: string;
  scopes: string[];
  subject: string | null;
  expiresAt: number;
  revoked: boolean;
}

export class FakeOAuthServer {
  readonly tokenRequests: OAuthTokenRequest[] = [];
  readonly revocations: { client_id: string | null; status: number }[] = [];
  /** By token id (as Firebreak logs it): the scopes of each token minted, and which were revoked. */
  readonly issued: { token_id: string; scopes: string[] }[] = [];
  readonly revokedIds: string[] = [];
  private readonly tokens = new Map<string, Issued>();
  private readonly now: () => number;

  constructor(private readonly options: FakeOAuthOptions) {
    this.now = options.now ?? (() => Date.now());
  }

  async handle(request: Request, path: string): Promise<Response | null> {
    if (path === "/token") return this.token(request);
    if (path === "/revoke") return this.revoke(request);
    return null;
  }

  /** Null for a live token it minted (or one it does not know of); 401 for a revoked or expired one. */
  authorize(request: Request): Response | null {
    const m = /^Bearer (\S+)$/i.exec(request.headers.get("authorization") ?? "");
    const issued = m ? this.tokens.get(m[1]!) : undefined;
    if (!issued || (!issued.revoked && issued.expiresAt > this.now())) return null;
    return Response.json(
      { error: "invalid_token" },
      { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } },
    );
  }

  /** What a token it minted may do, or undefined. */
  tokenInfo(token: string): Readonly<Issued> | undefined {
    return this.tokens.get(token);
  }

  private async token(request: Request): Promise<Response> {
    const record: OAuthTokenRequest = {
      grant_type: null,
      client_id: null,
      scope: [],
      audience: null,
      subject_token_type: null,
      subject: null,
      status: 0,
      error: null,
    };
    this.tokenRequests.push(record);
    const error = (status: number, code: string, headers: Record<string, string> = {}) => {
      Object.assign(record, { status, error: code });
      return Response.json({ error: code }, { status, headers: { ...headers, "cache-control": "no-store" } });
    };
    const form = await formOf(request);
    if (!form) return error(400, "invalid_request");
    record.grant_type = form.get("grant_type");
    record.scope = (form.get("scope") ?? "").split(" ").filter(Boolean);
    record.audience = form.get("audience");
    record.subject_token_type = form.get("subject_token_type");
    const client = this.client(request);
    record.client_id = client?.id ?? null;
    if (!client) return error(401, "invalid_client", { "www-authenticate": 'Basic realm="token"' });
    const exchange = record.grant_type === GRANT_TOKEN_EXCHANGE;
    if (!exchange && record.grant_type !== "client_credentials") return error(400, "unsupported_grant_type");
    const scopes = record.scope.length > 0 ? record.scope : client.scopes;
    if (scopes.some((s) => !client.scopes.includes(s))) return error(400, "invalid_scope");
    if (exchange) {
      const refused = await this.checkExchange(form, client, record);
      if (refused) return error(400, refused);
    }
    const token = `oat_${crypto.randomUUID().replaceAll("-", "")}`;
    const lifetime = this.options.lifetimeS ?? 3600;
    this.tokens.set(token, {
      client: client.id,
      scopes,
      subject: record.subject,
      expiresAt: this.now() + lifetime * 1000,
      revoked: false,
    });
    record.status = 200;
    this.issued.push({ token_id: await tokenId(token), scopes });
    const answer: Record<string, unknown> = {
      access_token: token,
      token_type: "Bearer",
      expires_in: lifetime,
      scope: scopes.join(" "),
    };
    if (exchange) answer.issued_token_type = TOKEN_TYPE_ACCESS;
    return Response.json(answer, { headers: { "cache-control": "no-store" } });
  }

  /** RFC 8693 section 2.2.2's error for an exchange it refuses, or null. */
  private async checkExchange(
    form: URLSearchParams,
    client: FakeOAuthClient,
    record: OAuthTokenRequest,
  ): Promise<string | null> {
    const subject = form.get("subject_token");
    if (!subject || record.subject_token_type !== TOKEN_TYPE_JWT) return "invalid_request";
    if (!this.options.subjectKey) return "invalid_grant";
    try {
      const key = await importJWK(this.options.subjectKey, this.options.subjectAlgorithms?.[0] ?? "ES256");
      const { payload } = await jwtVerify(subject, key, {
        algorithms: this.options.subjectAlgorithms ?? ["ES256"],
        currentDate: new Date(this.now()),
      });
      record.subject = typeof payload.sub === "string" ? payload.sub : null;
    } catch {
      return "invalid_grant";
    }
    if (!record.audience || !(client.audiences ?? []).includes(record.audience)) return "invalid_target";
    return null;
  }

  private async revoke(request: Request): Promise<Response> {
    const form = await formOf(request);
    const client = this.client(request);
    this.revocations.push({ client_id: client?.id ?? null, status: client && form ? 200 : 401 });
    if (!client) return Response.json({ error: "invalid_client" }, { status: 401 });
    if (!form) return Response.json({ error: "invalid_request" }, { status: 400 });
    const issued = this.tokens.get(form.get("token") ?? "");
    // RFC 7009 section 2.2: 200 for a token it does not know too; a client revokes its own tokens only.
    if (issued && issued.client === client.id) {
      issued.revoked = true;
      this.revokedIds.push(await tokenId(form.get("token")!));
    }
    return new Response(null, { status: 200 });
  }

  /** The client its Basic credentials name (id and secret form-decoded, RFC 6749 section 2.3.1). */
  private client(request: Request): FakeOAuthClient | undefined {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.get("authorization") ?? "");
    if (!m) return undefined;
    const decoded = atob(m[1]!);
    const colon = decoded.indexOf(":");
    if (colon === -1) return undefined;
    const form = (v: string) => new URLSearchParams(`v=${v}`).get("v") ?? "";
    const [id, secret] = [form(decoded.slice(0, colon)), form(decoded.slice(colon + 1))];
    return this.options.clients.find((c) => c.id === id && c.secret === secret);
  }
}

async function formOf(request: Request): Promise<URLSearchParams | null> {
  if (request.method !== "POST") return null;
  if (!(request.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) return null;
  return new URLSearchParams(await request.text());
}
