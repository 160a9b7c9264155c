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
  // policy
  "policy.denied",
  "policy.no_match",
  "policy.condition_error",
  "approval.required",
  // dependencies of the decision or of forwarding
  "credential.unavailable",
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
  | "payload_too_large"
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
    case "request.body_invalid":
    case "request.arg_ambiguous":
    case "request.agent_credential":
      return { status: 400, error: "invalid_request" };
    case "identity.missing":
    case "identity.malformed":
    case "identity.unknown_issuer":
    case "identity.bad_algorithm":
    case "identity.forbidden_header":
    case "identity.bad_signature":
    case "identity.expired":
    case "identity.not_yet_valid":
    case "identity.too_old":
    case "identity.bad_audience":
    case "identity.missing_claim":
    case "identity.bad_spiffe_id":
      return { status: 401, error: "unauthorized" };
    case "action.unknown":
    case "action.forbidden":
    case "policy.denied":
    case "policy.no_match":
    case "policy.condition_error":
      return { status: 403, error: "forbidden" };
    case "approval.required":
      return { status: 403, error: "approval_required" };
    case "request.body_too_large":
      return { status: 413, error: "payload_too_large" };
    case "upstream.unreachable":
      return { status: 502, error: "bad_gateway" };
    case "upstream.timeout":
      return { status: 504, error: "gateway_timeout" };
    case "identity.jwks_unavailable":
    case "credential.unavailable":
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
  "identity.missing": "A bearer token is required.",
  "identity.malformed": "The bearer token is not a well-formed JWT.",
  "identity.unknown_issuer": "The token's issuer is not trusted.",
  "identity.bad_algorithm": "The token's algorithm is not allowed for its issuer.",
  "identity.forbidden_header": "Tokens may not name their own keys (jku, x5u, jwk, x5c).",
  "identity.bad_signature": "The token's signature does not verify.",
  "identity.expired": "The token has expired.",
  "identity.not_yet_valid": "The token is not valid yet.",
  "identity.too_old": "The token was issued too long ago.",
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
  "policy.denied": "A policy rule denies this call.",
  "policy.no_match": "No policy rule allows this call.",
  "policy.condition_error": "A policy condition could not be evaluated for this call.",
  "approval.required": "This call needs a person's approval.",
  "credential.unavailable": "The service credential is not configured; nothing was forwarded.",
  "bundle.invalid": "The policy bundle could not be loaded; nothing was forwarded.",
  "upstream.unreachable": "The upstream service could not be reached.",
  "upstream.timeout": "The upstream service did not answer in time.",
  "internal.error": "Firebreak could not decide this call; nothing was forwarded.",
};
