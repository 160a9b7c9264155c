/**
 * Firebreak's own task tokens: EdDSA (Ed25519) JWTs that bind an agent (issuer name + sub) to
 * one task id and profile. Firebreak is both issuer and audience. The signing key is a private JWK in the
 * Worker secret FIREBREAK_TASK_KEY; FIREBREAK_TASK_KEY_PREVIOUS (optional) still verifies during a
 * rotation and never signs. Both public keys are served at /_firebreak/v1/jwks.
 *
 * Verification: pinned alg, `typ` pinned, key chosen by `kid` among our own keys only (a token that
 * names its keys with jku/x5u/jwk/x5c is refused), exact iss and aud, exp/iat/nbf/jti required, 30 s
 * clock tolerance, and a task id in its one canonical form (`t_` + 26 upper-case Crockford base32
 * characters): a case, whitespace, look-alike or length variant never names a task. The clock is an
 * argument. No function here throws a message that holds key material: a missing or broken key is a
 * typed `task.keys_unavailable` result (the gateway answers 503).
 */
import {
  CompactSign,
  compactVerify,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { type Refusal, type Result, refuse } from "../core/result";
import { JWT_SHAPE, KEY_NAMING_HEADERS } from "./bearer";
import { reasonForJoseError } from "./jose-errors";

export const TASK_ALG = "EdDSA";
export const TASK_TOKEN_TYP = "firebreak-task+jwt";
export const TASK_CLOCK_TOLERANCE_S = 30;
export const TASK_KEY_VAR = "FIREBREAK_TASK_KEY";
export const TASK_KEY_PREVIOUS_VAR = "FIREBREAK_TASK_KEY_PREVIOUS";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TASK_ID = /^t_[0-9A-HJKMNP-TV-Z]{26}$/;
const KID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Task tokens are ours and small: a longer one is not one of them. */
const MAX_TASK_TOKEN_LENGTH = 4096;

/** A fresh task id: `t_` + 26 Crockford base32 characters (130 random bits), upper case. */
export function newTaskId(): string {
  let id = "t_";
  // 256 is a multiple of 32: the low five bits of a random byte are uniform.
  for (const b of crypto.getRandomValues(new Uint8Array(26))) id += CROCKFORD[b & 31];
  return id;
}

/** The canonical form only: no case folding, trimming, normalising or Crockford aliases (I, L, O, U). */
export const isTaskId = (v: unknown): v is string => typeof v === "string" && TASK_ID.test(v);

/** The public half of a task key, exactly as served in the JWKS (built member by member, never by deleting). */
export interface PublicTaskJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: typeof TASK_ALG;
  use: "sig";
}

export interface TaskVerifyKey {
  kid: string;
  publicKey: CryptoKey;
  publicJwk: PublicTaskJwk;
}

export interface TaskSigningKey extends TaskVerifyKey {
  privateKey: CryptoKey;
}

export interface TaskKeys {
  /** Signs new tokens and verifies. */
  current: TaskSigningKey;
  /** Verifies only (rotation); null when not set or the same key as `current`. */
  previous: TaskVerifyKey | null;
  jwks: { keys: PublicTaskJwk[] };
}

/** No usable key: the gateway answers 503 and forwards nothing. `detail` names the problem, never the key. */
export interface TaskKeysUnavailable {
  ok: false;
  reason: "task.keys_unavailable";
  detail: string;
}

export type TaskKeysResult = { ok: true; keys: TaskKeys } | TaskKeysUnavailable;

export interface TaskClaims {
  sub: string;
  /** The name of the bundle issuer that authenticated the agent when the task started. */
  agent_issuer: string;
  task_id: string;
  profile: string;
  /** The claims of the agent's workload token that its issuer names (`claims:` in the bundle), for rules. */
  agent_claims: Record<string, unknown>;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
}

export type TaskTokenResult = { ok: true; claims: TaskClaims } | Refusal | TaskKeysUnavailable;

export interface TaskKeyEnv {
  FIREBREAK_TASK_KEY?: unknown;
  FIREBREAK_TASK_KEY_PREVIOUS?: unknown;
}

const unavailable = (detail: string): TaskKeysUnavailable => ({ ok: false, reason: "task.keys_unavailable", detail });

/** Imported keys per secret value, for the life of the isolate (a new secret value imports afresh). */
const imported = new Map<string, Promise<TaskKeysResult>>();
const MAX_IMPORTED = 8;

/** The task keys from the Worker secrets, imported once per isolate per secret value. */
export function taskKeys(env: TaskKeyEnv): Promise<TaskKeysResult> {
  const current = env.FIREBREAK_TASK_KEY;
  const previous = env.FIREBREAK_TASK_KEY_PREVIOUS;
  if (typeof current !== "string" || current === "") {
    return Promise.resolve(unavailable(`${TASK_KEY_VAR} is not set`));
  }
  const prev = typeof previous === "string" ? previous : "";
  const cacheKey = `${current}\n${prev}`;
  let result = imported.get(cacheKey);
  if (!result) {
    if (imported.size >= MAX_IMPORTED) imported.delete(imported.keys().next().value as string);
    result = importKeys(current, prev);
    imported.set(cacheKey, result);
  }
  return result;
}

async function importKeys(current: string, previous: string): Promise<TaskKeysResult> {
  const cur = await importKey(current, TASK_KEY_VAR, true);
  if (typeof cur === "string") return unavailable(cur);
  if (previous === "") return { ok: true, keys: keySet(cur, null) };
  const prev = await importKey(previous, TASK_KEY_PREVIOUS_VAR, false);
  if (typeof prev === "string") return unavailable(prev);
  if (prev.kid === cur.kid) {
    // Step one of a rotation copies the current key into PREVIOUS: the same key twice is one key. The
    // same kid for a different key would make every token ambiguous: fail closed.
    if (prev.publicJwk.x === cur.publicJwk.x) return { ok: true, keys: keySet(cur, null) };
    return unavailable(`${TASK_KEY_PREVIOUS_VAR} has the kid of ${TASK_KEY_VAR} but another key`);
  }
  return { ok: true, keys: keySet(cur, prev) };
}

function keySet(current: TaskSigningKey, previous: TaskVerifyKey | null): TaskKeys {
  const keys = previous ? [current.publicJwk, previous.publicJwk] : [current.publicJwk];
  return { current, previous, jwks: { keys } };
}

/**
 * One JWK from a secret, checked member by member. Returns a problem (a string naming the variable and
 * what is wrong, never any part of the value: JSON.parse's own message quotes the input) or the key.
 */
async function importKey(source: string, name: string, signing: true): Promise<TaskSigningKey | string>;
async function importKey(source: string, name: string, signing: false): Promise<TaskVerifyKey | string>;
async function importKey(
  source: string,
  name: string,
  signing: boolean,
): Promise<TaskVerifyKey | TaskSigningKey | string> {
  let jwk: unknown;
  try {
    jwk = JSON.parse(source);
  } catch {
    return `${name} is not JSON`;
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return `${name} is not a JWK object`;
  const { kty, crv, x, d, kid, alg } = jwk as Record<string, unknown>;
  if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string") return `${name} is not an Ed25519 JWK`;
  if (alg !== undefined && alg !== TASK_ALG) return `${name} has alg other than ${TASK_ALG}`;
  if (typeof kid !== "string" || !KID.test(kid)) return `${name} has no usable kid`;
  if (signing && typeof d !== "string") return `${name} has no private part`;
  const publicJwk: PublicTaskJwk = { kty: "OKP", crv: "Ed25519", x, kid, alg: TASK_ALG, use: "sig" };
  try {
    const publicKey = (await importJWK({ kty, crv, x }, TASK_ALG)) as CryptoKey;
    if (typeof d !== "string") return { kid, publicKey, publicJwk };
    const privateKey = (await importJWK({ kty, crv, x, d }, TASK_ALG)) as CryptoKey;
    // Not every runtime checks that x belongs to d on import; a mismatch would publish a JWKS that
    // verifies none of our tokens. One signature at import time settles it.
    const probe = await new CompactSign(new TextEncoder().encode("firebreak task key probe"))
      .setProtectedHeader({ alg: TASK_ALG })
      .sign(privateKey);
    await compactVerify(probe, publicKey, { algorithms: [TASK_ALG] });
    const verifyKey: TaskVerifyKey = { kid, publicKey, publicJwk };
    return signing ? { ...verifyKey, privateKey } : verifyKey;
  } catch {
    return `${name} could not be imported as an Ed25519 key pair`;
  }
}

export interface SignTaskOptions {
  /** The gateway's own audience and issuer (the same value in practice). */
  audience: string;
  issuer: string;
  ttl_s: number;
  /** The task's fixed deadline (ms since the epoch): no token outlives it. */
  deadline_ms: number;
  now: Date;
}

/**
 * Signs a task token. `exp` = min(now + ttl, deadline), rounded down to the second, so a token never
 * outlives its task; `expires_at` is that `exp` in ms. Throws (no key material in the message) on a
 * caller's mistake: a non-canonical task id, an empty claim, a bad ttl or a deadline already passed.
 */
export async function signTaskToken(
  key: TaskSigningKey,
  claims: {
    sub: string;
    agent_issuer: string;
    task_id: string;
    profile: string;
    agent_claims?: Record<string, unknown>;
  },
  opts: SignTaskOptions,
): Promise<{ token: string; expires_at: number }> {
  if (!isTaskId(claims.task_id)) throw new TypeError("task_id is not a canonical task id");
  for (const name of ["sub", "agent_issuer", "profile"] as const) {
    if (typeof claims[name] !== "string" || claims[name] === "")
      throw new TypeError(`${name} must be a non-empty string`);
  }
  if (!Number.isFinite(opts.ttl_s) || opts.ttl_s <= 0) throw new RangeError("ttl_s must be a positive number");
  const nowMs = opts.now.getTime();
  const iat = Math.floor(nowMs / 1000);
  const exp = Math.floor(Math.min(nowMs + opts.ttl_s * 1000, opts.deadline_ms) / 1000);
  if (!(exp > iat)) throw new RangeError("the task deadline has passed");
  const token = await new SignJWT({
    sub: claims.sub,
    agent_issuer: claims.agent_issuer,
    task_id: claims.task_id,
    profile: claims.profile,
    ...(claims.agent_claims && Object.keys(claims.agent_claims).length > 0
      ? { agent_claims: claims.agent_claims }
      : {}),
  })
    .setProtectedHeader({ alg: TASK_ALG, kid: key.kid, typ: TASK_TOKEN_TYP })
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setJti(crypto.randomUUID())
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token, expires_at: exp * 1000 };
}

/**
 * Verifies a task token against our own keys (or passes a key problem through as `task.keys_unavailable`).
 * Refusals use the identity reason codes; a task id that is not canonical is `identity.malformed`.
 */
export async function verifyTaskToken(
  token: string,
  keys: TaskKeys | TaskKeysResult,
  opts: { audience: string; issuer: string; now: Date },
): Promise<TaskTokenResult> {
  if ("ok" in keys && !keys.ok) return keys;
  const key = keyFor(token, "ok" in keys ? keys.keys : keys);
  if (!key.ok) return key;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key.key.publicKey, {
      issuer: opts.issuer,
      audience: opts.audience,
      algorithms: [TASK_ALG],
      typ: TASK_TOKEN_TYP,
      clockTolerance: TASK_CLOCK_TOLERANCE_S,
      requiredClaims: ["exp", "iat", "nbf", "jti", "sub"],
      currentDate: opts.now,
    }));
  } catch (e) {
    const { code, claim } = e as { code?: string; claim?: string };
    // workload.ts picks the issuer by `iss`, so it never sees this mismatch; here it is not ours.
    const reason = claim === "iss" ? "identity.unknown_issuer" : reasonForJoseError(e);
    return refuse(reason, `task token: ${code ?? "error"}`);
  }
  // We only ever sign a single string audience; jose also accepts an array that contains it.
  if (payload.aud !== opts.audience) return refuse("identity.bad_audience", "task token: aud is not exactly ours");
  return claimsOf(payload);
}

/** The key of ours the token's header names, checked before any signature work. */
function keyFor(token: string, set: TaskKeys): Result<{ key: TaskVerifyKey }> {
  if (typeof token !== "string" || token.length > MAX_TASK_TOKEN_LENGTH || !JWT_SHAPE.test(token)) {
    return refuse("identity.malformed", "task token: not a compact JWS");
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return refuse("identity.malformed", "task token: header");
  }
  if (KEY_NAMING_HEADERS.some((h) => h in header)) return refuse("identity.forbidden_header", "task token");
  if (header.alg !== TASK_ALG) return refuse("identity.bad_algorithm", String(header.alg).slice(0, 16));
  if (header.typ !== TASK_TOKEN_TYP) return refuse("identity.malformed", "task token: typ");
  const key = [set.current, set.previous].find((k) => k !== null && k.kid === header.kid);
  return key ? { ok: true, key } : refuse("identity.bad_signature", "task token: unknown kid");
}

/** The verified payload's claims, each of the type we sign it with. */
function claimsOf(payload: JWTPayload): TaskTokenResult {
  const { sub, agent_issuer, task_id, profile, agent_claims, jti, iat, nbf, exp } = payload as Record<string, unknown>;
  for (const [name, v] of [
    ["sub", sub],
    ["agent_issuer", agent_issuer],
    ["profile", profile],
    ["jti", jti],
  ] as const) {
    if (typeof v !== "string" || v === "") return refuse("identity.missing_claim", `task token: ${name}`);
  }
  if (task_id === undefined) return refuse("identity.missing_claim", "task token: task_id");
  if (!isTaskId(task_id)) return refuse("identity.malformed", "task token: task_id is not canonical");
  return {
    ok: true,
    claims: {
      sub: sub as string,
      agent_issuer: agent_issuer as string,
      task_id,
      profile: profile as string,
      agent_claims:
        typeof agent_claims === "object" && agent_claims !== null && !Array.isArray(agent_claims)
          ? (agent_claims as Record<string, unknown>)
          : {},
      jti: jti as string,
      iat: iat as number,
      nbf: nbf as number,
      exp: exp as number,
    },
  };
}

/** A fresh private task key for FIREBREAK_TASK_KEY (`firebreak task-key`, `firebreak dev-keys`). */
export async function newTaskKey(prefix = "task"): Promise<JWK & { kid: string }> {
  const { privateKey } = await generateKeyPair(TASK_ALG, { extractable: true });
  const { kty, crv, x, d } = await exportJWK(privateKey);
  const rand = [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const kid = `${prefix}-${new Date().toISOString().slice(0, 10)}-${rand}`;
  return { kty, crv, x, d, kid, alg: TASK_ALG, use: "sig" };
}
