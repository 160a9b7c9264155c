/**
 * The pure front half of a call, written once: classify, the declared arguments and semantic headers,
 * the resource, the rules, and whether a person must decide, all at one `now`. The worker's pipeline,
 * `firebreak explain` / `test` and `firebreak replay` call these two functions and nothing else to
 * decide, so what they report cannot drift from what the gateway does.
 *
 * Reading is not pure (a body arrives as a stream, the task's counters live in its object), so the
 * front half is split where the reading happens: `classifyCall` says what must be read, the caller
 * reads it, `decideCall` decides.
 */

import type { Result } from "../core/result";
import { type Agent, type Decision, decideOrDefer, type PendingDecision } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import type { ActionSpec, ProfileSpec } from "../policy/types";
import { protocolCalls } from "../protocols/calls";
import { type Classification, classify, resourceFor } from "./classify";
import { type PersonNeeded, personNeeded, readsTaskState } from "./decide";
import { extractArgs, type MediaType, needsBody } from "./facts";
import { semanticHeaders } from "./headers";
import { type CanonicalRequest, sortedQuery } from "./route";

/** One step the call asks for: an action, its path parameters, and arguments a protocol already read. */
export interface StepCall extends Classification {
  /** Arguments a GraphQL document or MCP message gave (null: read from the query and body, REST). */
  args: Record<string, unknown> | null;
  /** Where the step is in the message (`m1: mergePullRequest`); "" for REST. */
  at: string;
}

export interface Classified {
  /** The protocol endpoint the call went to (its body names the steps); null: a REST action. */
  endpoint: "graphql" | "mcp" | null;
  /** The steps, in the order the message asks for them: one for REST; none before an endpoint's body is read. */
  calls: StepCall[];
  /** The declared arguments (or, at an endpoint, the steps) are in the body: read it (bounded) first. */
  needsBody: boolean;
  /** A rule that can decide one of the steps reads `task.calls`, `task.services` or `task.labels_read`. */
  needsTaskState: boolean;
  /** An MCP message's JSON-RPC method (its answer may need rewriting: `tools/list`); else null. */
  rpcMethod: string | null;
}

export function classifyCall(bundle: LoadedBundle, req: CanonicalRequest): Result<{ value: Classified }> {
  const endpoint = endpointAt(req);
  if (endpoint !== null) {
    const needsBody = req.method !== "GET" && req.method !== "HEAD" && req.method !== "DELETE";
    return { ok: true, value: { endpoint, calls: [], needsBody, needsTaskState: false, rpcMethod: null } };
  }
  const classified = classify(bundle, req);
  if (!classified.ok) return classified;
  const { spec, action } = classified.value;
  const readsBody = needsBody(req.service, spec) && req.method !== "GET" && req.method !== "HEAD";
  const calls = [{ ...classified.value, args: null, at: "" }];
  return {
    ok: true,
    value: {
      endpoint: null,
      calls,
      needsBody: readsBody,
      needsTaskState: readsTaskState(bundle, action),
      rpcMethod: null,
    },
  };
}

/** The GraphQL or MCP endpoint of the service the call goes to, if it does (its body names the steps). */
export function endpointAt(req: CanonicalRequest): "graphql" | "mcp" | null {
  const { graphql, mcp } = req.service;
  if (graphql !== null && req.path === graphql.path) return "graphql";
  if (mcp !== null && req.path === mcp.path) return "mcp";
  return null;
}

/**
 * An endpoint's steps, from its body as the upstream will read it (a REST call's one step is known from
 * its path already). Pure: the caller read the body.
 */
export function classifyBody(
  bundle: LoadedBundle,
  req: CanonicalRequest,
  classified: Classified,
  body: string | null,
  headers: Headers,
): Result<{ value: Classified }> {
  if (classified.endpoint === null) return { ok: true, value: classified };
  const found = protocolCalls(classified.endpoint, req, bundle.spec.actions, body ?? "", headers);
  if (!found.ok) return found;
  const calls: StepCall[] = [];
  for (const c of found.calls) {
    const spec = bundle.spec.actions[c.action];
    if (spec === undefined) return { ok: false, reason: "action.unknown", detail: c.at.slice(0, 128) };
    calls.push({ action: c.action, spec, params: c.params, args: c.args, at: c.at });
  }
  // An MCP message that names no action (initialize, ping, a list, a notification) has no step; a
  // GraphQL document always has one, or it is not one to send.
  if (calls.length === 0 && classified.endpoint === "graphql") {
    return { ok: false, reason: "request.body_invalid", detail: "no field to decide" };
  }
  const needsTaskState = calls.some((c) => readsTaskState(bundle, c.action));
  return { ok: true, value: { ...classified, calls, needsTaskState, rpcMethod: found.method } };
}

/** Where the declared arguments come from: the request itself, or what a step log kept of them (replay). */
export type ArgsSource =
  | { headers: Headers; body: string | null }
  | { recorded: { args: Record<string, unknown>; headers: Record<string, string>; mediaType: MediaType } };

export interface CallInput {
  req: CanonicalRequest;
  classified: Classified;
  source: ArgsSource;
  agent: Agent;
  /** The task the call is a step of (null: a bare workload token). */
  task: { id: string; profile: string } | null;
  /**
   * The task's counters for CEL, when `needsTaskState` (null: not read, or no task); `deferred`: the
   * rules reading them are left to the task's object (the gateway), which decides them as it admits.
   */
  taskState: Record<string, unknown> | null | "deferred";
}

/** A call's request facts as the step log keeps them: never a header, a body or a token (docs/replay.md). */
export interface StepFacts {
  method: string;
  /** The canonical path, without the service prefix. */
  path: string;
  /** Sorted `[name, value]` pairs. */
  query: [string, string][];
  /** The action's declared arguments as read from the query and body (string, number or boolean). */
  args: Record<string, string | number | boolean>;
  /** The service's semantic headers the call carried (`stripe-account`), by lower-case name. */
  headers?: Record<string, string>;
  /** How the body was read (`application/json`, `application/x-www-form-urlencoded`); absent: no body read. */
  media_type?: string;
  /** Where the step is in a GraphQL document or MCP message (`m1: mergePullRequest`); absent for REST. */
  at?: string;
  /** Set when the facts were cut to fit the step log's bound (src/tasks/steps.ts). */
  truncated?: true;
}

/** One step, decided. */
export interface DecidedStep {
  spec: ActionSpec;
  params: Record<string, string>;
  args: Record<string, unknown>;
  resource: string;
  decision: Decision;
  /** Set while the task's object has to finish the decision (rules reading its state); else null. */
  pending: PendingDecision | null;
  /**
   * A person must decide this step (a decided step), or must if the rules allow it (a pending step: the
   * profile asks for a person at its risk). Set by `decideCall`.
   */
  person?: boolean;
  facts: StepFacts;
  at: string;
}

export interface Decided {
  /** Every step of the call, in order; at least one. */
  steps: [DecidedStep, ...DecidedStep[]];
  /**
   * The step the call's outcome is named after: the first denied, else the first a person must approve,
   * else the first. For REST it is the one step.
   */
  lead: DecidedStep;
  /** The call's outcome: allowed only when every step is; denied when any is. */
  decision: Decision;
  /** Who must approve before the call goes out (null: nobody): every step's approvers at once. */
  person: PersonNeeded | null;
  /**
   * A step's decision waits for the task's object (`decision` is then not the call's): the call is
   * sent to the object to be decided and admitted in one step, then completed (`completeCall`).
   */
  pending: boolean;
  /** The service's semantic headers the call carries, by lower-case name. */
  headers: Record<string, string>;
  mediaType: MediaType;
}

export function decideCall(bundle: LoadedBundle, call: CallInput, now: Date): Result<{ value: Decided }> {
  const { req, classified, agent, task } = call;
  const first = classified.calls[0];
  if (first === undefined) return { ok: false, reason: "request.body_invalid", detail: "no step to decide" };
  const read = argsOf(req, first.spec, call.source);
  if (!read.ok) return read;
  const { headers, mediaType } = read;
  let taskVar: Record<string, unknown> = {};
  if (task !== null) taskVar = { id: task.id, profile: task.profile };
  const state = call.taskState;
  const defer = task !== null && classified.needsTaskState && state === "deferred";
  if (task !== null && classified.needsTaskState && state !== "deferred") taskVar = { ...taskVar, ...(state ?? {}) };
  const steps: DecidedStep[] = [];
  for (const c of classified.calls) {
    const args = c.args === null ? read.args : Object.assign(Object.create(null), c.args);
    const resource = resourceFor(req.service, c.spec, c.params, args, headers);
    const request = { method: req.method, path: req.path, params: c.params, query: req.query, args, headers };
    const input = { agent, action: c.action, resource, request, task: taskVar, now };
    const { decision, pending } = decideOrDefer(bundle, input, defer);
    const facts = factsOf(req, args, headers, mediaType);
    if (c.at !== "") facts.at = c.at;
    const step = { spec: c.spec, params: c.params, args, resource, facts, at: c.at };
    steps.push({ ...step, decision: decision ?? UNDECIDED, pending });
  }
  const profile = task === null ? null : (bundle.profiles.get(task.profile) ?? null);
  return { ok: true, value: combine(bundle, steps as [DecidedStep, ...DecidedStep[]], profile, headers, mediaType) };
}

/**
 * The call once the task's object has finished its pending steps' decisions (`finals`, by step; null
 * for a step that was not pending): decided again as a whole, as `decideCall` would have.
 */
export function completeCall(
  bundle: LoadedBundle,
  decided: Decided,
  finals: (Decision | null)[],
  task: { profile: string } | null,
): Decided {
  const steps = decided.steps.map((s, i) => {
    const final = finals[i];
    return s.pending === null || final === null || final === undefined ? s : { ...s, decision: final, pending: null };
  }) as [DecidedStep, ...DecidedStep[]];
  const profile = task === null ? null : (bundle.profiles.get(task.profile) ?? null);
  return combine(bundle, steps, profile, decided.headers, decided.mediaType);
}

/**
 * A step's decision while the task object has yet to finish it: never read as one (a pending call goes
 * to the object first), and a deny if it ever were.
 */
const UNDECIDED: Decision = { effect: "deny", reason: "task.unavailable", rules: [], message: null, report: null };

/**
 * The call's outcome from its steps: denied when a decided step is; waiting for the task object when a
 * step is pending; else who must approve, if anyone.
 */
function combine(
  bundle: LoadedBundle,
  all: [DecidedStep, ...DecidedStep[]],
  profile: ProfileSpec | null,
  headers: Record<string, string>,
  mediaType: MediaType,
): Decided {
  const persons = all.map((s) =>
    s.pending !== null || s.decision.effect === "deny" ? null : personNeeded(bundle, s.decision, s.spec, profile),
  );
  for (const [i, s] of all.entries()) {
    s.person = s.pending === null ? persons[i] !== null : personNeeded(bundle, ALLOWED, s.spec, profile) !== null;
  }
  const denied = all.find((s) => s.pending === null && s.decision.effect === "deny");
  const waiting = denied ? undefined : all.find((s) => s.pending !== null);
  const lead = denied ?? waiting ?? all.find((_, i) => persons[i] !== null) ?? all[0];
  const person = denied || waiting ? null : mergePersons(persons.filter((p) => p !== null));
  return { steps: all, lead, decision: lead.decision, person, pending: waiting !== undefined, headers, mediaType };
}

const ALLOWED: Decision = { effect: "allow", reason: "policy.allowed", rules: [], message: null, report: null };

/** Several steps that each need a person: one approval, by someone every one of them accepts. */
function mergePersons(persons: PersonNeeded[]): PersonNeeded | null {
  const [first, ...rest] = persons;
  if (first === undefined) return null;
  if (rest.length === 0) return first;
  const rules = [...new Set(persons.flatMap((p) => p.rules))];
  return { rules, approvers: persons.flatMap((p) => p.approvers), ttl_s: Math.min(...persons.map((p) => p.ttl_s)) };
}

function argsOf(
  req: CanonicalRequest,
  spec: ActionSpec,
  source: ArgsSource,
): Result<{ args: Record<string, unknown>; headers: Record<string, string>; mediaType: MediaType }> {
  if ("recorded" in source) {
    const { args, headers, mediaType } = source.recorded;
    return {
      ok: true,
      args: Object.assign(Object.create(null), args),
      headers: Object.assign(Object.create(null), headers),
      mediaType,
    };
  }
  const semantic = semanticHeaders(source.headers, req.service);
  if (!semantic.ok) return semantic;
  const facts = extractArgs(req.service, spec, req.query, source.headers.get("content-type"), source.body);
  if (!facts.ok) return facts;
  return { ok: true, args: facts.args, headers: semantic.headers, mediaType: facts.mediaType };
}

/** What the step log keeps of a call. */
export function factsOf(
  req: CanonicalRequest,
  args: Record<string, unknown>,
  headers: Record<string, string>,
  mediaType: MediaType,
): StepFacts {
  const facts: StepFacts = { method: req.method, path: req.path, query: sortedQuery(req.query), args: plainArgs(args) };
  if (Object.keys(headers).length > 0) facts.headers = { ...headers };
  if (mediaType !== "") facts.media_type = mediaType;
  return facts;
}

/** The declared arguments as a plain object of scalars (RPC cannot send the null-prototype record). */
function plainArgs(args: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
  }
  return out;
}

/** The labels the task object counts and matches: `kind:`, `risk:` and one `data:` per data class. */
export function labelsOf(action: { kind: string; risk: string; data: string[] }): string[] {
  return [`kind:${action.kind}`, `risk:${action.risk}`, ...action.data.map((d) => `data:${d}`)];
}
