/**
 * Upstream credentials: what a provider mints for one task, how it fails, and what it needs from the
 * outside world (fetch, a clock, the Worker's secrets), injected so that every provider is tested
 * against a fake token endpoint with a clock the test moves.
 *
 * A credential's `secret` is the one value in this folder that must never leave the task's object: no
 * failure detail, log line or record carries it, nor any other secret a provider handles (the App key,
 * the App JWT, a client secret, the agent's subject token). `id` is what may be logged instead.
 */
import type { CredentialProviderSpec } from "../policy/types";

/** A credential ready to inject: the secret, when it stops working (ms since the epoch; null: never), its log id. */
export interface MintedCredential {
  secret: string;
  expiresAt: number | null;
  /** First 16 hex digits of sha256(secret): names the credential in logs and records, reveals nothing. */
  id: string;
}

/**
 * Why no credential could be had; each is a reason code of src/core/reasons.ts (docs/reasons.md).
 *   credential.unavailable  not configured: a secret is missing or unusable (the App key does not import); nothing sent
 *   credential.unscoped     the request cannot be narrowed (no repository, no permission, a repository of another
 *                           account): asking would get a token for everything the installation has; nothing sent
 *   credential.refused      the token endpoint answered with an error status
 *   credential.unreachable  the token endpoint could not be reached, or did not answer in time
 *   credential.malformed    the answer could not be used: not JSON, too large, fields missing or of the wrong type,
 *                           already expired, or broader than what was asked for
 */
export type CredentialFailureCode =
  | "credential.unavailable"
  | "credential.unscoped"
  | "credential.refused"
  | "credential.unreachable"
  | "credential.malformed";

export interface CredentialFailure {
  ok: false;
  code: CredentialFailureCode;
  /** For the decision record and logs; never holds a secret (every provider redacts what it handled). */
  detail: string;
  /** The token endpoint's status, for `credential.refused`. */
  status?: number;
}

export type CredentialResult<T> = ({ ok: true } & T) | CredentialFailure;

export const fail = (code: CredentialFailureCode, detail: string, status?: number): CredentialFailure =>
  status === undefined ? { ok: false, code, detail } : { ok: false, code, detail, status };

/** What a task asks for when its credential is minted (src/credentials/plan.ts: from its scope and profile). */
export interface MintRequest {
  /** Qualified actions the task's profile allows (`github:issues.get`): the GitHub App's permissions. */
  actions?: string[];
  /** Repositories the task declared (`acme/api` or `api`), for the GitHub App's token. */
  repositories?: string[];
  /** OAuth scopes; absent: the provider's configured scopes. */
  scopes?: string[];
  /** Token exchange: the agent's verified workload JWT (RFC 8693 `subject_token`). */
  subjectToken?: string;
  /** Token exchange: the audience, when the task narrows the configured one. */
  audience?: string;
}

/** What to mint for one service of a task: planned at its start (`mintPlans`), kept with the credential for renewal. */
export interface MintPlan {
  service: string;
  provider: Exclude<CredentialProviderSpec, { provider: "static" }>;
  /** What the provider is asked for (the subject token travels apart: it is the agent's). */
  request: Omit<MintRequest, "subjectToken">;
}

export interface CredentialProvider {
  readonly kind: "static" | "github_app" | "oauth2_client_credentials" | "token_exchange";
  mint(request: MintRequest): Promise<CredentialResult<{ credential: MintedCredential }>>;
  /** Invalidates the credential upstream where the provider can (GitHub: DELETE /installation/token). */
  revoke(credential: MintedCredential): Promise<CredentialResult<{ revoked: boolean }>>;
}

/** The time as the task's object sees it, and a signal that aborts once `ms` of that time have passed. */
export interface Clock {
  now(): number;
  after(ms: number): AbortSignal;
}

export const systemClock: Clock = { now: () => Date.now(), after: (ms) => AbortSignal.timeout(ms) };

export interface ProviderDeps {
  fetch: (request: Request) => Promise<Response>;
  clock: Clock;
  /** A Worker secret by the name the bundle gives it (`bindingOf(env, name)` as a string), or undefined. */
  secret(name: string): string | undefined;
  /** How long one token-endpoint call may take, body included (default 10 s). */
  timeoutMs?: number;
  /** The most a token endpoint's answer may hold (default 64 KiB). */
  maxAnswerBytes?: number;
}
