/**
 * The lint rules: what makes a bundle dangerous even when it compiles. One table, each rule with a
 * stable id (used in `accept:` entries, JSON and SARIF), a severity, a one-line title, the fix, and
 * the standards it answers to (src/core/standards.ts; docs/standards.md is generated from this table).
 * docs/lint.md explains each one.
 */
import type { StandardsRef } from "../core/standards";

export type Severity = "error" | "warning" | "note";

export interface LintRule {
  id: string;
  severity: Severity;
  /** One line: what the finding is. */
  title: string;
  /** One line: what to change. */
  fix: string;
  /** Why it is dangerous (SARIF help text, docs/lint.md). */
  why: string;
  standards: StandardsRef;
}

const rule = <const Id extends string>(id: Id, r: Omit<LintRule, "id">) => ({ id, ...r });

export const LINT_RULES = [
  rule("allow-any-agent", {
    severity: "error",
    title: "An allow rule selects no agent, so it allows any verified agent",
    fix: "add agents: { issuer: [<issuer>], sub: [<agent>] } to the rule",
    why: "Every workload of every trusted issuer, today's and tomorrow's, gets what the rule allows.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["GOVERN", "MANAGE"] },
  }),
  rule("allow-every-action", {
    severity: "error",
    title: 'An allow rule selects every action ("*")',
    fix: "list the actions the agent needs (service:action), or a narrow glob of one service",
    why: "Every action of every catalog is allowed, including the ones added by the next catalog import.",
    standards: { asi: "ASI02", maestro: "L6", nist: ["MANAGE"] },
  }),
  rule("service-wide-write-glob", {
    severity: "warning",
    title: "An allow rule selects a whole service or a kind label that covers write, delete or admin actions",
    fix: "list the write actions the agent needs, or narrow the glob (github:issues.comments.*)",
    why: "A service-wide glob or kind:write grants every write of the catalog, most of which nobody reviewed for this agent.",
    standards: { asi: "ASI02", maestro: "L6", nist: ["MANAGE"] },
  }),
  rule("critical-without-approval", {
    severity: "error",
    title: "A critical action is reachable without a person's approval",
    fix: "make the rule effect: approve, or set approvals: { risk: critical } in the profile",
    why: "Critical actions (payouts, deletions, merges to production) are the ones a person should see before they happen.",
    standards: { asi: "ASI09", maestro: "L7", nist: ["MANAGE"] },
  }),
  rule("profile-without-budget", {
    severity: "warning",
    title: "A profile bounds neither the calls of a task nor their rate",
    fix: "add budgets: { calls: <n> } (or a window) to the profile",
    why: "A task in a loop, or hijacked, calls as often as its token lives: nothing caps its blast radius.",
    standards: { asi: "ASI08", maestro: "L4", nist: ["MANAGE"] },
  }),
  rule("budget-above-cap", {
    severity: "warning",
    title: "A profile's calls budget is above the lint cap",
    fix: "lower budgets.calls, or raise lint.caps.calls in policies/firebreak.yaml with a reason",
    why: "A budget nobody could exhaust by honest work bounds nothing.",
    standards: { asi: "ASI08", maestro: "L4", nist: ["MANAGE"] },
  }),
  rule("condition-always-true", {
    severity: "warning",
    title: "An allow or approve rule's condition is always true",
    fix: "fix the condition (a || true, 1 == 1 and constants always hold), or remove when:",
    why: "The condition reads as a restriction but restricts nothing.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["MEASURE"] },
  }),
  rule("rule-shadowed", {
    severity: "warning",
    title:
      "A rule never decides: unconditional denies (or, over an allow, approve rules) cover all its actions for all its agents",
    fix: "remove the rule, or narrow the deny or approve rule that covers it",
    why: "Dead rules mislead reviewers about what agents may do, and come alive when the deny changes.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["MEASURE"] },
  }),
  rule("rule-unreachable", {
    severity: "warning",
    title:
      "A rule can never match (its condition is always false, its actions are forbidden, or it needs a claim no issuer exposes)",
    fix: "fix the condition, the actions or the claims, or remove the rule",
    why: "A rule that cannot match is a mistake: what it was meant to allow or refuse is decided by something else.",
    standards: { asi: "ASI02", maestro: "L6", nist: ["MEASURE"] },
  }),
  rule("report-mode-rule", {
    severity: "warning",
    title: "A rule is in report mode in an enforcing bundle",
    fix: "remove mode: report once its would-deny records were reviewed",
    why: "A report-mode deny forwards what it would refuse: a trial left in place is a hole.",
    standards: { asi: "ASI02", maestro: "L5", nist: ["MEASURE", "MANAGE"] },
  }),
  rule("ttl-above-cap", {
    severity: "warning",
    title: "A profile's ttl or max_lifetime is above the lint cap",
    fix: "lower ttl or max_lifetime, or raise lint.caps in policies/firebreak.yaml with a reason",
    why: "A long-lived task token is a long-lived credential if it leaks.",
    standards: { asi: "ASI03", maestro: "L4", nist: ["MANAGE"] },
  }),
  rule("issuer-public-unrestricted", {
    severity: "error",
    title: "An issuer trusts a public OIDC provider without requiring a repository, owner or subject",
    fix: "add require: { repository_owner: [<your org>] } (or the provider's owner claim) to the issuer",
    why: "Anyone can mint a valid token from a public provider (any public GitHub repository's workflow): only a required claim makes it yours.",
    standards: { asi: "ASI03", maestro: "L7", nist: ["GOVERN", "MANAGE"] },
  }),
  rule("unused-agent", {
    severity: "warning",
    title: "An agent named by rules can start no task (no profile admits it, bare workload tokens are off)",
    fix: "add the agent to a profile's agents, or remove the rules that name it",
    why: "Its rules never apply; they mislead reviewers and come alive with the next profile that admits anyone.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["GOVERN"] },
  }),
  rule("unused-profile", {
    severity: "warning",
    title: "No allow or approve rule lets the profile's agents call any of its actions",
    fix: "allow the profile's actions for its agents in rules/, or remove the profile",
    why: "Every call of its tasks is denied: the profile is dead weight or a rule is missing.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["GOVERN"] },
  }),
  rule("unused-rule", {
    severity: "warning",
    title: "No task can use the rule: no profile its agents may start contains one of its actions",
    fix: "add the actions to the agent's profile, or remove the rule",
    why: "With bare workload tokens off every call is a task's: the rule is dead, and comes alive with the next profile.",
    standards: { asi: "ASI03", maestro: "L6", nist: ["GOVERN"] },
  }),
  rule("accept-unused", {
    severity: "warning",
    title: "An accept: entry matches no finding (stale, or names no lint rule)",
    fix: "remove the accept: entry",
    why: "Stale acceptances pile up and would silently accept the next real finding of that rule. No ASI id of its own: it concerns the risk of the rule it names.",
    standards: { asi: null, maestro: "L5", nist: ["GOVERN"] },
  }),
] as const satisfies readonly LintRule[];

export type LintId = (typeof LINT_RULES)[number]["id"];

export const LINT_RULE_BY_ID: ReadonlyMap<string, LintRule> = new Map(LINT_RULES.map((r) => [r.id, r]));

/**
 * `iss` values of public OIDC providers: anyone can have one mint a token for any audience they like
 * (a workflow in any public repository). `lint.public_issuers` adds more.
 */
export const PUBLIC_ISSUERS = [
  "https://token.actions.githubusercontent.com",
  "https://accounts.google.com",
  "https://gitlab.com",
  "https://app.terraform.io",
  "https://agent.buildkite.com",
];

/** Claims that pin a public provider's token to an owner, repository or subject. */
export const RESTRICTING_CLAIMS = [
  "sub",
  "repository",
  "repository_id",
  "repository_owner",
  "repository_owner_id",
  "job_workflow_ref",
  "namespace_id",
  "namespace_path",
  "project_id",
  "project_path",
  "organization_id",
  "organization_slug",
  "terraform_organization_id",
  "terraform_organization_name",
  "hd",
  "email",
];
