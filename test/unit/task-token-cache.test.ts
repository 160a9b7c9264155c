/**
 * The verified-task-token cache (src/identity/token-cache.ts): a hit only for the same token string,
 * key set, audience and issuer, within its minute, with exp and nbf re-checked on every use; a rotated
 * key set verifies again; refusals are never remembered.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  newTaskId,
  newTaskKey,
  signTaskToken,
  type TaskKeysResult,
  taskKeys,
  verifyTaskToken,
} from "../../src/identity/task-token";
import { verifyTaskTokenCached } from "../../src/identity/token-cache";

// The real verification, counted: a cache hit is a call that does not reach it.
let calls = 0;
const counted: typeof verifyTaskToken = (...args) => {
  calls++;
  return verifyTaskToken(...args);
};
const verifications = () => calls;
const cached = (t: string, keys: TaskKeysResult, opts: ReturnType<typeof at>) =>
  verifyTaskTokenCached(t, keys, opts, counted);
beforeEach(() => {
  calls = 0;
});

const GATEWAY = "https://firebreak.test";
const T0 = new Date("2026-12-01T12:00:00.000Z");

async function keySet(): Promise<TaskKeysResult & { ok: true }> {
  const r = await taskKeys({ FIREBREAK_TASK_KEY: JSON.stringify(await newTaskKey(`k-${crypto.randomUUID()}`)) });
  if (!r.ok) throw new Error(r.detail);
  return r;
}

async function tokenFor(keys: TaskKeysResult & { ok: true }, ttl_s = 60, now = T0): Promise<string> {
  const signed = await signTaskToken(
    keys.keys.current,
    { sub: "agent-1", agent_issuer: "remote", task_id: newTaskId(), profile: "basic" },
    { audience: GATEWAY, issuer: GATEWAY, ttl_s, deadline_ms: now.getTime() + 3_600_000, now },
  );
  return signed.token;
}

const at = (now: Date) => ({ audience: GATEWAY, issuer: GATEWAY, now });
const plus = (s: number) => new Date(T0.getTime() + s * 1000);

describe("verifyTaskTokenCached", () => {
  it("verifies once, then answers the same token from the cache within the minute", async () => {
    const keys = await keySet();
    const t = await tokenFor(keys);
    const first = await cached(t, keys, at(T0));
    const second = await cached(t, keys, at(plus(10)));
    expect(first.ok && second.ok && second.claims).toEqual(first.ok && first.claims);
    expect(verifications()).toBe(1);
    await cached(await tokenFor(keys), keys, at(plus(10))); // another token: verified
    expect(verifications()).toBe(2);
  });

  it("re-checks exp on every use: an expired token is refused though it was cached", async () => {
    const keys = await keySet();
    const t = await tokenFor(keys, 5);
    expect((await cached(t, keys, at(T0))).ok).toBe(true);
    const late = await cached(t, keys, at(plus(5 + 31)));
    expect(late).toMatchObject({ ok: false, reason: "identity.expired" });
  });

  it("a new key set (rotation, a removed key) verifies again and refuses a token of the old key", async () => {
    const old = await keySet();
    const t = await tokenFor(old);
    expect((await cached(t, old, at(T0))).ok).toBe(true);
    const rotated = await keySet();
    expect(await cached(t, rotated, at(plus(1)))).toMatchObject({
      ok: false,
      reason: "identity.bad_signature",
    });
  });

  it("never answers for another audience or issuer from the cache", async () => {
    const keys = await keySet();
    const t = await tokenFor(keys);
    expect((await cached(t, keys, at(T0))).ok).toBe(true);
    const other = { audience: "https://elsewhere.test", issuer: GATEWAY, now: plus(1) };
    expect(await cached(t, keys, other)).toMatchObject({ ok: false, reason: "identity.bad_audience" });
  });

  it("does not remember refusals, and passes unavailable keys through", async () => {
    const keys = await keySet();
    const t = await tokenFor(keys, 60, plus(100)); // not valid yet at T0 (nbf = T0 + 100 s)
    expect(await cached(t, keys, at(T0))).toMatchObject({ ok: false, reason: "identity.not_yet_valid" });
    expect((await cached(t, keys, at(plus(100)))).ok).toBe(true);
    expect(verifications()).toBe(2); // the refusal was not remembered
    const none = await taskKeys({});
    expect(await cached(t, none, at(plus(100)))).toMatchObject({
      ok: false,
      reason: "task.keys_unavailable",
    });
  });

  it("after its minute, verifies again (a token tampered in place cannot ride on an old entry)", async () => {
    const keys = await keySet();
    const t = await tokenFor(keys, 3600);
    expect((await cached(t, keys, at(T0))).ok).toBe(true);
    expect((await cached(t, keys, at(plus(59)))).ok).toBe(true);
    expect(verifications()).toBe(1);
    expect((await cached(t, keys, at(plus(61)))).ok).toBe(true);
    expect(verifications()).toBe(2);
  });
});
