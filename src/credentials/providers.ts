/**
 * The one entry point the task's object calls (src/tasks/credentials.ts): the provider a service's spec
 * names, and when a credential it holds is due for renewal.
 *
 *   const provider = providerFor(service, deps);           once per isolate and service
 *   const minted = await provider.mint({ actions, repositories, scopes, subjectToken });
 *   if (!minted.ok) -> refuse with minted.code (503), forward nothing
 *   ... inject minted.credential.secret; log minted.credential.id only
 *   if (renewalDue(credential, now)) mint again (and revoke the old one)
 *   on complete / revoke / expiry / kill switch: await provider.revoke(credential)
 */
import type { ServiceSpec } from "../policy/types";
import { githubAppProvider } from "./github-app";
import { credentialId } from "./http";
import { clientCredentialsProvider, tokenExchangeProvider } from "./oauth";
import { type CredentialProvider, fail, type MintedCredential, type ProviderDeps } from "./types";

/** Renew this long before a credential expires (GitHub's installation tokens live an hour). */
export const RENEW_BEFORE_MS = 5 * 60_000;

export function providerFor(
  service: Pick<ServiceSpec, "name" | "provider"> & { credential?: Pick<ServiceSpec["credential"], "secret"> },
  deps: ProviderDeps,
): CredentialProvider {
  const spec = service.provider ?? { provider: "static", secret: service.credential?.secret ?? "" };
  switch (spec.provider) {
    case "static":
      return staticProvider(spec.secret, deps);
    case "github_app":
      return githubAppProvider(service.name, spec, deps);
    case "oauth2_client_credentials":
      return clientCredentialsProvider(spec, deps);
    case "token_exchange":
      return tokenExchangeProvider(spec, deps);
  }
}

/** Today's behaviour: the Worker secret itself, for every task, never expiring, never revoked. */
export function staticProvider(secretName: string, deps: Pick<ProviderDeps, "secret">): CredentialProvider {
  return {
    kind: "static",
    mint: async () => {
      const secret = deps.secret(secretName);
      if (!secret) return fail("credential.unavailable", `secret ${secretName} is not set`);
      const credential: MintedCredential = { secret, expiresAt: null, id: await credentialId(secret) };
      return { ok: true, credential };
    },
    revoke: async () => ({ ok: true, revoked: false }),
  };
}

/** Whether a held credential should be replaced before the next call (null expiry: never). */
export function renewalDue(credential: MintedCredential, now: number, before = RENEW_BEFORE_MS): boolean {
  return credential.expiresAt !== null && now >= credential.expiresAt - before;
}
