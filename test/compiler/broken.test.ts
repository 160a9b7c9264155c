/**
 * Broken policy sets: test/fixtures/broken/<case>/ is a minimal policy set with exactly one mistake
 * (except the multi-mistake cases). Each must fail to compile with exactly one problem, at the right
 * file:line, saying what to change.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CompileOptions, compilePolicies } from "../../src/compiler/compile";
import { matchRoute } from "../../src/policy/routes";
import type { Bundle, ServiceSpec } from "../../src/policy/types";
import { expandSchema } from "../../src/protocols/graphql/compact";

const BROKEN = join(import.meta.dirname, "..", "fixtures", "broken");

interface Case {
  /** Directory under test/fixtures/broken/. */
  dir: string;
  /** `file:line` relative to the case directory. */
  where: string;
  /** A distinctive part of the message (what is wrong / what to change). */
  says: string | RegExp;
  options?: CompileOptions;
}

const CASES: Case[] = [
  // YAML and schema
  { dir: "yaml-syntax", where: "rules/rules.yaml:3", says: "YAML: Nested mappings are not allowed" },
  { dir: "yaml-duplicate-key", where: "services/svc.yaml:10", says: "YAML: Map keys must be unique" },
  { dir: "unknown-key", where: "rules/rules.yaml:4", says: 'unknown key "priority": remove it or check its spelling' },
  { dir: "missing-required-key", where: "services/svc.yaml:5", says: '"actions.items.get" is missing "risk": add it' },
  { dir: "bad-enum", where: "services/svc.yaml:14", says: 'kind" must be one of read, write, delete, admin' },
  { dir: "algorithm-hs256", where: "firebreak.yaml:7", says: /algorithms\.1" must be one of RS256, .*EdDSA$/ },
  { dir: "clock-tolerance", where: "firebreak.yaml:9", says: '"issuers.0.clock_tolerance" must be <= 60' },
  { dir: "reserved-service-name", where: "services/_firebreak.yaml:1", says: '"service" must match ^[a-z]' },
  // services
  {
    dir: "same-shape-templates",
    where: "services/svc.yaml:21",
    says: "GET /items/{item_id} has the same shape as items.get (same-shape-templates/services/svc.yaml:7): both match the same requests; make a segment literal or remove one",
  },
  {
    dir: "forward-credential-header",
    where: "services/svc.yaml:5",
    says: "header X-Api-Key is never forwarded as sent (credential or routing): remove it",
  },
  {
    dir: "semantic-header-twice",
    where: "services/svc.yaml:6",
    says: "header x-account is also in forward_headers: keep it in one list",
  },
  {
    dir: "greedy-not-last",
    where: "services/svc.yaml:7",
    says: '"{id+}" in "/items/{id+}/raw" must be the last segment',
  },
  { dir: "upstream-http", where: "services/svc.yaml:2", says: 'upstream "http://api.example.com" must use https' },
  { dir: "upstream-ipv4", where: "services/svc.yaml:2", says: "is an IP literal: use the service's host name" },
  { dir: "upstream-ipv6", where: "services/svc.yaml:2", says: 'upstream "https://[::1]" is an IP literal' },
  {
    dir: "upstream-credentials",
    where: "services/svc.yaml:2",
    says: "must not carry credentials: use credential.secret",
  },
  {
    dir: "secret-undeclared",
    where: "services/svc.yaml:3",
    says: 'secret OTHER_TOKEN is not declared: add it to "secrets"',
  },
  { dir: "service-file-mismatch", where: "services/store.yaml:1", says: 'service "svc" must be in services/svc.yaml' },
  {
    dir: "reserved-label-service",
    where: "services/kind.yaml:1",
    says: '"kind" is reserved: choose another service name',
  },
  {
    dir: "resource-unknown-param",
    where: "services/svc.yaml:10",
    says: "uses {item_id} but the path has no {item_id}",
  },
  { dir: "resource-undeclared-arg", where: "services/svc.yaml:16", says: "{args.slug} but args does not declare slug" },
  { dir: "arg-prototype-name", where: "services/svc.yaml:19", says: 'argument name "__proto__" is reserved' },
  {
    dir: "same-effect-unknown-action",
    where: "services/svc.yaml:19",
    says: 'same_effect_as names unknown action "svc:items.put"',
  },
  // issuers and the dev overlay
  { dir: "jwks-uri-http", where: "firebreak.yaml:8", says: 'jwks_uri "http://ci.example.com/jwks" must use https' },
  {
    dir: "jwks-var-undeclared",
    where: "firebreak.yaml:8",
    says: 'jwks_var CI_JWKS is not declared: add it to "secrets"',
  },
  { dir: "upstreams-outside-dev-overlay", where: "firebreak.yaml:10", says: "move it to policies/dev/" },
  {
    dir: "dev-upstream-unknown-service",
    where: "dev/dev.yaml:4",
    says: 'upstreams names unknown service "shop"',
    options: { dev: true },
  },
  // rules
  {
    dir: "unknown-action",
    where: "rules/rules.yaml:5",
    says: 'unknown action "svc:items.gte": did you mean "svc:items.get"?',
  },
  { dir: "unknown-service", where: "rules/rules.yaml:5", says: 'unknown service "gitlab" in "gitlab:items.get"' },
  { dir: "glob-matches-nothing", where: "rules/rules.yaml:5", says: '"svc:orders.*" matches no action of svc' },
  {
    dir: "selector-prototype-key",
    where: "rules/rules.yaml:5",
    says: 'unknown service "toString" in "toString:object"',
  },
  { dir: "unknown-label", where: "rules/rules.yaml:5", says: 'no action has kind "writ"' },
  { dir: "unknown-issuer", where: "rules/rules.yaml:4", says: 'unknown issuer "github-actions": declare it' },
  {
    dir: "duplicate-rule-id",
    where: "rules/rules.yaml:7",
    says: 'rule id "read-items" is used twice (also duplicate-rule-id/rules/rules.yaml:2)',
  },
  // CEL
  { dir: "cel-syntax", where: "rules/rules.yaml:6", says: "CEL: Expected RPAREN" },
  { dir: "cel-unknown-variable", where: "rules/rules.yaml:6", says: "CEL: Unknown variable: agnet" },
  { dir: "cel-type-error", where: "rules/rules.yaml:6", says: "CEL: no such overload: string + int" },
  { dir: "cel-not-bool", where: "rules/rules.yaml:6", says: "CEL: the condition must be a bool, but it is a string" },
  {
    dir: "cel-regex-dos",
    where: "rules/rules.yaml:6",
    says: 'matches("^item:(a+)+$"): repeats a group that contains a quantifier',
  },
  {
    dir: "cel-regex-not-literal",
    where: "rules/rules.yaml:6",
    says: "the pattern of matches() must be a string literal",
  },
  { dir: "cel-regex-lookahead", where: "rules/rules.yaml:6", says: 'uses lookaround "(?!": remove it' },
  { dir: "cel-regex-backreference", where: "rules/rules.yaml:6", says: "uses a backreference (\\1): remove it" },
  // task profiles
  {
    dir: "profile-unknown-key",
    where: "profiles/profiles.yaml:9",
    says: '"profiles.0.budgets" has an unknown key "call": remove it or check its spelling',
  },
  { dir: "profile-ttl-too-long", where: "profiles/profiles.yaml:5", says: '"profiles.0.ttl" must be <= 3600' },
  {
    dir: "profile-duplicate-name",
    where: "profiles/profiles.yaml:21",
    says: 'profile name "ops" is used twice (also profile-duplicate-name/profiles/profiles.yaml:3): rename one',
  },
  {
    dir: "profile-unknown-issuer",
    where: "profiles/profiles.yaml:4",
    says: 'unknown issuer "github-actions": declare it',
  },
  {
    dir: "profile-selector-matches-nothing",
    where: "profiles/profiles.yaml:7",
    says: '"svc:orders.*" matches no action of svc',
  },
  {
    dir: "profile-per-action-unknown",
    where: "profiles/profiles.yaml:10",
    says: 'unknown action "svc:items.updte": did you mean "svc:items.update"?',
  },
  {
    dir: "profile-per-action-selector",
    where: "profiles/profiles.yaml:10",
    says: '"svc:items.*" is a selector: name one action as service:action',
  },
  {
    dir: "profile-totals-unknown-action",
    where: "profiles/profiles.yaml:13",
    says: 'unknown action "svc:items.refnd": did you mean "svc:items.refund"?',
  },
  {
    dir: "profile-requires-unknown-action",
    where: "profiles/profiles.yaml:16",
    says: 'unknown action "svc:item.get": did you mean "svc:items.get"?',
  },
  {
    dir: "profile-correlate-unknown-action",
    where: "profiles/profiles.yaml:20",
    says: 'unknown action "svc:items.gett": did you mean "svc:items.get"?',
  },
  {
    dir: "profile-unknown-label",
    where: "profiles/profiles.yaml:11",
    says: 'no action has kind "writ": check the label',
  },
  {
    dir: "profile-per-label-not-a-label",
    where: "profiles/profiles.yaml:11",
    says: '"svc:items.update" is not a label: write kind:<kind>, risk:<risk> or data:<label>',
  },
  { dir: "profile-forbid-after-unknown-label", where: "profiles/profiles.yaml:18", says: 'no action has data "pi"' },
  {
    dir: "profile-totals-undeclared-arg",
    where: "profiles/profiles.yaml:13",
    says: 'svc:items.refund declares no argument "amt" (it declares amount, note): declare it in',
  },
  {
    dir: "profile-totals-arg-not-numeric",
    where: "profiles/profiles.yaml:13",
    says: 'argument "note" is declared string: a running total needs an integer or number argument',
  },
  {
    dir: "profile-allow-services-unknown",
    where: "profiles/profiles.yaml:18",
    says: 'unknown service "slack" in allow_services',
  },
  {
    dir: "profile-lifetime-below-ttl",
    where: "profiles/profiles.yaml:6",
    says: "max_lifetime 300 is shorter than ttl 600: raise max_lifetime to at least 600 or lower ttl",
  },
  {
    dir: "profile-budget-action-not-in-profile",
    where: "profiles/profiles.yaml:10",
    says: 'budgets.per_action names "svc:items.search", which is not in this profile\'s actions (a task could never call it)',
  },
  {
    dir: "profile-requires-after-not-in-profile",
    where: "profiles/profiles.yaml:16",
    says: 'sequence.requires.after names "svc:items.search", which is not in this profile\'s actions (a task could never call it, so it never lets svc:items.refund run)',
  },
  {
    dir: "profile-correlate-no-resource",
    where: "profiles/profiles.yaml:20",
    says: "svc:items.search has no resource, so correlation cannot compare what it targets",
  },
  // approvals (issue 4): people approve, agents act
  {
    dir: "approve-without-approvers",
    where: "rules/rules.yaml:3",
    says: "nobody could approve this: add approvers: { issuer: [<person issuer>], ... } to the rule or settings.approvers",
  },
  {
    dir: "approvers-workload-issuer",
    where: "rules/rules.yaml:6",
    says: 'issuer "ci" is a workload issuer: approvers must come from an issuer with kind: person',
  },
  {
    dir: "agents-person-issuer",
    where: "rules/rules.yaml:4",
    says: 'issuer "staff" has kind: person: agents must come from workload issuers',
  },
  {
    dir: "approvers-on-allow-rule",
    where: "rules/rules.yaml:6",
    says: "approvers apply to effect approve only",
  },
  {
    dir: "profile-approval-nobody",
    where: "profiles/profiles.yaml:6",
    says: "nobody could approve these calls: add approvals.approvers",
  },
  // GraphQL endpoints: every mapped field, declared argument and resource param is in the schema
  {
    dir: "graphql-unknown-field",
    where: "services/svc.yaml:21",
    says: 'the schema has no mutation field "mergePullRequests" (svc.graphql)',
  },
  {
    dir: "graphql-arg-type",
    where: "services/svc.yaml:24",
    says: "input.number is Int in the schema: declare it as integer",
  },
  {
    dir: "graphql-arg-object",
    where: "services/svc.yaml:24",
    says: "input is MergePullRequestInput! in the schema, not a scalar: declare one of its fields",
  },
  {
    dir: "graphql-no-schema",
    where: "services/svc.yaml:4",
    says: "cannot read the schema svc.graphql beside",
  },
  {
    dir: "graphql-field-twice",
    where: "services/svc.yaml:21",
    says: "query.repository is already the action graphql.repository: one action per field",
  },
  {
    dir: "graphql-no-endpoint",
    where: "services/svc.yaml:13",
    says: "the service has no graphql endpoint: add graphql: or remove this",
  },
  // credentials (issue 14): where a service's upstream credential comes from
  {
    dir: "credentials-unknown-provider",
    where: "firebreak.yaml:12",
    says: '"credentials.svc.provider" must be one of static, github_app, oauth2_client_credentials, token_exchange',
  },
  {
    dir: "credentials-secret-undeclared",
    where: "firebreak.yaml:16",
    says: 'secret GITHUB_APP_KEY is not declared: add it to "secrets" in policies/firebreak.yaml',
  },
  {
    dir: "credentials-github-app-no-installation",
    where: "firebreak.yaml:12",
    says: "github_app needs installation_id: add it",
  },
  {
    dir: "credentials-github-app-unmapped",
    where: "profiles/profiles.yaml:3",
    says: "profile ops allows github:actions.list_repo_variables, which no GitHub App permission covers",
  },
  // a profile's scope (src/compiler/scope.ts); scope-ok is the valid set each changes one line of
  { dir: "scope-unknown-service", where: "profiles/profiles.yaml:8", says: 'scope names unknown service "gitlab"' },
  {
    dir: "scope-service-not-called",
    where: "profiles/profiles.yaml:8",
    says: "scope.svc: this profile allows no svc action: remove it, or add the actions",
  },
  {
    dir: "scope-no-repository-resource",
    where: "profiles/profiles.yaml:11",
    says: "scope.svc.repositories narrows nothing: none of this profile's svc actions has a repository resource",
  },
  {
    dir: "scope-bad-pattern",
    where: "profiles/profiles.yaml:7",
    says: '"acme/api/issues" is not owner/name or owner/*',
  },
  {
    dir: "scope-bad-name",
    where: "profiles/profiles.yaml:7",
    says: '"acme/a b": the name must be 1-100 letters, digits, ".", "_" or "-"',
  },
  {
    dir: "scope-duplicate",
    where: "profiles/profiles.yaml:7",
    says: '"ACME/*" is listed twice (also item 0): remove one',
  },
  {
    dir: "scope-other-account",
    where: "profiles/profiles.yaml:7",
    says: '"evil/*" is not of github\'s GitHub App installation account acme: its token could never cover it',
  },
  {
    dir: "scope-empty",
    where: "profiles/profiles.yaml:7",
    says: '"profiles.0.scope.github.repositories" must NOT have fewer than 1 items',
  },
  {
    dir: "scope-missing-for-app",
    where: "profiles/profiles.yaml:5",
    says: 'this profile calls github, whose credential is a GitHub App: its tokens are minted for the repositories a task names, so add scope: { github: { repositories: ["<owner>/*"] } }',
  },
];

/** Several mistakes in several files: every one is reported, in one run. */
const MULTI: Record<string, [string, string][]> = {
  "three-mistakes": [
    ["firebreak.yaml:8", 'jwks_uri "http://ci.example.com/jwks" must use https'],
    ["services/svc.yaml:2", 'upstream "http://api.example.com" must use https'],
    ["rules/rules.yaml:6", "CEL: Unknown variable: agnet"],
  ],
  "schema-errors-in-every-file": [
    ["firebreak.yaml:9", "must be <= 60"],
    ["services/svc.yaml:14", "must be one of read, write, delete, admin"],
    ["rules/rules.yaml:4", 'unknown key "priority"'],
  ],
};

/** Directories that compile: the control cases next to a broken one. */
const COMPILES = [
  "overlap-other-method-ok",
  "literal-beats-param-ok",
  "service-named-constructor-ok",
  "route-literal-proto-ok",
  "profile-ok",
  "profile-alias-effects-ok",
  "graphql-ok",
  "credentials-ok",
  "scope-ok",
];

function serviceOf(bundle: Bundle, name: string): ServiceSpec {
  const svc = bundle.services[name];
  if (!svc) throw new Error(`the bundle has no service ${name}`);
  return svc;
}

function problemsOf(dir: string, options?: CompileOptions) {
  const result = compilePolicies(join(BROKEN, dir), options);
  return result.ok ? null : result.problems.list;
}

describe("an alias in a profile", () => {
  it("counts as the action whose effect it has: the target's limits reach it (effects)", () => {
    const result = compilePolicies(join(BROKEN, "profile-alias-effects-ok"));
    if (!result.ok) throw new Error(result.problems.format());
    const ops = result.bundle.profiles.find((p) => p.name === "ops");
    expect(ops?.effects).toEqual({ "svc:items.patch": ["svc:items.update"] });
  });
});

describe("broken policy sets", () => {
  it.each(CASES)("$dir -> $where", ({ dir, where, says, options }) => {
    const problems = problemsOf(dir, options);
    expect(problems, "the set should not compile").not.toBeNull();
    // One mistake, one problem: nothing cascades from it.
    expect(problems?.map((p) => `${p.where}: ${p.message}`)).toHaveLength(1);
    const [problem] = problems ?? [];
    expect(problem?.where).toBe(`${dir}/${where}`);
    if (typeof says === "string") expect(problem?.message).toContain(says);
    else expect(problem?.message).toMatch(says);
  });

  it.each(Object.entries(MULTI))("%s reports every problem in one run", (dir, expected) => {
    const problems = problemsOf(dir) ?? [];
    expect(problems).toHaveLength(expected.length);
    for (const [where, says] of expected) {
      expect(
        problems.some((p) => p.where === `${dir}/${where}` && p.message.includes(says)),
        `${where}: ${says}`,
      ).toBe(true);
    }
  });

  it.each(COMPILES)("control case %s compiles", (dir) => {
    expect(problemsOf(dir)).toBeNull();
  });

  it("literal route segments named like prototype keys are routes, not prototype writes", () => {
    const result = compilePolicies(join(BROKEN, "route-literal-proto-ok"));
    if (!result.ok) throw new Error(result.problems.format());
    const { bundle } = result;
    expect(({} as Record<string, unknown>).m).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).m).toBeUndefined();
    const svc = serviceOf(bundle, "svc");
    for (const routes of [svc.routes, JSON.parse(JSON.stringify(svc.routes))]) {
      const proto = matchRoute(routes, ["items", "1", "__proto__"], "GET");
      expect(proto && bundle.actions[proto.action]?.name).toBe("svc:items.proto");
      const ctor = matchRoute(routes, ["constructor", "7"], "GET");
      expect(ctor && bundle.actions[ctor.action]?.name).toBe("svc:items.ctor");
      expect(matchRoute(routes, ["items", "1"], "GET")?.values).toEqual(["1"]);
    }
  });

  it("a literal next to its parameterised sibling compiles, and each request reaches its own action", () => {
    const result = compilePolicies(join(BROKEN, "literal-beats-param-ok"));
    if (!result.ok) throw new Error(result.problems.format());
    const { bundle } = result;
    const name = (segs: string[], method: string) => {
      const m = matchRoute(serviceOf(bundle, "svc").routes, segs, method);
      return m && { action: bundle.actions[m.action]?.name, values: m.values };
    };
    expect(name(["items", "special"], "GET")).toEqual({ action: "svc:items.special", values: [] });
    expect(name(["items", "42"], "GET")).toEqual({ action: "svc:items.get", values: ["42"] });
    // The literal has no PATCH: the parameter template of that method takes it.
    expect(name(["items", "special"], "PATCH")).toEqual({ action: "svc:items.update", values: ["special"] });
  });

  it("the dev overlay is not read without --dev", () => {
    expect(problemsOf("dev-upstream-unknown-service")).toBeNull();
  });

  it("every fixture directory is covered by a case", () => {
    const covered = new Set([...CASES.map((c) => c.dir), ...Object.keys(MULTI), ...COMPILES]);
    const dirs = readdirSync(BROKEN, { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(dirs.map((d) => d.name).filter((d) => !covered.has(d))).toEqual([]);
  });
});

describe("a GraphQL endpoint", () => {
  it("maps its root fields to actions that are no routes, with argument paths and resource params", () => {
    const result = compilePolicies(join(BROKEN, "graphql-ok"));
    if (!result.ok) throw new Error(result.problems.format());
    const { bundle } = result;
    const ep = serviceOf(bundle, "svc").graphql;
    const index = (name: string) => bundle.actions.findIndex((a) => a.name === name);
    expect(ep).toMatchObject({
      path: "/graphql",
      query: { repository: index("svc:graphql.repository") },
      mutation: { mergePullRequest: index("svc:graphql.merge") },
      max_depth: 20,
      max_fields: 1000,
      introspection: false,
    });
    expect(expandSchema(ep?.schema ?? "").__schema.queryType).toEqual({ name: "Query" });
    const repo = bundle.actions[index("svc:graphql.repository")];
    expect(repo).toMatchObject({ method: ["POST"], path: "/graphql", params: ["owner", "name"] });
    expect(repo?.resource).toEqual([{ t: "repo:" }, { param: "owner" }, { t: "/" }, { param: "name" }]);
    expect(bundle.actions[index("svc:graphql.merge")]?.args).toEqual({
      "input.pullRequestId": "string",
      "input.number": "integer",
    });
    // POST /graphql is no route of the REST trie: only the GraphQL classifier reads it.
    expect(matchRoute(serviceOf(bundle, "svc").routes, ["graphql"], "POST")).toBeNull();
  });
});
