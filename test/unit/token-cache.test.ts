/** The verified-token cache: a hit only for the same token, issuer, key source and a still-valid clock. */

import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { cachedAgent, rememberAgent } from "../../src/identity/token-cache";
import { verifyAgent } from "../../src/identity/workload";
import type { IssuerSpec } from "../../src/policy/types";
import keys from "../fixtures/keys.json" with { type: "json" };
import { ISSUERS, token } from "../helpers/tokens";

const issuer = (over: Partial<IssuerSpec> = {}): IssuerSpec => ({
  name: "inline",
  kind: "workload",
  issuer: ISSUERS.inline,
  audience: ["https://firebreak.test"],
  algorithms: ["ES256"],
  jwks: { var: "JWKS" },
  clock_tolerance_s: 30,
  max_token_age_s: 600,
  max_token_lifetime_s: null,
  claims: [],
  spiffe: null,
  ...over,
});
/** Only the binding the issuer names: these functions read nothing else of the worker's Env. */
const envWith = (bindings: Record<string, string>) => bindings as unknown as Env;
const env = envWith({ JWKS: JSON.stringify({ keys: [keys.es256.public] }) });
const agent = { issuer: "inline", iss: ISSUERS.inline, sub: "agent-1", claims: {} };
const T0 = new Date("2026-11-25T12:00:00Z");
const s0 = T0.getTime() / 1000;
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe("cachedAgent", () => {
  it("returns the agent for the same token, issuer and key source", () => {
    const iss = issuer();
    rememberAgent("tok-a", iss, env, agent, { exp: s0 + 300, iat: s0 }, T0);
    expect(cachedAgent("tok-a", [iss], env, at(10))).toEqual(agent);
    expect(cachedAgent("tok-other", [iss], env, at(10))).toBeNull();
  });

  it.each([
    ["past exp beyond the clock tolerance", { exp: s0 + 20, iat: s0 }, 51],
    ["past the 60 s entry lifetime", { exp: s0 + 3600, iat: s0 }, 61],
    ["before nbf beyond the tolerance", { exp: s0 + 300, iat: s0, nbf: s0 + 100 }, 1],
    ["older than max_token_age", { exp: s0 + 3600, iat: s0 - 590 }, 41],
  ])("misses %s", (_name, claims, seconds) => {
    const iss = issuer();
    rememberAgent(`tok-${_name}`, iss, env, agent, claims, T0);
    expect(cachedAgent(`tok-${_name}`, [iss], env, at(seconds))).toBeNull();
  });

  it("misses for another bundle's issuer object and when the inline JWKS changed", () => {
    const iss = issuer();
    rememberAgent("tok-b", iss, env, agent, { exp: s0 + 300, iat: s0 }, T0);
    expect(cachedAgent("tok-b", [issuer()], env, at(1))).toBeNull();
    rememberAgent("tok-c", iss, env, agent, { exp: s0 + 300, iat: s0 }, T0);
    expect(cachedAgent("tok-c", [iss], envWith({ JWKS: "{}" }), at(1))).toBeNull();
    expect(cachedAgent("tok-c", [iss], env, at(1))).toBeNull();
  });
});

describe("verifyAgent with the cache", () => {
  it("a token verified once is refused once it expires, not served from the cache", async () => {
    const iss = issuer({ max_token_age_s: null });
    const now = Math.floor(Date.now() / 1000);
    const t = await token({ key: "es256", iss: ISSUERS.inline, exp: 10, now });
    const first = await verifyAgent(t, [iss], env, new Date(now * 1000));
    expect(first.ok).toBe(true);
    const later = await verifyAgent(t, [iss], env, new Date((now + 45) * 1000));
    expect(later).toMatchObject({ ok: false, reason: "identity.expired" });
  });

  it("a token verified once fails closed when its issuer's keys become unavailable", async () => {
    const iss = issuer({ max_token_age_s: null });
    const t = await token({ key: "es256", iss: ISSUERS.inline });
    expect((await verifyAgent(t, [iss], env, new Date())).ok).toBe(true);
    expect(await verifyAgent(t, [iss], envWith({ JWKS: "" }), new Date())).toMatchObject({
      ok: false,
      reason: "identity.jwks_unavailable",
    });
  });
});
