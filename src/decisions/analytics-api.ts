/**
 * The Analytics Engine SQL API client, shared by the CLI (Node's fetch) and the worker (workerd's):
 * `POST {base}/accounts/{account_id}/analytics_engine/sql` with the statement as the body and the API
 * token as a bearer token; the answer (`FORMAT JSON`) is `{ meta, data, rows, ... }`. The token goes
 * into the Authorization header and nowhere else: no error, message or log line carries it.
 */

export const ANALYTICS_API = "https://api.cloudflare.com/client/v4";

export interface AnalyticsApi {
  /** `https://api.cloudflare.com/client/v4`, or a test server (FIREBREAK_ANALYTICS_API in the CLI). */
  base: string;
  accountId: string;
  token: string;
  fetch: (request: Request) => Promise<Response>;
  timeoutMs?: number;
}

export type SqlAnswer =
  | { ok: true; rows: Record<string, unknown>[] }
  /** `status` null: no answer (network, timeout, not JSON). `message` is the API's, token removed. */
  | { ok: false; status: number | null; message: string };

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_MESSAGE = 300;

export function validAccountId(id: string): boolean {
  return ACCOUNT_ID.test(id);
}

export async function runSql(api: AnalyticsApi, sql: string): Promise<SqlAnswer> {
  if (!validAccountId(api.accountId)) return { ok: false, status: null, message: "the account id is not valid" };
  const url = `${api.base.replace(/\/+$/, "")}/accounts/${api.accountId}/analytics_engine/sql`;
  let res: Response;
  let text: string;
  try {
    res = await api.fetch(
      new Request(url, {
        method: "POST",
        headers: { authorization: `Bearer ${api.token}`, "content-type": "text/plain; charset=utf-8" },
        body: sql,
        signal: AbortSignal.timeout(api.timeoutMs ?? 15_000),
      }),
    );
    text = await res.text();
  } catch (e) {
    const err = e as Error;
    return {
      ok: false,
      status: null,
      message: scrub(clean(`${err?.name ?? "Error"}: ${err?.message ?? ""}`), api.token),
    };
  }
  if (!res.ok) return { ok: false, status: res.status, message: scrub(apiMessage(text), api.token) };
  const data = parseData(text);
  if (data === null) return { ok: false, status: res.status, message: "the answer is not the JSON format" };
  return { ok: true, rows: data };
}

/** `data` of a FORMAT JSON answer, or null. */
function parseData(text: string): Record<string, unknown>[] | null {
  try {
    const body = JSON.parse(text) as { data?: unknown };
    if (!Array.isArray(body.data)) return null;
    return body.data.every((r) => typeof r === "object" && r !== null && !Array.isArray(r))
      ? (body.data as Record<string, unknown>[])
      : null;
  } catch {
    return null;
  }
}

/** The API's own words: `errors[].message` of a v4 error body, else the start of the text. */
function apiMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { message?: unknown }[]; error?: unknown };
    const messages = (body.errors ?? []).map((e) => e?.message).filter((m) => typeof m === "string");
    if (messages.length > 0) return clean(messages.join("; "));
    if (typeof body.error === "string") return clean(body.error);
  } catch {
    // not JSON: the text itself
  }
  return clean(text) || "(no message)";
}

/** One line, printable, bounded: the message ends up in a terminal or a log line. */
function clean(s: string): string {
  const flat = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE)}...` : flat;
}

/** An API that echoes the request would echo the token: it never leaves this module in a message. */
function scrub(message: string, token: string): string {
  return token ? message.split(token).join("[token]") : message;
}
