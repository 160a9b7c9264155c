/**
 * Task tokens (src/identity/task-token.ts) in Node: signing, every refusal of verification, the canonical task
 * id, key import from the secrets, rotation. Forged tokens are signed with the real key, so a refusal is
 * the check under test and not a bad signature.
 */
import { base64url, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  isTaskId,
  newTaskId,
  newTaskKey,
  signTaskToken,
  TASK_TOKEN_TYP,
  type TaskKeys,
  type TaskKeysResult,
  type TaskSigningKey,
  taskKeys,
  verifyTaskToken,
} from "../../src/identity/task-token";

const GATEWAY = "https://firebreak.test";
const NOW = new Date("2026-11-25T12:00:00.000Z");
const NOW_S = NOW.getTime() / 1000;
const VERIFY = { audience: GATEWAY, issuer: GATEWAY, now: NOW };
const TASK_ID = "t_01JD8X3V5Q9R2M4N6P7S8T0W1Y";
const CLAIMS = { sub: "agent-1", agent_issuer: "remote", task_id: TASK_ID, profile: "triage" };
const SIGN = { audience: GATEWAY, issuer: GATEWAY, ttl_s: 600, deadline_ms: NOW.getTime() + 3_600_000, now: NOW };
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

let currentJwk: JWK & { kid: string };
let previousJwk: JWK & { kid: string };
let keys: TaskKeys;
let key: TaskSigningKey;

async function load(current: unknown, previous?: unknown): Promise<TaskKeysResult> {
  return taskKeys({
    FIREBREAK_TASK_KEY: typeof current === "string" ? current : JSON.stringify(current),
    FIREBREAK_TASK_KEY_PREVIOUS:
      previous === undefined ? undefined : typeof previous === "string" ? previous : JSON.stringify(previous),
  });
}

async function loadOk(current: unknown, previous?: unknown): Promise<TaskKeys> {
  const r = await load(current, previous);
  if (!r.ok) throw new Error(r.detail);
  return r.keys;
}

/** Claims a genuine token would carry, overridable. */
const payload = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: GATEWAY,
  aud: GATEWAY,
  ...CLAIMS,
  jti: crypto.randomUUID(),
  iat: NOW_S,
  nbf: NOW_S,
  exp: NOW_S + 600,
  ...over,
});

/** A token signed with the real key but with any payload and header. */
const forge = (body: Record<string, unknown>, header: Record<string, unknown> = {}, k = key) =>
  new SignJWT(body).setProtectedHeader({ alg: "EdDSA", kid: k.kid, typ: TASK_TOKEN_TYP, ...header }).sign(k.privateKey);

async function refusedAs(token: string, reason: string, ks: TaskKeys = keys, opts = VERIFY): Promise<void> {
  const r = await verifyTaskToken(token, ks, opts);
  expect(r.ok, JSON.stringify(r)).toBe(false);
  if (!r.ok) expect(r.reason).toBe(reason);
}

beforeAll(async () => {
  currentJwk = await newTaskKey("test");
  previousJwk = await newTaskKey("test-old");
  keys = await loadOk(currentJwk);
  key = keys.current;
});

describe("signTaskToken / verifyTaskToken", () => {
  it("round-trips the claims, with a pinned header and fresh jti", async () => {
    const a = await signTaskToken(key, CLAIMS, SIGN);
    const b = await signTaskToken(key, CLAIMS, SIGN);
    const r = await verifyTaskToken(a.token, keys, VERIFY);
    expect(r).toMatchObject({ ok: true, claims: { ...CLAIMS, iat: NOW_S, nbf: NOW_S, exp: NOW_S + 600 } });
    expect(a.expires_at).toBe((NOW_S + 600) * 1000);
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(a.token.split(".")[0] ?? "")));
    expect(header).toEqual({ alg: "EdDSA", kid: currentJwk.kid, typ: TASK_TOKEN_TYP });
    const ra = r.ok ? r.claims.jti : "";
    const rb = await verifyTaskToken(b.token, keys, VERIFY);
    expect(rb.ok && rb.claims.jti).not.toBe(ra);
    expect(ra).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("also accepts the key-set result of taskKeys and passes `unavailable` through", async () => {
    const { token } = await signTaskToken(key, CLAIMS, SIGN);
    expect(
      (await verifyTaskToken(token, await loadOk(currentJwk).then((k) => ({ ok: true, keys: k })), VERIFY)).ok,
    ).toBe(true);
    const none = await taskKeys({});
    expect(await verifyTaskToken(token, none, VERIFY)).toMatchObject({ ok: false, reason: "task.keys_unavailable" });
  });

  it("caps exp at the task deadline (rounded down) and refuses a deadline already passed", async () => {
    const deadline_ms = NOW.getTime() + 90_500;
    const { token, expires_at } = await signTaskToken(key, CLAIMS, { ...SIGN, deadline_ms });
    expect(expires_at).toBe((NOW_S + 90) * 1000);
    expect(expires_at).toBeLessThanOrEqual(deadline_ms);
    const r = await verifyTaskToken(token, keys, VERIFY);
    expect(r.ok && r.claims.exp).toBe(NOW_S + 90);
    await expect(signTaskToken(key, CLAIMS, { ...SIGN, deadline_ms: NOW.getTime() })).rejects.toThrow(/deadline/);
    await expect(signTaskToken(key, CLAIMS, { ...SIGN, ttl_s: 0 })).rejects.toThrow(/ttl/);
  });

  it("refuses to sign a non-canonical task id or an empty claim", async () => {
    await expect(signTaskToken(key, { ...CLAIMS, task_id: TASK_ID.toLowerCase() }, SIGN)).rejects.toThrow(/task_id/);
    await expect(signTaskToken(key, { ...CLAIMS, sub: "" }, SIGN)).rejects.toThrow(/sub/);
  });

  it("refuses an expired token after the 30 s tolerance, and one not yet valid", async () => {
    const { token } = await signTaskToken(key, CLAIMS, SIGN);
    const at = (s: number) => ({ ...VERIFY, now: new Date((NOW_S + s) * 1000) });
    expect((await verifyTaskToken(token, keys, at(600 + 29))).ok).toBe(true);
    await refusedAs(token, "identity.expired", keys, at(600 + 31));
    expect((await verifyTaskToken(token, keys, at(-29))).ok).toBe(true);
    await refusedAs(token, "identity.not_yet_valid", keys, at(-31));
  });

  it("requires exp, iat, nbf and jti", async () => {
    for (const claim of ["exp", "iat", "nbf", "jti"]) {
      await refusedAs(await forge(payload({ [claim]: undefined })), "identity.missing_claim");
    }
  });

  it("refuses another audience or issuer, and an audience list that merely contains ours", async () => {
    const { token } = await signTaskToken(key, CLAIMS, SIGN);
    await refusedAs(token, "identity.bad_audience", keys, { ...VERIFY, audience: "https://other.test" });
    await refusedAs(token, "identity.unknown_issuer", keys, { ...VERIFY, issuer: "https://other.test" });
    await refusedAs(await forge(payload({ aud: [GATEWAY, "https://other.test"] })), "identity.bad_audience");
    await refusedAs(await forge(payload({ aud: `${GATEWAY}/` })), "identity.bad_audience");
    await refusedAs(await forge(payload({ iss: `${GATEWAY} ` })), "identity.unknown_issuer");
  });

  it("refuses a tampered payload or signature", async () => {
    const { token } = await signTaskToken(key, CLAIMS, SIGN);
    const [h, p = "", s = ""] = token.split(".");
    const body = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    const other = base64url.encode(JSON.stringify({ ...body, task_id: newTaskId() }));
    await refusedAs(`${h}.${other}.${s}`, "identity.bad_signature");
    const flipped = (s[0] === "A" ? "B" : "A") + s.slice(1);
    await refusedAs(`${h}.${p}.${flipped}`, "identity.bad_signature");
    await refusedAs(`${h}.${p}.${s}.`, "identity.malformed");
    await refusedAs(`${h}.${p}`, "identity.malformed");
  });

  it("refuses algorithm confusion: HS256 keyed with the public key, alg none, another asymmetric alg", async () => {
    const body = payload();
    const header = { kid: key.kid, typ: TASK_TOKEN_TYP };
    const secrets = [
      new TextEncoder().encode(JSON.stringify(key.publicJwk)),
      base64url.decode(key.publicJwk.x),
      new TextEncoder().encode(key.publicJwk.x),
    ];
    for (const secret of secrets) {
      const hs = await new SignJWT(body).setProtectedHeader({ alg: "HS256", ...header }).sign(secret);
      await refusedAs(hs, "identity.bad_algorithm");
    }
    const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
    const none = `${enc({ alg: "none", ...header })}.${enc(body)}`;
    await refusedAs(`${none}.`, "identity.malformed");
    await refusedAs(`${none}.AAAA`, "identity.bad_algorithm");
    await refusedAs(`${enc({ alg: "NONE", ...header })}.${enc(body)}.AAAA`, "identity.bad_algorithm");
    await refusedAs(`${enc({ alg: "Ed25519", ...header })}.${enc(body)}.AAAA`, "identity.bad_algorithm");
    const es = await generateKeyPair("ES256");
    const es256 = await new SignJWT(body).setProtectedHeader({ alg: "ES256", ...header }).sign(es.privateKey);
    await refusedAs(es256, "identity.bad_algorithm");
  });

  it("refuses key-naming headers even when the signature is good", async () => {
    const jwk = key.publicJwk;
    for (const header of [
      { jku: "https://evil.example/jwks" },
      { x5u: "https://evil.example/cert" },
      { jwk },
      { x5c: ["MIIB"] },
    ]) {
      await refusedAs(await forge(payload(), header), "identity.forbidden_header");
    }
  });

  it("pins typ: a plain JWT signed by our key is not a task token", async () => {
    await refusedAs(await forge(payload(), { typ: "JWT" }), "identity.malformed");
    await refusedAs(await forge(payload(), { typ: undefined }), "identity.malformed");
  });

  it("refuses an unknown kid, no kid, and our kid on another key", async () => {
    const other = await loadOk({ ...(await newTaskKey("x")), kid: currentJwk.kid });
    await refusedAs(await forge(payload(), { kid: "nope" }), "identity.bad_signature");
    await refusedAs(await forge(payload(), { kid: undefined }), "identity.bad_signature");
    await refusedAs(await forge(payload(), {}, other.current), "identity.bad_signature");
  });

  it("refuses claims of the wrong type", async () => {
    for (const over of [{ sub: "" }, { sub: 7 }, { agent_issuer: undefined }, { profile: ["triage"] }, { jti: 1 }]) {
      await refusedAs(await forge(payload(over)), "identity.missing_claim");
    }
    await refusedAs(await forge(payload({ task_id: undefined })), "identity.missing_claim");
  });
});

describe("the task id", () => {
  it("newTaskId is canonical and random", () => {
    const ids = new Set(Array.from({ length: 200 }, newTaskId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(isTaskId(id), id).toBe(true);
    expect(isTaskId(TASK_ID)).toBe(true);
  });

  const variants: [string, unknown][] = [
    ["all lower case", TASK_ID.toLowerCase()],
    ["one character lower case", `${TASK_ID.slice(0, 5)}${TASK_ID.charAt(5).toLowerCase()}${TASK_ID.slice(6)}`],
    ["upper-case prefix", `T${TASK_ID.slice(1)}`],
    ["leading space", ` ${TASK_ID}`],
    ["trailing space", `${TASK_ID} `],
    ["trailing newline", `${TASK_ID}\n`],
    ["leading tab", `\t${TASK_ID}`],
    ["non-breaking space", `${TASK_ID}\u00a0`],
    ["Cyrillic а (U+0430)", "t_01JD8X3V5Q9R2M4N6P7S8T0W1\u0430"],
    ["Cyrillic А (U+0410)", "t_\u04101JD8X3V5Q9R2M4N6P7S8T0W1Y"],
    ["Greek Α (U+0391)", "t_\u03911JD8X3V5Q9R2M4N6P7S8T0W1Y"],
    ["fullwidth digit", "t_\uff101JD8X3V5Q9R2M4N6P7S8T0W1Y"],
    ["Crockford alias O for 0", "t_O1JD8X3V5Q9R2M4N6P7S8T0W1Y"],
    ["Crockford alias I for 1", "t_0IJD8X3V5Q9R2M4N6P7S8T0W1Y"],
    ["letter U (excluded)", "t_01JD8X3V5Q9R2M4N6P7S8T0W1U"],
    ["zero-width space", `t_01JD8X3V5Q9R\u200b2M4N6P7S8T0W1Y`],
    ["zero-width joiner at the end", `${TASK_ID}\u200d`],
    ["byte-order mark in front", `\ufeff${TASK_ID}`],
    ["soft hyphen", `t_01JD8X3V5Q9R\u00ad2M4N6P7S8T0W1Y`],
    ["NUL at the end", `${TASK_ID}\u0000`],
    ["over-long (27)", `${TASK_ID}0`],
    ["over-long (10 000)", `t_${"0".repeat(10_000)}`],
    ["short (25)", TASK_ID.slice(0, -1)],
    ["no prefix", TASK_ID.slice(2)],
    ["a UUID", "0b7f8f8e-3c8a-4f53-9e53-2f1f7a6b1c2d"],
    ["empty", ""],
    ["a number", 12345],
    ["an array holding the id", [TASK_ID]],
    ["an object", { id: TASK_ID }],
    ["null", null],
  ];

  it.each(variants)("refuses a task id variant: %s", async (_name, variant) => {
    expect(isTaskId(variant)).toBe(false);
    await refusedAs(await forge(payload({ task_id: variant })), "identity.malformed");
  });
});

describe("taskKeys (the Worker secrets)", () => {
  it("is unavailable without a key, or with one that is not an Ed25519 private JWK; the detail never quotes it", async () => {
    const rsa = await exportJWK((await generateKeyPair("RS256", { extractable: true })).privateKey);
    const ec = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey);
    const { d: _d, ...publicOnly } = currentJwk;
    const mismatched = { ...currentJwk, x: (await newTaskKey()).x };
    const cases: [unknown, RegExp][] = [
      [undefined, /not set/],
      ["", /not set/],
      [`{"d":"SECRET-d-VALUE","kty":"OKP"`, /not JSON/],
      ["SECRET-d-VALUE", /not JSON/],
      [[currentJwk], /not a JWK object/],
      [{ ...rsa, kid: "r" }, /not an Ed25519 JWK/],
      [{ ...ec, kid: "e" }, /not an Ed25519 JWK/],
      [{ ...currentJwk, kid: undefined }, /kid/],
      [{ ...currentJwk, kid: "has space" }, /kid/],
      [{ ...currentJwk, alg: "ES256" }, /alg/],
      [publicOnly, /private part/],
      [mismatched, /could not be imported/],
      [{ ...currentJwk, d: "AAAA" }, /could not be imported/],
    ];
    for (const [value, detail] of cases) {
      const r =
        value === undefined
          ? await taskKeys({})
          : await taskKeys({ FIREBREAK_TASK_KEY: typeof value === "string" ? value : JSON.stringify(value) });
      expect(r.ok, String(detail)).toBe(false);
      if (r.ok) continue;
      expect(r.reason).toBe("task.keys_unavailable");
      expect(r.detail).toMatch(detail);
      expect(r.detail).not.toContain("SECRET");
      expect(r.detail).not.toContain(String(currentJwk.d));
    }
    expect(await taskKeys({ FIREBREAK_TASK_KEY: 42 })).toMatchObject({ ok: false, reason: "task.keys_unavailable" });
  });

  it("imports once per secret value (the same promise), afresh for a new value", async () => {
    const env = { FIREBREAK_TASK_KEY: JSON.stringify(currentJwk) };
    const a = taskKeys(env);
    expect(taskKeys({ ...env })).toBe(a);
    expect(taskKeys({ FIREBREAK_TASK_KEY: JSON.stringify(previousJwk) })).not.toBe(a);
  });

  it("publishes public members only: current first, then previous", async () => {
    const both = await loadOk(currentJwk, previousJwk);
    expect(both.jwks.keys.map((k) => k.kid)).toEqual([currentJwk.kid, previousJwk.kid]);
    for (const k of both.jwks.keys) {
      expect(Object.keys(k).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
      for (const m of PRIVATE_MEMBERS) expect(k).not.toHaveProperty(m);
    }
    const text = JSON.stringify(both.jwks);
    expect(text).not.toContain(String(currentJwk.d));
    expect(text).not.toContain(String(previousJwk.d));
  });

  it("rotation: the previous key verifies, the current key signs; dropping previous ends its tokens", async () => {
    const before = await loadOk(previousJwk);
    const old = await signTaskToken(before.current, CLAIMS, SIGN);
    const rotated = await loadOk(currentJwk, previousJwk);
    expect(rotated.current.kid).toBe(currentJwk.kid);
    expect((await verifyTaskToken(old.token, rotated, VERIFY)).ok).toBe(true);
    const fresh = await signTaskToken(rotated.current, CLAIMS, SIGN);
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(fresh.token.split(".")[0] ?? ""))).kid).toBe(
      currentJwk.kid,
    );
    expect((await verifyTaskToken(fresh.token, rotated, VERIFY)).ok).toBe(true);
    await refusedAs(old.token, "identity.bad_signature", await loadOk(currentJwk));
    // A previous key may be given as its public half only.
    const { d: _d, ...publicPrevious } = previousJwk;
    expect((await verifyTaskToken(old.token, await loadOk(currentJwk, publicPrevious), VERIFY)).ok).toBe(true);
  });

  it("rotation step one (previous = current) is one key; the same kid on another key is unavailable", async () => {
    const same = await loadOk(currentJwk, currentJwk);
    expect(same.previous).toBeNull();
    expect(same.jwks.keys).toHaveLength(1);
    const clash = await load(currentJwk, { ...previousJwk, kid: currentJwk.kid });
    expect(clash).toMatchObject({ ok: false, reason: "task.keys_unavailable", detail: expect.stringMatching(/kid/) });
    const broken = await load(currentJwk, "not json");
    expect(broken).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/FIREBREAK_TASK_KEY_PREVIOUS is not JSON/),
    });
  });

  it("newTaskKey makes a private Ed25519 JWK with a kid, different each time", async () => {
    const k = await newTaskKey();
    expect(k).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(k.kid).toMatch(/^task-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect(typeof k.d).toBe("string");
    expect((await newTaskKey()).d).not.toBe(k.d);
  });
});
