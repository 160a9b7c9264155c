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
import { type Agent, type Decision, decide } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import type { ActionSpec } from "../policy/types";
import { type Classification, classify, resourceFor } from "./classify";
import { type PersonNeeded, personNeeded, readsTaskState } from "./decide";
import { extractArgs, type MediaType, needsBody } from "./facts";
import { semanticHeaders } from "./headers";
import { type CanonicalRequest, sortedQuery } from "./route";

export interface Classified extends Classification {
  /** The declared arguments are in the body: read it (bounded) before deciding. */
  needsBody: boolean;
  /** A rule that can decide this action reads `task.calls`, `task.services` or `task.labels_read`. */
  needsTaskState: boolean;
}

export function classifyCall(bundle: LoadedBundle, req: CanonicalRequest): Result<{ value: Classified }> {
  const classified = classify(bundle, req);
  if (!classified.ok) return classified;
  const { spec, action } = classified.value;
  const readsBody = needsBody(req.service, spec) && req.method !== "GET" && req.method !== "HEAD";
  return {
    ok: true,
    value: { ...classified.value, needsBody: readsBody, needsTaskState: readsTaskState(bundle, action) },
  };
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
  /** The task's counters for CEL, when `needsTaskState` (null: not read, or no task). */
  taskState: Record<string, unknown> | null;
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
  /** Set when the facts were cut to fit the step log's bound (src/tasks/steps.ts). */
  truncated?: true;
}

export interface Decided {
  spec: ActionSpec;
  params: Record<string, string>;
  args: Record<string, unknown>;
  /** The service's semantic headers the call carries, by lower-case name. */
  headers: Record<string, string>;
  mediaType: MediaType;
  resource: string;
  decision: Decision;
  /** Who must approve before the call goes out (null: nobody). */
  person: PersonNeeded | null;
  facts: StepFacts;
}

export function decideCall(bundle: LoadedBundle, call: CallInput, now: Date): Result<{ value: Decided }> {
  const { req, classified, agent, task } = call;
  const { spec, params, action } = classified;
  const read = argsOf(req, spec, call.source);
  if (!read.ok) return read;
  const { args, headers, mediaType } = read;
  const resource = resourceFor(req.service, spec, params, args, headers);
  let taskVar: Record<string, unknown> = {};
  if (task !== null) taskVar = { id: task.id, profile: task.profile };
  if (task !== null && classified.needsTaskState) taskVar = { ...taskVar, ...(call.taskState ?? {}) };
  const decision = decide(bundle, {
    agent,
    action,
    resource,
    request: { method: req.method, path: req.path, params, query: req.query, args, headers },
    task: taskVar,
    now,
  });
  const profile = task === null ? null : (bundle.profiles.get(task.profile) ?? null);
  const person = decision.effect === "deny" ? null : personNeeded(bundle, decision, spec, profile);
  const facts = factsOf(req, args, headers, mediaType);
  return { ok: true, value: { spec, params, args, headers, mediaType, resource, decision, person, facts } };
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
