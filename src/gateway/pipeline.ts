/**
 * The request path, in DESIGN.md's order. Each stage returns a result; the first refusal ends the
 * request with its reason, and every request, refused or forwarded, ends in exactly one record.
 *
 *   1. route     service + canonical request from one parse of the URL (pure)
 *   2. identity  the agent's bearer token verified against the bundle's issuers
 *   3. classify  method + canonical path -> exactly one catalog action (pure)
 *      facts     declared arguments from the (bounded) body and query; the resource (pure)
 *   4. decide    the bundle's rules, default deny (pure); rules reading the task's state are left to
 *                the task's object
 *   5. admit     the task's Durable Object decides those rules and reserves the step in one
 *                transaction, one round trip (no task, bare workload token: admitted);
 *      approve   or, when a person must decide, opens the approval / redeems it with the step
 *   6. forward   the real credential injected, the agent's removed, redirects not followed; the
 *                upstream's answer is settled in the task's object after the response (background)
 *   7. record    Analytics Engine data point + one JSON log line
 */

import type { Refusal, Result } from "../core/result";
import { mintsPerTask } from "../credentials/plan";
import { blankRecord, type DecisionRecord } from "../decisions/record";
import { bindingOf } from "../env";
import { bearerToken } from "../identity/bearer";
import { type Caller, gatewayOrigin, type TaskRef, verifyCaller } from "../identity/caller";
import type { Agent, Decision } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import {
  classifyBody,
  classifyCall,
  completeCall,
  type Decided,
  type DecidedStep,
  decideCall,
  endpointAt,
  labelsOf,
} from "../request/decide-call";
import { type CanonicalRequest, route, sortedQuery } from "../request/route";
import type { StepRequest } from "../tasks/types";
import { type Admission, admit, logRefused, numericArgs } from "./admit";
import { approve } from "./approve";
import { readApprovedBody, readBody } from "./body";
import type { Call, Deps } from "./call";
import { bareCallAllowed } from "./kill-switch";
import { bindingOf as sessionBinding, upstreamSession } from "./mcp";
import { record } from "./record";
import { type Dialect, dialectOf, refusalResponse } from "./respond";
import { forwardAndSettle, passThrough } from "./send";

export type { Deps };

export async function handleProxy(request: Request, deps: Deps): Promise<Response> {
  // Latency is a duration, so it is measured on the real clock (a test's clock stands still).
  const started = Date.now();
  const rec = blankRecord({
    decision_id: deps.newId(),
    ts: deps.now().toISOString(),
    bundle_revision: deps.bundle.ok ? deps.bundle.bundle.spec.manifest.revision : "",
    method: request.method,
  });
  let response: Response;
  try {
    response = await run(request, deps, rec);
  } catch (e) {
    // A bug of ours must still fail closed, recorded, with no stack trace on the wire.
    rec.detail = `internal: ${(e as Error)?.name ?? "error"}`;
    response = refusalResponse({ ok: false, reason: "internal.error" }, rec, dialectOf(deps.bundle, rec.service));
  }
  rec.status = response.status;
  rec.latency_ms = Date.now() - started;
  record(rec, deps.analytics);
  return response;
}

async function run(request: Request, deps: Deps, rec: DecisionRecord): Promise<Response> {
  // The caller's dialect, and (MCP) the JSON-RPC request a refusal answers, once they are known.
  const said: { dialect: Dialect | null; rpcBody: string | null } = { dialect: null, rpcBody: null };
  const stop = (refusal: Refusal) => {
    rec.reason = refusal.reason;
    rec.detail = refusal.detail ?? null;
    return refusalResponse(refusal, rec, said.dialect ?? dialectOf(deps.bundle, rec.service), said.rpcBody);
  };
  if (!deps.bundle.ok) return stop({ ok: false, reason: "bundle.invalid", detail: deps.bundle.error });
  const { bundle } = deps.bundle;
  const routed = route(request, bundle.spec.services, deps.gatewayDomain);
  if (!routed.ok) return stop(routed);
  const req = routed.request;
  rec.service = req.service.name;
  rec.path = req.path;
  // A GraphQL or MCP client reads its protocol's errors, whatever refuses its call.
  const endpoint = endpointAt(req);
  if (endpoint !== null) said.dialect = endpoint === "graphql" ? "graphql" : "jsonrpc";
  const caller = await callerOf(req, bundle, deps);
  if (!caller.ok) return stop(caller);
  const { agent, task } = caller.caller;
  setAgent(rec, agent, task);
  const bare = await bareCall(task, agent, bundle, deps);
  if (!bare.ok) return stop(bare);
  // One time for the whole decision: the rules, the step and its log entry, and replay all see it.
  const call: Call = {
    request,
    req,
    endpoint,
    bundle,
    agent,
    task,
    at: deps.now(),
    deps,
    rec,
    steps: null,
    said,
    upstreamSet: {},
  };
  return decideAndSend(call, stop);
}

/** Without a task: only where bare workload tokens are allowed, and never for a revoked agent. */
async function bareCall(task: TaskRef | null, agent: Agent, bundle: LoadedBundle, deps: Deps): Promise<Result<object>> {
  if (task !== null) return { ok: true };
  if (!bundle.spec.settings.bare_workload_tokens) return { ok: false, reason: "task.required" };
  return bareCallAllowed(agent, deps.env, deps.now().getTime());
}

/** The front half, then (unless refused) admission or a person, and the call sent. */
async function decideAndSend(call: Call, stop: (r: Refusal) => Response): Promise<Response> {
  const { request, req, endpoint, agent, task, deps } = call;
  // From here on a task's call is a step of it: a refusal the task object does not make itself is
  // written to its log too (in the background; it counts nothing), so the log holds every call.
  const refuseStep = (refusal: Refusal) => {
    if (task !== null) deps.background(logRefused(call.steps ?? [bareStep(call)], refusal.reason, task, deps.env));
    return stop(refusal);
  };
  const front = await decideFront(call);
  if (!front.ok) return front.reason === "task.unavailable" ? stop(front) : refuseStep(front);
  const { decided, body } = front;
  // An MCP session of another task is refused before anything is admitted or counted (the request's
  // id is known by now, so the refusal answers it).
  if (endpoint === "mcp") {
    const session = await upstreamSession(request.headers, req, sessionBinding(agent, task), deps.env);
    if (!session.ok) return stop(session);
    call.upstreamSet = session.set;
  }
  const secret = staticSecret(call);
  if (!secret.ok) return refuseStep(secret);
  if (decided === null) return passThrough(call, body, front.rpcMethod, secret.secret, stop);
  const settled = decided.pending ? await decideInObject(call, decided) : { decided, admitted: null };
  if ("refusal" in settled) return stop(settled.refusal);
  const { decision } = settled.decided;
  if (settled.admitted?.ok)
    return forwardAndSettle(call, settled.admitted.admission, body, secret.secret, stop, front.rpcMethod);
  if (decision.effect === "deny") {
    return refuseStep({
      ok: false,
      reason: decision.reason,
      message: decision.message,
      detail: decision.rules.join(","),
    });
  }
  const admitted: Admitted =
    settled.decided.person === null
      ? await admit(call.steps!, task, deps.env, deps.background)
      : await approveStep(call, settled.decided, body, refuseStep);
  if (!admitted.ok) return "response" in admitted ? admitted.response : stop(admitted);
  return forwardAndSettle(call, admitted.admission, admitted.body ?? body, secret.secret, stop, front.rpcMethod);
}

/**
 * The service's Worker secret, checked before anything is admitted; null for a service whose
 * credential its task's object mints (handed over with the admission). A bare workload token has no
 * task, so no credential, for such a service.
 */
function staticSecret(call: Call): Result<{ secret: string | null }> {
  const { service } = call.req;
  if (mintsPerTask(service)) {
    if (call.task !== null) return { ok: true, secret: null };
    return { ok: false, reason: "credential.unavailable", detail: `${service.name} mints per task: call with a task` };
  }
  const secret = bindingOf(call.deps.env, service.credential.secret);
  if (typeof secret === "string" && secret !== "") return { ok: true, secret };
  return { ok: false, reason: "credential.unavailable", detail: service.credential.secret };
}

/**
 * A call whose rules read the task's state: the task's object decides them and admits the steps in
 * one round trip. Admitted: sent. Refused by the object (logged there): the refusal. A person must
 * decide: the call, completed with the object's decisions, goes on to the approval.
 */
async function decideInObject(
  call: Call,
  decided: Decided,
): Promise<{ decided: Decided; admitted: { ok: true; admission: Admission } | null } | { refusal: Refusal }> {
  const admitted = await admit(call.steps!, call.task, call.deps.env, call.deps.background);
  const finals = admitted.decisions;
  if (finals === undefined) return admitted.ok ? { decided, admitted } : { refusal: admitted };
  const complete = completeCall(call.bundle, decided, finals, call.task);
  noteDecided(call.rec, complete);
  if (admitted.ok) return { decided: complete, admitted };
  if (admitted.reason !== "approval.required") {
    const { decision } = complete;
    const message = decision.effect === "deny" ? decision.message : null;
    return { refusal: { ...admitted, message, detail: decision.rules.join(",") || admitted.detail } };
  }
  if (complete.person === null) return { refusal: { ok: false, reason: "internal.error", detail: "no approver" } };
  return { decided: complete, admitted: null };
}

async function callerOf(req: CanonicalRequest, bundle: LoadedBundle, deps: Deps): Promise<Result<{ caller: Caller }>> {
  const bearer = bearerToken(req.authorization);
  if (!bearer.ok) return bearer;
  return verifyCaller(bearer.token, bundle.spec, deps.env, deps.now());
}

/** The pure front half, with the reading it needs done first: the bounded body, the task's counters. */
async function decideFront(
  call: Call,
): Promise<Result<{ decided: Decided | null; body: Uint8Array | null; rpcMethod: string | null }>> {
  const { request, req, bundle, rec, task } = call;
  const routed = classifyCall(bundle, req);
  if (!routed.ok) return routed;
  rec.action = routed.value.calls[0]?.spec.name ?? null;
  let body: Uint8Array | null = null;
  let text: string | null = null;
  if (routed.value.needsBody) {
    const read = await readBody(request, bundle.spec.settings.max_body_bytes);
    if (!read.ok) return read;
    ({ bytes: body, text } = read);
  }
  call.said.rpcBody = text;
  const classified = classifyBody(bundle, req, routed.value, text, request.headers);
  if (!classified.ok) return classified;
  const { rpcMethod } = classified.value;
  if (classified.value.calls.length === 0) return { ok: true, decided: null, body, rpcMethod };
  rec.action = classified.value.calls[0]?.spec.name ?? null;
  const source = { headers: request.headers, body: text };
  // Rules reading `task.*` are decided by the task's object as it admits: exact, and no read before.
  const taskState = task === null ? null : "deferred";
  const input = { req, classified: classified.value, source, agent: call.agent, task, taskState } as const;
  const decided = decideCall(bundle, input, call.at);
  if (!decided.ok) return decided;
  const { lead, steps } = decided.value;
  rec.action = lead.spec.name;
  rec.resource = lead.resource || null;
  if (!decided.value.pending) noteDecided(rec, decided.value);
  const [first, ...rest] = steps.map((s) => stepRequest(call, s));
  call.steps = [first!, ...rest];
  return { ok: true, decided: decided.value, body, rpcMethod };
}

function stepRequest(call: Call, s: DecidedStep): StepRequest {
  return {
    decision_id: call.rec.decision_id,
    action: s.spec.name,
    service: call.req.service.name,
    labels: labelsOf(s.spec),
    resource: s.resource,
    args: numericArgs(s.args),
    facts: s.facts,
    now: call.at.getTime(),
    ...(s.pending === null ? {} : { pending: s.pending }),
    ...(s.person ? { person: true } : {}),
  };
}

/** A refused call's step before it was decided: what the request asked for, no arguments. */
function bareStep(call: Call): StepRequest {
  const { req, rec } = call;
  const facts = { method: req.method, path: req.path, query: sortedQuery(req.query), args: {} };
  const base = { decision_id: rec.decision_id, service: req.service.name, labels: [], args: {}, facts };
  return { ...base, action: rec.action ?? "", resource: rec.resource ?? "", now: call.at.getTime() };
}

type Admitted = { ok: true; admission: Admission; body?: Uint8Array } | Refusal | { ok: false; response: Response };

/** A person decides: the approval lives in the task's object, bound to the whole request body. */
async function approveStep(
  call: Call,
  decided: Decided,
  body: Uint8Array | null,
  refuseStep: (r: Refusal) => Response,
): Promise<Admitted> {
  const { request, req, bundle, rec, task, deps } = call;
  const person = decided.person!;
  rec.rules = person.rules;
  // A bare workload token (bare_workload_tokens: true) cannot hold an approval: the record lives in
  // a task. The decision is still what the rules said; the message says how to get one.
  if (task === null) {
    const message =
      "This call needs a person's approval, and approvals need a task: start one at /_firebreak/v1/tasks.";
    return { ok: false, reason: "approval.required", message, detail: "no task: no approval opened" };
  }
  let mediaType = decided.mediaType;
  if (body === null) {
    // The approver is shown what the upstream will parse: the body is read the upstream's way too.
    const read = await readApprovedBody(request, req.service, decided.lead.spec, bundle.spec.settings.max_body_bytes);
    if (!read.ok) return { ok: false, response: refuseStep(read) };
    ({ body, mediaType } = read);
    if (mediaType !== "") for (const s of decided.steps) s.facts.media_type = mediaType;
  }
  const approved = await approve({
    request,
    req,
    spec: decided.lead.spec,
    resource: decided.lead.resource,
    args: decided.lead.facts.args,
    headers: decided.headers,
    mediaType,
    body,
    agent: call.agent,
    task,
    steps: call.steps!,
    needed: person,
    env: deps.env,
    origin: gatewayOrigin(deps.env) || new URL(request.url).origin,
    fetcher: deps.fetcher,
    background: deps.background,
    now: deps.now,
  });
  if (!approved.ok) return approved;
  rec.effect = "allow";
  rec.reason = "approval.granted";
  rec.detail = `approval ${approved.approvalId}`;
  return { ok: true, admission: approved.admission, body };
}

function setAgent(rec: DecisionRecord, agent: Agent, task: TaskRef | null): void {
  rec.agent_issuer = agent.issuer;
  rec.agent_sub = agent.sub;
  rec.task_id = task?.id ?? null;
}

/** The decision, in the record: the lead step's, and how many steps the call had. */
function noteDecided(rec: DecisionRecord, decided: Decided): void {
  const { lead, steps } = decided;
  rec.action = lead.spec.name;
  rec.resource = lead.resource || null;
  if (steps.length > 1) rec.detail = `${steps.length} steps: ${steps.map((s) => s.spec.name).join(",")}`.slice(0, 256);
  applyDecision(rec, decided.decision);
}

function applyDecision(rec: DecisionRecord, d: Decision): void {
  rec.effect = d.effect;
  rec.reason = d.reason;
  rec.rules = d.rules;
  rec.would = d.report && { effect: d.report.effect, reason: d.report.reason, rules: d.report.rules };
}
