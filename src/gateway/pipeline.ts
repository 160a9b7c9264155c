/**
 * The request path, in DESIGN.md's order. Each stage returns a result; the first refusal ends the
 * request with its reason, and every request, refused or forwarded, ends in exactly one record.
 *
 *   1. route     service + canonical request from one parse of the URL (pure)
 *   2. identity  the agent's bearer token verified against the bundle's issuers
 *   3. classify  method + canonical path -> exactly one catalog action (pure)
 *      facts     declared arguments from the (bounded) body and query; the resource (pure)
 *   4. decide    the bundle's rules, default deny (pure)
 *   5. admit     the task's Durable Object reserves the step (no task, bare workload token: admitted);
 *      approve   or, when a person must decide, opens the approval / redeems it with the step
 *   6. forward   the real credential injected, the agent's removed, redirects not followed
 *   7. record    Analytics Engine data point + one JSON log line
 */

import type { Refusal, Result } from "../core/result";
import { blankRecord, type DecisionRecord } from "../decisions/record";
import { gatewayOrigin, verifyCaller } from "../identity/caller";
import { bearerToken } from "../identity/workload";
import type { Agent, Decision } from "../policy/evaluate";
import { decide } from "../policy/evaluate";
import type { BundleState } from "../policy/load";
import type { ActionSpec } from "../policy/types";
import { classify, resourceFor } from "../request/classify";
import { personNeeded, readsTaskState } from "../request/decide";
import { bodyFields, bodyFormatOf, extractArgs, type MediaType, needsBody } from "../request/facts";
import { semanticHeaders } from "../request/headers";
import { type CanonicalRequest, route, sortedQuery } from "../request/route";
import type { StepFacts } from "../tasks/types";
import { type Admission, admit, labelsOf, logRefused, numericArgs, type Step, taskView } from "./admit";
import { approve } from "./approve";
import { forward } from "./forward";
import { type AnalyticsSink, record } from "./record";
import { decisionResponse, dialectOf, refusalResponse } from "./respond";

export interface Deps {
  /** The bundle, or why it could not be loaded: then every call is refused (fail closed). */
  bundle: BundleState;
  env: Record<string, unknown>;
  gatewayDomain: string | undefined;
  now: () => Date;
  fetcher: (request: Request) => Promise<Response>;
  analytics: AnalyticsSink | undefined;
  newId: () => string;
  /** Work that outlives the response (approval notifications): `ctx.waitUntil`. */
  background: (work: Promise<unknown>) => void;
}

export async function handleProxy(request: Request, deps: Deps): Promise<Response> {
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
  const { now } = deps;
  const stop = (refusal: Refusal) => {
    rec.reason = refusal.reason;
    rec.detail = refusal.detail ?? null;
    return refusalResponse(refusal, rec, dialectOf(deps.bundle, rec.service));
  };
  if (!deps.bundle.ok) return stop({ ok: false, reason: "bundle.invalid", detail: deps.bundle.error });
  const { bundle } = deps.bundle;

  const routed = route(request, bundle.spec.services, deps.gatewayDomain);
  if (!routed.ok) return stop(routed);
  const req = routed.request;
  rec.service = req.service.name;
  rec.path = req.path;

  const bearer = bearerToken(req.authorization);
  if (!bearer.ok) return stop(bearer);
  const identity = await verifyCaller(bearer.token, bundle.spec, deps.env, now());
  if (!identity.ok) return stop(identity);
  const { agent, task } = identity.caller;
  setAgent(rec, agent);
  rec.task_id = task?.id ?? null;
  if (task === null && !bundle.spec.settings.bare_workload_tokens) return stop({ ok: false, reason: "task.required" });
  // From here on a task's call is a step of it: a refusal the task object does not make itself is
  // written to its log too (in the background; it counts nothing), so the log holds every call.
  let stepFacts: StepFacts | undefined;
  const refuse = (refusal: Refusal) => {
    if (task !== null) {
      const step: Step = {
        decisionId: rec.decision_id,
        action: rec.action ?? "",
        service: req.service.name,
        resource: rec.resource ?? "",
        labels: [],
        args: {},
        facts: stepFacts ?? { method: req.method, path: req.path, query: sortedQuery(req.query), args: {} },
        now: now().getTime(),
      };
      deps.background(logRefused(step, refusal.reason, task, deps.env));
    }
    return stop(refusal);
  };

  const classified = classify(bundle, req);
  if (!classified.ok) return refuse(classified);
  const { action, spec, params } = classified.value;
  rec.action = spec.name;

  const semantic = semanticHeaders(request.headers, req.service);
  if (!semantic.ok) return refuse(semantic);
  const { headers } = semantic;
  const facts = await requestFacts(request, req, spec, bundle.spec.settings.max_body_bytes);
  if (!facts.ok) return refuse(facts);
  let { body, mediaType } = facts;
  const resource = resourceFor(req.service, spec, params, facts.args, headers);
  rec.resource = resource || null;
  stepFacts = callFacts(req, facts.args, headers, mediaType);

  // CEL `task`: the id and profile from the token; the task's counters only when a rule that can decide
  // this action reads them (one more RPC before the decision), so calls no such rule covers pay nothing.
  let taskVar: Record<string, unknown> = {};
  if (task !== null) {
    taskVar = { id: task.id, profile: task.profile };
    if (readsTaskState(bundle, action)) {
      try {
        const view = await taskView(task, deps.env);
        if (view !== null) taskVar = { ...taskVar, ...view };
      } catch (e) {
        return stop({ ok: false, reason: "task.unavailable", detail: `view: ${(e as Error)?.message ?? "error"}` });
      }
    }
  }
  const decision = decide(bundle, {
    agent,
    action,
    resource,
    request: { method: req.method, path: req.path, params, query: req.query, args: facts.args, headers },
    task: taskVar,
    now: now(),
  });
  applyDecision(rec, decision);
  const person = personNeeded(bundle, decision, spec, task ? (bundle.profiles.get(task.profile) ?? null) : null);
  if (decision.effect === "deny") {
    return refuse({ ok: false, reason: decision.reason, message: decision.message, detail: decision.rules.join(",") });
  }

  const secret = deps.env[req.service.credential.secret];
  if (typeof secret !== "string" || secret === "") {
    return refuse({ ok: false, reason: "credential.unavailable", detail: req.service.credential.secret });
  }
  const step: Step = {
    decisionId: rec.decision_id,
    action: spec.name,
    service: req.service.name,
    resource,
    labels: labelsOf(spec),
    args: numericArgs(facts.args),
    facts: stepFacts,
    now: now().getTime(),
  };
  let admission: Admission;
  if (person === null) {
    const admitted = await admit(step, task, deps.env);
    if (!admitted.ok) return stop(admitted);
    admission = admitted.admission;
  } else {
    // A person decides: the approval lives in the task's object, bound to the whole request body.
    rec.rules = person.rules;
    // A bare workload token (bare_workload_tokens: true) cannot hold an approval: the record lives in
    // a task. The decision is still what the rules said; the message says how to get one.
    if (task === null) {
      const message =
        "This call needs a person's approval, and approvals need a task: start one at /_firebreak/v1/tasks.";
      return stop({ ok: false, reason: "approval.required", message, detail: "no task: no approval opened" });
    }
    if (body === null) {
      // The approver is shown what the upstream will parse: the body is read the upstream's way too.
      const read = await readApprovedBody(request, req, spec, bundle.spec.settings.max_body_bytes);
      if (!read.ok) return refuse(read);
      ({ body, mediaType } = read);
      if (mediaType !== "") stepFacts.media_type = mediaType;
    }
    const approved = await approve({
      request,
      req,
      spec,
      resource,
      args: stepFacts.args,
      headers,
      mediaType,
      body,
      agent,
      task,
      step,
      needed: person,
      env: deps.env,
      origin: gatewayOrigin(deps.env) || new URL(request.url).origin,
      fetcher: deps.fetcher,
      background: deps.background,
    });
    if (!approved.ok) return stop(approved);
    admission = approved.admission;
    rec.effect = "allow";
    rec.reason = "approval.granted";
    rec.detail = `approval ${approved.approvalId}`;
  }

  const forwarded = await forward({
    req,
    headers: request.headers,
    body: body ?? request.body,
    secret,
    settings: bundle.spec.settings,
    fetcher: deps.fetcher,
  });
  const settleProblem = await admission.settle(
    forwarded.ok ? forwarded.response.status : forwarded.reason === "upstream.timeout" ? "timeout" : null,
    now().getTime(),
  );
  if (settleProblem) rec.detail = settleProblem;
  if (!forwarded.ok) return stop(forwarded);
  rec.upstream_status = forwarded.response.status;
  return decisionResponse(forwarded.response, rec);
}

type Read = Result<{ body: Uint8Array | null; mediaType: MediaType }>;

/** The declared arguments, from the query and (read only when the action needs it) the bounded body. */
async function requestFacts(
  request: Request,
  req: CanonicalRequest,
  spec: ActionSpec,
  maxBodyBytes: number,
): Promise<Result<{ body: Uint8Array | null; mediaType: MediaType; args: Record<string, unknown> }>> {
  let body: Uint8Array | null = null;
  if (needsBody(req.service, spec) && req.method !== "GET" && req.method !== "HEAD") {
    const read = await readBounded(request, maxBodyBytes);
    if (!read.ok) return read;
    body = read.bytes;
  }
  const text = body === null ? null : decodeUtf8(body);
  if (text === undefined) return { ok: false, reason: "request.body_invalid", detail: "body is not UTF-8" };
  const facts = extractArgs(req.service, spec, req.query, request.headers.get("content-type"), text);
  return facts.ok ? { ok: true, body, args: facts.args, mediaType: facts.mediaType } : facts;
}

/** A body an approval binds, read and checked to parse as the upstream parses it. */
async function readApprovedBody(
  request: Request,
  req: CanonicalRequest,
  spec: ActionSpec,
  maxBodyBytes: number,
): Promise<Read> {
  const read = await readBounded(request, maxBodyBytes);
  if (!read.ok) return read;
  if (read.bytes.byteLength === 0) return { ok: true, body: read.bytes, mediaType: "" };
  const text = decodeUtf8(read.bytes);
  if (text === undefined) return { ok: false, reason: "request.body_invalid", detail: "body is not UTF-8" };
  const fields = bodyFields(bodyFormatOf(req.service, spec), request.headers.get("content-type"), text);
  return fields.ok ? { ok: true, body: read.bytes, mediaType: fields.mediaType } : fields;
}

/** What the step log keeps of a call (never a body, a token or a header other than the semantic ones). */
function callFacts(
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

function setAgent(rec: DecisionRecord, agent: Agent): void {
  rec.agent_issuer = agent.issuer;
  rec.agent_sub = agent.sub;
}

function applyDecision(rec: DecisionRecord, d: Decision): void {
  rec.effect = d.effect;
  rec.reason = d.reason;
  rec.rules = d.rules;
  rec.would = d.report && { effect: d.report.effect, reason: d.report.reason, rules: d.report.rules };
}

async function readBounded(request: Request, max: number): Promise<{ ok: true; bytes: Uint8Array } | Refusal> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) return { ok: false, reason: "request.body_too_large" };
  if (!request.body) return { ok: true, bytes: new Uint8Array(0) };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return { ok: false, reason: "request.body_too_large" };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return { ok: true, bytes };
}

/** Strict UTF-8: a body policy reads must mean the same to the upstream, so no replacement characters. */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    // ignoreBOM keeps a byte order mark in the text, so JSON.parse refuses what some upstreams skip.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
