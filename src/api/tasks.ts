/**
 * The tasks API under /_firebreak/v1/tasks:
 *
 *   POST /tasks                 workload JWT + `{ profile, purpose, scope? }` -> 201 task id, task token,
 *                               budget (and the scope, within the profile's: src/policy/scope.ts)
 *   POST /tasks/:id/renew       the task's own token and its agent's workload token (Firebreak-Agent-Token)
 *                               -> a fresh token, never past the task's deadline; logged
 *   POST /tasks/:id/complete    the task's own token only -> the task ends; later calls: `task.completed`
 *   GET  /tasks/:id             the task's own token or an operator -> state, budget use, one page of
 *                               its step log (`?cursor=&limit=`) and the chain check
 *   POST /tasks/:id/revoke      an operator (settings.admins) -> the task ends; later calls: `task.revoked`
 *   POST /tasks/agents/revoke   an operator, `{ issuer, sub }` -> the agent kill switch
 *   POST /tasks/agents/reinstate  an operator, `{ issuer, sub }` -> the kill switch lifted
 *   GET  /tasks/agents?issuer=&sub=  an operator -> the agent's caps: revoked, live tasks, starts this hour
 *
 * The routes follow a task's life as docs/design/tasks.md, "Lifecycle", sets it out (start, calls,
 * renew, end, read). Who may call each route is checked by its middleware (auth.ts) before the handler
 * runs; the start across the agent's and the task's objects is `startTask` (src/tasks/start.ts), and
 * both the start and a renewal mint their token with `mintTaskToken` (src/tasks/mint.ts). Every
 * Durable Object call is bounded by TASK_RPC_TIMEOUT_MS; an exception or timeout is 503
 * `task.unavailable`. The time each handler passes the objects is the app's clock, `c.var.now`.
 */

import { type Context, Hono } from "hono";
import type { Refusal, Result } from "../core/result";
import { mintPlans, needsSubject } from "../credentials/plan";
import { readBody } from "../gateway/body";
import { flushTask } from "../gateway/settles";
import { bearerToken } from "../identity/bearer";
import { newTaskId } from "../identity/task-token";
import { agentMatches } from "../policy/evaluate";
import type { BundleState } from "../policy/load";
import { checkTaskScope } from "../policy/scope";
import { agentKey } from "../tasks/agent-object";
import { note, taskEnded } from "../tasks/directory";
import { type Minted, mintTaskToken, type TaskSigner, taskSigner } from "../tasks/mint";
import { rpcCall } from "../tasks/rpc";
import { startTask } from "../tasks/start";
import type { EndResult, RenewResult, TaskView } from "../tasks/task-object";
import {
  type AgentEnv,
  operator,
  ownTask,
  type ReaderEnv,
  sameAgent,
  type TaskEnv,
  taskReader,
  withBundle,
  workload,
} from "./auth";
import { type ApiEnv, background, type Ctx, envOf, fail, nowMs, unreachable } from "./common";
import { agentCaps, reinstateAgent, releaseSlot, revokeAgent, revokeTask } from "./task-operators";

const MAX_START_BODY = 4096;
const MAX_PURPOSE = 1000;
const NO_STORE = { "cache-control": "no-store" };

export function tasksApi(getBundle: () => BundleState): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  const bundle = withBundle(getBundle);
  const admin = operator();
  api.post("/", bundle, workload(), start);
  api.post("/agents/revoke", bundle, admin, revokeAgent);
  api.post("/agents/reinstate", bundle, admin, reinstateAgent);
  api.get("/agents", bundle, admin, agentCaps);
  api.post("/:id/revoke", bundle, admin, revokeTask);
  api.post("/:id/renew", bundle, ownTask(), renew);
  api.post("/:id/complete", bundle, ownTask(), complete);
  api.get("/:id", bundle, taskReader(), inspect);
  return api;
}

/** Starts a task of the body's profile for the workload token's agent: 201 with its first token. */
async function start(c: Context<AgentEnv>): Promise<Response> {
  const { bundle, caller } = c.var;
  const agent = caller.agent;
  const body = await startBody(c.req.raw);
  if (!body.ok) return fail(c, body);
  const profile = bundle.spec.profiles.find((p) => p.name === body.profile);
  if (!profile || !agentMatches(profile.agents, agent)) return fail(c, { ok: false, reason: "task.profile_denied" });
  // Before any object is called: a refused scope leaves nothing to undo.
  const scoped = checkTaskScope(body.scope, profile.scope);
  if (!scoped.ok) return fail(c, scoped);
  const { scope } = scoped;
  const signer = await signerOf(c);
  if (!signer.ok) return fail(c, signer);
  const { TASKS, AGENTS } = c.env ?? {};
  if (!TASKS || !AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "bindings missing" });

  const task_id = newTaskId();
  const now = nowMs(c);
  const objects = { agent: AGENTS.getByName(agentKey(agent)), task: TASKS.getByName(task_id) };
  const limits = bundle.spec.settings.agent_limits;
  const credentials = mintPlans(bundle.spec.services, profile, scope);
  const subject = needsSubject(credentials) ? bearerToken(c.req.header("authorization") ?? null) : null;
  const started = await startTask(objects, {
    ...{ task_id, profile, agent, purpose: body.purpose, scope, limits, now, credentials },
    ...(subject?.ok ? { subject_token: subject.token } : {}),
  });
  if (!started.ok) return fail(c, started);
  const { deadline } = started;
  const listed = { task_id, agent: { issuer: agent.issuer, sub: agent.sub }, profile: profile.name, deadline };
  note(c.env, background(c), { kind: "task.started", ...listed, purpose: body.purpose, started: now });
  try {
    const minted = await mintTaskToken(signer.signer, { task_id, agent, profile }, deadline, now);
    const answer = {
      ...tokenAnswer(task_id, minted, deadline),
      profile: profile.name,
      budget: profile.budgets,
      ...(scope ? { scope } : {}),
    };
    return c.json(answer, 201, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("start", e));
  }
}

// A fresh token for the same task, with the current one and the agent's own workload token, while the
// task is live: exp = min(now + ttl, deadline); the deadline (start + max_lifetime) never moves, so
// renewal cannot pass it. The task's object checks and logs the renewal in one step.
async function renew(c: Context<TaskEnv>): Promise<Response> {
  const { bundle, caller, task } = c.var;
  const proof = await sameAgent(c);
  if (!proof.ok) return fail(c, proof);
  const signer = await signerOf(c);
  if (!signer.ok) return fail(c, signer);
  const profile = bundle.spec.profiles.find((p) => p.name === caller.task.profile);
  if (!profile) return fail(c, { ok: false, reason: "task.profile_denied", detail: "profile no longer in the bundle" });
  const now = nowMs(c);
  try {
    const renewed = await rpcCall<RenewResult>(task.stub.renew(now, proof.by));
    if (!renewed.ok) return fail(c, { ok: false, reason: renewed.reason });
    const minted = await mintTaskToken(
      signer.signer,
      { task_id: task.id, agent: caller.agent, profile },
      renewed.deadline,
      now,
    );
    return c.json(tokenAnswer(task.id, minted, renewed.deadline), 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("renew", e));
  }
}

async function complete(c: Context<TaskEnv>): Promise<Response> {
  const { caller, task } = c.var;
  const now = nowMs(c);
  try {
    await flushTask(task.id);
    const ended = await rpcCall<EndResult>(task.stub.complete(now));
    if (!ended.ok) return fail(c, { ok: false, reason: ended.reason });
    note(c.env, background(c), taskEnded(task.id, "completed", now));
    await releaseSlot(c.env, caller.agent, task.id, now);
    return c.json({ task_id: task.id, state: "completed" }, 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("complete", e));
  }
}

/** The task's state, budget use and one page of its log, with the hash chain checked. */
async function inspect(c: Context<ReaderEnv>): Promise<Response> {
  const { stub } = c.var.task;
  const cursor = Number(c.req.query("cursor") ?? "0");
  const limit = Number(c.req.query("limit") ?? "50");
  try {
    await flushTask(c.var.task.id);
    const view = await rpcCall<TaskView | null>(
      stub.inspect(Number.isSafeInteger(cursor) && cursor >= 0 ? cursor : 0, Number.isSafeInteger(limit) ? limit : 50),
    );
    if (view === null) return fail(c, { ok: false, reason: "task.unknown" });
    const log = await rpcCall<{ ok: boolean; broken_at?: number }>(stub.verifyLog());
    return c.json({ ...view, log }, 200, NO_STORE);
  } catch (e) {
    return fail(c, unreachable("inspect", e));
  }
}

/** The signer of task tokens; a key problem is logged once by name (never the key) and answered 503. */
async function signerOf<E extends ApiEnv>(c: Ctx<E>): Promise<Result<{ signer: TaskSigner }>> {
  const signer = await taskSigner(envOf(c));
  if (signer.ok || signer.reason !== "task.keys_unavailable") return signer;
  console.error(JSON.stringify({ event: "firebreak.task_keys_unavailable", detail: signer.detail }));
  return { ok: false, reason: signer.reason };
}

/** A minted token as the start and a renewal both answer it. */
function tokenAnswer(task_id: string, minted: Minted, deadline: number) {
  return {
    task_id,
    task_token: minted.token,
    expires_at: new Date(minted.expires_at).toISOString(),
    deadline: new Date(deadline).toISOString(),
  };
}

/** The start body's fields; `scope` as sent (checked against the profile by `checkTaskScope`). */
async function startBody(
  request: Request,
): Promise<{ ok: true; profile: string; purpose: string; scope: unknown } | Refusal> {
  const bad = (detail: string): Refusal => ({ ok: false, reason: "request.body_invalid", detail });
  // Bounded before and while reading: a long body is refused without being buffered.
  const read = await readBody(request, MAX_START_BODY);
  if (!read.ok) return read.reason === "request.body_too_large" ? read : bad("not UTF-8");
  const { text } = read;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return bad("not an object");
  const { profile, purpose, scope } = body as Record<string, unknown>;
  if (typeof profile !== "string" || profile === "") return bad("profile");
  if (typeof purpose !== "string" || purpose.length > MAX_PURPOSE) return bad("purpose");
  return { ok: true, profile, purpose, scope };
}
