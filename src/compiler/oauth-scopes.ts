/**
 * A profile's `oauth_scopes:` (policies/profiles/*.yaml) -> ProfileSpec.oauth_scopes: per OAuth service
 * (client credentials or token exchange), the scopes its tasks' tokens ask for, narrower than the
 * provider's `scopes`, which are the most any task of any profile may ask for and the default for a
 * profile that names none (docs/credentials.md). Checked here with file:line: the service exists, the
 * profile calls it, its credential is an OAuth provider, and each scope is one of the provider's, once.
 */

import type { ActionSpec, ServiceSpec } from "../policy/types";
import { serviceProblem } from "./scope";
import type { Problems } from "./source";

export type OauthScopesData = Record<string, string[]>;

type At = (...path: (string | number)[]) => string;

export function compileOauthScopes(
  data: OauthScopesData | undefined,
  at: At,
  selected: ActionSpec[],
  services: Record<string, ServiceSpec>,
  problems: Problems,
): Record<string, string[]> | undefined {
  if (data === undefined) return undefined;
  const out: Record<string, string[]> = {};
  for (const service of Object.keys(data).sort()) {
    const where = (...p: (string | number)[]) => at("oauth_scopes", service, ...p);
    const problem = oauthProblem(service, services, selected);
    if (problem) {
      problems.add(where(), problem);
      continue;
    }
    const most = (services[service]!.provider as { scopes: string[] }).scopes;
    const seen = new Set<string>();
    data[service]!.forEach((scope, k) => {
      if (seen.has(scope)) problems.add(where(k), `scope "${scope}" is listed twice: remove one`);
      else if (!most.includes(scope))
        problems.add(
          where(k),
          `scope "${scope}" is not one of ${service}'s provider scopes (${most.join(" ") || "none"}): add it to the credential's scopes in firebreak.yaml, or remove it here`,
        );
      seen.add(scope);
    });
    out[service] = [...seen].sort();
  }
  return out;
}

function oauthProblem(service: string, services: Record<string, ServiceSpec>, selected: ActionSpec[]): string | null {
  const problem = serviceProblem("oauth_scopes", service, services, selected);
  if (problem) return problem;
  const kind = services[service]!.provider?.provider;
  if (kind !== "oauth2_client_credentials" && kind !== "token_exchange")
    return `oauth_scopes.${service}: ${service}'s credential is ${kind ?? "static"}, not an OAuth provider (oauth2_client_credentials or token_exchange): remove it`;
  return null;
}
