/**
 * The worker's bindings. What wrangler.toml declares comes from `wrangler types`
 * (worker-configuration.d.ts: `npm run types`, and CI checks it is current); the secrets, which no
 * configuration file names, are declared here: the task keys and the approval webhook by name, and the
 * bindings the bundle names (each service's credential, an issuer's inline JWKS), read with `bindingOf`.
 */
export interface Env extends Cloudflare.Env {
  /** Secret: the private Ed25519 JWK (with kid) that signs task tokens (`firebreak task-key`). */
  FIREBREAK_TASK_KEY?: string;
  /** Secret, optional: the previous task key during a rotation; verifies, never signs. */
  FIREBREAK_TASK_KEY_PREVIOUS?: string;
  /** Secret, optional: a Slack incoming-webhook URL told about every new approval (src/approvals/notify.ts). */
  FIREBREAK_APPROVAL_WEBHOOK?: string;
  /** Var, optional: the Cloudflare account whose Analytics Engine SQL API the dashboard reads (docs/analytics.md). */
  CF_ACCOUNT_ID?: string;
  /** Secret, optional: an API token with Account Analytics Read, for that SQL API. */
  CF_API_TOKEN?: string;
  /** Var, optional: the dataset the SQL API reads (default firebreak_decisions). */
  CF_DECISIONS_DATASET?: string;
}

/**
 * A binding the bundle names (a service's credential secret, an issuer's JWKS variable): its name is
 * data, so it is looked up here, the one place the Env is read by a name that is not declared.
 */
export function bindingOf(env: Env, name: string): unknown {
  return Object.hasOwn(env, name) ? (env as unknown as Record<string, unknown>)[name] : undefined;
}
