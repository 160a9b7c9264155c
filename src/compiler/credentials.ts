/**
 * `credentials:` in policies/firebreak.yaml (and the dev overlay, which replaces a service's entry):
 * where each service's upstream credential comes from (docs/credentials.md). A service without an
 * entry keeps its static `credential.secret`. Checked here with file:line: the service exists, the
 * provider has what it needs and nothing it does not read, every secret it names is declared, token
 * URLs are https, and a GitHub App can be narrowed to every GitHub action a task profile allows.
 * The providers are set before the profiles are compiled, so a profile's `scope:` is checked against
 * its services' (src/compiler/scope.ts); the actions are checked once the profiles are.
 */
import { unmappedActions } from "../credentials/permissions";
import type { CredentialProviderSpec, ProfileSpec, ServiceSpec } from "../policy/types";
import { httpsProblem } from "./services";
import type { Problems, SourceFile } from "./source";

/** The providers (src/compiler/schema.ts `credentialsSchema` lists the same, for editors and the first check). */
type Provider = "static" | "github_app" | "oauth2_client_credentials" | "token_exchange";

interface CredentialData {
  provider: Provider;
  secret?: string;
  app_id?: string | number;
  installation_id?: string | number;
  account?: string;
  private_key?: string;
  token_url?: string;
  revocation_url?: string;
  client_id?: string;
  client_secret?: string;
  audience?: string;
  scopes?: string[];
}

/** What each provider requires, then what else it may have; any other key is a mistake. */
const KEYS: Record<Provider, { required: (keyof CredentialData)[]; optional: (keyof CredentialData)[] }> = {
  static: { required: ["secret"], optional: [] },
  github_app: { required: ["app_id", "installation_id", "account", "private_key"], optional: [] },
  oauth2_client_credentials: {
    required: ["token_url", "client_id", "client_secret"],
    optional: ["scopes", "revocation_url"],
  },
  token_exchange: {
    required: ["token_url", "audience"],
    optional: ["client_id", "client_secret", "scopes", "revocation_url"],
  },
};
const SECRET_KEYS: (keyof CredentialData)[] = ["secret", "private_key", "client_secret"];
const URL_KEYS: (keyof CredentialData)[] = ["token_url", "revocation_url"];

/**
 * Checks every `credentials:` entry (the dev overlay's replace firebreak.yaml's) and sets
 * `provider` on the services they name.
 */
export function compileCredentials(
  configs: SourceFile[],
  services: Record<string, ServiceSpec>,
  declared: Set<string>,
  problems: Problems,
): void {
  const chosen = new Map<string, CredentialProviderSpec>();
  configs.forEach((src, overlay) => {
    const entries = (src.data as { credentials?: Record<string, CredentialData> }).credentials ?? {};
    for (const [name, d] of Object.entries(entries)) {
      const at = (...p: string[]) => src.at(["credentials", name, ...p]);
      const service = Object.hasOwn(services, name) ? services[name] : undefined;
      if (!service) {
        problems.add(at(), `credentials names unknown service "${name}": remove it or fix the name`);
        continue;
      }
      const spec = checkEntry(d, service, at, declared, overlay > 0, problems);
      if (spec) chosen.set(name, spec);
    }
  });
  for (const [name, spec] of chosen) services[name]!.provider = spec;
}

/** Every GitHub App service: each profile's actions of it are covered by the permission map. */
export function checkProfileCredentials(
  services: Record<string, ServiceSpec>,
  profiles: ProfileSpec[],
  problems: Problems,
): void {
  for (const [name, service] of Object.entries(services))
    if (service.provider?.provider === "github_app") checkNarrowable(name, profiles, problems);
}

function checkEntry(
  d: CredentialData,
  service: ServiceSpec,
  at: (...p: string[]) => string,
  declared: Set<string>,
  dev: boolean,
  problems: Problems,
): CredentialProviderSpec | null {
  const before = problems.list.length;
  const { required, optional } = KEYS[d.provider];
  for (const key of required)
    if (d[key] === undefined) problems.add(at("provider"), `${d.provider} needs ${key}: add it (docs/credentials.md)`);
  for (const key of Object.keys(d) as (keyof CredentialData)[])
    if (key !== "provider" && !required.includes(key) && !optional.includes(key))
      problems.add(at(key), `${key} does not apply to provider ${d.provider}: remove it`);
  for (const key of SECRET_KEYS) {
    const secret = d[key] as string | undefined;
    if (secret !== undefined && !declared.has(secret))
      problems.add(
        at(key),
        `secret ${secret} is not declared: add it to "secrets" in policies/firebreak.yaml and set it with \`wrangler secret put ${secret}\``,
      );
  }
  for (const key of URL_KEYS) {
    const bad = d[key] === undefined ? null : httpsProblem(d[key] as string, dev);
    if (bad) problems.add(at(key), `${key} ${bad}`);
  }
  if (d.client_secret !== undefined && d.client_id === undefined)
    problems.add(at("client_secret"), "client_secret needs client_id: add it");
  return problems.list.length === before ? specOf(d, service) : null;
}

function specOf(d: CredentialData, service: ServiceSpec): CredentialProviderSpec {
  const optional = (v: string | undefined) => v ?? null;
  switch (d.provider) {
    case "static":
      return { provider: "static", secret: d.secret! };
    case "github_app":
      return {
        provider: "github_app",
        app_id: String(d.app_id),
        installation_id: String(d.installation_id),
        account: d.account!,
        private_key: d.private_key!,
        api: service.upstream,
      };
    case "oauth2_client_credentials":
      return {
        provider: "oauth2_client_credentials",
        token_url: d.token_url!,
        client_id: d.client_id!,
        client_secret: d.client_secret!,
        scopes: d.scopes ?? [],
        revocation_url: optional(d.revocation_url),
      };
    case "token_exchange":
      return {
        provider: "token_exchange",
        token_url: d.token_url!,
        client_id: optional(d.client_id),
        client_secret: optional(d.client_secret),
        audience: d.audience!,
        scopes: d.scopes ?? [],
        revocation_url: optional(d.revocation_url),
      };
  }
}

/** A GitHub App's token covers only what the permission map knows: a profile may allow nothing else. */
function checkNarrowable(service: string, profiles: ProfileSpec[], problems: Problems): void {
  for (const profile of profiles) {
    for (const action of unmappedActions(profile.actions, service))
      problems.add(
        profile.source,
        `profile ${profile.name} allows ${action}, which no GitHub App permission covers (src/credentials/github-permissions.json): remove it, or keep ${service} on a static credential`,
      );
  }
}
