/**
 * The closed set of reason codes. Every decision carries exactly one; `httpFor` maps each to its HTTP
 * status and wire error with an exhaustive switch, so a new code cannot compile without a status.
 * docs/reasons.md documents each code; test/integration/reasons.test.ts keeps the two in step.
 */
export const REASONS = [
  // allowed
  "policy.allowed",
  // route: the request is malformed or ambiguous (400) or names nothing (404)
  "route.unknown_service",
  "route.not_found",
  "route.bad_method",
  "route.method_override",
  "route.encoded_slash",
  "route.dot_segment",
  "route.empty_segment",
  "route.path_parameter",
  "route.control_character",
  "route.bad_encoding",
  "route.duplicate_query",
  "route.duplicate_authorization",
  "route.query_separator",
  "request.url_too_long",
  "request.headers_too_large",
  // identity (401, or 503 when keys cannot be fetched)
  "identity.missing",
  "identity.malformed",
  "identity.unknown_issuer",
  "identity.bad_algorithm",
  "identity.forbidden_header",
  "identity.bad_signature",
  "identity.expired",
  "identity.not_yet_valid",
  "identity.too_old",
  "identity.lifetime_too_long",
  "identity.token_too_large",
  "identity.bad_audience",
  "identity.missing_claim",
  "identity.bad_spiffe_id",
  "identity.jwks_unavailable",
  // classification
  "action.unknown",
  "action.forbidden",
  // request facts
  "request.body_too_large",
  "request.body_invalid",
  "request.arg_ambiguous",
  "request.agent_credential",
  "request.content_type",
  "request.duplicate_key",
  "request.header_ambiguous",
  // GraphQL documents (src/protocols/graphql/): what cannot be classified with certainty
  "graphql.method",
  "graphql.batch",
  "graphql.persisted_query",
  "graphql.syntax",
  "graphql.invalid",
  "graphql.operation",
  "graphql.subscription",
  "graphql.variables",
  "graphql.too_large",
  "graphql.ambiguous",
  "graphql.introspection",
  // MCP over Streamable HTTP (src/protocols/mcp/): messages, headers and sessions that cannot be classified
  "mcp.malformed",
  "mcp.batch",
  "mcp.header_mismatch",
  "mcp.session_mismatch",
  "mcp.response_invalid",
  // policy
  "policy.denied",
  "policy.no_match",
  "policy.condition_error",
  "approval.required",
  // approvals: the agent's retry with Firebreak-Approval, and the person deciding
  "approval.granted",
  "approval.pending",
  "approval.denied",
  "approval.expired",
  "approval.used",
  "approval.mismatch",
  "approval.unknown",
  "approval.pending_limit",
  "approval.agent_limit",
  "approval.csrf",
  "approval.decided",
  "approver.self",
  "approver.not_allowed",
  "approver.agent_identity",
  // tasks: starting one, the task token, the task's Durable Object admitting the step
  "task.required",
  "task.profile_denied",
  "task.scope_required",
  "task.scope_denied",
  "task.out_of_scope",
  "task.mismatch",
  "task.agent_token_required",
  "task.agent_mismatch",
  "task.unknown",
  "task.completed",
  "task.revoked",
  "task.log_full",
  "task.expired",
  "task.action_not_in_profile",
  "budget.exhausted",
  "budget.services",
  "budget.window",
  "budget.total_exceeded",
  "budget.total_unknown",
  "sequence.requires",
  "sequence.pending",
  "sequence.forbidden_after",
  "sequence.unread_resource",
  "agent.live_tasks",
  "agent.start_rate",
  "agent.revoked",
  "admin.denied",
  "task.unavailable",
  "agent.unavailable",
  "task.keys_unavailable",
  // reading recorded decisions (GET /_firebreak/v1/decisions)
  "decisions.invalid_query",
  "decisions.unavailable",
  "decisions.query_failed",
  // dependencies of the decision or of forwarding
  "credential.unavailable",
  "credential.unscoped",
  "credential.refused",
  "credential.unreachable",
  "credential.malformed",
  "bundle.invalid",
  "upstream.unreachable",
  "upstream.timeout",
  "internal.error",
] as const;

export type Reason = (typeof REASONS)[number];

export type WireError =
  | "ok"
  | "invalid_request"
  | "not_found"
  | "unauthorized"
  | "forbidden"
  | "approval_required"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "uri_too_long"
  | "headers_too_large"
  | "rate_limited"
  | "bad_gateway"
  | "gateway_timeout"
  | "unavailable";

export interface HttpOutcome {
  status: number;
  error: WireError;
}

export function httpFor(reason: Reason): HttpOutcome {
  switch (reason) {
    case "policy.allowed":
    case "approval.granted":
      return { status: 200, error: "ok" };
    case "route.unknown_service":
    case "route.not_found":
      return { status: 404, error: "not_found" };
    case "route.bad_method":
    case "route.method_override":
    case "route.encoded_slash":
    case "route.dot_segment":
    case "route.empty_segment":
    case "route.path_parameter":
    case "route.control_character":
    case "route.bad_encoding":
    case "route.duplicate_query":
    case "route.duplicate_authorization":
    case "route.query_separator":
    case "request.duplicate_key":
    case "request.header_ambiguous":
    case "request.body_invalid":
    case "request.arg_ambiguous":
    case "request.agent_credential":
    case "decisions.invalid_query":
    case "task.scope_required":
      return { status: 400, error: "invalid_request" };
    case "graphql.method":
    case "graphql.batch":
    case "graphql.persisted_query":
    case "graphql.syntax":
    case "graphql.invalid":
    case "graphql.operation":
    case "graphql.subscription":
    case "graphql.variables":
    case "graphql.too_large":
    case "graphql.ambiguous":
      return { status: 400, error: "invalid_request" };
    case "graphql.introspection":
      return { status: 403, error: "forbidden" };
    case "mcp.malformed":
    case "mcp.batch":
    case "mcp.header_mismatch":
      return { status: 400, error: "invalid_request" };
    case "mcp.session_mismatch":
      return { status: 404, error: "not_found" };
    case "mcp.response_invalid":
      return { status: 502, error: "bad_gateway" };
    case "identity.missing":
    case "identity.malformed":
    case "identity.unknown_issuer":
    case "identity.bad_algorithm":
    case "identity.forbidden_header":
    case "identity.bad_signature":
    case "identity.expired":
    case "identity.not_yet_valid":
    case "identity.too_old":
    case "identity.lifetime_too_long":
    case "identity.token_too_large":
    case "identity.bad_audience":
    case "identity.missing_claim":
    case "identity.bad_spiffe_id":
    case "task.agent_token_required":
      return { status: 401, error: "unauthorized" };
    case "action.unknown":
    case "action.forbidden":
    case "policy.denied":
    case "policy.no_match":
    case "policy.condition_error":
      return { status: 403, error: "forbidden" };
    case "task.required":
    case "task.profile_denied":
    case "task.scope_denied":
    case "task.out_of_scope":
    case "task.mismatch":
    case "task.agent_mismatch":
    case "task.unknown":
    case "task.completed":
    case "task.revoked":
    case "task.log_full":
    case "task.expired":
    case "task.action_not_in_profile":
    case "budget.exhausted":
    case "budget.services":
    case "budget.total_exceeded":
    case "budget.total_unknown":
    case "sequence.requires":
    case "sequence.forbidden_after":
    case "sequence.unread_resource":
    case "agent.revoked":
    case "admin.denied":
      return { status: 403, error: "forbidden" };
    case "budget.window":
    case "sequence.pending":
    case "agent.live_tasks":
    case "agent.start_rate":
      return { status: 429, error: "rate_limited" };
    case "approval.required":
      return { status: 403, error: "approval_required" };
    case "approval.pending":
    case "approval.denied":
    case "approval.expired":
    case "approval.used":
    case "approval.mismatch":
    case "approval.unknown":
    case "approval.csrf":
    case "approver.self":
    case "approver.not_allowed":
    case "approver.agent_identity":
      return { status: 403, error: "forbidden" };
    case "approval.pending_limit":
    case "approval.agent_limit":
      return { status: 429, error: "rate_limited" };
    case "approval.decided":
      return { status: 409, error: "conflict" };
    case "request.body_too_large":
      return { status: 413, error: "payload_too_large" };
    case "request.content_type":
      return { status: 415, error: "unsupported_media_type" };
    case "request.url_too_long":
      return { status: 414, error: "uri_too_long" };
    case "request.headers_too_large":
      return { status: 431, error: "headers_too_large" };
    case "upstream.unreachable":
    case "decisions.query_failed":
      return { status: 502, error: "bad_gateway" };
    case "upstream.timeout":
      return { status: 504, error: "gateway_timeout" };
    case "identity.jwks_unavailable":
    case "task.unavailable":
    case "agent.unavailable":
    case "task.keys_unavailable":
    case "decisions.unavailable":
    case "credential.unavailable":
    case "credential.unscoped":
    case "credential.refused":
    case "credential.unreachable":
    case "credential.malformed":
    case "bundle.invalid":
    case "internal.error":
      return { status: 503, error: "unavailable" };
    default:
      return assertNever(reason);
  }
}

function assertNever(x: never): never {
  throw new Error(`unmapped reason ${String(x)}`);
}

/** A short, fixed text per reason family for the wire; details go to the decision record only. */
export const DEFAULT_MESSAGES: Partial<Record<Reason, string>> = {
  "route.unknown_service": "No service of that name is configured.",
  "route.not_found": "Not found.",
  "route.bad_method": "Unsupported HTTP method.",
  "route.method_override": "Method-override inputs are refused.",
  "route.encoded_slash": "Encoded slashes or backslashes in the path are refused.",
  "route.dot_segment": "Dot segments in the path are refused.",
  "route.empty_segment": "Empty path segments are refused.",
  "route.path_parameter": "';' path parameters are refused.",
  "route.control_character": "Control characters in the request are refused.",
  "route.bad_encoding": "The path or query is not valid percent-encoded UTF-8.",
  "route.duplicate_query": "A query parameter appears more than once.",
  "route.duplicate_authorization": "Send exactly one Authorization header with one bearer token.",
  "route.query_separator": "';' in the query is refused: upstreams disagree on whether it separates parameters.",
  "request.url_too_long": "The request URL is longer than Firebreak accepts.",
  "request.headers_too_large": "The request headers are larger than Firebreak accepts.",
  "identity.missing": "A bearer token is required.",
  "identity.malformed": "The bearer token is not a well-formed JWT.",
  "identity.unknown_issuer": "The token's issuer is not trusted.",
  "identity.bad_algorithm": "The token's algorithm is not allowed for its issuer.",
  "identity.forbidden_header": "Tokens may not name their own keys (jku, x5u, jwk, x5c).",
  "identity.bad_signature": "The token's signature does not verify.",
  "identity.expired": "The token has expired.",
  "identity.not_yet_valid": "The token is not valid yet.",
  "identity.too_old": "The token was issued too long ago.",
  "identity.lifetime_too_long": "The token lives longer than its issuer's maximum token lifetime.",
  "identity.token_too_large": "The bearer token is larger than Firebreak accepts.",
  "identity.bad_audience": "The token's audience is not this gateway.",
  "identity.missing_claim": "The token lacks a required claim.",
  "identity.bad_spiffe_id": "The token's subject is not a SPIFFE ID of an allowed trust domain.",
  "identity.jwks_unavailable": "The issuer's keys could not be fetched; nothing was forwarded.",
  "action.unknown": "This call is not in the service's catalog.",
  "action.forbidden": "This call is never allowed through Firebreak.",
  "request.body_too_large": "The body is larger than Firebreak reads to check declared arguments.",
  "request.body_invalid": "The body could not be read for the declared arguments.",
  "request.arg_ambiguous": "An argument appears in more than one place.",
  "request.agent_credential": "Requests may not carry their own credential for the service.",
  "request.content_type": "The body's Content-Type is not one the upstream parses as Firebreak reads it.",
  "request.duplicate_key": "A key appears more than once in the JSON body.",
  "request.header_ambiguous": "A header that changes what the upstream does is repeated or holds a list.",
  "graphql.method": "GraphQL is accepted as a POST with a JSON body only.",
  "graphql.batch": "Batched GraphQL requests (a JSON array) are refused: send one operation per request.",
  "graphql.persisted_query": "Persisted-query ids are refused: send the query document.",
  "graphql.syntax": "The GraphQL document does not parse.",
  "graphql.invalid": "The GraphQL document is not valid against the service's schema.",
  "graphql.operation": "Name the operation to execute: the document has several, or none of that name.",
  "graphql.subscription": "GraphQL subscriptions are refused.",
  "graphql.variables": "The GraphQL variables do not fit the operation's variable definitions.",
  "graphql.too_large": "The GraphQL document is deeper or has more fields than this endpoint allows.",
  "graphql.ambiguous": "The GraphQL document could be executed in more than one way.",
  "graphql.introspection": "Schema introspection is not allowed on this endpoint.",
  "mcp.malformed": "The body is not one JSON-RPC 2.0 message that MCP accepts.",
  "mcp.batch": "JSON-RPC batches are refused (MCP 2025-06-18 removed them): send one message per request.",
  "mcp.header_mismatch": "The Mcp-Method or Mcp-Name header does not match the JSON-RPC body.",
  "mcp.session_mismatch": "MCP session not found for this task: start a new session (initialize).",
  "mcp.response_invalid": "The MCP server's answer could not be read to filter it; nothing of it was passed on.",
  "policy.denied": "A policy rule denies this call.",
  "policy.no_match": "No policy rule allows this call.",
  "policy.condition_error": "A policy condition could not be evaluated for this call.",
  "approval.required": "This call needs a person's approval.",
  "approval.pending": "The approval has not been given yet; poll its status_url.",
  "approval.denied": "A person denied this call.",
  "approval.expired": "The approval expired before it was used.",
  "approval.used": "The approval has already been used.",
  "approval.mismatch": "The approval is for a different request: repeat the approved request exactly.",
  "approval.unknown": "No such approval in this task.",
  "approval.pending_limit": "The task has as many approvals waiting as it may.",
  "approval.agent_limit":
    "The agent has as many approvals waiting for a person as it may, across its tasks; retry after the Retry-After delay.",
  "approval.csrf": "The form is stale or did not come from the approval page: reload the page.",
  "approval.decided": "The approval has already been decided.",
  "approver.self": "Nobody approves a request made under their own identity.",
  "approver.not_allowed": "You are not among the approvers of this request.",
  "approver.agent_identity": "Agent and task tokens can never approve.",
  "task.required": "Calls need a task token: start a task at /_firebreak/v1/tasks.",
  "task.profile_denied": "No task profile of that name may be started by this agent.",
  "task.scope_required": "Tasks of this profile name the repositories they reach: add scope to the start body.",
  "task.scope_denied": "The task's scope reaches beyond what its profile allows.",
  "task.out_of_scope": "This call reaches a repository outside the task's scope; nothing was forwarded.",
  "task.mismatch": "The task token is not for this task.",
  "task.agent_token_required":
    "Renewing a task needs the agent's own workload token in Firebreak-Agent-Token beside the task token.",
  "task.agent_mismatch": "The workload token is not the task's agent (another issuer or subject).",
  "task.unknown": "The task does not exist.",
  "task.completed": "The task has been completed.",
  "task.revoked": "The task has been revoked.",
  "task.log_full": "The task's step log is full: it can make no more calls; start a new task.",
  "task.expired": "The task has passed its deadline.",
  "task.action_not_in_profile": "This call is not among the actions of the task's profile.",
  "budget.exhausted": "The task's call budget for this is used up.",
  "budget.services": "The task may not touch another service.",
  "budget.window": "The task's call rate limit is reached; retry after the Retry-After delay.",
  "budget.total_exceeded": "This call would exceed the task's running total.",
  "budget.total_unknown": "The amount this call adds to the task's running total is missing or invalid.",
  "sequence.requires": "This call needs an earlier step the task has not completed.",
  "sequence.pending": "The earlier step this call needs is still in flight; retry after the Retry-After delay.",
  "sequence.forbidden_after": "After what this task has read, this call is not allowed.",
  "sequence.unread_resource": "This call targets a resource the task has not read.",
  "agent.live_tasks": "The agent has as many live tasks as it may.",
  "agent.start_rate": "The agent has started as many tasks this hour as it may.",
  "agent.revoked": "The agent's tasks have been revoked.",
  "admin.denied": "Only an operator named in settings.admins may do this.",
  "task.unavailable": "The task's state could not be reached; nothing was forwarded.",
  "agent.unavailable":
    "The agent's approval count could not be reached; no approval was opened, nothing was forwarded.",
  "task.keys_unavailable": "Task signing keys are not configured; nothing was forwarded.",
  "decisions.invalid_query": "The decisions query is not valid.",
  "decisions.unavailable":
    "No decision store is configured: no local store and no Analytics Engine SQL API credentials.",
  "decisions.query_failed": "The decision store could not be queried.",
  "credential.unavailable": "The service credential is not configured or not held; nothing was forwarded.",
  "credential.unscoped": "No credential could be narrowed to this task's scope; nothing was forwarded.",
  "credential.refused": "The token endpoint refused to issue this task's credential; nothing was forwarded.",
  "credential.unreachable": "The token endpoint could not be reached in time; nothing was forwarded.",
  "credential.malformed": "The token endpoint's answer could not be used; nothing was forwarded.",
  "bundle.invalid": "The policy bundle could not be loaded; nothing was forwarded.",
  "upstream.unreachable": "The upstream service could not be reached.",
  "upstream.timeout": "The upstream service did not answer in time.",
  "internal.error": "Firebreak could not decide this call; nothing was forwarded.",
};
