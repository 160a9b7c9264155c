/** jose's errors, by jose's own exported classes, as Firebreak's identity reasons. */
import { errors } from "jose";
import type { Reason } from "../core/reasons";

export function reasonForJoseError(e: unknown): Reason {
  // JWTExpired is a JWTClaimValidationFailed: test it first.
  if (e instanceof errors.JWTExpired) return e.claim === "iat" ? "identity.too_old" : "identity.expired";
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.reason === "missing") return "identity.missing_claim";
    if (e.claim === "aud") return "identity.bad_audience";
    if (e.claim === "nbf" || e.claim === "iat") return "identity.not_yet_valid";
    return "identity.missing_claim";
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return "identity.bad_algorithm";
  if (
    e instanceof errors.JWSSignatureVerificationFailed ||
    e instanceof errors.JWKSNoMatchingKey ||
    e instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return "identity.bad_signature";
  }
  return "identity.malformed";
}
