/**
 * One call to a token endpoint, bounded: a deadline from the injected clock that covers the answer's
 * body too, a cap on how much of the answer is read, no redirects followed. What it reports is
 * redacted of every secret the caller handed it, whatever the endpoint echoed back.
 */
import { type CredentialFailure, type CredentialResult, fail, type ProviderDeps } from "./types";

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ANSWER_BYTES = 65_536;
const DETAIL_CHARS = 200;

export interface Answer {
  status: number;
  /** The JSON body when it parsed to an object; null otherwise. */
  json: Record<string, unknown> | null;
}

/**
 * Sends the request and reads the answer. Network errors and the deadline are `credential.unreachable`,
 * an answer over the cap is `credential.malformed`; an error status is returned as an Answer, for the
 * provider to say what it means (`refusal()`).
 */
export async function callEndpoint(
  deps: ProviderDeps,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  secrets: string[],
): Promise<CredentialResult<{ answer: Answer }>> {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = deps.clock.after(timeoutMs);
  const host = hostOf(url);
  let response: Response;
  try {
    response = await deps.fetch(new Request(url, { ...init, redirect: "manual", signal }));
  } catch (err) {
    if (signal.aborted) return fail("credential.unreachable", `${host} did not answer within ${timeoutMs} ms`);
    return fail("credential.unreachable", redact(`${host} could not be reached: ${errorText(err)}`, secrets));
  }
  const text = await readCapped(response, deps.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES, signal);
  if (text === TIMED_OUT)
    return fail("credential.unreachable", `${host} did not finish its answer within ${timeoutMs} ms`);
  if (text === TOO_LARGE)
    return fail(
      "credential.malformed",
      `${host} answered more than ${deps.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES} bytes`,
    );
  return { ok: true, answer: { status: response.status, json: parseObject(text) } };
}

/** An error status as `credential.refused`, with the endpoint's own words (GitHub's `message`, OAuth's `error`). */
export function refusal(url: string, answer: Answer, secrets: string[]): CredentialFailure {
  const said = [answer.json?.error, answer.json?.error_description, answer.json?.message]
    .filter((v): v is string => typeof v === "string")
    .join(": ");
  const detail = `${hostOf(url)} answered ${answer.status}${said ? `: ${said}` : ""}`;
  return fail("credential.refused", redact(detail, secrets).slice(0, DETAIL_CHARS), answer.status);
}

/** Every occurrence of each secret (8 characters or more) replaced; shorter values cannot be told from text. */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join("[redacted]");
  return out;
}

/** The log id of a credential: the first 16 hex digits of sha256(secret). */
export async function credentialId(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const TIMED_OUT = Symbol("timed out");
const TOO_LARGE = Symbol("too large");

/** The body as text, at most `max` bytes of it; the read stops at the deadline. */
async function readCapped(
  response: Response,
  max: number,
  signal: AbortSignal,
): Promise<string | typeof TIMED_OUT | typeof TOO_LARGE> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const aborted = new Promise<typeof TIMED_OUT>((resolve) => {
    if (signal.aborted) resolve(TIMED_OUT);
    signal.addEventListener("abort", () => resolve(TIMED_OUT), { once: true });
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), aborted]);
      if (next === TIMED_OUT) return TIMED_OUT;
      if (next.done) break;
      size += next.value.byteLength;
      if (size > max) return TOO_LARGE;
      chunks.push(next.value);
    }
  } catch {
    return signal.aborted ? TIMED_OUT : "";
  } finally {
    reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the token endpoint";
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}`.slice(0, DETAIL_CHARS) : "unknown error";
}
