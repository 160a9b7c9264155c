/**
 * Decides a request for a given, already-verified agent with the worker's own stages (route,
 * classify, facts, decide): what `firebreak test` and `firebreak explain` run. Pure.
 */

import type { Reason } from "../core/reasons";
import { type Agent, type Decision, decide } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import { classify, resourceFor } from "./classify";
import { extractArgs, needsBody } from "./facts";
import { semanticHeaders } from "./headers";
import { route } from "./route";

export interface ExplainRequest {
  method: string;
  /** `/<service>/<path>?<query>`, as an agent sends it to the gateway. */
  url: string;
  headers?: Record<string, string>;
  /** A JSON value (sent as application/json) or a string with its content-type header. */
  body?: unknown;
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
}

export function explainRequest(bundle: LoadedBundle, agent: Agent, input: ExplainRequest, now: Date): Explanation {
  const headers = new Headers(input.headers ?? {});
  let body: string | null = null;
  if (input.body !== undefined) {
    if (typeof input.body === "string") body = input.body;
    else {
      body = JSON.stringify(input.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
  }
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
  };
  const refused = (reason: Reason) => {
    out.decision = { effect: "deny", reason, rules: [], message: null, report: null };
    return out;
  };
  const routed = route(
    { method: input.method, url: `http://gateway${input.url}`, headers },
    bundle.spec.services,
    undefined,
  );
  if (!routed.ok) return refused(routed.reason);
  const classified = classify(bundle, routed.request);
  if (!classified.ok) return refused(classified.reason);
  const { action, spec, params } = classified.value;
  Object.assign(out, { action: spec.name, kind: spec.kind, risk: spec.risk, data: spec.data, params });
  // Fix: read the body only when the worker would (src/gateway/pipeline.ts): a body the worker never
  // parses (a text body on an action without declared arguments, any GET body) used to be refused here.
  const reads =
    needsBody(routed.request.service, spec) && routed.request.method !== "GET" && routed.request.method !== "HEAD";
  const facts = extractArgs(
    routed.request.service,
    spec,
    routed.request.query,
    headers.get("content-type"),
    reads ? body : null,
  );
  if (!facts.ok) return refused(facts.reason);
  const semantic = semanticHeaders(headers, routed.request.service);
  if (!semantic.ok) return refused(semantic.reason);
  out.args = facts.args;
  const resource = resourceFor(routed.request.service, spec, params, facts.args, semantic.headers);
  out.resource = resource;
  const request = {
    method: routed.request.method,
    path: routed.request.path,
    params,
    query: routed.request.query,
    args: facts.args,
    headers: semantic.headers,
  };
  out.decision = decide(bundle, { agent, action, resource, request, task: {}, now });
  for (const id of [...out.decision.rules, ...(out.decision.report?.rules ?? [])]) {
    const rule = bundle.spec.rules.find((r) => r.id === id);
    if (rule) out.sources[id] = rule.source;
  }
  return out;
}
