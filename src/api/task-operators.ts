/**
 * The operators' routes of the tasks API (settings.admins, bearer token only; registered in tasks.ts):
 * revoke one task, the agent kill switch and its reinstating, an agent's caps.
 */
import type { Context } from "hono";
import type { Refusal } from "../core/result";
import type { Env } from "../env";
import { isTaskId } from "../identity/task-token";
import { type AgentView, agentKey } from "../tasks/agent-object";
import { note, taskEnded } from "../tasks/directory";
import { rpcCall } from "../tasks/rpc";
import type { EndResult, TaskView } from "../tasks/task-object";
import type { OperatorEnv } from "./auth";
import { background, fail, jsonBody, nowMs, unreachable } from "./common";

const NO_STORE = { "cache-control": "no-store" };

// The agent kill switch: every later start of the agent is refused, its live tasks are revoked one
// by one; a task whose revoke failed stays listed, so calling again finishes the job.
export async function revokeAgent(c: Context<OperatorEnv>): Promise<Response> {
  const who = agentOf(await jsonBody(c.req.raw));
  if (!who.ok) return fail(c, who);
  const { TASKS, AGENTS } = c.env ?? {};
  if (!TASKS || !AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "bindings missing" });
  const { by } = c.var.caller;
  const now = nowMs(c);
  try {
    const agentStub = AGENTS.getByName(agentKey(who.agent));
    const { task_ids } = await rpcCall<{ task_ids: string[] }>(agentStub.revokeAll(now, by));
    const revoked: string[] = [];
    const failed: string[] = [];
    for (const id of task_ids) {
      try {
        await rpcCall<EndResult>(TASKS.getByName(id).revoke(now, by));
        await rpcCall<unknown>(agentStub.endTask(id, now));
        revoked.push(id);
        note(c.env, background(c), taskEnded(id, "revoked", now));
      } catch {
        failed.push(id);
      }
    }
    return c.json({ agent: who.agent, revoked, failed }, failed.length ? 503 : 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("agent revoke", e));
  }
}

// Lifts an agent's kill switch: its next start is admitted again. Tasks revoked stay revoked.
export async function reinstateAgent(c: Context<OperatorEnv>): Promise<Response> {
  const who = agentOf(await jsonBody(c.req.raw));
  if (!who.ok) return fail(c, who);
  const AGENTS = c.env?.AGENTS;
  if (!AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "AGENTS binding missing" });
  try {
    const stub = AGENTS.getByName(agentKey(who.agent));
    const done = await rpcCall<{ reinstated: boolean }>(stub.reinstate(c.var.caller.by, nowMs(c)));
    return c.json({ agent: who.agent, ...done }, 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("reinstate", e));
  }
}

// An agent's caps as the agent object holds them: kill switch, live tasks, starts in the last hour.
export async function agentCaps(c: Context<OperatorEnv>): Promise<Response> {
  const who = agentOf({ issuer: c.req.query("issuer"), sub: c.req.query("sub") });
  if (!who.ok) return fail(c, who);
  const AGENTS = c.env?.AGENTS;
  if (!AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "AGENTS binding missing" });
  try {
    const view = await rpcCall<AgentView>(AGENTS.getByName(agentKey(who.agent)).inspect(nowMs(c)));
    return c.json({ agent: who.agent, ...view }, 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("agent", e));
  }
}

// An operator ends one task: every later call with any of its tokens is refused `task.revoked`.
export async function revokeTask(c: Context<OperatorEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  if (!isTaskId(id)) return fail(c, { ok: false, reason: "task.unknown" });
  const TASKS = c.env?.TASKS;
  if (!TASKS) return fail(c, { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" });
  const now = nowMs(c);
  try {
    const stub = TASKS.getByName(id);
    const ended = await rpcCall<EndResult>(stub.revoke(now, c.var.caller.by));
    if (!ended.ok) return fail(c, { ok: false, reason: ended.reason });
    note(c.env, background(c), taskEnded(id, "revoked", now));
    const view = await rpcCall<TaskView | null>(stub.inspect(0, 1));
    if (view) await releaseSlot(c.env, view.task.agent, id, now);
    return c.json({ task_id: id, state: "revoked" }, 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("revoke", e));
  }
}

/** Gives an ended task's live slot back to its agent; best effort (the slot also ends at the deadline). */
export async function releaseSlot(
  env: Env | undefined,
  agent: { issuer: string; sub: string },
  task_id: string,
  now: number,
): Promise<void> {
  const AGENTS = env?.AGENTS;
  if (!AGENTS) return;
  await rpcCall<unknown>(AGENTS.getByName(agentKey(agent)).endTask(task_id, now)).catch(() => {});
}

/** `{ issuer, sub }` naming an agent: the bundle issuer's name and the subject, both non-empty strings. */
function agentOf(body: Record<string, unknown> | null): { ok: true; agent: { issuer: string; sub: string } } | Refusal {
  const issuer = body?.issuer;
  const sub = body?.sub;
  if (typeof issuer !== "string" || issuer === "" || typeof sub !== "string" || sub === "") {
    return { ok: false, reason: "request.body_invalid", detail: "issuer and sub" };
  }
  return { ok: true, agent: { issuer, sub } };
}
