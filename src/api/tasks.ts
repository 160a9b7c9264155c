/**
 * The tasks API (issue 3) under /_firebreak/v1/tasks:
 *
 *   POST /tasks                 workload JWT + `{ profile, purpose }` -> 201 task id, task token, budget
 *   POST /tasks/:id/renew       the task's own token only -> a fresh token, never past the task's deadline
 *   POST /tasks/:id/complete    the task's own token only -> the task ends; later calls: `task.completed`
 *   GET  /tasks/:id             the task's own token or an operator -> state, budget use, one page of
 *                               its step log (`?cursor=&limit=`) and the chain check
 *   POST /tasks/:id/revoke      an operator (settings.admins) -> the task ends; later calls: `task.revoked`
 *   POST /tasks/agents/revoke   an operator, `{ issuer, sub }` -> the agent kill switch
 *   POST /tasks/agents/reinstate  an operator, `{ issuer, sub }` -> the kill switch lifted
 *   GET  /tasks/agents?issuer=&sub=  an operator -> the agent's caps: revoked, live tasks, starts this hour
 *
 * Start order (docs/design/tasks.md, "For the wiring session"): the agent object reserves a live slot and
 * a start, the task object opens, then the agent object is asked again with the same id: if the kill
 * switch ran in between, the task is revoked and the start refused. Every Durable Object call is bounded
 * by TASK_RPC_TIMEOUT_MS; an exception or timeout is 503 `task.unavailable`.
 */
import { Hono } from "hono";
import type { Reason } from "../core/reasons";
import type { Refusal } from "../core/result";
import type { Env } from "../env";
import { type Caller, gatewayOrigin } from "../identity/caller";
import { isTaskId, newTaskId, signTaskToken, taskKeys } from "../identity/task-token";
import { agentMatches } from "../policy/evaluate";
import type { BundleState } from "../policy/load";
import { type AgentView, agentKey, type StartResult } from "../tasks/agent-object";
import { note, taskEnded } from "../tasks/directory";
import { rpcCall } from "../tasks/rpc";
import type { EndResult, OpenResult, TaskView } from "../tasks/task-object";
import { authenticate, background, type Ctx, envOf, fail, isOperator, jsonBody, operator, unreachable } from "./common";

const MAX_START_BODY = 4096;
const MAX_PURPOSE = 1000;

export function tasksApi(getBundle: () => BundleState): Hono<{ Bindings: Env }> {
  const api = new Hono<{ Bindings: Env }>();

  api.post("/", async (c) => {
    const state = getBundle();
    if (!state.ok) return fail(c, { ok: false, reason: "bundle.invalid" });
    const bundle = state.bundle;
    const env = envOf(c);
    const now = Date.now();
    const who = await authenticate(c, bundle, new Date(now));
    if (!who.ok) return fail(c, who);
    if (who.caller.task !== null)
      return fail(c, { ok: false, reason: "task.required", detail: "start with a workload token" });
    const agent = who.caller.agent;

    const body = await startBody(c.req.raw);
    if (!body.ok) return fail(c, body);
    const profile = bundle.spec.profiles.find((p) => p.name === body.profile);
    if (!profile || !agentMatches(profile.agents, agent)) return fail(c, { ok: false, reason: "task.profile_denied" });

    const origin = gatewayOrigin(env);
    if (origin === "") return fail(c, { ok: false, reason: "task.unavailable", detail: "GATEWAY_ORIGIN not set" });
    const keys = await taskKeys(env);
    if (!keys.ok) {
      console.error(JSON.stringify({ event: "firebreak.task_keys_unavailable", detail: keys.detail }));
      return fail(c, { ok: false, reason: keys.reason });
    }
    const { TASKS, AGENTS } = c.env ?? {};
    if (!TASKS || !AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "bindings missing" });

    const task_id = newTaskId();
    const owner = { issuer: agent.issuer, sub: agent.sub };
    const agentStub = AGENTS.getByName(agentKey(owner));
    const taskStub = TASKS.getByName(task_id);
    const start = {
      task_id,
      limits: bundle.spec.settings.agent_limits,
      deadline: now + profile.max_lifetime_s * 1000,
      now,
    };
    try {
      const reserved = await rpcCall<StartResult>(agentStub.startTask(start));
      if (!reserved.ok) return fail(c, { ok: false, reason: reserved.reason, retryAfter: reserved.retry_after_s });
      let opened: OpenResult;
      try {
        opened = await rpcCall<OpenResult>(
          taskStub.open({ task_id, profile, agent: owner, claims: { ...agent.claims }, purpose: body.purpose, now }),
        );
      } catch (e) {
        await rpcCall<unknown>(agentStub.endTask(task_id, now)).catch(() => {});
        throw e;
      }
      if (!opened.ok) {
        // A fresh random id cannot belong to another agent; if it does, refuse rather than share it.
        await rpcCall<unknown>(agentStub.endTask(task_id, now)).catch(() => {});
        return fail(c, { ok: false, reason: "task.unavailable", detail: opened.reason });
      }
      // The kill-switch gap: a revokeAll between startTask and open listed this id but found no task
      // to revoke. Asking again (a retry moves nothing) refuses if the agent is revoked now.
      const confirmed = await rpcCall<StartResult>(agentStub.startTask(start));
      if (!confirmed.ok) {
        await rpcCall<unknown>(taskStub.revoke(now, "agent.revoked")).catch(() => {});
        await rpcCall<unknown>(agentStub.endTask(task_id, now)).catch(() => {});
        return fail(c, { ok: false, reason: confirmed.reason, retryAfter: confirmed.retry_after_s });
      }
      const listed = { task_id, agent: owner, profile: profile.name, purpose: body.purpose, deadline: opened.deadline };
      note(c.env, background(c), { kind: "task.started", ...listed, started: now });
      const signed = await signTaskToken(
        keys.keys.current,
        {
          sub: agent.sub,
          agent_issuer: agent.issuer,
          task_id,
          profile: profile.name,
          agent_claims: agent.claims as Record<string, unknown>,
        },
        { audience: origin, issuer: origin, ttl_s: profile.ttl_s, deadline_ms: opened.deadline, now: new Date(now) },
      );
      return c.json(
        {
          task_id,
          task_token: signed.token,
          expires_at: new Date(signed.expires_at).toISOString(),
          deadline: new Date(opened.deadline).toISOString(),
          profile: profile.name,
          budget: profile.budgets,
        },
        201,
        { "cache-control": "no-store" },
      );
    } catch (e) {
      return fail(c, unreachable("start", e));
    }
  });

  // The agent kill switch (operators only): every later start of the agent is refused, its live tasks
  // are revoked one by one; a task whose revoke failed stays listed, so calling again finishes the job.
  api.post("/agents/revoke", async (c) => {
    const admin = await operator(c, getBundle);
    if (!admin.ok) return fail(c, admin);
    const who = agentOf(await jsonBody(c.req.raw));
    if (!who.ok) return fail(c, who);
    const { issuer, sub } = who.agent;
    const { TASKS, AGENTS } = c.env ?? {};
    if (!TASKS || !AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "bindings missing" });
    const now = Date.now();
    try {
      const agentStub = AGENTS.getByName(agentKey({ issuer, sub }));
      const { task_ids } = await rpcCall<{ task_ids: string[] }>(agentStub.revokeAll(now, admin.by));
      const revoked: string[] = [];
      const failed: string[] = [];
      for (const id of task_ids) {
        try {
          await rpcCall<EndResult>(TASKS.getByName(id).revoke(now, admin.by));
          await rpcCall<unknown>(agentStub.endTask(id, now));
          revoked.push(id);
          note(c.env, background(c), taskEnded(id, "revoked", now));
        } catch {
          failed.push(id);
        }
      }
      return c.json({ agent: { issuer, sub }, revoked, failed }, failed.length ? 503 : 200, {
        "cache-control": "no-store",
      });
    } catch (e) {
      return fail(c, unreachable("agent revoke", e));
    }
  });

  // Lifts an agent's kill switch: its next start is admitted again. Tasks revoked stay revoked.
  api.post("/agents/reinstate", async (c) => {
    const admin = await operator(c, getBundle);
    if (!admin.ok) return fail(c, admin);
    const who = agentOf(await jsonBody(c.req.raw));
    if (!who.ok) return fail(c, who);
    const AGENTS = c.env?.AGENTS;
    if (!AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "AGENTS binding missing" });
    try {
      const done = await rpcCall<{ reinstated: boolean }>(
        AGENTS.getByName(agentKey(who.agent)).reinstate(admin.by, Date.now()),
      );
      return c.json({ agent: who.agent, ...done }, 200, { "cache-control": "no-store" });
    } catch (e) {
      return fail(c, unreachable("reinstate", e));
    }
  });

  // An agent's caps as the agent object holds them: kill switch, live tasks, starts in the last hour.
  api.get("/agents", async (c) => {
    const admin = await operator(c, getBundle);
    if (!admin.ok) return fail(c, admin);
    const who = agentOf({ issuer: c.req.query("issuer"), sub: c.req.query("sub") });
    if (!who.ok) return fail(c, who);
    const AGENTS = c.env?.AGENTS;
    if (!AGENTS) return fail(c, { ok: false, reason: "task.unavailable", detail: "AGENTS binding missing" });
    try {
      const view = await rpcCall<AgentView>(AGENTS.getByName(agentKey(who.agent)).inspect(Date.now()));
      return c.json({ agent: who.agent, ...view }, 200, { "cache-control": "no-store" });
    } catch (e) {
      return fail(c, unreachable("agent", e));
    }
  });

  // An operator ends one task: every later call with any of its tokens is refused `task.revoked`.
  api.post("/:id/revoke", async (c) => {
    const admin = await operator(c, getBundle);
    if (!admin.ok) return fail(c, admin);
    const id = c.req.param("id");
    if (!isTaskId(id)) return fail(c, { ok: false, reason: "task.unknown" });
    const { TASKS, AGENTS } = c.env ?? {};
    if (!TASKS) return fail(c, { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" });
    const now = Date.now();
    try {
      const stub = TASKS.getByName(id);
      const ended = await rpcCall<EndResult>(stub.revoke(now, admin.by));
      if (!ended.ok) return fail(c, { ok: false, reason: ended.reason });
      note(c.env, background(c), taskEnded(id, "revoked", now));
      const view = await rpcCall<TaskView | null>(stub.inspect(0, 1));
      if (view && AGENTS) {
        await rpcCall<unknown>(AGENTS.getByName(agentKey(view.task.agent)).endTask(id, now)).catch(() => {});
      }
      return c.json({ task_id: id, state: "revoked" }, 200, { "cache-control": "no-store" });
    } catch (e) {
      return fail(c, unreachable("revoke", e));
    }
  });

  // A fresh token for the same task, with the current one, while the task is live: exp = min(now + ttl,
  // deadline); the deadline (start + max_lifetime) never moves, so renewal cannot pass it.
  api.post("/:id/renew", async (c) => {
    const state = getBundle();
    if (!state.ok) return fail(c, { ok: false, reason: "bundle.invalid" });
    const owned = await ownTask(c, getBundle);
    if (!owned.ok) return fail(c, owned);
    const origin = gatewayOrigin(envOf(c));
    const keys = await taskKeys(envOf(c));
    if (!keys.ok) return fail(c, { ok: false, reason: keys.reason });
    const profile = state.bundle.spec.profiles.find((p) => p.name === owned.caller.task?.profile);
    if (!profile)
      return fail(c, { ok: false, reason: "task.profile_denied", detail: "profile no longer in the bundle" });
    const now = Date.now();
    try {
      const view = await rpcCall<{ state: string; deadline: number } | null>(owned.stub.view());
      if (view === null) return fail(c, { ok: false, reason: "task.unknown" });
      if (view.state !== "live") return fail(c, { ok: false, reason: `task.${view.state}` as Reason });
      // Within a second of the deadline no token with a later exp than now can be signed.
      if (now + 1000 >= view.deadline) return fail(c, { ok: false, reason: "task.expired" });
      const agent = owned.caller.agent;
      const signed = await signTaskToken(
        keys.keys.current,
        {
          sub: agent.sub,
          agent_issuer: agent.issuer,
          task_id: owned.id,
          profile: profile.name,
          agent_claims: agent.claims as Record<string, unknown>,
        },
        { audience: origin, issuer: origin, ttl_s: profile.ttl_s, deadline_ms: view.deadline, now: new Date(now) },
      );
      return c.json(
        {
          task_id: owned.id,
          task_token: signed.token,
          expires_at: new Date(signed.expires_at).toISOString(),
          deadline: new Date(view.deadline).toISOString(),
        },
        200,
        { "cache-control": "no-store" },
      );
    } catch (e) {
      return fail(c, unreachable("renew", e));
    }
  });

  api.post("/:id/complete", async (c) => {
    const owned = await ownTask(c, getBundle);
    if (!owned.ok) return fail(c, owned);
    try {
      const ended = await rpcCall<EndResult>(owned.stub.complete(Date.now()));
      if (!ended.ok) return fail(c, { ok: false, reason: ended.reason });
      note(c.env, background(c), taskEnded(owned.id, "completed", Date.now()));
      const { AGENTS } = c.env;
      const agent = owned.caller.agent;
      if (AGENTS) {
        await rpcCall<unknown>(
          AGENTS.getByName(agentKey({ issuer: agent.issuer, sub: agent.sub })).endTask(owned.id, Date.now()),
        ).catch(() => {});
      }
      return c.json({ task_id: owned.id, state: "completed" }, 200, { "cache-control": "no-store" });
    } catch (e) {
      return fail(c, unreachable("complete", e));
    }
  });

  // The task's own token, or an operator's workload token (any task: the path names it).
  api.get("/:id", async (c) => {
    const readable = await readableTask(c, getBundle);
    if (!readable.ok) return fail(c, readable);
    const cursor = Number(c.req.query("cursor") ?? "0");
    const limit = Number(c.req.query("limit") ?? "50");
    try {
      const view = await rpcCall<TaskView | null>(
        readable.stub.inspect(
          Number.isSafeInteger(cursor) && cursor >= 0 ? cursor : 0,
          Number.isSafeInteger(limit) ? limit : 50,
        ),
      );
      if (view === null) return fail(c, { ok: false, reason: "task.unknown" });
      const log = await rpcCall<{ ok: boolean; broken_at?: number }>(readable.stub.verifyLog());
      return c.json({ ...view, log }, 200, { "cache-control": "no-store" });
    } catch (e) {
      return fail(c, unreachable("inspect", e));
    }
  });

  return api;
}

/** The bearer of a task route must be a task token of exactly the task in the path. */
async function ownTask(c: Ctx, getBundle: () => BundleState) {
  const state = getBundle();
  if (!state.ok) return { ok: false, reason: "bundle.invalid" } as Refusal;
  const who = await authenticate(c, state.bundle, new Date());
  if (!who.ok) return who;
  return taskOf(c, who.caller);
}

function taskOf(c: Ctx, caller: Caller) {
  const task = caller.task;
  if (task === null) return { ok: false, reason: "task.required", detail: "a task token is required" } as Refusal;
  // The path names the task; the verified token decides. A different (or non-canonical) id is refused.
  const id = c.req.param("id");
  if (!isTaskId(id) || id !== task.id) return { ok: false, reason: "task.mismatch" } as Refusal;
  const TASKS = c.env?.TASKS;
  if (!TASKS) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" } as Refusal;
  return { ok: true as const, id: task.id, caller, stub: TASKS.getByName(task.id) };
}

/**
 * Who may read a task: its own task token (the path must name exactly its task), or an operator's
 * token, of a workload or a person issuer (the path names the task: the operator chooses).
 */
async function readableTask(c: Ctx, getBundle: () => BundleState) {
  const state = getBundle();
  if (!state.ok) return { ok: false, reason: "bundle.invalid" } as Refusal;
  const who = await authenticate(c, state.bundle, new Date(), state.bundle.spec.issuers);
  if (!who.ok) return who;
  if (who.caller.task !== null) return taskOf(c, who.caller);
  if (!isOperator(state.bundle, who.caller)) return { ok: false, reason: "admin.denied" } as Refusal;
  const id = c.req.param("id") ?? "";
  if (!isTaskId(id)) return { ok: false, reason: "task.unknown" } as Refusal;
  const TASKS = c.env?.TASKS;
  if (!TASKS) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" } as Refusal;
  return { ok: true as const, stub: TASKS.getByName(id) };
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

async function startBody(request: Request): Promise<{ ok: true; profile: string; purpose: string } | Refusal> {
  const bad = (detail: string): Refusal => ({ ok: false, reason: "request.body_invalid", detail });
  const text = await request.text();
  if (text.length > MAX_START_BODY) return { ok: false, reason: "request.body_too_large" };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return bad("not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return bad("not an object");
  const { profile, purpose } = body as Record<string, unknown>;
  if (typeof profile !== "string" || profile === "") return bad("profile");
  if (typeof purpose !== "string" || purpose.length > MAX_PURPOSE) return bad("purpose");
  return { ok: true, profile, purpose };
}
