/**
 * GET /_firebreak/v1/jwks inside workerd: the public task keys (current, then previous), public members
 * only, cacheable; 503 `task.keys_unavailable` without a usable key. The key is bound through the env given
 * to app.fetch, so no test depends on a key in the shared bindings (or in a developer's .dev.vars).
 */
import { createLocalJWKSet, type JWK, jwtVerify } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newTaskId, newTaskKey, signTaskToken, TASK_TOKEN_TYP, taskKeys } from "../../src/identity/task-token";
import { BASE, bindings, gatewayApp } from "./support";

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

async function getJwks(env: Record<string, unknown>, method = "GET") {
  const res = await gatewayApp().fetch(new Request(`${BASE}/_firebreak/v1/jwks`, { method }), env as never);
  const text = await res.text();
  return { res, text, json: JSON.parse(text) as { keys?: JWK[]; error?: string; reason?: string } };
}

/** The bindings without any task key, whatever the environment (or .dev.vars) holds. */
const withoutKeys = () => ({ ...bindings, FIREBREAK_TASK_KEY: undefined, FIREBREAK_TASK_KEY_PREVIOUS: undefined });

afterEach(() => vi.restoreAllMocks());

describe("GET /_firebreak/v1/jwks", () => {
  it("serves the current key's public half, cacheable, with no private member", async () => {
    const current = await newTaskKey("ci");
    const { res, text, json } = await getJwks({ ...withoutKeys(), FIREBREAK_TASK_KEY: JSON.stringify(current) });
    expect(res.status, text).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    expect(json).toEqual({
      keys: [{ kty: "OKP", crv: "Ed25519", x: current.x, kid: current.kid, alg: "EdDSA", use: "sig" }],
    });
    for (const m of PRIVATE_MEMBERS) expect(json.keys?.[0]).not.toHaveProperty(m);
    expect(text).not.toContain(String(current.d));
    expect(text).not.toMatch(/"(d|p|q|dp|dq|qi|k)"\s*:/);
  });

  it("serves current then previous during a rotation; a token of either verifies with the published set", async () => {
    const current = await newTaskKey("ci-new");
    const previous = await newTaskKey("ci-old");
    const env = {
      ...withoutKeys(),
      FIREBREAK_TASK_KEY: JSON.stringify(current),
      FIREBREAK_TASK_KEY_PREVIOUS: JSON.stringify(previous),
    };
    const { res, text, json } = await getJwks(env);
    expect(res.status, text).toBe(200);
    expect(json.keys?.map((k) => k.kid)).toEqual([current.kid, previous.kid]);
    for (const k of json.keys ?? []) {
      expect(Object.keys(k).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
      for (const m of PRIVATE_MEMBERS) expect(k).not.toHaveProperty(m);
    }
    expect(text).not.toContain(String(current.d));
    expect(text).not.toContain(String(previous.d));

    // Signing works inside workerd, and a relying party needs nothing but the published JWKS.
    const published = createLocalJWKSet({ keys: json.keys ?? [] });
    const now = new Date();
    const opts = { audience: BASE, issuer: BASE, ttl_s: 60, deadline_ms: now.getTime() + 600_000, now };
    const claims = { sub: "agent-1", agent_issuer: "remote", task_id: newTaskId(), profile: "triage" };
    for (const key of [current, previous]) {
      const signer = await taskKeys({ FIREBREAK_TASK_KEY: JSON.stringify(key) });
      if (!signer.ok) throw new Error(signer.detail);
      const { token } = await signTaskToken(signer.keys.current, claims, opts);
      const { payload, protectedHeader } = await jwtVerify(token, published, {
        issuer: BASE,
        audience: BASE,
        algorithms: ["EdDSA"],
        typ: TASK_TOKEN_TYP,
      });
      expect(protectedHeader.kid).toBe(key.kid);
      expect(payload).toMatchObject(claims);
    }
  });

  it("answers 503 task.keys_unavailable without a key, uncached", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { res, text, json } = await getJwks(withoutKeys());
    expect(res.status, text).toBe(503);
    expect(json).toMatchObject({ error: "unavailable", reason: "task.keys_unavailable" });
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(errors.mock.calls.map((c) => JSON.parse(String(c[0])))).toEqual([
      { event: "firebreak.task_keys_unavailable", detail: "FIREBREAK_TASK_KEY is not set" },
    ]);
  });

  it("answers 503 for a broken or public-only key, and neither the body nor the log quotes it", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const key = await newTaskKey("ci");
    const { d, ...publicOnly } = key;
    const mismatched = { ...key, x: (await newTaskKey()).x };
    const broken = [
      `{"d":"${d}"`,
      JSON.stringify(publicOnly),
      JSON.stringify({ ...key, crv: "X25519" }),
      // workerd may accept an x that is not d's; the import probe catches it.
      JSON.stringify(mismatched),
    ];
    for (const value of broken) {
      const { res, text } = await getJwks({ ...withoutKeys(), FIREBREAK_TASK_KEY: value });
      expect(res.status, text).toBe(503);
      expect(JSON.parse(text).reason).toBe("task.keys_unavailable");
      expect(text).not.toContain(String(d));
      expect(text).not.toContain(String(key.x));
    }
    const logged = JSON.stringify(errors.mock.calls);
    expect(errors).toHaveBeenCalledTimes(broken.length);
    expect(logged).not.toContain(String(d));
    expect(logged).not.toContain(String(key.x));
    // A broken previous key fails closed too: the set would be silently smaller otherwise.
    const prev = await getJwks({
      ...withoutKeys(),
      FIREBREAK_TASK_KEY: JSON.stringify(key),
      FIREBREAK_TASK_KEY_PREVIOUS: "{",
    });
    expect(prev.res.status).toBe(503);
  });

  it("is GET only", async () => {
    const { res } = await getJwks({ ...withoutKeys(), FIREBREAK_TASK_KEY: JSON.stringify(await newTaskKey()) }, "POST");
    expect(res.status).toBe(404);
  });
});
