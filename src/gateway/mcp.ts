/**
 * The gateway's side of an MCP service (Streamable HTTP): the session bound to the task both ways
 * (src/protocols/mcp/session.ts), and the `tools/list` answer filtered to the tools the agent's task may
 * call (src/protocols/mcp/tools-list.ts). Every other answer streams through as the server sends it.
 */
import type { Result } from "../core/result";
import type { Env } from "../env";
import type { TaskRef } from "../identity/caller";
import type { Agent } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import type { McpEndpoint } from "../policy/types";
import { jsonRpcError } from "../protocols/mcp/refusal";
import { bindSessionId, checkSessionId, type SessionKeys, sessionKeys } from "../protocols/mcp/session";
import { filterToolsListResponse } from "../protocols/mcp/tools-list";
import { mayCall } from "../request/decide";
import type { CanonicalRequest } from "../request/route";

const SESSION = "mcp-session-id";

/** Who a session belongs to: the task, or (bare workload tokens) the agent. */
export const bindingOf = (agent: Agent, task: TaskRef | null): string =>
  task === null ? `agent:${agent.issuer} ${agent.sub}` : `task:${task.id}`;

let cached: { secrets: string; keys: Promise<SessionKeys> } | null = null;

/** The session keys from the task-signing secret, derived once per isolate and secret value. */
function keysOf(env: Env): Promise<SessionKeys> | null {
  const current = env.FIREBREAK_TASK_KEY;
  if (typeof current !== "string" || current === "") return null;
  const previous = env.FIREBREAK_TASK_KEY_PREVIOUS || null;
  const secrets = `${current}\n${previous ?? ""}`;
  if (cached?.secrets !== secrets) cached = { secrets, keys: sessionKeys(current, previous) };
  return cached.keys;
}

/**
 * The session id the upstream gets: the agent's, checked for its own task and turned back into the
 * upstream's (none when the agent sent none). No key to check with: refused, never forwarded unchecked.
 */
export async function upstreamSession(
  headers: Headers,
  req: CanonicalRequest,
  binding: string,
  env: Env,
): Promise<Result<{ set: Record<string, string> }>> {
  const presented = headers.get(SESSION);
  if (presented === null) return { ok: true, set: {} };
  const keys = keysOf(env);
  if (keys === null) return { ok: false, reason: "task.keys_unavailable", detail: "MCP session keys" };
  const checked = await checkSessionId(await keys, req.service.name, binding, presented);
  return checked.ok ? { ok: true, set: { [SESSION]: checked.upstreamId } } : checked;
}

export interface McpAnswer {
  req: CanonicalRequest;
  endpoint: McpEndpoint;
  bundle: LoadedBundle;
  agent: Agent;
  task: TaskRef | null;
  env: Env;
  /** The JSON-RPC method the agent sent (`tools/list` answers are filtered); null: none. */
  method: string | null;
  decisionId: string;
}

/** The upstream's answer as the agent gets it: its session id bound to the task, a tool list filtered. */
export async function agentAnswer(res: Response, a: McpAnswer): Promise<Result<{ response: Response }>> {
  let response = res;
  const upstreamId = res.headers.get(SESSION);
  if (upstreamId !== null) {
    const keys = keysOf(a.env);
    if (keys === null) return { ok: false, reason: "task.keys_unavailable", detail: "MCP session keys" };
    const bound = await bindSessionId(await keys, a.req.service.name, bindingOf(a.agent, a.task), upstreamId);
    if (!bound.ok) return bound;
    response = new Response(res.body, res);
    response.headers.set(SESSION, bound.sessionId);
  }
  if (a.method !== "tools/list") return { ok: true, response };
  const profile = a.task === null ? null : (a.bundle.profiles.get(a.task.profile) ?? null);
  const allowed = (action: number) => {
    const spec = a.bundle.spec.actions[action];
    if (spec === undefined || (profile !== null && !profile.actions.includes(spec.name))) return false;
    return mayCall(a.bundle, a.agent, action);
  };
  const fallback = (r: { reason: "mcp.response_invalid" | string }) =>
    jsonRpcError(null, "mcp.response_invalid", `Firebreak could not read the tool list (${r.reason}).`, a.decisionId);
  return {
    ok: true,
    response: await filterToolsListResponse(response, { tools: a.endpoint.tools, allowed, fallback }),
  };
}
