/**
 * One recorded call, decided again with a candidate bundle by the worker's own stages: classify
 * (src/request/classify.ts), the resource template, `decide()` (src/policy/evaluate.ts) and the
 * profile's approval risk (`personNeeded`, src/gateway/approve.ts). Nothing here decides on its own;
 * it only rebuilds the input the gateway would have built from what the log kept. Pure.
 */

import { issuersOf } from "../identity/caller";
import { type Agent, decide, type Outcome } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import { own } from "../policy/routes";
import { METHODS, type Method } from "../policy/types";
import { classify, resourceFor } from "../request/classify";
import { personNeeded, readsTaskState } from "../request/decide";
import type { CanonicalRequest } from "../request/route";
import type { StepFacts } from "../tasks/types";
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
  const classified = classify(bundle, req);
  if (!classified.ok) return refused(classified.reason);
  const { action, spec, params } = classified.value;
  // The declared arguments the deployed catalog read then (the body is not kept to read them again).
  const args: Record<string, unknown> = Object.assign(Object.create(null), facts.args);
  const headers: Record<string, string> = Object.assign(Object.create(null), facts.headers ?? {});
  const resource = resourceFor(service, spec, params, args, headers);

  let taskVar: Record<string, unknown> = { id: task.task_id, profile: task.profile };
  if (readsTaskState(bundle, action)) taskVar = { ...taskVar, ...call.state };
  const decision = decide(bundle, {
    agent,
    action,
    resource,
    request: { method: req.method, path: req.path, params, query, args, headers },
    task: taskVar,
    now: new Date(call.ts),
  });
  const now = { action: spec.name, resource };
  if (decision.effect === "deny") return { effect: "deny", reason: decision.reason, rules: decision.rules, ...now };
  const person = personNeeded(bundle, decision, spec, bundle.profiles.get(task.profile) ?? null);
  // A rule that allows, overridden by the profile's approval risk: the agent is told approval.required.
  const reason = decision.effect === "allow" ? "approval.required" : decision.reason;
  if (person) return { effect: "approval_required", reason, rules: person.rules, ...now };
  return { effect: decision.effect, reason: decision.reason, rules: decision.rules, ...now };
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
