/**
 * The pure checks of signed bundles (src/policy/signed.ts): which compiler versions a worker runs, which
 * FIREBREAK_BUNDLE_KEYS are a trusted key set, and the order of a head's checks (a head is judged on its
 * signature before anything it claims). The same checks run in workerd in signed-bundles.test.ts.
 */
import { CompactSign, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  checkBundle,
  compilerRuns,
  signBundle,
  type TrustedKeys,
  trustedKeys,
  verifyHead,
} from "../../src/policy/signed";

const inForce = { sequence: 10, compiler_version: "0.1.0", dev: false };
const BUNDLE = JSON.stringify({
  manifest: { format: 2, revision: "a".repeat(64), compiler_version: "0.1.3", dev: false },
});
let key: JWK;
let pub: JWK;
let keys: TrustedKeys;

beforeAll(async () => {
  const pair = await generateKeyPair("EdDSA", { extractable: true });
  key = { ...(await exportJWK(pair.privateKey)), kid: "k" };
  pub = { ...(await exportJWK(pair.publicKey)), kid: "k" };
  keys = (await trustedKeys(JSON.stringify([pub]))) as TrustedKeys;
});

describe("compilerRuns", () => {
  it.each([
    ["0.1.0", "0.1.0", true],
    ["0.1.9", "0.1.0", true],
    ["0.2.0", "0.1.0", false],
    ["1.0.0", "0.1.0", false],
    ["1.4.2", "1.0.0", true],
    ["2.0.0", "1.9.0", false],
    ["0.1", "0.1.0", false],
    ["", "0.1.0", false],
  ])("%s on a worker built by %s: %s", (version, own, runs) => {
    expect(compilerRuns(version, own)).toBe(runs);
  });
});

describe("trustedKeys", () => {
  it("empty is off; a JWKS or a list of public Ed25519 JWKs with kids is a key set", async () => {
    for (const off of [undefined, "", "[]", '{"keys":[]}']) expect(await trustedKeys(off)).toBeNull();
    expect([...((await trustedKeys(JSON.stringify({ keys: [pub] }))) as TrustedKeys).keys()]).toEqual(["k"]);
  });

  it.each([
    ["not JSON", "{"],
    ["not a key list", '{"k":1}'],
    ["a private key", () => JSON.stringify([key])],
    ["another key type", '[{"kty":"EC","crv":"P-256","x":"a","y":"b","kid":"e"}]'],
    ["no kid", () => JSON.stringify([{ ...pub, kid: undefined }])],
    ["a duplicate kid", () => JSON.stringify([pub, pub])],
  ])("%s is bundle.keys_invalid", async (_what, value) => {
    const v = typeof value === "function" ? value() : value;
    expect(await trustedKeys(v)).toMatchObject({ ok: false, code: "bundle.keys_invalid" });
  });
});

describe("verifyHead", () => {
  it("accepts a head above the sequence in force, with its key id", async () => {
    const { head } = await signBundle(BUNDLE, key, { sequence: 11, signedAt: new Date(0) });
    expect(await verifyHead(head, keys, inForce)).toMatchObject({ ok: true, key_id: "k", payload: { sequence: 11 } });
  });

  it("a JWS of another typ (a token signed by a trusted key) is not a head", async () => {
    const { head } = await signBundle(BUNDLE, key, { sequence: 11, signedAt: new Date(0) });
    const payload = new TextEncoder().encode(Buffer.from(head.split(".")[1] as string, "base64url").toString());
    const token = await new CompactSign(payload)
      .setProtectedHeader({ alg: "EdDSA", kid: "k", typ: "JWT" })
      .sign(await importJWK(key, "EdDSA"));
    expect(await verifyHead(token, keys, inForce)).toMatchObject({ code: "bundle.bad_signature" });
  });

  it("judges the signature before the claims: a forged stale head is a bad signature, not stale", async () => {
    const other = {
      ...(await exportJWK((await generateKeyPair("EdDSA", { extractable: true })).privateKey)),
      kid: "k",
    };
    const { head } = await signBundle(BUNDLE, other, { sequence: 1, signedAt: new Date(0) });
    expect(await verifyHead(head, keys, inForce)).toMatchObject({ code: "bundle.bad_signature" });
    const { head: stale } = await signBundle(BUNDLE, key, { sequence: 10, signedAt: new Date(0) });
    expect(await verifyHead(stale, keys, inForce)).toMatchObject({ code: "bundle.stale" });
  });
});

describe("checkBundle", () => {
  it("the signed bytes pass; one changed byte is a bad signature; a manifest not the head's is malformed", async () => {
    const { head } = await signBundle(BUNDLE, key, { sequence: 11, signedAt: new Date(0) });
    const verified = await verifyHead(head, keys, inForce);
    if (!verified.ok) throw new Error(verified.detail);
    expect(await checkBundle(BUNDLE, verified.payload)).toMatchObject({ ok: true });
    expect(await checkBundle(`${BUNDLE} `, verified.payload)).toMatchObject({ code: "bundle.bad_signature" });
    const other = { ...verified.payload, revision: "b".repeat(64) };
    expect(await checkBundle(BUNDLE, other)).toMatchObject({ code: "bundle.malformed" });
  });
});
