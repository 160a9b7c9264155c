/**
 * Signed bundles hot-swapped from KV (src/policy/holder.ts, src/policy/signed.ts, docs/bundles.md),
 * through the worker's fetch inside workerd: a push changes decisions on the next call after the check
 * interval, with no redeploy, and the decision record and health name the new revision; every bad value
 * (one defect each) keeps the last good bundle and health names why; a signed rollback moves back.
 *
 * The KV namespace is a real one (BUNDLES_TEST, vitest.config.ts), bound as BUNDLES for these requests
 * only; "KV down" is a binding whose get throws. The app's clock is moved, never waited for, and each
 * background check is awaited through the execution context's waitUntil, as workerd runs it.
 */
import { CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { FIRST_WAIT_MS, REFRESH_MS } from "../../src/policy/holder";
import { bundleKey, HEAD_KEY, HEAD_TYPE, type SignedBundleFile, signBundle } from "../../src/policy/signed";
import type { BundleOrderObject } from "../../src/tasks/bundle-order-object";
import gatewayBundle from "../.generated/gateway.json";
import { BASE, bindings, expectAllowed, expectRefusal, GATEWAY_REVISION, send, startTask, testClock } from "./support";

const KEY = JSON.parse(bindings.TEST_BUNDLE_SIGNING_KEY as string) as JWK;
const KV = bindings.BUNDLES_TEST as KVNamespace;
/** Allowed by the built-in bundle (rule agent-reads); denied by STRICT's no-evil-repos. */
const READ = "/github/repos/acme/api/issues/7";

type BundleJson = typeof gatewayBundle;
const text = (b: unknown) => JSON.stringify(b);

/** The gateway bundle, edited; its revision made distinct so records tell the two apart. */
function variant(revision: string, edit: (b: BundleJson) => void): string {
  const b = structuredClone(gatewayBundle);
  edit(b);
  b.manifest.revision = revision;
  return text(b);
}

const STRICT_REVISION = "5".repeat(64);
/** no-evil-repos also denies acme, and the profile `basic` is called `basic-kv`. */
const STRICT = variant(STRICT_REVISION, (b) => {
  const rule = b.rules.find((r) => r.id === "no-evil-repos") as { when: string | null };
  rule.when = 'resource.startsWith("repo:evil/") || resource.startsWith("repo:acme/")';
  const basic = b.profiles.find((p) => p.name === "basic") as { name: string };
  basic.name = "basic-kv";
});
const BUILT_IN = text(gatewayBundle);

const sign = (bundle: string, sequence: number, opts: { key?: JWK; rollback?: boolean } = {}) =>
  signBundle(bundle, opts.key ?? KEY, { sequence, rollback: opts.rollback, signedAt: new Date() });

async function put(file: Pick<SignedBundleFile, "head" | "bundle" | "bundle_sha256">): Promise<void> {
  await KV.put(bundleKey(file.bundle_sha256), file.bundle);
  await KV.put(HEAD_KEY, file.head);
}

/** The real BUNDLE_ORDER namespace, one object per test: each test is a gateway of its own. */
const ORDER = bindings.BUNDLE_ORDER as DurableObjectNamespace<BundleOrderObject>;
let gatewayName = "";
const order = { getByName: () => ORDER.getByName(gatewayName) };

/** A gateway isolate: the app with its own clock, reading `store` as its BUNDLES namespace. */
function isolate(store: unknown = KV, extra: Record<string, unknown> = {}) {
  const clock = testClock();
  const app = createApp(gatewayBundle, { clock: clock.now });
  const env = { ...bindings, BUNDLES: store, BUNDLE_ORDER: order, ...extra };
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p), passThroughOnException() {}, props: {} };
  const health = async () => {
    const res = await app.fetch(new Request(`${BASE}/_firebreak/v1/health`), env as never, ctx as never);
    return (await res.json()) as {
      bundle: { revision: string; source: string; sequence: number; key_id: string | null; rollback: boolean };
      bundles: { kv: string; refresh_s: number; last_rejection: { code: string; detail: string } | null };
    };
  };
  return {
    app,
    env,
    clock,
    health,
    /** Moves the clock past the interval and lets the check it starts finish, then answers health. */
    async tick() {
      clock.advance(REFRESH_MS);
      await health();
      await Promise.all(pending.splice(0));
      return health();
    },
    read: () => send(app, READ, { env }),
  };
}

beforeEach(async () => {
  gatewayName = crypto.randomUUID();
  for (const { name } of (await KV.list()).keys) await KV.delete(name);
});
afterEach(() => vi.restoreAllMocks());

describe("a push swaps the bundle without a redeploy", () => {
  it("the next call after the interval is decided by the pushed bundle, and its record names it", async () => {
    const gw = isolate();
    expectAllowed(await gw.read());
    await put(await sign(STRICT, 1));
    // Within the interval nothing is checked: the built-in bundle still decides.
    gw.clock.advance(REFRESH_MS - 1);
    const before = await gw.read();
    expectAllowed(before);
    expect(before.records[0]?.bundle_revision).toBe(GATEWAY_REVISION);

    const health = await gw.tick();
    expect(health.bundle).toMatchObject({ revision: STRICT_REVISION, source: "kv", sequence: 1, key_id: KEY.kid });
    expect(health.bundles).toMatchObject({ kv: "on", refresh_s: REFRESH_MS / 1000, last_rejection: null });
    const after = await gw.read();
    expectRefusal(after, 403, "policy.denied");
    expect(after.records[0]).toMatchObject({ bundle_revision: STRICT_REVISION, rules: ["no-evil-repos"] });
  });

  it("an isolate's first call waits for its first check: it never starts on an older bundle", async () => {
    await put(await sign(STRICT, 1));
    const gw = isolate();
    const first = await gw.read();
    expectRefusal(first, 403, "policy.denied");
    expect(first.records[0]?.bundle_revision).toBe(STRICT_REVISION);
  });

  it("the API routes read the same bundle in force: a task starts with the pushed profile", async () => {
    const gw = isolate();
    const before = await startTask(gw.app, "basic-kv", { env: gw.env });
    expect([before.res.status, before.json?.reason]).toEqual([403, "task.profile_denied"]);
    await put(await sign(STRICT, 1));
    await gw.tick();
    const after = await startTask(gw.app, "basic-kv", { env: gw.env });
    expect(after.res.status, after.text).toBe(201);
    expect((await startTask(gw.app, "basic", { env: gw.env })).json?.reason).toBe("task.profile_denied");
  });

  it("logs one structured line per swap", async () => {
    const gw = isolate();
    await gw.health();
    await put(await sign(STRICT, 7));
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    await gw.tick();
    await gw.tick();
    const swaps = log.mock.calls
      .map((c) => JSON.parse(String(c[0])))
      .filter((l) => l.event === "firebreak.bundle_swapped");
    expect(swaps).toEqual([
      expect.objectContaining({ from: GATEWAY_REVISION, revision: STRICT_REVISION, sequence: 7, kind: "kv" }),
    ]);
  });

  it("with no BUNDLES binding or no keys, the built-in bundle decides and health says kv is off", async () => {
    await put(await sign(STRICT, 1));
    for (const gw of [isolate(KV, { BUNDLES: undefined }), isolate(KV, { FIREBREAK_BUNDLE_KEYS: "" })]) {
      expectAllowed(await gw.read());
      expect((await gw.tick()).bundle).toMatchObject({ revision: GATEWAY_REVISION, source: "built-in", sequence: 0 });
      expect((await gw.health()).bundles.kv).toBe("off");
    }
  });
});

/** An isolate with STRICT (sequence 5) in force, then `bad` written to KV: it must keep STRICT. */
async function keepsStrict(bad: () => Promise<void>, code: string, store: unknown = KV) {
  vi.restoreAllMocks();
  await put(await sign(STRICT, 5));
  const gw = isolate(store);
  expect((await gw.health()).bundle.sequence).toBe(5);
  await bad();
  const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
  const health = await gw.tick();
  expect(health.bundle).toMatchObject({ revision: STRICT_REVISION, source: "kv", sequence: 5 });
  expect(health.bundles.last_rejection?.code).toBe(code);
  const logged = errors.mock.calls.map((c) => JSON.parse(String(c[0])));
  expect(logged).toEqual([expect.objectContaining({ event: "firebreak.bundle_refused", code, sequence: 5 })]);
  const sent = await gw.read();
  expectRefusal(sent, 403, "policy.denied");
  expect(sent.records[0]?.bundle_revision).toBe(STRICT_REVISION);
  // The same bad value is not logged again at the next check.
  await gw.tick();
  expect(errors).toHaveBeenCalledTimes(1);
  return { health, gw };
}

const other = async (kid = "other-key") => ({
  ...(await exportJWK((await generateKeyPair("EdDSA", { extractable: true })).privateKey)),
  kid,
});

/** A head signed by KEY with any protected header and payload. */
async function rawHead(header: Record<string, unknown>, payload: unknown, key: JWK = KEY): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "EdDSA", ...header })
    .sign(await importJWK(key, "EdDSA"));
}
const payloadOf = (head: string) => JSON.parse(atob((head.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));

describe("a value the worker cannot trust keeps the last good bundle and records why", () => {
  it("a tampered byte of the bundle (bundle.bad_signature)", async () => {
    const file = await sign(BUILT_IN, 6);
    const { health } = await keepsStrict(async () => {
      await put({ ...file, bundle: file.bundle.replace('"agent-reads"', '"agent-reade"') });
    }, "bundle.bad_signature");
    expect(health.bundles.last_rejection?.detail).toContain("sha256");
  });

  it("a tampered byte of the signed head (bundle.bad_signature)", async () => {
    const file = await sign(BUILT_IN, 6);
    const [h, p, s] = file.head.split(".") as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === "A" ? "B" : "A"}${s.slice(11)}`;
    await keepsStrict(() => put({ ...file, head: `${h}.${p}.${flipped}` }), "bundle.bad_signature");
  });

  it("a payload edited under a valid signature (bundle.bad_signature)", async () => {
    const file = await sign(BUILT_IN, 6);
    const [h, , s] = file.head.split(".") as [string, string, string];
    const payload = btoa(JSON.stringify({ ...payloadOf(file.head), sequence: 99 })).replace(/=+$/, "");
    await keepsStrict(
      () => put({ ...file, head: `${h}.${payload.replace(/\+/g, "-").replace(/\//g, "_")}.${s}` }),
      "bundle.bad_signature",
    );
  });

  it("a key that is not trusted, under the trusted kid (bundle.bad_signature)", async () => {
    const file = await sign(BUILT_IN, 6, { key: await other(KEY.kid) });
    await keepsStrict(() => put(file), "bundle.bad_signature");
  });

  it("a key id the worker does not know (bundle.unknown_key)", async () => {
    const file = await sign(BUILT_IN, 6, { key: await other() });
    await keepsStrict(() => put(file), "bundle.unknown_key");
  });

  it("a head without a key id (bundle.missing_key_id)", async () => {
    const file = await sign(BUILT_IN, 6);
    const head = await rawHead({ typ: HEAD_TYPE }, payloadOf(file.head));
    await keepsStrict(() => put({ ...file, head }), "bundle.missing_key_id");
  });

  it("an older sequence, and the same one again (bundle.stale)", async () => {
    await keepsStrict(async () => put(await sign(BUILT_IN, 4)), "bundle.stale");
    await keepsStrict(async () => put(await sign(BUILT_IN, 5)), "bundle.stale");
  });

  it("an unsigned bundle put straight into KV, and a head with alg none (bundle.unsigned)", async () => {
    await keepsStrict(() => KV.put(HEAD_KEY, BUILT_IN), "bundle.unsigned");
    const file = await sign(BUILT_IN, 6);
    const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${file.head.split(".")[1]}.`;
    await keepsStrict(() => put({ ...file, head: none }), "bundle.unsigned");
  });

  it("a bundle format this worker cannot run (bundle.format)", async () => {
    const future = variant("6".repeat(64), (b) => {
      (b.manifest as { format: number }).format = 3;
    });
    await keepsStrict(async () => put(await sign(future, 6)), "bundle.format");
  });

  it("a head of another envelope format (bundle.format)", async () => {
    const file = await sign(BUILT_IN, 6);
    const head = await rawHead(
      { typ: HEAD_TYPE, kid: KEY.kid },
      { ...payloadOf(file.head), format: "firebreak-signed-bundle/2" },
    );
    await keepsStrict(() => put({ ...file, head }), "bundle.format");
  });

  it("a compiler version of another release line (bundle.compiler)", async () => {
    const next = variant("7".repeat(64), (b) => {
      b.manifest.compiler_version = "0.2.0";
    });
    await keepsStrict(async () => put(await sign(next, 6)), "bundle.compiler");
  });

  it("a dev bundle on a worker built without the dev overlay (bundle.dev)", async () => {
    const dev = variant("8".repeat(64), (b) => {
      b.manifest.dev = true;
    });
    await keepsStrict(async () => put(await sign(dev, 6)), "bundle.dev");
  });

  it("KV down: every get throws (bundle.kv_unreachable), and the check runs again once it is back", async () => {
    let down = false;
    const flaky = {
      get: (key: string, type: "text") => (down ? Promise.reject(new Error("KV GET failed: 503")) : KV.get(key, type)),
    };
    const { gw } = await keepsStrict(
      async () => {
        down = true;
      },
      "bundle.kv_unreachable",
      flaky,
    );
    down = false;
    await put(await sign(BUILT_IN, 6));
    expect((await gw.tick()).bundle).toMatchObject({ revision: GATEWAY_REVISION, sequence: 6 });
    expectAllowed(await gw.read());
  });

  it("the head in force put back after a refused one is not refused again", async () => {
    const strict = await sign(STRICT, 5);
    await put(strict);
    const gw = isolate();
    await gw.health();
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await KV.put(HEAD_KEY, "garbage");
    await gw.tick();
    await put(strict);
    const health = await gw.tick();
    expect(health.bundle.sequence).toBe(5);
    expect(errors).toHaveBeenCalledTimes(1);
  });

  it("KV returning garbage for the head, or a head too large to be one (bundle.malformed)", async () => {
    await keepsStrict(() => KV.put(HEAD_KEY, "\u0000\u00ff garbage"), "bundle.malformed");
    await keepsStrict(() => KV.put(HEAD_KEY, `a.b.${"c".repeat(5000)}`), "bundle.malformed");
  });

  it("a signed head whose bundle is not in KV (bundle.missing)", async () => {
    const file = await sign(BUILT_IN, 6);
    await keepsStrict(() => KV.put(HEAD_KEY, file.head), "bundle.missing");
  });

  it("a signed bundle that does not load (bundle.unloadable)", async () => {
    const broken = variant("9".repeat(64), (b) => {
      b.manifest.counts.rules += 1;
    });
    await keepsStrict(async () => put(await sign(broken, 6)), "bundle.unloadable");
  });

  it("FIREBREAK_BUNDLE_KEYS that are not public Ed25519 keys (bundle.keys_invalid)", async () => {
    for (const keys of ["not json", JSON.stringify({ keys: [KEY] }), JSON.stringify([{ kty: "EC" }])]) {
      await put(await sign(STRICT, 1));
      const gw = isolate(KV, { FIREBREAK_BUNDLE_KEYS: keys });
      vi.spyOn(console, "error").mockImplementation(() => undefined);
      const health = await gw.tick();
      expect(health.bundle.source).toBe("built-in");
      expect(health.bundles.last_rejection?.code).toBe("bundle.keys_invalid");
      expectAllowed(await gw.read());
    }
  });
});

describe("rollback", () => {
  it("a signed rollback moves back to the older bundle, under a higher sequence; the older head replayed is stale", async () => {
    const strict = await sign(STRICT, 5);
    await put(strict);
    const gw = isolate();
    expectRefusal(await gw.read(), 403, "policy.denied");
    await put(await sign(BUILT_IN, 6, { rollback: true }));
    const health = await gw.tick();
    expect(health.bundle).toMatchObject({ revision: GATEWAY_REVISION, source: "kv", sequence: 6, rollback: true });
    const back = await gw.read();
    expectAllowed(back);
    expect(back.records[0]?.bundle_revision).toBe(GATEWAY_REVISION);
    // Whoever can write KV cannot go forward to what the operator rolled back from: its sequence is older.
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await put(strict);
    expect((await gw.tick()).bundles.last_rejection?.code).toBe("bundle.stale");
    expectAllowed(await gw.read());
  });
});

describe("the gateway's high-water mark (BUNDLE_ORDER)", () => {
  it("an older signed head put back into KV is stale for isolates started afterwards too", async () => {
    const strict = await sign(STRICT, 5);
    await put(strict);
    const first = isolate();
    await first.health();
    await put(await sign(BUILT_IN, 6));
    expect((await first.tick()).bundle.sequence).toBe(6);
    expect(await ORDER.getByName(gatewayName).highest()).toBe(6);
    // Whoever can write KV puts the older head back: a new isolate does not take it.
    await put(strict);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const late = isolate();
    const health = await late.health();
    expect(health.bundle).toMatchObject({ source: "built-in", sequence: 0 });
    expect(health.bundles.last_rejection).toMatchObject({ code: "bundle.stale" });
    expect(health.bundles.last_rejection?.detail).toContain("below 6");
    expectAllowed(await late.read());
  });

  it("a mark that cannot be reached keeps the bundle in force (bundle.order_unreachable), until it can", async () => {
    let down = false;
    const flaky = {
      getByName: () => (down ? { raise: () => Promise.reject(new Error("object reset")) } : order.getByName()),
    };
    await put(await sign(STRICT, 5));
    const gw = isolate(KV, { BUNDLE_ORDER: flaky });
    expect((await gw.health()).bundle.sequence).toBe(5);
    down = true;
    await put(await sign(BUILT_IN, 6));
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const health = await gw.tick();
    expect(health.bundle.sequence).toBe(5);
    expect(health.bundles.last_rejection?.code).toBe("bundle.order_unreachable");
    expectRefusal(await gw.read(), 403, "policy.denied");
    down = false;
    expect((await gw.tick()).bundle.sequence).toBe(6);
  });
});

describe("timing", () => {
  it("a first check slower than FIRST_WAIT_MS does not hold the first call: it is decided by the built-in bundle", async () => {
    await put(await sign(STRICT, 1));
    const slow = {
      get: async (key: string, type: "text") => {
        await new Promise((r) => setTimeout(r, FIRST_WAIT_MS + 500));
        return KV.get(key, type);
      },
    };
    const gw = isolate(slow);
    const started = Date.now();
    expectAllowed(await gw.read());
    expect(Date.now() - started).toBeLessThan(FIRST_WAIT_MS + 400);
  });
});
