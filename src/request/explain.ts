/**
 * Decides a request for a given, already-verified agent with the worker's own stages (route,
 * classify, facts, decide): what `firebreak test` and `firebreak explain` run. Pure.
 */

import type { Reason } from "../core/reasons";
import { type Agent, agentMatches, type Decision } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import type { ActionSpec } from "../policy/types";
import { classifyBody, classifyCall, type Decided, decideCall, labelsOf } from "./decide-call";
import { route } from "./route";

export interface ExplainRequest {
  method: string;
  /** `/<service>/<path>?<query>`, as an agent sends it to the gateway. */
  url: string;
  headers?: Record<string, string>;
  /** A JSON value (sent as application/json) or a string with its content-type header. */
  body?: unknown;
  /** The task the call is a step of (its profile's approval risk and limits apply); absent: no task. */
  task?: { id: string; profile: string };
}

export interface Explanation {
  action: string | null;
  kind: string | null;
  risk: string | null;
  data: string[];
  resource: string | null;
  params: Record<string, string>;
  args: Record<string, unknown>;
  decision: Decision | { effect: "deny"; reason: Reason; rules: string[]; message: string | null; report: null };
  /** Rule ids with their source `file:line`, for the rules that decided. */
  sources: Record<string, string>;
  /** A GraphQL document's or MCP message's steps, when there are several: where, which action, its effect. */
  steps?: { at: string; action: string; decision: string }[];
  /** A person must approve the call before it goes out (a rule or the task profile's approval risk). */
  person: { rules: string[]; ttl_s: number } | null;
  /**
   * What could still refuse the call when its task admits it: the profile's budgets and sequence rules
   * that count or order this action, and rules whose conditions read the task's state (explain decides
   * with a task that has made no call yet). Each entry names the reason code it would refuse with.
   */
  limits: string[];
}

export function explainRequest(bundle: LoadedBundle, agent: Agent, input: ExplainRequest, now: Date): Explanation {
  const { headers, body } = requestOf(input);
  const out: Explanation = {
    action: null,
    kind: null,
    risk: null,
    data: [],
    resource: null,
    params: {},
    args: {},
    decision: { effect: "deny", reason: "internal.error", rules: [], message: null, report: null },
    sources: {},
    person: null,
    limits: [],
  };
  const refused = (reason: Reason) => {
    out.decision = { effect: "deny", reason, rules: [], message: null, report: null };
    return out;
  };
  const url = `http://gateway${input.url}`;
  const routed = route({ method: input.method, url, headers }, bundle.spec.services, undefined);
  if (!routed.ok) return refused(routed.reason);
  const req = routed.request;
  const found = classifyCall(bundle, req);
  if (!found.ok) return refused(found.reason);
  const text = found.value.needsBody ? body : null;
  const classified = classifyBody(bundle, req, found.value, text, headers);
  if (!classified.ok) return refused(classified.reason);
  if (classified.value.calls.length === 0) {
    // An MCP message that names no action (initialize, ping, a list): the gateway passes it.
    out.decision = { effect: "allow", reason: "policy.allowed", rules: [], message: null, report: null };
    return out;
  }
  const task = input.task ?? null;
  const call = { req, classified: classified.value, source: { headers, body: text }, agent, task, taskState: null };
  const decided = decideCall(bundle, call, now);
  if (!decided.ok) return refused(decided.reason);
  describe(out, bundle, decided.value);
  const reads = classified.value.needsTaskState;
  const steps = decided.value.steps;
  out.limits =
    task === null ? [] : steps.flatMap((s) => limitsThatCouldRefuse(bundle, task.profile, agent, s.spec, reads));
  return out;
}

/** The request as the worker would get it: a JSON body is sent as application/json. */
function requestOf(input: ExplainRequest): { headers: Headers; body: string | null } {
  const headers = new Headers(input.headers ?? {});
  if (input.body === undefined) return { headers, body: null };
  if (typeof input.body === "string") return { headers, body: input.body };
  if (!headers.has("content-type")) headers.set("content-type", "application/json");
  return { headers, body: JSON.stringify(input.body) };
}

/** The decided call as explain shows it: the lead step, each step when there are several, the rules' sources. */
function describe(out: Explanation, bundle: LoadedBundle, decided: Decided): void {
  const { lead, steps, decision, person } = decided;
  const { spec, params, args, resource } = lead;
  Object.assign(out, { action: spec.name, kind: spec.kind, risk: spec.risk, data: spec.data, params, args, resource });
  Object.assign(out, { decision, person: person && { rules: person.rules, ttl_s: person.ttl_s } });
  if (steps.length > 1) out.steps = steps.map((s) => ({ at: s.at, action: s.spec.name, decision: s.decision.effect }));
  for (const id of [...decision.rules, ...(decision.report?.rules ?? [])]) {
    const rule = bundle.rulesById.get(id);
    if (rule) out.sources[id] = rule.source;
  }
}

/** What admission in a task of `profileName` could still refuse this action with (src/tasks/admission.ts). */
function limitsThatCouldRefuse(
  bundle: LoadedBundle,
  profileName: string,
  agent: Agent,
  spec: ActionSpec,
  readsTaskState: boolean,
): string[] {
  const profile = bundle.profiles.get(profileName);
  if (!profile) return [`no profile named ${profileName} in this bundle: a task of it cannot start`];
  if (!agentMatches(profile.agents, agent))
    return [`task.profile_denied: this agent may not start a ${profileName} task`];
  const action = spec.name;
  if (!profile.actions.includes(action)) return [`task.action_not_in_profile: ${profileName} does not allow ${action}`];
  const { budgets: b, sequence: seq } = profile;
  const labels = labelsOf(spec);
  const out: string[] = [];
  if (b.calls !== null) out.push(`budget.exhausted: at most ${b.calls} calls in the task`);
  if (b.per_action[action] !== undefined) out.push(`budget.exhausted: at most ${b.per_action[action]} ${action}`);
  for (const l of labels) {
    if (b.per_label[l] !== undefined) out.push(`budget.exhausted: at most ${b.per_label[l]} calls labelled ${l}`);
  }
  if (b.services !== null) out.push(`budget.services: at most ${b.services} services in the task`);
  for (const w of b.windows) out.push(`budget.window: at most ${w.calls} calls in ${w.seconds} s`);
  for (const t of b.totals) {
    if (t.action === action) out.push(`budget.total_exceeded: ${t.arg} totals at most ${t.max}`);
  }
  for (const r of seq.requires) {
    if (r.action === action) out.push(`sequence.requires: only after ${r.after.join(" or ")} succeeded`);
  }
  for (const f of seq.forbid_after) {
    if (f.deny.some((l) => labels.includes(l))) {
      out.push(`sequence.forbidden_after: refused once ${f.read.join(" or ")} was read`);
    }
  }
  for (const c of seq.correlate) {
    if (c.action === action) out.push(`sequence.unread_resource: only a resource ${c.read_by.join(" or ")} returned`);
  }
  if (readsTaskState)
    out.push("rules read task.calls, task.services or task.labels_read: decided here as at the task's start");
  return out;
}
