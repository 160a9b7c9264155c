/**
 * GET requests from the CLI to a running gateway's own API (`/_firebreak/v1/...`) with an operator's
 * token. The token comes from the environment and goes only into the Authorization header: no output
 * or error message carries it.
 */

export const LOCAL_GATEWAY = "http://127.0.0.1:8787";

export type GatewayAnswer = { ok: true; body: Record<string, unknown> } | { ok: false; problem: string };

/** The JSON object the gateway answered with 2xx; otherwise what went wrong, in words for stderr. */
export async function getFromGateway(url: URL, token: string): Promise<GatewayAnswer> {
  let res: Response;
  let body: Record<string, unknown> | null;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    const parsed: unknown = await res.json().catch(() => null);
    body = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as typeof body) : null;
  } catch {
    return { ok: false, problem: `no answer from the gateway at ${url.origin} (is it running?)` };
  }
  if (res.ok && body !== null) return { ok: true, body };
  const reason = typeof body?.reason === "string" ? ` ${body.reason}` : "";
  const message = typeof body?.message === "string" ? `: ${body.message}` : "";
  return { ok: false, problem: `the gateway answered ${res.status}${reason}${message}` };
}

/** The gateway's base URL from a flag, else FIREBREAK_GATEWAY, else the local `npm start` one; null if not a URL. */
export function gatewayBase(flag: string | undefined, env: Record<string, string | undefined>): URL | null {
  try {
    return new URL(flag ?? env.FIREBREAK_GATEWAY ?? LOCAL_GATEWAY);
  } catch {
    return null;
  }
}
