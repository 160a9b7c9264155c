/**
 * GitHub's catalog action -> the GitHub App permission an installation token needs to call it, written
 * to src/credentials/github-permissions.json by `firebreak catalog import github` (Node only).
 *
 * GitHub's OpenAPI description (`@octokit/openapi`) carries no permissions: its `x-github` metadata per
 * operation has `category`, `subcategory` and `enabledForGitHubApps`, nothing more. GitHub publishes the
 * per-endpoint permissions only as a documentation page ("Permissions required for GitHub Apps"), not
 * in any package this repository installs. So the map is derived here from the description's
 * categories with the reviewed table below, first matching row wins:
 *
 *   enabledForGitHubApps false, or a path under /user   `unavailable` (installation tokens cannot call it)
 *   a row of RULES                                      its permission; the level is `read` for GET/HEAD,
 *                                                       `write` otherwise, unless the row says more
 *   no row                                              absent: unmapped, and a task profile of a
 *                                                       `github_app` service may not allow it (compile problem)
 *
 * `none` means the endpoint needs no permission (public data, the installation's own token). Rows were
 * checked against GitHub's documentation for the repository permissions the example profiles use
 * (issues, pull_requests, contents, metadata, checks, statuses): a merge (`PUT .../pulls/{n}/merge`),
 * refs, releases, commits and comparisons are `contents`; `GET /repos/{owner}/{repo}` is `metadata`.
 * Every permission named here is one of the description's `app-permissions` schema (a test checks).
 */
import type { ActionEntry } from "./overrides";
import { githubDocument, templateOf } from "./sources/github";

export type Level = "read" | "write" | "admin";
/** A permission name, `none` (no permission needed) or `unavailable` (installation tokens cannot call it). */
type Grant = string;

interface Rule {
  /** x-github `category`, or `category/subcategory`. */
  op: string;
  /** The document's path starts with this (`/repos/{owner}/{repo}`). */
  under?: string;
  /** The document's path matches this. */
  path?: RegExp;
  /** Only these methods (upper case). */
  methods?: string[];
  grant: Grant | { read: Grant; write: Grant };
}

const REPO = "/repos/{owner}/{repo}";
const ORG = "/orgs/{org}";
const WRITES = ["POST", "PUT", "PATCH", "DELETE"];

/** The reviewed table: in order, first match wins. */
export const RULES: Rule[] = [
  // ---------------------------------------------------------------- repository permissions
  { op: "actions/permissions", under: REPO, grant: "administration" },
  { op: "actions/self-hosted-runners", under: REPO, grant: "administration" },
  { op: "actions/secrets", under: REPO, grant: "secrets" },
  ...["artifacts", "cache", "concurrency-groups", "workflow-jobs", "workflow-runs", "workflows", "oidc"].map(
    (sub): Rule => ({ op: `actions/${sub}`, under: REPO, grant: "actions" }),
  ),
  { op: "activity/events", under: REPO, grant: "metadata" },
  { op: "activity/starring", under: REPO, grant: "metadata" },
  { op: "activity/watching", under: REPO, grant: "metadata" },
  { op: "branches/branch-protection", grant: "administration" },
  { op: "branches/branches", grant: "contents" },
  { op: "checks", grant: "checks" },
  { op: "code-quality", grant: "code_quality" },
  { op: "code-scanning", grant: "security_events" },
  { op: "code-security/configurations", under: REPO, grant: "administration" },
  { op: "codespaces/codespaces", under: REPO, grant: "codespaces" },
  { op: "codespaces/machines", under: REPO, grant: "codespaces" },
  { op: "collaborators/collaborators", grant: { read: "metadata", write: "administration" } },
  { op: "collaborators/invitations", under: REPO, grant: "administration" },
  { op: "commits/statuses", grant: "statuses" },
  { op: "commits", grant: "contents" },
  { op: "dependabot/alerts", grant: "vulnerability_alerts" },
  { op: "dependabot/secrets", under: REPO, grant: "dependabot_secrets" },
  { op: "dependency-graph", grant: "contents" },
  { op: "deploy-keys", grant: "administration" },
  { op: "deployments/deployments", grant: "deployments" },
  { op: "deployments/statuses", grant: "deployments" },
  ...["environments", "branch-policies", "protection-rules"].map(
    (sub): Rule => ({ op: `deployments/${sub}`, grant: { read: "actions", write: "administration" } }),
  ),
  { op: "git", grant: "contents" },
  { op: "interactions/repos", grant: "administration" },
  { op: "issues", grant: "issues" },
  { op: "metrics/community", grant: "contents" },
  { op: "metrics/statistics", grant: "metadata" },
  { op: "metrics/traffic", grant: "administration" },
  { op: "migrations/source-imports", grant: "unavailable" },
  { op: "pages", grant: "pages" },
  // Merging lands commits on the base branch: GitHub asks for contents, not pull_requests.
  { op: "pulls/pulls", path: /\/pulls\/\{pull_number\}\/merge$/, methods: ["PUT"], grant: "contents" },
  { op: "pulls", grant: "pull_requests" },
  { op: "reactions", path: /\/issues\//, grant: "issues" },
  { op: "reactions", path: /\/pulls\/comments\//, grant: "pull_requests" },
  { op: "reactions", under: REPO, grant: "contents" },
  { op: "releases", grant: "contents" },
  { op: "repos/attestations", grant: "attestations" },
  { op: "repos/autolinks", grant: "administration" },
  { op: "repos/commits", grant: "contents" },
  { op: "repos/contents", grant: "contents" },
  { op: "repos/custom-properties", grant: { read: "metadata", write: "repository_custom_properties" } },
  { op: "repos/forks", grant: { read: "metadata", write: "contents" } },
  { op: "repos/repos", path: /\/(dispatches|activity|codeowners\/errors)$/, grant: "contents" },
  {
    op: "repos/repos",
    path: /\/(vulnerability-alerts|automated-security-fixes|private-vulnerability-reporting|transfer)$/,
    grant: "administration",
  },
  { op: "repos/repos", grant: { read: "metadata", write: "administration" } },
  { op: "repos/rules", grant: { read: "metadata", write: "administration" } },
  { op: "repos/rule-suites", grant: "administration" },
  { op: "repos/webhooks", grant: "repository_hooks" },
  { op: "secret-scanning/secret-scanning", grant: "secret_scanning_alerts" },
  { op: "search/search", path: /^\/search\/(code|commits)$/, grant: "contents" },
  { op: "search/search", path: /^\/search\/issues$/, grant: "issues" },
  { op: "search/search", grant: "metadata" },
  // ---------------------------------------------------------------- organization permissions
  { op: "actions/secrets", under: ORG, grant: "organization_secrets" },
  { op: "actions/self-hosted-runners", under: ORG, grant: "organization_self_hosted_runners" },
  { op: "actions/self-hosted-runner-groups", under: ORG, grant: "organization_self_hosted_runners" },
  ...["permissions", "cache", "hosted-runners", "oidc"].map(
    (sub): Rule => ({ op: `actions/${sub}`, under: ORG, grant: "organization_administration" }),
  ),
  { op: "copilot/copilot-user-management", under: ORG, grant: "organization_copilot_seat_management" },
  { op: "interactions/orgs", grant: "organization_administration" },
  { op: "orgs/blocking", grant: "organization_user_blocking" },
  { op: "orgs/members", grant: "members" },
  { op: "orgs/outside-collaborators", grant: "members" },
  { op: "orgs/orgs", path: /\/installations$/, grant: "organization_administration" },
  { op: "orgs/orgs", under: ORG, grant: { read: "none", write: "organization_administration" } },
  {
    op: "orgs/personal-access-tokens",
    path: /personal-access-token-requests/,
    grant: "organization_personal_access_token_requests",
  },
  { op: "orgs/personal-access-tokens", grant: "organization_personal_access_tokens" },
  { op: "orgs/rules", grant: "organization_administration" },
  { op: "orgs/rule-suites", grant: "organization_administration" },
  { op: "orgs/webhooks", grant: "organization_hooks" },
  { op: "projects", under: ORG, grant: "organization_projects" },
  // A team's access to a repository is the repository's administration.
  { op: "teams", path: /\/repos\/\{owner\}\/\{repo\}$/, methods: WRITES, grant: "administration" },
  { op: "teams", grant: "members" },
  // ---------------------------------------------------------------- no permission needed
  ...["meta", "emojis", "gitignore", "licenses", "markdown", "rate-limit", "codes-of-conduct"].map(
    (op): Rule => ({ op, grant: "none" }),
  ),
  { op: "security-advisories/global-advisories", grant: "none" },
  { op: "activity/events", grant: "none" },
  { op: "users/users", methods: ["GET"], grant: "none" },
  // An installation token lists its own repositories and revokes itself; the rest of apps/ takes the App JWT.
  { op: "apps/installations", path: /^\/installation\/(repositories|token)$/, grant: "none" },
  { op: "apps", grant: "unavailable" },
];

interface Operation {
  method: string;
  path: string;
  category: string;
  subcategory: string;
  forApps: boolean;
}

/** The permission (`issues:write`), `none`, `unavailable`, or undefined when no row covers the operation. */
export function grantOf(op: Operation): string | undefined {
  if (!op.forApps || op.path === "/user" || op.path.startsWith("/user/")) return "unavailable";
  const level: Level = op.method === "GET" || op.method === "HEAD" ? "read" : "write";
  const rule = RULES.find((r) => matches(r, op));
  if (!rule) return undefined;
  const grant = typeof rule.grant === "string" ? rule.grant : rule.grant[level];
  return grant === "none" || grant === "unavailable" ? grant : `${grant}:${level}`;
}

function matches(r: Rule, op: Operation): boolean {
  const sameOp = r.op === op.category || r.op === `${op.category}/${op.subcategory}`;
  return (
    sameOp &&
    (r.under === undefined || op.path.startsWith(r.under)) &&
    (r.path === undefined || r.path.test(op.path)) &&
    (r.methods === undefined || r.methods.includes(op.method))
  );
}

const shape = (path: string) => `${path.replace(/\{[^}]*\}/g, "{}")}`;

interface DocumentLike {
  paths: Record<string, Record<string, { "x-github"?: Record<string, unknown> }>>;
}

/** Method + path shape -> grant, over every operation of the description. */
function grantsByShape(doc: DocumentLike): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      const x = raw?.["x-github"];
      if (!x) continue;
      const op: Operation = {
        method: method.toUpperCase(),
        path,
        category: String(x.category),
        subcategory: String(x.subcategory),
        forApps: x.enabledForGitHubApps === true,
      };
      const key = `${op.method} ${shape(templateOf(path))}`;
      if (out.get(key) === undefined) out.set(key, grantOf(op));
    }
  }
  return out;
}

/**
 * Grants an action needs together (several methods, or the targets of an alias), comma-separated:
 * undefined when one is unmapped, `unavailable` when one is, `none` when all are.
 */
function union(grants: (string | undefined)[]): string | undefined {
  if (grants.length === 0 || grants.some((g) => g === undefined)) return undefined;
  const all = new Set(grants.flatMap((g) => (g as string).split(",")));
  if (all.has("unavailable")) return "unavailable";
  all.delete("none");
  return all.size === 0 ? "none" : [...all].sort().join(",");
}

/**
 * The map over the catalog's actions, sorted by name. A REST action takes its operation's grant; a
 * GraphQL field that is an alias of REST actions (`same_effect_as`) takes all of theirs; other GraphQL
 * fields and operations no row covers stay out (unmapped).
 */
export function githubPermissionMap(
  actions: Record<string, ActionEntry>,
  doc: DocumentLike = githubDocument() as unknown as DocumentLike,
): Record<string, string> {
  const byShape = grantsByShape(doc);
  const map: Record<string, string> = {};
  for (const [name, a] of Object.entries(actions)) {
    if (a.graphql !== undefined) continue;
    const methods = Array.isArray(a.method) ? a.method : [a.method];
    const grant = union(methods.map((m) => byShape.get(`${m} ${shape(a.path)}`)));
    if (grant !== undefined) map[name] = grant;
  }
  for (const [name, a] of Object.entries(actions)) {
    if (a.graphql === undefined || !a.same_effect_as?.length) continue;
    const grant = union(a.same_effect_as.map((t) => map[t]));
    if (grant !== undefined) map[name] = grant;
  }
  return Object.fromEntries(Object.entries(map).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

/** The JSON file's text: one action per line, so a re-import's diff shows what changed. */
export function permissionMapText(map: Record<string, string>): string {
  const lines = Object.entries(map).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n${lines.join(",\n")}\n}\n`;
}
