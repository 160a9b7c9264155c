/**
 * Which standard each reason code answers to: every code belongs to one family, and a family carries
 * the OWASP Agentic (ASI) id, the CSA MAESTRO layer and the NIST AI RMF functions of the control that
 * refused. `REASON_FAMILY` is a `Record<Reason, Family>`, so a new reason code cannot compile without
 * one. docs/standards.md is generated from these tables (`firebreak standards`), and the decision
 * record's `asi` field is `asiOf(reason)`.
 *
 * MAESTRO layers are where the control sits in Firebreak: L4 the HTTP front door (one parse of the
 * URL and headers), L3 the tool call as the agent framework sends it (classification, arguments,
 * GraphQL, MCP), L6 identity, policy, approvals and task limits, L5 the record, L7 the third-party
 * tools and servers the agent reaches.
 */
import type { Reason } from "./reasons";
import type { AsiId, StandardsRef } from "./standards";

export interface Family {
  title: string;
  standards: StandardsRef;
  /** Why these codes map there: one or two sentences for docs/standards.md. */
  why: string;
}

const ref = (asi: AsiId | null, maestro: StandardsRef["maestro"], ...nist: StandardsRef["nist"]): StandardsRef => ({
  asi,
  maestro,
  nist,
});

export const FAMILIES = {
  allowed: {
    title: "Allowed and recorded",
    standards: ref(null, "L5", "MEASURE"),
    why: "No agentic risk was refused: the call was allowed (by a rule or a person's approval) and forwarded. Its record is the measurement.",
  },
  upstream: {
    title: "Allowed, the upstream failed",
    standards: ref(null, "L4", "MEASURE"),
    why: "The call was allowed and sent; the upstream did not answer. An availability fact, not a refusal: recorded, with no ASI id.",
  },
  front_door: {
    title: "Ambiguous or smuggled HTTP",
    standards: ref("ASI02", "L4", "MANAGE"),
    why: "A request the gateway and the upstream could read differently (encoded slashes, dot segments, method overrides, duplicate or oversized parts) is how a tool call evades classification: refused before it is classified, never guessed (Tool Misuse and Exploitation).",
  },
  unprovisioned: {
    title: "Tools that are not provisioned",
    standards: ref("ASI02", "L3", "MAP", "MANAGE"),
    why: "A service, action or endpoint that is not in the catalog, or is marked never allowed: the agent reached for a tool it was not given. Classification is the MAP step that makes the rest decidable.",
  },
  arguments: {
    title: "Arguments the upstream would read differently",
    standards: ref("ASI02", "L3", "MAP", "MANAGE"),
    why: "Bodies, arguments and semantic headers that parse two ways (duplicate keys, an argument in two places, a content type the upstream reads otherwise) would let a rule check one call while the tool executes another.",
  },
  protocol: {
    title: "GraphQL and MCP calls that cannot be classified with certainty",
    standards: ref("ASI02", "L3", "MAP", "MANAGE"),
    why: "Batches, persisted queries, ambiguous operations, introspection, JSON-RPC batches and Mcp-* headers that disagree with the body: each is a way to run a tool call other than the one that was decided.",
  },
  tool_supply: {
    title: "Tool lists from the upstream that cannot be checked",
    standards: ref("ASI04", "L7", "MANAGE"),
    why: "An MCP server's tools/list answer is third-party tool metadata the model will trust; one that cannot be read to filter it is dropped, not passed on (Agentic Supply Chain Vulnerabilities).",
  },
  bundle: {
    title: "The policy bundle",
    standards: ref("ASI04", "L4", "GOVERN", "MANAGE"),
    why: "The bundle is the gateway's own supply chain (policies compiled, tested and shipped with the worker); one that does not load is never replaced by a guess, and every call fails closed.",
  },
  policy: {
    title: "Policy refusals",
    standards: ref("ASI02", "L6", "MANAGE"),
    why: "Default deny, deny rules and conditions that cannot be evaluated: the agent asked for a tool use its policy does not grant (least agency against Tool Misuse and Exploitation).",
  },
  task_tools: {
    title: "Outside the task's tools and sequence",
    standards: ref("ASI02", "L6", "MANAGE"),
    why: "An action the task's profile does not list, a step without the earlier step it needs, a write to a resource the task never read, and the toxic flow (labelled data read, then a write outside the allowed services): legitimate tools chained into misuse, which is also what a hijacked goal (ASI01) looks like from the gateway.",
  },
  blast_radius: {
    title: "Budgets, windows and running totals",
    standards: ref("ASI08", "L6", "MANAGE"),
    why: "Caps on how far one task or one agent reaches (calls, services, amounts, rate, live tasks, starts, step log size) stop a loop or a fault from propagating into many actions (Cascading Failures).",
  },
  identity: {
    title: "Identity",
    standards: ref("ASI03", "L6", "MANAGE"),
    why: "Missing, forged, expired, over-long-lived or mis-addressed tokens, a second credential in one request, a credential carried by the agent itself: the agent is not who it claims, or holds more than it should (Identity and Privilege Abuse).",
  },
  task_identity: {
    title: "Task tokens and task scope",
    standards: ref("ASI03", "L6", "MANAGE"),
    why: "A task binds an agent to a profile, a scope and a lifetime; a token used outside its task, after it ended, for another agent, or beyond its scope is privilege used where it was not delegated.",
  },
  credential: {
    title: "Upstream credentials",
    standards: ref("ASI03", "L6", "MANAGE"),
    why: "The upstream credential is minted per task and narrowed to its scope; when that cannot be done the call is refused rather than sent with a broader or shared credential.",
  },
  operator: {
    title: "Operator and approver privilege",
    standards: ref("ASI03", "L6", "GOVERN", "MANAGE"),
    why: "Operator routes and approvals need a person the policy names (settings.admins, a rule's approvers): anyone else is refused (GOVERN: who may decide is the organisation's policy).",
  },
  approval: {
    title: "Human approvals",
    standards: ref("ASI09", "L6", "GOVERN", "MANAGE"),
    why: "The person in the loop decides exactly the request they saw, once, in time, not under their own identity and not by an agent; approval floods are capped so a person is not worn down into approving (Human-Agent Trust Exploitation).",
  },
  kill_switch: {
    title: "Revoked tasks and agents",
    standards: ref("ASI10", "L6", "MANAGE"),
    why: "An operator's revoke or the agent kill switch stops an agent that acts outside its intended function (Rogue Agents).",
  },
  fail_closed: {
    title: "Dependencies that fail closed",
    standards: ref("ASI08", "L4", "MANAGE"),
    why: "When the task's object, the agent's object, the signing keys or Firebreak itself fails, nothing is forwarded: a broken component never turns into unchecked calls (Cascading Failures).",
  },
  records: {
    title: "Reading the decision record",
    standards: ref(null, "L5", "MEASURE"),
    why: "Firebreak's own decisions query, not an agent's call: no agentic risk, the MEASURE function's tooling.",
  },
} as const satisfies Record<string, Family>;

export type FamilyId = keyof typeof FAMILIES;

/** Every reason code's family: exhaustive over REASONS, so a new code cannot compile without one. */
export const REASON_FAMILY: Record<Reason, FamilyId> = {
  "policy.allowed": "allowed",
  "approval.granted": "allowed",
  "upstream.unreachable": "upstream",
  "upstream.timeout": "upstream",

  "route.unknown_service": "unprovisioned",
  "route.not_found": "unprovisioned",
  "route.bad_method": "front_door",
  "route.method_override": "front_door",
  "route.encoded_slash": "front_door",
  "route.dot_segment": "front_door",
  "route.empty_segment": "front_door",
  "route.path_parameter": "front_door",
  "route.control_character": "front_door",
  "route.bad_encoding": "front_door",
  "route.duplicate_query": "front_door",
  "route.query_separator": "front_door",
  "route.duplicate_authorization": "identity",
  "request.url_too_long": "front_door",
  "request.headers_too_large": "front_door",

  "identity.missing": "identity",
  "identity.malformed": "identity",
  "identity.unknown_issuer": "identity",
  "identity.bad_algorithm": "identity",
  "identity.forbidden_header": "identity",
  "identity.bad_signature": "identity",
  "identity.expired": "identity",
  "identity.not_yet_valid": "identity",
  "identity.too_old": "identity",
  "identity.lifetime_too_long": "identity",
  "identity.token_too_large": "identity",
  "identity.bad_audience": "identity",
  "identity.missing_claim": "identity",
  "identity.bad_spiffe_id": "identity",
  "identity.jwks_unavailable": "identity",
  "request.agent_credential": "identity",

  "action.unknown": "unprovisioned",
  "action.forbidden": "unprovisioned",

  "request.body_too_large": "arguments",
  "request.body_invalid": "arguments",
  "request.arg_ambiguous": "arguments",
  "request.content_type": "arguments",
  "request.duplicate_key": "arguments",
  "request.header_ambiguous": "arguments",

  "graphql.method": "protocol",
  "graphql.batch": "protocol",
  "graphql.persisted_query": "protocol",
  "graphql.syntax": "protocol",
  "graphql.invalid": "protocol",
  "graphql.operation": "protocol",
  "graphql.subscription": "protocol",
  "graphql.variables": "protocol",
  "graphql.too_large": "protocol",
  "graphql.ambiguous": "protocol",
  "graphql.introspection": "protocol",
  "mcp.malformed": "protocol",
  "mcp.batch": "protocol",
  "mcp.header_mismatch": "protocol",
  "mcp.session_mismatch": "task_identity",
  "mcp.response_invalid": "tool_supply",

  "policy.denied": "policy",
  "policy.no_match": "policy",
  "policy.condition_error": "policy",

  "approval.required": "approval",
  "approval.pending": "approval",
  "approval.denied": "approval",
  "approval.expired": "approval",
  "approval.used": "approval",
  "approval.mismatch": "approval",
  "approval.unknown": "approval",
  "approval.pending_limit": "approval",
  "approval.agent_limit": "approval",
  "approval.csrf": "approval",
  "approval.decided": "approval",
  "approver.self": "approval",
  "approver.agent_identity": "approval",
  "approver.not_allowed": "operator",
  "admin.denied": "operator",

  "task.required": "task_identity",
  "task.profile_denied": "task_identity",
  "task.scope_required": "task_identity",
  "task.scope_denied": "task_identity",
  "task.out_of_scope": "task_identity",
  "task.mismatch": "task_identity",
  "task.agent_token_required": "task_identity",
  "task.agent_mismatch": "task_identity",
  "task.unknown": "task_identity",
  "task.completed": "task_identity",
  "task.expired": "task_identity",
  "task.revoked": "kill_switch",
  "agent.revoked": "kill_switch",
  "task.action_not_in_profile": "task_tools",
  "sequence.requires": "task_tools",
  "sequence.pending": "task_tools",
  "sequence.forbidden_after": "task_tools",
  "sequence.unread_resource": "task_tools",

  "task.log_full": "blast_radius",
  "budget.exhausted": "blast_radius",
  "budget.services": "blast_radius",
  "budget.window": "blast_radius",
  "budget.total_exceeded": "blast_radius",
  "budget.total_unknown": "blast_radius",
  "agent.live_tasks": "blast_radius",
  "agent.start_rate": "blast_radius",

  "task.unavailable": "fail_closed",
  "agent.unavailable": "fail_closed",
  "task.keys_unavailable": "fail_closed",
  "internal.error": "fail_closed",
  "bundle.invalid": "bundle",

  "decisions.invalid_query": "records",
  "decisions.unavailable": "records",
  "decisions.query_failed": "records",

  "credential.unavailable": "credential",
  "credential.unscoped": "credential",
  "credential.refused": "credential",
  "credential.unreachable": "credential",
  "credential.malformed": "credential",
};

export function standardsOf(reason: Reason): StandardsRef {
  return FAMILIES[REASON_FAMILY[reason]].standards;
}

/** The ASI id a decision record carries: the reason's, or "" where none applies (allows, records). */
export function asiOf(reason: Reason): AsiId | "" {
  return FAMILIES[REASON_FAMILY[reason]]?.standards.asi ?? "";
}
