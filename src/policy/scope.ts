/**
 * Task scope (issue 14, docs/credentials.md "Task scope"): the most a task of a profile may reach per
 * service, and what one task declares when it starts, within that. One kind today, repositories
 * (`repo:owner/name` resources), what a GitHub App installation token is narrowed to:
 *
 *   profile  scope: { github: { repositories: ["acme/*", "acme-labs/docs"] } }   owner/name or owner/*
 *   start    "scope": { "github": { "repositories": ["acme/api"] } }             exact owner/name
 *
 * A start of a profile with a scope names, for every service the profile scopes, 1 to
 * MAX_TASK_REPOSITORIES repositories, each within one of the profile's patterns; a start of a profile
 * without one names none. Names are kept and compared lower-case: GitHub's are case-insensitive.
 * Pure: `checkTaskScope` is the start's check, `repositoryProblem` the compiler's and the start's syntax.
 */
import type { Result } from "../core/result";

/** The most repositories one task may name per service (GitHub takes 500 per token; a task is narrower). */
export const MAX_TASK_REPOSITORIES = 100;
/** The most patterns a profile may list per service. */
export const MAX_SCOPE_PATTERNS = 100;

/** One service's scope: repository patterns in a profile, exact repository names in a task. */
export interface ServiceScope {
  repositories: string[];
}

/** Service -> scope; keys sorted, names lower-case, sorted and unique. */
export type Scope = Record<string, ServiceScope>;

// GitHub's characters: an account is letters, digits and hyphens (not first), at most 39; a repository
// name letters, digits, `.`, `_` and `-`, at most 100, never `.` or `..`.
const OWNER = /^[a-z0-9][a-z0-9-]{0,38}$/;
const NAME = /^[a-z0-9._-]{1,100}$/;

/** Why `text` is not a repository (`owner/name`; `owner/*` too when `pattern`), or null. */
export function repositoryProblem(text: string, pattern: boolean): string | null {
  const form = pattern ? "owner/name or owner/*" : "owner/name";
  const slash = text.indexOf("/");
  if (slash === -1 || text.indexOf("/", slash + 1) !== -1) return `"${short(text)}" is not ${form}`;
  const owner = text.slice(0, slash).toLowerCase();
  const name = text.slice(slash + 1).toLowerCase();
  if (!OWNER.test(owner))
    return `"${short(text)}": the owner must be 1-39 letters, digits or hyphens, not starting with a hyphen`;
  if (pattern && name === "*") return null;
  if (!NAME.test(name) || name === "." || name === "..")
    return `"${short(text)}": the name must be 1-100 letters, digits, ".", "_" or "-" (not "." or "..")${pattern ? ', or "*"' : ""}`;
  return null;
}

/** Whether a repository (lower-case `owner/name`) is within a profile's patterns (lower-case). */
export function repositoryWithin(repository: string, patterns: readonly string[]): boolean {
  const owner = repository.slice(0, repository.indexOf("/"));
  return patterns.some((p) => p === repository || p === `${owner}/*`);
}

/** Lower-case, unique and sorted: the one form a scope is kept and compared in. */
export function canonicalNames(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort();
}

/**
 * The scope a start body declares (`declared`, as parsed JSON; undefined when absent), checked against
 * its profile's (`allowed`; undefined when the profile sets none). In order: the shape and every name's
 * syntax (`request.body_invalid`), then each service and repository against the profile
 * (`task.scope_denied`), then every service the profile scopes named (`task.scope_required`).
 * `scope` is null for a profile without one.
 */
export function checkTaskScope(declared: unknown, allowed: Scope | undefined): Result<{ scope: Scope | null }> {
  const parsed = parseScope(declared);
  if (!parsed.ok) return parsed;
  const scope = parsed.scope;
  const services = Object.keys(allowed ?? {});
  for (const [service, { repositories }] of Object.entries(scope)) {
    const patterns = allowed && Object.hasOwn(allowed, service) ? allowed[service]!.repositories : null;
    if (patterns === null)
      return denied(
        `the profile sets no scope for ${short(service)}: ${services.length ? services.join(", ") : "none"}`,
      );
    const outside = repositories.find((r) => !repositoryWithin(r, patterns));
    if (outside !== undefined)
      return denied(short(`${service}: ${outside} is outside the profile's ${patterns.join(", ")}`));
  }
  const missing = services.filter((s) => !Object.hasOwn(scope, s));
  if (missing.length > 0)
    return {
      ok: false,
      reason: "task.scope_required",
      detail: `name the task's repositories of ${missing.join(", ")}`,
    };
  return { ok: true, scope: services.length > 0 ? scope : null };
}

/** The declared scope's shape and syntax; absent is `{}`. Services sorted, names canonical. */
function parseScope(declared: unknown): Result<{ scope: Scope }> {
  const bad = (detail: string) => ({ ok: false as const, reason: "request.body_invalid" as const, detail });
  if (declared === undefined) return { ok: true, scope: {} };
  if (!isObject(declared)) return bad("scope: an object of service -> { repositories: [...] }");
  const scope: Scope = {};
  for (const service of Object.keys(declared).sort()) {
    const entry = declared[service];
    if (!isObject(entry) || Object.keys(entry).some((k) => k !== "repositories"))
      return bad(`scope.${short(service)}: an object with repositories only`);
    const repositories = entry.repositories;
    if (!Array.isArray(repositories) || repositories.length === 0)
      return bad(`scope.${short(service)}.repositories: a list of at least one owner/name`);
    if (repositories.length > MAX_TASK_REPOSITORIES)
      return bad(`scope.${short(service)}.repositories: at most ${MAX_TASK_REPOSITORIES}, not ${repositories.length}`);
    for (const r of repositories) {
      const problem = typeof r === "string" ? repositoryProblem(r, false) : "not a string";
      if (problem) return bad(`scope.${short(service)}.repositories: ${problem}`);
    }
    scope[service] = { repositories: canonicalNames(repositories as string[]) };
  }
  return { ok: true, scope };
}

const denied = (detail: string) => ({ ok: false as const, reason: "task.scope_denied" as const, detail });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** An agent's text in a detail, cut short: details are bounded, and the body may be up to 4 KiB. */
const short = (text: string) => (text.length > 120 ? `${text.slice(0, 120)}…` : text);

/**
 * Whether a call reaches a repository outside the task's scope: its resource is `repo:owner/name` of
 * a service the scope names, and the name is not one of the task's. A resource that is no repository
 * (an organization's, the user's) is bounded by the minted token's permissions instead.
 */
export function outsideScope(scope: Scope, service: string, resource: string): boolean {
  const mine = Object.hasOwn(scope, service) ? scope[service] : undefined;
  if (mine === undefined || !resource.startsWith("repo:")) return false;
  return !mine.repositories.includes(resource.slice(5).toLowerCase());
}
