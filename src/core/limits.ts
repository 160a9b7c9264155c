/**
 * Bounds on what an agent sends, each refused with its own reason (docs/decisions.md lists them).
 * They are below Cloudflare's own edge limits, so a request Firebreak accepts is never cut by the
 * platform after it was decided.
 */

/** The whole request URL, in UTF-16 code units (ASCII after percent-encoding): `request.url_too_long`. */
export const MAX_URL_LENGTH = 8192;
/** Names plus values of all request headers: `request.headers_too_large`. */
export const MAX_HEADER_BYTES = 32_768;
/** The bearer token, before any parsing or signature check: `identity.token_too_large`. */
export const MAX_TOKEN_LENGTH = 8192;
// A step's stored request facts are bounded in total where they are written (src/tasks/steps.ts).

/**
 * What one agent can do to people through approvals (docs/approvals.md, "Limits"), across all its
 * tasks, counted in its agent Durable Object. Constants, not bundle settings: the gateway's approval
 * stage does not read the bundle's settings today.
 */
/** Approvals waiting for a person at once, per agent: one more is `approval.agent_limit` (429). */
export const MAX_AGENT_PENDING_APPROVALS = 20;
/** Approvals posted one by one to the approvers per agent and window; the next gets one summary. */
export const APPROVAL_NOTICES_PER_WINDOW = 5;
export const APPROVAL_NOTICE_WINDOW_MS = 60_000;
