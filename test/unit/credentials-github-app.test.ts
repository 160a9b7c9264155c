/**
 * The GitHub App provider against the fake GitHub (demo/src/github-app.ts) over real HTTP: a token
 * minted with exactly the task's repositories and the profile's permissions, covering those calls and
 * no others, revoked upstream; every way of not getting one fails closed, without asking GitHub when
 * the request could not be narrowed, and without a secret in what it says.
 */
import { generateKeyPairSync } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, importJWK, importPKCS8, type JWK, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeGithubApp } from "../../demo/src/github-app";
import { type GithubAppSpec, githubAppProvider, pkcs8Pem } from "../../src/credentials/github-app";
import { credentialId } from "../../src/credentials/http";
import { providerFor, renewalDue } from "../../src/credentials/providers";
import type { CredentialFailure, ProviderDeps } from "../../src/credentials/types";
import { FakeClock } from "../helpers/clock";
import { type Served, serve } from "../helpers/http-server";

const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
const app = rsa();
const PKCS1 = app.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const PUBLIC = app.publicKey.export({ format: "jwk" }) as JWK;
const SECRETS: Record<string, string> = { GITHUB_APP_KEY: PKCS1 };

/** The triage profile's tools (policies/profiles/triage.yaml), a Slack one included. */
const TRIAGE = [
  "github:issues.list",
  "github:issues.get",
  "github:issues.comments.list",
  "github:issues.comments.create",
  "github:issues.labels.add",
  "github:pulls.list",
  "github:pulls.get",
  "github:contents.get",
  "github:repos.get",
  "slack:chat.postMessage",
];

let clock: FakeClock;
let fake: FakeGithubApp;
let served: Served;
let sent: Request[];

function spec(over: Partial<GithubAppSpec> = {}): GithubAppSpec {
  return {
    provider: "github_app",
    app_id: "12345",
    installation_id: "42",
    account: "acme",
    private_key: "GITHUB_APP_KEY",
    api: served.url.origin,
    ...over,
  };
}

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

const call = (path: string, token: string, method = "GET") =>
  fetch(new URL(path, served.url), { method, headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  served = await serve(async (request) => {
    const path = new URL(request.url).pathname;
    return (await fake.handle(request, path)) ?? fake.authorize(request, path) ?? Response.json({ ok: true });
  });
});
afterAll(() => served.close());
beforeEach(() => {
  clock = new FakeClock();
  sent = [];
  fake = new FakeGithubApp({
    appId: "12345",
    publicKey: PUBLIC,
    now: clock.now,
    installations: [
      {
        id: "42",
        account: "acme",
        repositories: ["api", "web", "billing"],
        permissions: {
          issues: "write",
          pull_requests: "write",
          contents: "write",
          metadata: "read",
          administration: "write",
        },
      },
    ],
  });
});

/** A fetch that says when the provider has reached it, so the test moves the clock only then. */
function reaching(answer: (r: Request) => Promise<Response>) {
  let reachedIt!: () => void;
  const reached = new Promise<void>((r) => {
    reachedIt = r;
  });
  const fetch = (r: Request) => {
    reachedIt();
    return answer(r);
  };
  return { reached, fetch };
}

function failed<T>(r: { ok: true } | CredentialFailure | T): CredentialFailure {
  if ((r as { ok: boolean }).ok) throw new Error("expected a failure");
  return r as CredentialFailure;
}

describe("a task's installation token", () => {
  it("is asked for with exactly the task's repositories and the permissions its profile's actions need", async () => {
    const minted = await githubAppProvider("github", spec(), deps()).mint({
      actions: TRIAGE,
      repositories: ["acme/api"],
    });
    if (!minted.ok) throw new Error(minted.detail);
    expect(fake.tokenRequests).toEqual([
      {
        installation: "42",
        repositories: ["api"],
        permissions: { contents: "read", issues: "write", metadata: "read", pull_requests: "read" },
        status: 201,
      },
    ]);
    const { secret, expiresAt, id } = minted.credential;
    expect(secret).toMatch(/^ghs_/);
    expect(expiresAt).toBe(Math.floor((clock.now() + 3_600_000) / 1000) * 1000);
    expect(id).toBe(await credentialId(secret));
    expect(id).toMatch(/^[0-9a-f]{16}$/);
  });

  it("is bought with an RS256 App JWT: iss the App id, issued a minute ago, expiring within ten minutes", async () => {
    await githubAppProvider("github", spec(), deps()).mint({ actions: TRIAGE, repositories: ["api"] });
    const request = sent[0]!;
    expect(request.method).toBe("POST");
    expect(new URL(request.url).pathname).toBe("/app/installations/42/access_tokens");
    expect(request.headers.get("accept")).toBe("application/vnd.github+json");
    expect(request.headers.get("x-github-api-version")).toBe("2022-11-28");
    const jwt = request.headers.get("authorization")!.replace(/^Bearer /, "");
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: "RS256", typ: "JWT" });
    const now = clock.now() / 1000;
    expect(decodeJwt(jwt)).toEqual({ iss: "12345", iat: now - 60, exp: now + 540 });
    await jwtVerify(jwt, await importJWK(PUBLIC, "RS256"), { currentDate: new Date(clock.now()) });
  });

  it("covers the task's calls and nothing else, and is refused once revoked", async () => {
    const provider = githubAppProvider("github", spec(), deps());
    const minted = await provider.mint({ actions: TRIAGE, repositories: ["api"] });
    if (!minted.ok) throw new Error(minted.detail);
    const token = minted.credential.secret;
    expect((await call("/repos/acme/api/issues/1", token)).status).toBe(200);
    expect((await call("/repos/acme/api/issues/1/comments", token, "POST")).status).toBe(200);
    // Another repository of the installation: GitHub answers as if it did not exist.
    const other = await call("/repos/acme/web/issues/1", token);
    expect([other.status, ((await other.json()) as { message: string }).message]).toEqual([404, "Not Found"]);
    // A merge needs contents: write; the triage profile asked for contents: read.
    const merge = await call("/repos/acme/api/pulls/1/merge", token, "PUT");
    expect(merge.status).toBe(403);
    expect(merge.headers.get("x-accepted-github-permissions")).toBe("contents=write");
    expect(((await merge.json()) as { message: string }).message).toBe("Resource not accessible by integration");

    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: true });
    expect(fake.revocations).toEqual([{ status: 204 }]);
    const revokedRequest = sent.at(-1)!;
    expect([revokedRequest.method, new URL(revokedRequest.url).pathname]).toEqual(["DELETE", "/installation/token"]);
    expect(revokedRequest.headers.get("authorization")).toBe(`Bearer ${token}`);
    const after = await call("/repos/acme/api/issues/1", token);
    expect([after.status, ((await after.json()) as { message: string }).message]).toEqual([401, "Bad credentials"]);
    // Revoking again: GitHub no longer takes the token, so nothing is left to revoke.
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: false });
  });

  it("is due for renewal five minutes before GitHub's hour is up, and refused by GitHub after it", async () => {
    const minted = await githubAppProvider("github", spec(), deps()).mint({ actions: TRIAGE, repositories: ["api"] });
    if (!minted.ok) throw new Error(minted.detail);
    clock.advance(54 * 60_000);
    expect(renewalDue(minted.credential, clock.now())).toBe(false);
    clock.advance(60_000);
    expect(renewalDue(minted.credential, clock.now())).toBe(true);
    clock.advance(5 * 60_000);
    expect((await call("/repos/acme/api/issues/1", minted.credential.secret)).status).toBe(401);
  });

  it("takes the App key as GitHub gives it (PKCS#1), as PKCS#8, or as a JWK", async () => {
    const pkcs8 = app.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const jwk = JSON.stringify(app.privateKey.export({ format: "jwk" }));
    expect(pkcs8Pem(Buffer.from(PKCS1.replace(/-----[^-]+-----|\s/g, ""), "base64")).replace(/\s/g, "")).toBe(
      pkcs8.replace(/\s/g, ""),
    );
    for (const key of [pkcs8, jwk]) {
      const minted = await githubAppProvider("github", spec(), deps({ secret: () => key })).mint({
        actions: TRIAGE,
        repositories: ["api"],
      });
      expect(minted.ok).toBe(true);
    }
  });
});

describe("no token is asked for when the request cannot be narrowed or signed", () => {
  const cases: [string, Parameters<ReturnType<typeof githubAppProvider>["mint"]>[0], Partial<ProviderDeps>, string][] =
    [
      ["no repository (GitHub would grant them all)", { actions: TRIAGE }, {}, "credential.unscoped"],
      ["a repository of another account", { actions: TRIAGE, repositories: ["evil/api"] }, {}, "credential.unscoped"],
      ["not a repository name", { actions: TRIAGE, repositories: ["acme/../x"] }, {}, "credential.unscoped"],
      [
        "no GitHub permission (GitHub would grant all of the App's)",
        { actions: ["slack:chat.postMessage"], repositories: ["api"] },
        {},
        "credential.unscoped",
      ],
      [
        "the App key is not set",
        { actions: TRIAGE, repositories: ["api"] },
        { secret: () => undefined },
        "credential.unavailable",
      ],
      [
        "the App key is not a key",
        { actions: TRIAGE, repositories: ["api"] },
        { secret: () => "not a key at all" },
        "credential.unavailable",
      ],
    ];
  it.each(cases)("%s", async (_, request, over, code) => {
    const minted = await githubAppProvider("github", spec(), deps(over)).mint(request);
    expect(failed(minted).code).toBe(code);
    expect(sent).toEqual([]);
    expect(fake.tokenRequests).toEqual([]);
  });

  it("more than GitHub's 500 repositories", async () => {
    const repositories = Array.from({ length: 501 }, (_, i) => `repo-${i}`);
    expect(failed(await githubAppProvider("github", spec(), deps()).mint({ actions: TRIAGE, repositories })).code).toBe(
      "credential.unscoped",
    );
    expect(sent).toEqual([]);
  });
});

describe("GitHub refusing, unreachable or answering nonsense: fail closed, no secret in the detail", () => {
  const handled = () => [PKCS1, ...sent.map((r) => r.headers.get("authorization")!.replace(/^Bearer /, ""))];
  const clean = (f: CredentialFailure) => {
    for (const s of handled()) expect(f.detail).not.toContain(s);
  };

  it("an unknown installation is refused with GitHub's 404", async () => {
    const f = failed(
      await githubAppProvider("github", spec({ installation_id: "404" }), deps()).mint({
        actions: TRIAGE,
        repositories: ["api"],
      }),
    );
    expect([f.code, f.status]).toEqual(["credential.refused", 404]);
    clean(f);
  });

  it("a repository the installation lacks is refused with 422", async () => {
    const f = failed(
      await githubAppProvider("github", spec(), deps()).mint({ actions: TRIAGE, repositories: ["private"] }),
    );
    expect([f.code, f.status]).toEqual(["credential.refused", 422]);
    expect(f.detail).toContain("not accessible to the parent installation");
  });

  it("a JWT signed with another key is refused with 401, and the JWT is not in the detail even when echoed", async () => {
    const other = rsa().privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    const f = failed(
      await githubAppProvider("github", spec(), deps({ secret: () => other })).mint({
        actions: TRIAGE,
        repositories: ["api"],
      }),
    );
    expect([f.code, f.status]).toEqual(["credential.refused", 401]);
    const echoing = deps({
      fetch: async (r) => {
        sent.push(r.clone());
        return Response.json({ message: `bad token ${r.headers.get("authorization")} key ${PKCS1}` }, { status: 401 });
      },
    });
    const g = failed(
      await githubAppProvider("github", spec(), echoing).mint({ actions: TRIAGE, repositories: ["api"] }),
    );
    expect(g.detail).toContain("[redacted]");
    clean(g);
  });

  it("a network error is credential.unreachable", async () => {
    const down = deps({ fetch: () => Promise.reject(new TypeError("connection refused")) });
    const f = failed(await githubAppProvider("github", spec(), down).mint({ actions: TRIAGE, repositories: ["api"] }));
    expect(f.code).toBe("credential.unreachable");
  });

  it("no answer before the deadline is credential.unreachable, reached by moving the clock", async () => {
    const { reached, fetch } = reaching(
      (r) => new Promise((_, reject) => r.signal.addEventListener("abort", () => reject(r.signal.reason))),
    );
    const pending = githubAppProvider("github", spec(), deps({ fetch })).mint({
      actions: TRIAGE,
      repositories: ["api"],
    });
    await reached;
    clock.advance(9_999);
    expect(await Promise.race([pending, "still waiting"])).toBe("still waiting");
    clock.advance(1);
    const f = failed(await pending);
    expect([f.code, f.detail]).toEqual(["credential.unreachable", `${served.url.host} did not answer within 10000 ms`]);
  });

  it("an answer whose body stalls past the deadline is credential.unreachable", async () => {
    const { reached, fetch } = reaching(
      async () =>
        new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode('{"tok')) }), {
          status: 201,
        }),
    );
    const pending = githubAppProvider("github", spec(), deps({ fetch })).mint({
      actions: TRIAGE,
      repositories: ["api"],
    });
    await reached;
    clock.advance(10_000);
    expect(failed(await pending).code).toBe("credential.unreachable");
  });

  const answers: [string, () => Response, number?][] = [
    ["not JSON", () => new Response("<html>oops</html>", { status: 201 })],
    ["no token", () => Response.json({ expires_at: "2030-01-01T00:00:00Z" }, { status: 201 })],
    ["larger than the cap", () => Response.json({ token: "ghs_x", padding: "x".repeat(70_000) }, { status: 201 })],
  ];
  it.each(answers)("an answer that is %s is credential.malformed", async (_, answer) => {
    const f = failed(
      await githubAppProvider("github", spec(), deps({ fetch: async () => answer() })).mint({
        actions: TRIAGE,
        repositories: ["api"],
      }),
    );
    expect(f.code).toBe("credential.malformed");
  });

  it("a token broader than asked is credential.malformed, and revoked at once", async () => {
    const broad = {
      token: "ghs_broadtoken",
      expires_at: "2030-01-01T00:00:00Z",
      permissions: { administration: "write" },
    };
    const calls: string[] = [];
    const f = failed(
      await githubAppProvider(
        "github",
        spec(),
        deps({
          fetch: async (r) => {
            calls.push(`${r.method} ${new URL(r.url).pathname} ${r.headers.get("authorization")?.slice(0, 11)}`);
            return r.method === "POST" ? Response.json(broad, { status: 201 }) : new Response(null, { status: 204 });
          },
        }),
      ).mint({ actions: TRIAGE, repositories: ["api"] }),
    );
    expect(f.code).toBe("credential.malformed");
    expect(f.detail).toContain("broader than asked: administration: write");
    expect(f.detail).not.toContain("ghs_broadtoken");
    expect(calls).toEqual([
      "POST /app/installations/42/access_tokens Bearer eyJh",
      "DELETE /installation/token Bearer ghs_",
    ]);
  });
});

describe("the static provider", () => {
  it("is today's Worker secret, never expiring, never revoked; missing is credential.unavailable", async () => {
    const service = {
      name: "github",
      credential: { secret: "GITHUB_TOKEN", header: "Authorization", format: "Bearer {secret}" },
    };
    const provider = providerFor(
      service,
      deps({ secret: (n) => (n === "GITHUB_TOKEN" ? "canary-gh-static-1234" : undefined) }),
    );
    const minted = await provider.mint({});
    if (!minted.ok) throw new Error(minted.detail);
    expect(minted.credential).toEqual({
      secret: "canary-gh-static-1234",
      expiresAt: null,
      id: await credentialId("canary-gh-static-1234"),
    });
    expect(renewalDue(minted.credential, Number.MAX_SAFE_INTEGER)).toBe(false);
    expect(await provider.revoke(minted.credential)).toEqual({ ok: true, revoked: false });
    expect(failed(await providerFor(service, deps({ secret: () => undefined })).mint({})).code).toBe(
      "credential.unavailable",
    );
  });
});

describe("the fake GitHub behaves like GitHub where the provider never goes", () => {
  const post = (jwt: string, body: unknown) =>
    fetch(new URL("/app/installations/42/access_tokens", served.url), {
      method: "POST",
      headers: { authorization: `Bearer ${jwt}` },
      body: JSON.stringify(body),
    });
  const jwtAt = async (iatOffset: number, expOffset: number) => {
    const key = await importPKCS8(app.privateKey.export({ type: "pkcs8", format: "pem" }) as string, "RS256");
    const now = Math.floor(clock.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "RS256" })
      .setIssuer("12345")
      .setIssuedAt(now + iatOffset)
      .setExpirationTime(now + expOffset)
      .sign(key);
  };

  it("a request naming no repositories and no permissions gets all of the installation's", async () => {
    const answer = (await (await post(await jwtAt(-60, 540), {})).json()) as Record<string, unknown>;
    expect(answer.repository_selection).toBe("all");
    expect(answer.permissions).toEqual({
      issues: "write",
      pull_requests: "write",
      contents: "write",
      metadata: "read",
      administration: "write",
    });
  });

  it("an App JWT that expired, or expires more than ten minutes ahead, is refused 401", async () => {
    expect((await post(await jwtAt(-700, -10), { repositories: ["api"] })).status).toBe(401);
    expect((await post(await jwtAt(-60, 660), { repositories: ["api"] })).status).toBe(401);
    expect(fake.tokenRequests.map((r) => r.status)).toEqual([401, 401]);
  });
});
