/**
 * MCP sessions bound to the task, statelessly. The upstream sees one credential (Firebreak's) for
 * every task, so its `Mcp-Session-Id` is all that separates one task's session from another's: a task
 * that presented another task's session id would share its state and its server-to-client stream.
 *
 * The gateway never hands the upstream's id to the agent as it is. On the answer that opens a session
 * it sends `Mcp-Session-Id: <upstream id>.<tag>`, where the tag is HMAC-SHA-256 (truncated to 128
 * bits, base64url) over ("firebreak mcp session v1", service, task id, upstream id) under a key derived
 * with HKDF-SHA-256 from the task-signing secret (FIREBREAK_TASK_KEY; FIREBREAK_TASK_KEY_PREVIOUS
 * still verifies during a rotation). On every request it checks the tag for the caller's own task and
 * service and forwards the upstream's id. A session id opened by another task, for another service,
 * altered, or never issued by the gateway fails (`mcp.session_mismatch`, 404: the spec's "session not
 * found", after which a client starts a session of its own). No state is kept; nothing is
 * secret in the id but the tag. Pure apart from WebCrypto.
 *
 * `binding` is the task id; a call without a task (bare workload tokens allowed) binds to the agent's
 * identity instead (the caller's choice of string, e.g. `agent:<issuer> <sub>`).
 */
import { type Result, refuse } from "../../core/result";

export interface SessionKeys {
  /** Signs new session ids and verifies. */
  current: CryptoKey;
  /** Verifies only (a key rotation in progress). */
  previous: CryptoKey | null;
}

const INFO = "firebreak mcp session v1";
const SALT = "firebreak/mcp-session";
const TAG_BYTES = 16;
/** Upstream session ids are visible ASCII (the spec), bounded so the header stays small. */
const UPSTREAM_ID = /^[\x21-\x7e]{1,512}$/;

const utf8 = (s: string) => new TextEncoder().encode(s);

async function derive(secret: string): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: utf8(SALT), info: utf8(INFO) },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

/** The keys from the task-signing secrets (the raw values of the two variables). */
export async function sessionKeys(current: string, previous: string | null = null): Promise<SessionKeys> {
  return {
    current: await derive(current),
    previous: previous && previous !== current ? await derive(previous) : null,
  };
}

async function tag(key: CryptoKey, service: string, binding: string, upstreamId: string): Promise<string> {
  // Length-prefixed fields: no two (service, binding, id) triples sign the same bytes.
  const fields = [INFO, service, binding, upstreamId].map((f) => `${f.length}:${f}`).join("");
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(fields)));
  return base64url(mac.subarray(0, TAG_BYTES));
}

/** The session id the agent gets for the upstream's `upstreamId`, opened by `binding` on `service`. */
export async function bindSessionId(
  keys: SessionKeys,
  service: string,
  binding: string,
  upstreamId: string,
): Promise<Result<{ sessionId: string }>> {
  if (!UPSTREAM_ID.test(upstreamId)) return refuse("mcp.response_invalid", "upstream Mcp-Session-Id");
  return { ok: true, sessionId: `${upstreamId}.${await tag(keys.current, service, binding, upstreamId)}` };
}

/** The upstream's session id inside the agent's `sessionId`, when the gateway issued it to `binding`. */
export async function checkSessionId(
  keys: SessionKeys,
  service: string,
  binding: string,
  sessionId: string,
): Promise<Result<{ upstreamId: string }>> {
  const dot = sessionId.lastIndexOf(".");
  const upstreamId = sessionId.slice(0, dot);
  const given = sessionId.slice(dot + 1);
  if (dot === -1 || !UPSTREAM_ID.test(upstreamId) || given.length !== 22) {
    return refuse("mcp.session_mismatch", "not a session id the gateway issued");
  }
  for (const key of [keys.current, keys.previous]) {
    if (key !== null && equal(given, await tag(key, service, binding, upstreamId))) return { ok: true, upstreamId };
  }
  return refuse("mcp.session_mismatch", "session id of another task or service");
}

/** Constant time in the length of the tags (both 22 characters). */
function equal(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
