/**
 * What a task's start mints: one plan per service its profile calls whose provider mints (not
 * `static`), asking for what the task may do there: for a GitHub App, the task's repositories and
 * the profile's actions of the service (their permissions, src/credentials/permissions.ts); for OAuth,
 * the profile's `oauth_scopes` of the service, or else the provider's scopes. Pure: the tasks API plans, the task's object mints.
 */
import type { Scope } from "../policy/scope";
import type { ProfileSpec, ServiceSpec } from "../policy/types";
import type { MintPlan } from "./types";

/** Whether a service's calls need a credential minted for their task (a bare token cannot have one). */
export function mintsPerTask(service: Pick<ServiceSpec, "provider">): boolean {
  return service.provider !== undefined && service.provider.provider !== "static";
}

export function mintPlans(
  services: Readonly<Record<string, ServiceSpec>>,
  profile: Pick<ProfileSpec, "actions" | "oauth_scopes">,
  scope: Scope | null,
): MintPlan[] {
  const plans: MintPlan[] = [];
  for (const service of Object.values(services)) {
    const provider = service.provider;
    if (provider === undefined || provider.provider === "static") continue;
    const prefix = `${service.name}:`;
    const actions = profile.actions.filter((a) => a.startsWith(prefix));
    if (actions.length === 0) continue;
    if (provider.provider === "github_app") {
      const repositories = scope?.[service.name]?.repositories ?? [];
      plans.push({ service: service.name, provider, request: { actions, repositories } });
    } else {
      const scopes = profile.oauth_scopes?.[service.name] ?? provider.scopes;
      plans.push({ service: service.name, provider, request: { scopes } });
    }
  }
  return plans;
}

/** Whether any plan needs the agent's own token (a token exchange's subject). */
export function needsSubject(plans: readonly MintPlan[]): boolean {
  return plans.some((p) => p.provider.provider === "token_exchange");
}
