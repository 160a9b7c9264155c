/**
 * Stage 2, identity, through the worker's fetch inside workerd: each defect of the bearer token is
 * refused with its own reason (401, or 503 when the issuer's keys cannot be had), nothing is forwarded,
 * and the agent's token never leaves Firebreak: not upstream, not in the log line, not in the data point.
 *
 * Issuers (test/fixtures/policies/gateway/firebreak.yaml): remote (RS256, remote JWKS, 30 s tolerance,
 * max token age 3600 s), inline (ES256, JWKS in TEST_ISSUER_JWKS), pinned (inline's keys, require:
 * repository_owner acme), spiffe (ES256, trust domain
 * acme.test), down (JWKS endpoint answers 503).
 */
import { base64url, exportSPKI, importJWK, type JWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { AUDIENCE, ISSUERS, token } from "../helpers/tokens";
import { bindings, expectAllowed, expectRefusal, gatewayApp, type Sent, send } from "./support";

const app = gatewayApp();
const ISSUE = "/github/repos/acme/api/issues/1";
const SPIFFE_AGENT = "spiffe://acme.test/ns/prod/sa/agent";

const now = () => Math.floor(Date.now() / 1000);
const json64 = (v: unknown) => base64url.encode(JSON.stringify(v));
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISSUERS.remote,
  aud: AUDIENCE,
  sub: "agent-1",
  iat: now(),
  exp: now() + 300,
  ...extra,
});

/** A 401 also tells the client how to authenticate. */
function expectUnauthorized(sent: Sent, reason: string): void {
  expectRefusal(sent, 401, reason);
  expect(sent.res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
}

const spiffeToken = (sub: string) => token({ key: "es256_spiffe", iss: ISSUERS.spiffe, sub });

describe("the bearer credential", () => {
  it("no Authorization header is 401 identity.missing", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: null }), "identity.missing");
  });

  it("a Basic credential is not a bearer token", async () => {
    const sent = await send(app, ISSUE, { headers: { authorization: "Basic YWdlbnQ6c2VjcmV0" } });
    expectUnauthorized(sent, "identity.missing");
  });

  it("a bearer scheme with no token", async () => {
    expectUnauthorized(await send(app, ISSUE, { headers: { authorization: "Bearer" } }), "identity.missing");
  });

  it.each([
    ["not three parts", "not-a-jwt"],
    ["characters outside base64url", "abc.d+f.ghi"],
    ["parts that are not JSON", "abc.def.ghi"],
  ])("a malformed token (%s)", async (_name, bad) => {
    expectUnauthorized(await send(app, ISSUE, { bearer: bad }), "identity.malformed");
  });

  it("an issuer the bundle does not trust", async () => {
    expectUnauthorized(
      await send(app, ISSUE, { bearer: await token({ iss: "https://evil.example" }) }),
      "identity.unknown_issuer",
    );
  });

  it("a token without an issuer", async () => {
    expectUnauthorized(
      await send(app, ISSUE, { bearer: await token({ claims: { iss: undefined } }) }),
      "identity.unknown_issuer",
    );
  });
});

describe("algorithms and key-naming headers", () => {
  it("alg none with an empty signature is not a well-formed signed JWT", async () => {
    const unsigned = `${json64({ alg: "none", typ: "JWT" })}.${json64(claims())}.`;
    expectUnauthorized(await send(app, ISSUE, { bearer: unsigned }), "identity.malformed");
  });

  it("alg none with some signature bytes is refused by the issuer's pinned algorithms", async () => {
    const unsigned = `${json64({ alg: "none", typ: "JWT" })}.${json64(claims())}.AAAA`;
    expectUnauthorized(await send(app, ISSUE, { bearer: unsigned }), "identity.bad_algorithm");
  });

  it("HS256 keyed with the issuer's RSA public key (algorithm confusion)", async () => {
    const publicKey = await importJWK(keys.rs256.public as JWK, "RS256", { extractable: true });
    const pem = await exportSPKI(publicKey as CryptoKey);
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256", kid: keys.rs256.public.kid, typ: "JWT" })
      .sign(new TextEncoder().encode(pem));
    expectUnauthorized(await send(app, ISSUE, { bearer: forged }), "identity.bad_algorithm");
  });

  it("an ES256 token for the RS256-only issuer", async () => {
    const es = await token({ key: "es256", iss: ISSUERS.remote });
    expectUnauthorized(await send(app, ISSUE, { bearer: es }), "identity.bad_algorithm");
  });

  it.each([
    ["jku", "https://evil.example/jwks.json"],
    ["x5u", "https://evil.example/cert.pem"],
    ["jwk", keys.rs256_other.public],
    ["x5c", ["MIIBszCCAVmgAwIBAgIUevil"]],
  ])("a token naming its own key with %s", async (name, value) => {
    const named = await token({ header: { [name]: value } });
    expectUnauthorized(await send(app, ISSUE, { bearer: named }), "identity.forbidden_header");
  });
});

describe("signatures and keys", () => {
  it("a token signed by another key under the issuer's kid", async () => {
    const forged = await token({ key: "rs256_other", header: { kid: keys.rs256.public.kid } });
    expectUnauthorized(await send(app, ISSUE, { bearer: forged }), "identity.bad_signature");
  });

  it("a valid token whose payload was swapped", async () => {
    const [head, , sig] = (await token()).split(".");
    const tampered = `${head}.${json64(claims({ sub: "agent-2" }))}.${sig}`;
    expectUnauthorized(await send(app, ISSUE, { bearer: tampered }), "identity.bad_signature");
  });

  it("a kid the issuer's key set does not hold", async () => {
    const unknown = await token({ key: "rs256_other" });
    expectUnauthorized(await send(app, ISSUE, { bearer: unknown }), "identity.bad_signature");
  });

  it("no kid, one key of the algorithm in the set: verified", async () => {
    expectAllowed(await send(app, ISSUE, { bearer: await token({ header: { kid: undefined } }) }));
  });

  it("no kid, two keys of the algorithm in the set: refused as the token's fault, not an outage", async () => {
    // The spiffe issuer's key set holds two P-256 keys; a token must say which one signed it.
    const sent = await send(app, ISSUE, {
      bearer: await token({ key: "es256_spiffe", iss: ISSUERS.spiffe, sub: SPIFFE_AGENT, header: { kid: undefined } }),
    });
    expectUnauthorized(sent, "identity.bad_signature");
  });

  it("the issuer's JWKS endpoint is down: 503, nothing forwarded", async () => {
    const sent = await send(app, ISSUE, { bearer: await token({ iss: ISSUERS.down }) });
    expectRefusal(sent, 503, "identity.jwks_unavailable");
  });

  it("the inline issuer's key set variable is unset: 503, nothing forwarded", async () => {
    const sent = await send(app, ISSUE, {
      bearer: await token({ key: "es256", iss: ISSUERS.inline }),
      env: { ...bindings, TEST_ISSUER_JWKS: "" },
    });
    expectRefusal(sent, 503, "identity.jwks_unavailable");
  });

  it("the inline issuer's key set variable is not a JWKS: 503, nothing forwarded", async () => {
    const sent = await send(app, ISSUE, {
      bearer: await token({ key: "es256", iss: ISSUERS.inline }),
      env: { ...bindings, TEST_ISSUER_JWKS: "{not json" },
    });
    expectRefusal(sent, 503, "identity.jwks_unavailable");
  });

  it("the inline issuer verifies against the key set in its variable", async () => {
    const sent = await send(app, ISSUE, { bearer: await token({ key: "es256", iss: ISSUERS.inline }) });
    expectAllowed(sent);
    expect(sent.records[0]).toMatchObject({ agent_issuer: "inline", agent_sub: "agent-1" });
  });

  it("an issuer's require: a token of the required owner passes, another owner's or none is 401, nothing forwarded", async () => {
    const pinned = (claims: Record<string, unknown>) => token({ key: "es256", iss: ISSUERS.pinned, claims });
    const ok = await send(app, ISSUE, { bearer: await pinned({ repository_owner: "acme" }) });
    expectAllowed(ok);
    expect(ok.records[0]).toMatchObject({ agent_issuer: "pinned", agent_sub: "agent-1" });
    for (const claims of [{ repository_owner: "evil" }, {}, { repository_owner: ["acme"] }]) {
      const sent = await send(app, ISSUE, { bearer: await pinned(claims) });
      expectUnauthorized(sent, "identity.missing_claim");
    }
  });
});

describe("claims and time", () => {
  it("expired beyond the 30 s tolerance", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ iat: -600, exp: -60 }) }), "identity.expired");
  });

  it("expired within the 30 s tolerance is accepted", async () => {
    expectAllowed(await send(app, ISSUE, { bearer: await token({ iat: -600, exp: -10 }) }));
  });

  it("nbf in the future", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ nbf: 120 }) }), "identity.not_yet_valid");
  });

  it("iat in the future", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ iat: 120 }) }), "identity.not_yet_valid");
  });

  it("issued longer ago than max_token_age (3600 s)", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ iat: -7200 }) }), "identity.too_old");
  });

  it("missing exp", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ exp: null }) }), "identity.missing_claim");
  });

  it("missing sub", async () => {
    const bearer = await token({ claims: { sub: undefined } });
    expectUnauthorized(await send(app, ISSUE, { bearer }), "identity.missing_claim");
  });

  it("missing iat where the issuer bounds token age", async () => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await token({ iat: null }) }), "identity.missing_claim");
  });

  it.each([
    ["a number", 123],
    ["an array", ["agent-1"]],
    ["empty", ""],
  ])("a sub that is %s", async (_name, sub) => {
    const bearer = await token({ claims: { sub } });
    expectUnauthorized(await send(app, ISSUE, { bearer }), "identity.missing_claim");
  });

  it("a SPIFFE sub wrapped in an array", async () => {
    const bearer = await token({ key: "es256_spiffe", iss: ISSUERS.spiffe, claims: { sub: [SPIFFE_AGENT] } });
    expectUnauthorized(await send(app, ISSUE, { bearer }), "identity.missing_claim");
  });

  it("the wrong audience", async () => {
    const bearer = await token({ aud: "https://some-other-api.example" });
    expectUnauthorized(await send(app, ISSUE, { bearer }), "identity.bad_audience");
  });
});

describe("SPIFFE JWT-SVIDs", () => {
  it("a SPIFFE ID of the trusted domain is accepted", async () => {
    const sent = await send(app, ISSUE, { bearer: await spiffeToken(SPIFFE_AGENT) });
    expectAllowed(sent);
    expect(sent.records[0]).toMatchObject({ agent_issuer: "spiffe", agent_sub: SPIFFE_AGENT });
  });

  it.each([
    ["another trust domain", "spiffe://other.test/ns/prod/sa/agent"],
    ["an upper-case trust domain", "spiffe://ACME.test/ns/prod/sa/agent"],
    ["a trust domain that only ends like the trusted one", "spiffe://evil-acme.test/ns/prod/sa/agent"],
    ["a .. path segment", "spiffe://acme.test/ns/../sa/agent"],
    ["a . path segment", "spiffe://acme.test/ns/./sa/agent"],
    ["an empty path segment", "spiffe://acme.test/ns//sa/agent"],
    ["a trailing slash", "spiffe://acme.test/ns/prod/sa/agent/"],
    ["a query", "spiffe://acme.test/ns/prod/sa/agent?x=1"],
    ["a fragment", "spiffe://acme.test/ns/prod/sa/agent#x"],
    ["a port", "spiffe://acme.test:443/ns/prod/sa/agent"],
    ["userinfo", "spiffe://u@acme.test/ns/prod/sa/agent"],
    ["no path", "spiffe://acme.test"],
    ["an upper-case scheme", "SPIFFE://acme.test/ns/prod/sa/agent"],
    ["a percent-encoded path", "spiffe://acme.test/ns/pr%6Fd/sa/agent"],
    ["not a SPIFFE ID", "agent-1"],
  ])("%s", async (_name, sub) => {
    expectUnauthorized(await send(app, ISSUE, { bearer: await spiffeToken(sub) }), "identity.bad_spiffe_id");
  });
});

describe("the agent's token stays in Firebreak", () => {
  /** The token and each of its parts; none may appear anywhere outside the request that carried it. */
  const traces = (jwt: string) => [jwt, ...jwt.split(".")];

  function expectNoTrace(sent: Sent, jwt: string): void {
    const lines = sent.logCalls.map((args) => args.map(String).join(" "));
    expect(lines.length).toBeGreaterThan(0);
    expect(sent.points).toHaveLength(1);
    const points = JSON.stringify(sent.points);
    const upstream = sent.upstream.flatMap((r) => [r.url, r.body, ...Object.entries(r.headers).flat()]);
    for (const trace of traces(jwt)) {
      for (const line of lines) expect(line).not.toContain(trace);
      expect(points).not.toContain(trace);
      for (const value of upstream) expect(value).not.toContain(trace);
      expect(sent.text).not.toContain(trace);
    }
  }

  it("an allowed call: the upstream gets the service credential, never the agent's token", async () => {
    const jwt = await token();
    const sent = await send(app, ISSUE, { bearer: jwt });
    const up = expectAllowed(sent);
    expect(up.headers.authorization).toBe(`Bearer ${bindings.GITHUB_TOKEN}`);
    expectNoTrace(sent, jwt);
  });

  it.each([
    ["expired", () => token({ iat: -600, exp: -60 })],
    ["bad signature", () => token({ key: "rs256_other", header: { kid: keys.rs256.public.kid } })],
    ["unknown issuer", () => token({ iss: "https://evil.example" })],
    ["wrong audience", () => token({ aud: "https://some-other-api.example" })],
    ["JWKS down", () => token({ iss: ISSUERS.down })],
  ])("a refused token (%s) is not in the log line or the data point", async (_name, mint) => {
    const jwt = await mint();
    const sent = await send(app, ISSUE, { bearer: jwt });
    expect(sent.res.status).toBeGreaterThanOrEqual(401);
    expectNoTrace(sent, jwt);
  });

  it("a token refused by routing (sent twice) is not in the log line or the data point", async () => {
    const jwt = await token();
    const sent = await send(app, ISSUE, { headers: { authorization: `Bearer ${jwt}, Bearer ${jwt}` } });
    expectRefusal(sent, 400, "route.duplicate_authorization");
    expectNoTrace(sent, jwt);
  });
});
