/**
 * One recorded call, decided again with a candidate bundle by the gateway's own front half
 * (`classifyCall` + `decideCall`, src/request/decide-call.ts) at the time the call was decided. Nothing
 * here decides on its own; it only rebuilds the input the gateway built from what the log kept. Pure.
 */

import type { Result } from "../core/result";
import { issuersOf } from "../identity/caller";
import type { Agent, Outcome } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import { own } from "../policy/routes";
import { METHODS, type Method } from "../policy/types";
import { readsTaskState } from "../request/decide";
import { type Classified, classifyCall, decideCall, type StepFacts } from "../request/decide-call";
import type { MediaType } from "../request/facts";
import type { CanonicalRequest } from "../request/route";
import type { TaskState } from "./history";
import type { LoggedTask } from "./log";

export interface Redecided {
  effect: Outcome;
  reason: string;
  /** The rules that decide now (`profile:<name>` when the profile's approval risk asks for a person). */
  rules: string[];
  /** The action as the candidate classifies the call (null: it does not). */
  action: string | null;
  resource: string | null;
}

export interface Call {
  task: LoggedTask;
  service: string;
  /** The action the deployed bundle classified the step as (a GraphQL or MCP step is found by it). */
  action: string | null;
  facts: StepFacts;
  state: TaskState;
  /** Epoch milliseconds: the recorded time, the decision's `now`. */
  ts: number;
}

const refused = (reason: string): Redecided => ({ effect: "deny", reason, rules: [], action: null, resource: null });

export function redecide(bundle: LoadedBundle, call: Call): Redecided {
  const { facts, task } = call;
  const service = own(bundle.spec.services, call.service);
  if (!service) return refused("route.unknown_service");
  if (!(METHODS as readonly string[]).includes(facts.method)) return refused("route.bad_method");
  const agent = agentOf(bundle, task);
  if (!agent) return refused("identity.unknown_issuer");

  const segments = facts.path === "/" ? [] : facts.path.slice(1).split("/");
  const query: Record<string, string> = Object.create(null);
  for (const [k, v] of facts.query) query[k] = v;
  const req: CanonicalRequest = {
    service,
    method: facts.method as Method,
    segments,
    path: facts.path,
    rawQuery: "",
    query,
    authorization: null,
  };
  const classified = classifiedStep(bundle, req, call);
  if (!classified.ok) return refused(classified.reason);
  // The declared arguments the deployed catalog read then (the body is not kept to read them again).
  const mediaType = (facts.media_type ?? "") as MediaType;
  const source = { recorded: { args: facts.args, headers: facts.headers ?? {}, mediaType } };
  const taskRef = { id: task.task_id, profile: task.profile };
  const input = { req, classified: classified.value, source, agent, task: taskRef, taskState: { ...call.state } };
  const decided = decideCall(bundle, input, new Date(call.ts));
  if (!decided.ok) return refused(decided.reason);
  const { decision, person, lead } = decided.value;
  const now = { action: lead.spec.name, resource: lead.resource };
  if (decision.effect === "deny") return { effect: "deny", reason: decision.reason, rules: decision.rules, ...now };
  // A rule that allows, overridden by the profile's approval risk: the agent is told approval.required.
  const reason = decision.effect === "allow" ? "approval.required" : decision.reason;
  if (person) return { effect: "approval_required", reason, rules: person.rules, ...now };
  return { effect: decision.effect, reason: decision.reason, rules: decision.rules, ...now };
}

/**
 * A REST step is classified again by its method and path. A step of a GraphQL document or MCP message
 * (its facts say where it was, `at`) is the action of the same name, if the candidate still maps it at
 * the service's endpoint; the document itself is not kept, so it is not parsed again.
 */
function classifiedStep(bundle: LoadedBundle, req: CanonicalRequest, call: Call): Result<{ value: Classified }> {
  const classified = classifyCall(bundle, req);
  if (!classified.ok || classified.value.endpoint === null) return classified;
  const index = bundle.actionIndex.get(call.action ?? "");
  const spec = index === undefined ? undefined : bundle.spec.actions[index];
  const endpoint = classified.value.endpoint === "graphql" ? req.service.graphql : req.service.mcp;
  const maps =
    endpoint === null
      ? []
      : "tools" in endpoint
        ? [endpoint.tools, endpoint.resources, endpoint.prompts]
        : [endpoint.query, endpoint.mutation];
  if (index === undefined || spec === undefined || !maps.some((m) => Object.values(m).includes(index))) {
    return { ok: false, reason: "action.unknown" };
  }
  const step = { action: index, spec, params: {}, args: call.facts.args, at: call.facts.at ?? "" };
  return { ok: true, value: { ...classified.value, calls: [step], needsTaskState: readsTaskState(bundle, index) } };
}

/**
 * The agent as a task token presents it (src/identity/caller.ts): its issuer looked up in the bundle
 * by name (an issuer the candidate drops refuses the call), the claims limited to that issuer's.
 */
function agentOf(bundle: LoadedBundle, task: LoggedTask): Agent | null {
  const issuer = issuersOf(bundle.spec, "workload").find((i) => i.name === task.agent.issuer);
  if (!issuer) return null;
  const claims: Record<string, unknown> = {};
  for (const name of issuer.claims) if (Object.hasOwn(task.agent.claims, name)) claims[name] = task.agent.claims[name];
  return { issuer: issuer.name, iss: issuer.issuer, sub: task.agent.sub, claims };
}
