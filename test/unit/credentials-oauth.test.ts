/**
 * OAuth 2.0 client credentials and token exchange against the fake authorization server
 * (demo/src/oauth.ts) over real HTTP: what is asked for is exactly the task's scopes and audience, the
 * client authenticates with HTTP Basic, the agent's workload JWT is the subject token; refusals and
 * answers that cannot be used fail closed, with no secret in the detail.
 */
import { generateKeyPairSync } from "node:crypto";
import { importJWK, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeOAuthServer } from "../../demo/src/oauth";
import {
  type ClientCredentialsSpec,
  clientCredentialsProvider,
  DEFAULT_LIFETIME_S,
  type TokenExchangeSpec,
  tokenExchangeProvider,
} from "../../src/credentials/oauth";
import type { CredentialFailure, ProviderDeps } from "../../src/credentials/types";
import { FakeClock } from "../helpers/clock";
import { type Served, serve } from "../helpers/http-server";

/** A client secret that form-encoding changes (RFC 6749 section 2.3.1), and a canary. */
const CLIENT_SECRET = "canary-cs:9f/2+a%b c";
const SECRETS: Record<string, string> = { CRM_CLIENT_SECRET: CLIENT_SECRET };
const issuer = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ISSUER_PUBLIC = issuer.publicKey.export({ format: "jwk" }) as JWK;

let clock: FakeClock;
let fake: FakeOAuthServer;
let served: Served;
let sent: Request[];

const ccSpec = (over: Partial<ClientCredentialsSpec> = {}): ClientCredentialsSpec => ({
  provider: "oauth2_client_credentials",
  token_url: new URL("/token", served.url).href,
  client_id: "firebreak",
  client_secret: "CRM_CLIENT_SECRET",
  scopes: ["contacts.read"],
  revocation_url: new URL("/revoke", served.url).href,
  ...over,
});
const txSpec = (over: Partial<TokenExchangeSpec> = {}): TokenExchangeSpec => ({
  provider: "token_exchange",
  token_url: new URL("/token", served.url).href,
  client_id: "firebreak",
  client_secret: "CRM_CLIENT_SECRET",
  audience: "https://crm.example",
  scopes: ["contacts.read"],
  revocation_url: null,
  ...over,
});

function deps(over: Partial<ProviderDeps> = {}): ProviderDeps {
  return {
    fetch: (r) => {
      sent.push(r.clone());
      return fetch(r);
    },
    clock,
    secret: (name) => SECRETS[name],
    ...over,
  };
}

async function workloadJwt(sub: string, key: CryptoKey | Uint8Array | undefined = undefined): Promise<string> {
  const signing = key ?? (await importJWK(issuer.privateKey.export({ format: "jwk" }) as JWK, "ES256"));
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256" })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(signing);
}

function failed(r: { ok: boolean }): CredentialFailure {
  if (r.ok) throw new Error("expected a failure");
  return r as CredentialFailure;
}

beforeAll(async () => {
  served = await serve(
    async (request) =>
      (await fake.handle(request, new URL(request.url).pathname)) ??
      fake.authorize(request) ??
      Response.json({ ok: true }),
  );
});
afterAll(() => served.close());
beforeEach(() => {
  clock = new FakeClock();
  sent = [];
  fake = new FakeOAuthServer({
    clients: [
      {
        id: "firebreak",
        secret: CLIENT_SECRET,
        scopes: ["contacts.read", "contacts.write"],
        audiences: ["https://crm.example"],
      },
    ],
    subjectKey: ISSUER_PUBLIC,
    now: clock.now,
  });
});

describe("client credentials (RFC 6749 section 4.4)", () => {
  it("asks for the task's scopes, form-encoded, the client in HTTP Basic; the token is a bearer with its lifetime", async () => {
    const minted = await clientCredentialsProvider(ccSpec(), deps()).mint({});
    if (!minted.ok) throw new Error(minted.detail);
    expect(fake.tokenRequests).toMatchObject([
      { grant_type: "client_credentials", client_id: "firebreak", scope: ["contacts.read"], status: 200 },
    ]);
    const request = sent[0]!;
    expect(request.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect(request.headers.get("authorization")).toMatch(/^Basic /);
    expect(await request.text()).toBe("grant_type=client_credentials&scope=contacts.read");
    expect(minted.credential.expiresAt).toBe(clock.now() + 3_600_000);
    expect(fake.tokenInfo(minted.credential.secret)?.scopes).toEqual(["contacts.read"]);
  });

  it("scopes the task names replace the configured ones", async () => {
    const minted = await clientCredentialsProvider(ccSpec(), deps()).mint({
      scopes: ["contacts.read", "contacts.write"],
    });
    expect(minted.ok).toBe(true);
    expect(fake.tokenRequests[0]?.scope).toEqual(["contacts.read", "contacts.write"]);
  });

  it("is revoked at the RFC 7009 endpoint, and refused afterwards", async () => {
    const provider = clientCredentialsProvider(ccSpec(), deps());
    const minted = await provider.mint({});
    if (!minted.ok) throw new Error(minted.detail);
    const bearer = { headers: { authorization: `Bearer ${minted.credential.secret}` } };
    expect((await fetch(new URL("/api/contacts", served.url), bearer)).status).toBe(200);
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: true });
    expect(fake.revocations).toEqual([{ client_id: "firebreak", status: 200 }]);
    expect((await fetch(new URL("/api/contacts", served.url), bearer)).status).toBe(401);
  });

  it("without a revocation endpoint the token only expires: nothing is sent", async () => {
    const provider = clientCredentialsProvider(ccSpec({ revocation_url: null }), deps());
    const minted = await provider.mint({});
    if (!minted.ok) throw new Error(minted.detail);
    sent.length = 0;
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: false });
    expect(sent).toEqual([]);
  });

  it("a wrong client secret is refused 401 invalid_client, the secret nowhere in the detail", async () => {
    const wrong = "canary-wrong-secret-77";
    const f = failed(await clientCredentialsProvider(ccSpec(), deps({ secret: () => wrong })).mint({}));
    expect([f.code, f.status, f.detail]).toEqual([
      "credential.refused",
      401,
      `${served.url.host} answered 401: invalid_client`,
    ]);
    expect(fake.tokenRequests).toMatchObject([{ client_id: null, status: 401, error: "invalid_client" }]);
  });

  it("a scope beyond the client's is refused 400 invalid_scope", async () => {
    const f = failed(await clientCredentialsProvider(ccSpec(), deps()).mint({ scopes: ["admin"] }));
    expect([f.code, f.status]).toEqual(["credential.refused", 400]);
    expect(fake.tokenRequests[0]?.error).toBe("invalid_scope");
  });

  it("a missing client secret asks nothing", async () => {
    const f = failed(await clientCredentialsProvider(ccSpec(), deps({ secret: () => undefined })).mint({}));
    expect(f.code).toBe("credential.unavailable");
    expect(sent).toEqual([]);
  });

  const answers: [string, Record<string, unknown>, string][] = [
    [
      "not a bearer token",
      { access_token: "mac-token-123", token_type: "mac", expires_in: 60 },
      "token_type mac is not Bearer",
    ],
    [
      "broader than asked",
      { access_token: "broad-token-123", token_type: "Bearer", expires_in: 60, scope: "contacts.read admin" },
      "scopes not asked for: admin",
    ],
    [
      "a lifetime that is not a number",
      { access_token: "odd-token-1234", token_type: "Bearer", expires_in: "soon" },
      "expires_in is not a positive number",
    ],
  ];
  it.each(answers)("an answer %s is credential.malformed, and the token revoked", async (_, body, says) => {
    const paths: string[] = [];
    const answering = deps({
      fetch: async (r) => {
        paths.push(new URL(r.url).pathname);
        return r.url.endsWith("/token") ? Response.json(body) : new Response(null, { status: 200 });
      },
    });
    const f = failed(await clientCredentialsProvider(ccSpec(), answering).mint({}));
    expect([f.code, f.detail.includes(says)]).toEqual(["credential.malformed", true]);
    expect(f.detail).not.toContain(String(body.access_token));
    expect(paths).toEqual(["/token", "/revoke"]);
  });

  it("an answer without expires_in is used for the default lifetime", async () => {
    const answering = deps({
      fetch: async () => Response.json({ access_token: "no-expiry-token", token_type: "bearer" }),
    });
    const minted = await clientCredentialsProvider(ccSpec(), answering).mint({});
    if (!minted.ok) throw new Error(minted.detail);
    expect(minted.credential.expiresAt).toBe(clock.now() + DEFAULT_LIFETIME_S * 1000);
  });
});

describe("token exchange (RFC 8693)", () => {
  it("exchanges the agent's workload JWT for a token for the audience and scopes", async () => {
    const subject = await workloadJwt("triage-bot");
    const minted = await tokenExchangeProvider(txSpec(), deps()).mint({ subjectToken: subject });
    if (!minted.ok) throw new Error(minted.detail);
    expect(fake.tokenRequests).toMatchObject([
      {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        audience: "https://crm.example",
        scope: ["contacts.read"],
        subject: "triage-bot",
        status: 200,
      },
    ]);
    expect(fake.tokenInfo(minted.credential.secret)?.subject).toBe("triage-bot");
  });

  it("a subject token the server does not trust is refused invalid_grant; the token is not in the detail", async () => {
    const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }) as JWK;
    const subject = await workloadJwt("triage-bot", await importJWK(stranger, "ES256"));
    const f = failed(await tokenExchangeProvider(txSpec(), deps()).mint({ subjectToken: subject }));
    expect([f.code, f.status]).toEqual(["credential.refused", 400]);
    expect(fake.tokenRequests[0]?.error).toBe("invalid_grant");
    expect(f.detail).not.toContain(subject);
  });

  it("an audience the client may not ask for is refused invalid_target", async () => {
    const f = failed(
      await tokenExchangeProvider(txSpec(), deps()).mint({
        subjectToken: await workloadJwt("bot"),
        audience: "https://billing.example",
      }),
    );
    expect([f.code, f.status]).toEqual(["credential.refused", 400]);
    expect(fake.tokenRequests[0]?.error).toBe("invalid_target");
  });

  it("no subject token asks nothing", async () => {
    expect(failed(await tokenExchangeProvider(txSpec(), deps()).mint({})).code).toBe("credential.unavailable");
    expect(sent).toEqual([]);
  });

  it("an answer that is not an access token is credential.malformed", async () => {
    const answering = deps({
      fetch: async () =>
        Response.json({
          access_token: "refresh-ish-1234",
          issued_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
          token_type: "Bearer",
          expires_in: 60,
        }),
    });
    const f = failed(await tokenExchangeProvider(txSpec(), answering).mint({ subjectToken: await workloadJwt("bot") }));
    expect([f.code, f.detail]).toEqual([
      "credential.malformed",
      "issued_token_type urn:ietf:params:oauth:token-type:refresh_token is not an access token",
    ]);
  });
});
