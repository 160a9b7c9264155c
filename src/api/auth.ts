/**
 * Who may call a route of Firebreak's own API, decided once, before its handler: Hono middleware that
 * set typed `c.var` values. A route lists what it needs when it is registered, in the order checked:
 *
 *   withBundle(getBundle)   c.var.bundle  the loaded bundle; `bundle.invalid` when it did not load
 *   agent()                 c.var.caller  a task token or a workload token (workload issuers)
 *   workload()              c.var.caller  a workload token only: a task token is `task.required`
 *   operator(tokenOf)       c.var.caller  a token of `settings.admins` (any issuer), never a task token
 *   person()                c.var.caller  a person (a `kind: person` issuer), never an agent
 *   ownTask()               c.var.caller, c.var.task  the task token of exactly the task in the path
 *                           (a renewal also calls `sameAgent`: the agent's workload token beside it)
 *   taskReader()            c.var.caller, c.var.task  that, or an operator naming any task
 *
 * Each refusal is answered by `answer`: the JSON refusal by default, a page for people's routes. A
 * caller middleware registered without `withBundle` before it fails closed, as a bundle that did not load.
 * Tokens are checked at `c.var.now`, the app's clock (common.ts `withClock`).
 */
import type { MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { personToken, verifyPerson } from "../approvals/approvers";
import type { Refusal, Result } from "../core/result";
import type { Env } from "../env";
import { bearerToken, tokenShape } from "../identity/bearer";
import { type Caller, type TaskRef, verifyCaller } from "../identity/caller";
import { isTaskId } from "../identity/task-token";
import type { Agent } from "../policy/evaluate";
import type { BundleState, LoadedBundle } from "../policy/load";
import type { IssuerSpec } from "../policy/types";
import type { TaskObject } from "../tasks/task-object";
import { type ApiEnv, type Ctx, envOf, fail, isOperator } from "./common";

/** How a middleware answers a refusal (the JSON API's `fail`, or a page for people). */
export type Answer = <E extends ApiEnv>(c: Ctx<E>, refusal: Refusal) => Response | Promise<Response>;

/** Where a route reads the caller's token from. */
export type TokenSource = (request: Request) => Result<{ token: string }>;

/** The `Authorization: Bearer` header only: the JSON API, whose operator routes change state. */
export const bearerOnly: TokenSource = (request) => bearerToken(request.headers.get("authorization"));

/** An operator: who they are, and how the task log and the dashboard name them. */
export interface Operator {
  agent: Agent;
  by: string;
}

/** A task token's caller: the task is always there. */
export type TaskCaller = Caller & { task: TaskRef };

/** The task a route acts on, from the verified token or (for an operator) the path, and its object. */
export interface TaskHandle {
  id: string;
  stub: DurableObjectStub<TaskObject>;
}

type With<V> = { Bindings: Env; Variables: ApiEnv["Variables"] & { bundle: LoadedBundle } & V };
export type BundleEnv = With<object>;
export type AgentEnv = With<{ caller: Caller }>;
export type OperatorEnv = With<{ caller: Operator }>;
export type PersonEnv = With<{ caller: Agent }>;
export type TaskEnv = With<{ caller: TaskCaller; task: TaskHandle }>;
export type ReaderEnv = With<{ caller: Caller; task: TaskHandle }>;

/** The bundle in force, or `bundle.invalid`: nothing is decided without one (fail closed). */
export function withBundle(getBundle: () => BundleState, answer: Answer = fail): MiddlewareHandler<BundleEnv> {
  return createMiddleware<BundleEnv>(async (c, next) => {
    const state = getBundle();
    if (!state.ok) return answer(c, { ok: false, reason: "bundle.invalid" });
    c.set("bundle", state.bundle);
    await next();
  });
}

/** An agent: a task token, or a workload token of a workload issuer. */
export function agent(answer: Answer = fail): MiddlewareHandler<AgentEnv> {
  return createMiddleware<AgentEnv>(async (c, next) => {
    const who = await verified(c, c.var.bundle, bearerOnly);
    if (!who.ok) return answer(c, who);
    c.set("caller", who.caller);
    await next();
  });
}

/** A workload token: what starts a task (a task token cannot start another). */
export function workload(answer: Answer = fail): MiddlewareHandler<AgentEnv> {
  return createMiddleware<AgentEnv>(async (c, next) => {
    const who = await verified(c, c.var.bundle, bearerOnly);
    if (!who.ok) return answer(c, who);
    if (who.caller.task !== null)
      return answer(c, { ok: false, reason: "task.required", detail: "start with a workload token" });
    c.set("caller", who.caller);
    await next();
  });
}

/**
 * The token must be of a workload or person issuer (never a task token) and match `settings.admins`.
 * The JSON API reads it from the bearer header only: a browser attaches Access's cookie (and so its
 * header) to a cross-site POST by itself, so an ambient credential must never revoke a task. Pages
 * that only read (the dashboard) pass `personToken` and take it the way approvers' pages do.
 */
export function operator(tokenOf: TokenSource = bearerOnly, answer: Answer = fail): MiddlewareHandler<OperatorEnv> {
  return createMiddleware<OperatorEnv>(async (c, next) => {
    const who = await verified(c, c.var.bundle, tokenOf, everyIssuer);
    if (!who.ok) return answer(c, who);
    if (!isOperator(c.var.bundle, who.caller)) return answer(c, { ok: false, reason: "admin.denied" });
    const { agent } = who.caller;
    c.set("caller", { agent, by: `${agent.issuer} ${agent.sub}` });
    await next();
  });
}

/** A verified person: a token of a person issuer, never an agent's or a task's. */
export function person(answer: Answer = fail): MiddlewareHandler<PersonEnv> {
  return createMiddleware<PersonEnv>(async (c, next) => {
    const bundle = c.var.bundle as LoadedBundle | undefined;
    // Registered without `withBundle` before it: fail closed, as a bundle that did not load.
    if (!bundle) return answer(c, { ok: false, reason: "bundle.invalid" });
    const token = personToken(c.req.raw);
    if (!token.ok) return answer(c, token);
    const who = await verifyPerson(token.token, bundle.spec, envOf(c), c.var.now());
    if (!who.ok) return answer(c, who);
    c.set("caller", who.person);
    await next();
  });
}

/** The bearer of a task route must be a task token of exactly the task in the path. */
export function ownTask(answer: Answer = fail): MiddlewareHandler<TaskEnv> {
  return createMiddleware<TaskEnv>(async (c, next) => {
    const who = await verified(c, c.var.bundle, bearerOnly);
    if (!who.ok) return answer(c, who);
    const task = taskOf(c, who.caller);
    if (!task.ok) return answer(c, task);
    c.set("caller", task.caller);
    c.set("task", task.task);
    await next();
  });
}

/**
 * Who may read a task: its own task token (the path must name exactly its task), or an operator's
 * token, of a workload or a person issuer (the path names the task: the operator chooses).
 */
export function taskReader(answer: Answer = fail): MiddlewareHandler<ReaderEnv> {
  return createMiddleware<ReaderEnv>(async (c, next) => {
    const who = await verified(c, c.var.bundle, bearerOnly, everyIssuer);
    if (!who.ok) return answer(c, who);
    const task = who.caller.task !== null ? taskOf(c, who.caller) : operatorsTask(c, c.var.bundle, who.caller);
    if (!task.ok) return answer(c, task);
    c.set("caller", who.caller);
    c.set("task", task.task);
    await next();
  });
}

/** Operators may be people: every issuer of the bundle, not only the workload ones. */
const everyIssuer = (bundle: LoadedBundle): IssuerSpec[] => bundle.spec.issuers;

/** The caller of `tokenOf`'s token, verified against the bundle (workload issuers unless `issuers` says). */
async function verified<E extends ApiEnv>(
  c: Ctx<E>,
  bundle: LoadedBundle | undefined,
  tokenOf: TokenSource,
  issuers?: (bundle: LoadedBundle) => IssuerSpec[],
): Promise<Result<{ caller: Caller }>> {
  // Registered without `withBundle` before it: fail closed, as a bundle that did not load.
  if (!bundle) return { ok: false, reason: "bundle.invalid" };
  const token = tokenOf(c.req.raw);
  if (!token.ok) return token;
  return verifyCaller(token.token, bundle.spec, envOf(c), c.var.now(), issuers?.(bundle));
}

/** The header a renewal carries the agent's own workload token in; the bearer stays the task token. */
export const AGENT_TOKEN_HEADER = "firebreak-agent-token";

/**
 * The task's agent, proven again: a workload token (never a task token) in `Firebreak-Agent-Token`, of
 * the same issuer and subject as the task token's. A task token alone cannot renew its task, so a
 * stolen one dies at its own expiry instead of living as long as the task. Who renewed, as the log names it.
 */
export async function sameAgent(c: Ctx<TaskEnv>): Promise<Result<{ by: string }>> {
  const { bundle, caller } = c.var;
  const header = c.req.raw.headers.get(AGENT_TOKEN_HEADER);
  if (header === null) return { ok: false, reason: "task.agent_token_required" };
  const token = tokenShape(header.trim());
  if (!token.ok) return token;
  const who = await verifyCaller(token.token, bundle.spec, envOf(c), c.var.now());
  if (!who.ok) return who;
  if (who.caller.task !== null)
    return { ok: false, reason: "task.agent_token_required", detail: "a workload token, not a task token" };
  const { issuer, sub } = who.caller.agent;
  if (issuer !== caller.agent.issuer || sub !== caller.agent.sub) return { ok: false, reason: "task.agent_mismatch" };
  return { ok: true, by: `${issuer} ${sub}` };
}

function taskOf<E extends ApiEnv>(c: Ctx<E>, caller: Caller): Result<{ caller: TaskCaller; task: TaskHandle }> {
  const task = caller.task;
  if (task === null) return { ok: false, reason: "task.required", detail: "a task token is required" };
  // The path names the task; the verified token decides. A different (or non-canonical) id is refused.
  const id = c.req.param("id");
  if (!isTaskId(id) || id !== task.id) return { ok: false, reason: "task.mismatch" };
  const handle = taskHandle(c, task.id);
  return handle.ok ? { ok: true, caller: { ...caller, task }, task: handle.task } : handle;
}

function operatorsTask<E extends ApiEnv>(
  c: Ctx<E>,
  bundle: LoadedBundle,
  caller: Caller,
): Result<{ task: TaskHandle }> {
  if (!isOperator(bundle, caller)) return { ok: false, reason: "admin.denied" };
  const id = c.req.param("id") ?? "";
  if (!isTaskId(id)) return { ok: false, reason: "task.unknown" };
  return taskHandle(c, id);
}

function taskHandle<E extends ApiEnv>(c: Ctx<E>, id: string): Result<{ task: TaskHandle }> {
  const TASKS = c.env?.TASKS;
  if (!TASKS) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" };
  return { ok: true, task: { id, stub: TASKS.getByName(id) } };
}
