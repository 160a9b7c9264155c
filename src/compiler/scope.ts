/**
 * A profile's `scope:` (policies/profiles/*.yaml) -> ProfileSpec.scope: per service, the repository
 * patterns a task of the profile may name at its start (src/policy/scope.ts, docs/credentials.md).
 * Checked here with file:line: the service exists and the profile calls it, some of those actions
 * touch repositories, every pattern is `owner/name` or `owner/*` and listed once; for a service whose
 * credential is a GitHub App (`credentials:`, compiled before the profiles), every pattern is of the
 * installation's account, and a profile that calls it must have a scope for it, since its token is
 * minted for the task's repositories.
 */

import { canonicalNames, repositoryProblem, type Scope } from "../policy/scope";
import type { ActionSpec, ServiceSpec } from "../policy/types";
import type { Problems } from "./source";

export type ScopeData = Record<string, { repositories: string[] }>;

type At = (...path: (string | number)[]) => string;

export function compileScope(
  data: ScopeData | undefined,
  at: At,
  selected: ActionSpec[],
  services: Record<string, ServiceSpec>,
  problems: Problems,
): Scope | undefined {
  requireAppScopes(data, at, selected, services, problems);
  if (data === undefined) return undefined;
  const scope: Scope = {};
  for (const service of Object.keys(data).sort()) {
    const where = (...p: (string | number)[]) => at("scope", service, ...p);
    const problem = serviceProblem("scope", service, services, selected);
    if (problem) {
      problems.add(where(), problem);
      continue;
    }
    const spec = services[service]!;
    const own = selected.filter((a) => a.service === service);
    if (!own.some(touchesRepositories))
      problems.add(
        where("repositories"),
        `scope.${service}.repositories narrows nothing: none of this profile's ${service} actions has a repository resource (repo:owner/name)`,
      );
    const patterns = checkPatterns(data[service]!.repositories, where, spec, problems);
    scope[service] = { repositories: canonicalNames(patterns) };
  }
  return scope;
}

/**
 * Why a profile's per-service block (`scope`, `oauth_scopes`) cannot name `service`: unknown, or not
 * called by the profile; null when it can.
 */
export function serviceProblem(
  key: string,
  service: string,
  services: Record<string, ServiceSpec>,
  selected: ActionSpec[],
): string | null {
  if (!Object.hasOwn(services, service))
    return `${key} names unknown service "${service}": add policies/services/${service}.yaml or fix the name`;
  if (!selected.some((a) => a.service === service))
    return `${key}.${service}: this profile allows no ${service} action: remove it, or add the actions`;
  return null;
}

/** The well-formed patterns; each other one, a duplicate and another account's is a problem at its line. */
function checkPatterns(patterns: string[], where: At, spec: ServiceSpec, problems: Problems): string[] {
  const seen = new Map<string, number>();
  const app = spec.provider?.provider === "github_app" ? spec.provider : null;
  patterns.forEach((pattern, k) => {
    const problem = repositoryProblem(pattern, true);
    const key = pattern.toLowerCase();
    if (problem) problems.add(where("repositories", k), problem);
    else if (seen.has(key))
      problems.add(where("repositories", k), `"${pattern}" is listed twice (also item ${seen.get(key)}): remove one`);
    else if (app && key.slice(0, key.indexOf("/")) !== app.account.toLowerCase())
      problems.add(
        where("repositories", k),
        `"${pattern}" is not of ${spec.name}'s GitHub App installation account ${app.account}: its token could never cover it`,
      );
    if (!seen.has(key)) seen.set(key, k);
  });
  return patterns.filter((p) => repositoryProblem(p, true) === null);
}

/** A GitHub App service the profile calls needs the profile's scope: a token is minted for named repositories only. */
function requireAppScopes(
  data: ScopeData | undefined,
  at: At,
  selected: ActionSpec[],
  services: Record<string, ServiceSpec>,
  problems: Problems,
): void {
  const called = new Set(selected.map((a) => a.service));
  for (const service of [...called].sort()) {
    if (services[service]?.provider?.provider !== "github_app" || (data && Object.hasOwn(data, service))) continue;
    problems.add(
      at("actions"),
      `this profile calls ${service}, whose credential is a GitHub App: its tokens are minted for the repositories a task names, so add scope: { ${service}: { repositories: ["<owner>/*"] } } (docs/credentials.md)`,
    );
  }
}

const touchesRepositories = (a: ActionSpec) => {
  const first = a.resource?.[0];
  return first !== undefined && "t" in first && first.t.startsWith("repo:");
};
