/**
 * Signed bundles (docs/bundles.md): what `firebreak build --sign` writes and what the worker accepts
 * from KV. A bundle travels as two values: its exact bytes, and a small signed head, an Ed25519 compact
 * JWS whose payload names the bundle by sha256 and gives it its place in order (`sequence`). The worker
 * reads the head every few seconds and fetches the bundle only for a head it has not loaded yet.
 *
 * Everything here is a pure function of its arguments (the keys, the bytes, what is in force): no KV,
 * no clock. Every refusal is one code of the closed set `BUNDLE_REFUSALS`, with a detail for the log.
 */
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type JWK } from "jose";
import { BUNDLE_FORMAT } from "./types";

export const SIGNED_BUNDLE_FORMAT = "firebreak-signed-bundle/1";
/** The JWS `typ`: a head is never mistaken for a token signed by some other key, nor a token for a head. */
export const HEAD_TYPE = "firebreak-bundle-head+jws";
/** KV keys: the head, and the bundle bytes under their sha256 (immutable: a new bundle is a new key). */
export const HEAD_KEY = "head";
export const bundleKey = (sha256: string): string => `bundle/${sha256}`;
/** A head is a few hundred bytes; anything much larger is not one. */
export const MAX_HEAD_BYTES = 4096;
/** KV's own value limit: a larger value cannot be a bundle that was pushed. */
export const MAX_BUNDLE_BYTES = 25 * 1024 * 1024;

/** Why a value in KV was not put in force. Stable codes: docs/bundles.md has one row per code. */
export const BUNDLE_REFUSALS = [
  "bundle.unsigned",
  "bundle.bad_signature",
  "bundle.missing_key_id",
  "bundle.unknown_key",
  "bundle.stale",
  "bundle.format",
  "bundle.compiler",
  "bundle.dev",
  "bundle.malformed",
  "bundle.missing",
  "bundle.unloadable",
  "bundle.kv_unreachable",
  "bundle.order_unreachable",
  "bundle.keys_invalid",
] as const;
export type BundleRefusal = (typeof BUNDLE_REFUSALS)[number];
export type Refused = { ok: false; code: BundleRefusal; detail: string };
const refuse = (code: BundleRefusal, detail: string): Refused => ({ ok: false, code, detail });

/** The signed payload of a head. */
export interface HeadPayload {
  format: typeof SIGNED_BUNDLE_FORMAT;
  /** Its place in order: a head is put in force only when its sequence is above the one in force. */
  sequence: number;
  /** Signed by an operator who means to go back to an older bundle (under a new, higher sequence). */
  rollback: boolean;
  /** sha256 (hex) of the bundle's bytes exactly as stored. */
  bundle_sha256: string;
  /** The bundle's manifest revision, format, compiler version and dev flag, checked before it is fetched. */
  revision: string;
  bundle_format: number;
  compiler_version: string;
  dev: boolean;
  signed_at: string;
}

export interface VerifiedHead {
  ok: true;
  payload: HeadPayload;
  key_id: string;
}

/** `build/bundle.signed.json`: the head and the bytes it signs, what `firebreak push` uploads. */
export interface SignedBundleFile {
  format: typeof SIGNED_BUNDLE_FORMAT;
  head: string;
  bundle_sha256: string;
  sequence: number;
  key_id: string;
  bundle: string;
}

export async function sha256Hex(bytes: string | Uint8Array): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Signs `bundleText` (the bytes the worker will hash) with a private Ed25519 JWK that has a `kid`. */
export async function signBundle(
  bundleText: string,
  privateJwk: JWK,
  opts: { sequence: number; rollback?: boolean; signedAt: Date },
): Promise<SignedBundleFile> {
  if (privateJwk.kty !== "OKP" || privateJwk.crv !== "Ed25519" || typeof privateJwk.d !== "string") {
    throw new Error("the signing key is not a private Ed25519 JWK");
  }
  if (typeof privateJwk.kid !== "string" || privateJwk.kid === "") throw new Error("the signing key has no kid");
  if (!Number.isSafeInteger(opts.sequence) || opts.sequence <= 0)
    throw new Error("the sequence is not a positive integer");
  const manifest = (JSON.parse(bundleText) as { manifest?: Record<string, unknown> }).manifest ?? {};
  const payload: HeadPayload = {
    format: SIGNED_BUNDLE_FORMAT,
    sequence: opts.sequence,
    rollback: opts.rollback ?? false,
    bundle_sha256: await sha256Hex(bundleText),
    revision: String(manifest.revision),
    bundle_format: Number(manifest.format),
    compiler_version: String(manifest.compiler_version),
    dev: manifest.dev === true,
    signed_at: opts.signedAt.toISOString(),
  };
  const key = await importJWK(privateJwk, "EdDSA");
  const head = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "EdDSA", kid: privateJwk.kid, typ: HEAD_TYPE })
    .sign(key);
  return {
    format: SIGNED_BUNDLE_FORMAT,
    head,
    bundle_sha256: payload.bundle_sha256,
    sequence: payload.sequence,
    key_id: privateJwk.kid,
    bundle: bundleText,
  };
}

/** The public keys a worker trusts, by kid (FIREBREAK_BUNDLE_KEYS). */
export type TrustedKeys = Map<string, CryptoKey>;

/**
 * FIREBREAK_BUNDLE_KEYS: a JWKS (`{"keys": [...]}`) or an array of public Ed25519 JWKs, each with a
 * kid. Empty: KV bundles are off (null). A private key, a key of another type or a duplicate kid makes
 * the whole set invalid: a configuration mistake must be seen, not half-applied.
 */
export async function trustedKeys(value: unknown): Promise<TrustedKeys | null | Refused> {
  if (value === undefined || value === null || value === "") return null;
  let parsed: unknown = value;
  try {
    if (typeof value === "string") parsed = JSON.parse(value);
  } catch {
    return refuse("bundle.keys_invalid", "FIREBREAK_BUNDLE_KEYS is not JSON");
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(list))
    return refuse("bundle.keys_invalid", "FIREBREAK_BUNDLE_KEYS is not a JWKS or a list of JWKs");
  if (list.length === 0) return null;
  const keys: TrustedKeys = new Map();
  for (const [i, jwk] of list.entries()) {
    const k = jwk as JWK;
    if (k?.kty !== "OKP" || k.crv !== "Ed25519" || typeof k.x !== "string") {
      return refuse("bundle.keys_invalid", `FIREBREAK_BUNDLE_KEYS[${i}] is not an Ed25519 public JWK`);
    }
    if ("d" in k)
      return refuse(
        "bundle.keys_invalid",
        `FIREBREAK_BUNDLE_KEYS[${i}] is a private key: publish the public half only`,
      );
    if (typeof k.kid !== "string" || k.kid === "" || keys.has(k.kid)) {
      return refuse("bundle.keys_invalid", `FIREBREAK_BUNDLE_KEYS[${i}] has no kid or a duplicate one`);
    }
    try {
      keys.set(k.kid, (await importJWK({ kty: k.kty, crv: k.crv, x: k.x }, "EdDSA")) as CryptoKey);
    } catch {
      return refuse("bundle.keys_invalid", `FIREBREAK_BUNDLE_KEYS[${i}] does not import`);
    }
  }
  return keys;
}

/** What is in force, as far as a new head is concerned. */
export interface InForce {
  /** Its sequence: 0 for the built-in bundle. */
  sequence: number;
  /** The built-in bundle's compiler version and dev flag: what this worker can run. */
  compiler_version: string;
  dev: boolean;
}

/**
 * A head's signature, key and payload, and whether it may replace what is in force. The bundle itself
 * is checked against the head afterwards (`checkBundle`), so a stale head never costs a bundle fetch.
 */
export async function verifyHead(text: string, keys: TrustedKeys, inForce: InForce): Promise<VerifiedHead | Refused> {
  // A bundle put straight into KV (JSON, however large) is unsigned; other large values are not heads.
  if (/^\s*\{/.test(text.slice(0, 64))) return refuse("bundle.unsigned", "the head is plain JSON, not a signed head");
  if (text.length > MAX_HEAD_BYTES) return refuse("bundle.malformed", `the head is ${text.length} bytes`);
  const trimmed = text.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    if (trimmed.split(".").length !== 3) throw new Error("not a compact JWS");
    header = decodeProtectedHeader(trimmed);
  } catch {
    return refuse("bundle.malformed", "the head is not a compact JWS");
  }
  if (header.alg === "none" || trimmed.endsWith(".")) return refuse("bundle.unsigned", "the head carries no signature");
  if (header.alg !== "EdDSA" || header.typ !== HEAD_TYPE) {
    return refuse(
      "bundle.bad_signature",
      `the head is ${String(header.alg)}/${String(header.typ)}, not EdDSA/${HEAD_TYPE}`,
    );
  }
  if (typeof header.kid !== "string" || header.kid === "")
    return refuse("bundle.missing_key_id", "the head names no kid");
  const key = keys.get(header.kid);
  if (!key) return refuse("bundle.unknown_key", `kid ${header.kid} is not in FIREBREAK_BUNDLE_KEYS`);
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = (await compactVerify(trimmed, key, { algorithms: ["EdDSA"] })).payload;
  } catch {
    return refuse("bundle.bad_signature", `the head's signature does not verify with kid ${header.kid}`);
  }
  const payload = payloadOf(payloadBytes);
  if (payload === "format") return refuse("bundle.format", `the head is not ${SIGNED_BUNDLE_FORMAT}`);
  if (!payload) return refuse("bundle.malformed", "the signed payload is not a head");
  const detail = `sequence ${payload.sequence}`;
  if (payload.bundle_format !== BUNDLE_FORMAT) {
    return refuse(
      "bundle.format",
      `${detail}: bundle format ${payload.bundle_format}, this worker runs ${BUNDLE_FORMAT}`,
    );
  }
  if (!compilerRuns(payload.compiler_version, inForce.compiler_version)) {
    return refuse(
      "bundle.compiler",
      `${detail}: compiler ${payload.compiler_version}, this worker runs ${compilerLine(inForce.compiler_version)}`,
    );
  }
  if (payload.dev !== inForce.dev) {
    return refuse(
      "bundle.dev",
      `${detail}: a ${payload.dev ? "dev" : "deployable"} bundle on a ${inForce.dev ? "dev" : "deployed"} worker`,
    );
  }
  if (payload.sequence <= inForce.sequence) {
    return refuse("bundle.stale", `${detail} is not above ${inForce.sequence}, the one in force`);
  }
  return { ok: true, payload, key_id: header.kid };
}

/** The bundle bytes fetched for a verified head: the signed sha256, then the manifest against the head. */
export async function checkBundle(text: string, head: HeadPayload): Promise<{ ok: true; json: unknown } | Refused> {
  if (text.length > MAX_BUNDLE_BYTES) return refuse("bundle.malformed", `the bundle is ${text.length} bytes`);
  if ((await sha256Hex(text)) !== head.bundle_sha256) {
    return refuse("bundle.bad_signature", `the bundle's sha256 is not the signed ${head.bundle_sha256}`);
  }
  let json: { manifest?: { revision?: unknown; format?: unknown; compiler_version?: unknown; dev?: unknown } };
  try {
    json = JSON.parse(text);
  } catch {
    // Signed garbage: the signer's mistake, still never put in force.
    return refuse("bundle.malformed", "the signed bundle is not JSON");
  }
  const m = json?.manifest;
  if (
    m?.revision !== head.revision ||
    m.format !== head.bundle_format ||
    m.compiler_version !== head.compiler_version ||
    (m.dev === true) !== head.dev
  ) {
    return refuse("bundle.malformed", "the bundle's manifest is not the one the head names");
  }
  return { ok: true, json };
}

/**
 * The compiler versions this worker runs: those of the compiler that built its own bundle, on the same
 * release line (same major; same minor while the major is 0, as semver reads 0.x). A bundle from another
 * line may rely on fields this worker does not know.
 */
export function compilerRuns(version: string, own: string): boolean {
  const a = /^(\d+)\.(\d+)\.\d+/.exec(version);
  const b = /^(\d+)\.(\d+)\.\d+/.exec(own);
  if (!a || !b || a[1] !== b[1]) return false;
  return b[1] !== "0" || a[2] === b[2];
}

const compilerLine = (own: string) => {
  const [major, minor] = own.split(".");
  return major === "0" ? `${major}.${minor}.x` : `${major}.x`;
};

/** The signed payload, "format" for a head of another envelope format, null for anything else. */
function payloadOf(bytes: Uint8Array): HeadPayload | "format" | null {
  let p: Partial<HeadPayload>;
  try {
    p = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (typeof p?.format === "string" && p.format !== SIGNED_BUNDLE_FORMAT) return "format";
  const ok =
    p?.format === SIGNED_BUNDLE_FORMAT &&
    Number.isSafeInteger(p.sequence) &&
    (p.sequence as number) > 0 &&
    typeof p.rollback === "boolean" &&
    typeof p.bundle_sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(p.bundle_sha256) &&
    typeof p.revision === "string" &&
    typeof p.bundle_format === "number" &&
    typeof p.compiler_version === "string" &&
    typeof p.dev === "boolean" &&
    typeof p.signed_at === "string";
  return ok ? (p as HeadPayload) : null;
}
