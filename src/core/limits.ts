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
