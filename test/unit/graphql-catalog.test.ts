/**
 * The GraphQL catalogs against their vendors' schemas: GitHub's (@octokit/graphql-schema) and Linear's
 * (read back from @linear/sdk). Every root field is exactly one action of the shipped bundle; the
 * catalog and the schema file are what the import gives; the bundle's compact schema is the schema
 * file; real documents (what `gh` and the Linear SDK send) classify to the actions rules expect, the
 * GraphQL merge reaching rules on the REST merge through same_effect_as.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildClientSchema, buildSchema, lexicographicSortSchema, printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { catalogText, generate } from "../../src/catalog/generate";
import { readOverrides } from "../../src/catalog/overrides";
import type { CatalogSource } from "../../src/catalog/source";
import { source as github } from "../../src/catalog/sources/github";
import { githubGraphqlSchema } from "../../src/catalog/sources/github-graphql";
import { source as linear, linearSchema } from "../../src/catalog/sources/linear";
import { compilePolicies } from "../../src/compiler/compile";
import type { Bundle, GraphqlEndpoint } from "../../src/policy/types";
import { graphqlCalls } from "../../src/protocols/graphql/calls";
import { expandSchema } from "../../src/protocols/graphql/compact";

const POLICIES = join(import.meta.dirname, "..", "..", "policies");
const compiled = compilePolicies(POLICIES);
if (!compiled.ok) throw new Error(compiled.problems.format());
const bundle: Bundle = compiled.bundle;
const endpointOf = (service: string): GraphqlEndpoint => {
  const ep = bundle.services[service]?.graphql;
  if (!ep) throw new Error(`${service} has no GraphQL endpoint`);
  return ep;
};

/** The actions a request's steps are, by name; the refusal's reason otherwise. */
function stepsOf(service: string, body: unknown): string[] | string {
  const r = graphqlCalls(endpointOf(service), bundle.actions, JSON.stringify(body), "application/json");
  return r.ok ? r.calls.map((c) => bundle.actions[c.action]?.name ?? "?") : r.reason;
}
const callsOf = (service: string, body: unknown) => {
  const r = graphqlCalls(endpointOf(service), bundle.actions, JSON.stringify(body), "application/json");
  if (!r.ok) throw new Error(`${r.reason}: ${r.detail}`);
  return r.calls.map((c) => ({ ...c, name: bundle.actions[c.action]?.name, spec: bundle.actions[c.action] }));
};

describe.each([
  ["github", "graphql.", () => githubGraphqlSchema()],
  ["linear", "", () => linearSchema()],
] as const)("%s: the schema's root fields", (service, prefix, schemaOf) => {
  const schema = schemaOf();
  const ep = endpointOf(service);
  const overrides = readOverrides(join(POLICIES, "services", `${service}.overrides.yaml`));

  it("every query and mutation field is one action of the service, of its own name unless renamed", () => {
    for (const [type, root, map] of [
      ["query", schema.getQueryType(), ep.query],
      ["mutation", schema.getMutationType(), ep.mutation],
    ] as const) {
      const fields = Object.keys(root?.getFields() ?? {});
      expect(fields.length).toBeGreaterThan(20);
      for (const field of fields) {
        const action = bundle.actions[map[field] ?? -1];
        const name = overrides.actions?.[`${type}.${field}`]?.name ?? `${prefix}${field}`;
        expect(action?.name, `${type}.${field}`).toBe(`${service}:${name}`);
        expect(action?.kind === "read", `${type}.${field}`).toBe(type === "query");
      }
      // Introspection fields aside, the maps hold exactly the schema's fields.
      expect(
        Object.keys(map)
          .filter((f) => !f.startsWith("__"))
          .sort(),
      ).toEqual([...fields].sort());
    }
  });

  it("the catalog and the schema file are what the import gives", () => {
    const src = (service === "github" ? github : linear) as CatalogSource;
    const text = catalogText(generate(src.operations(), overrides), overrides, src.origin);
    expect(text).toBe(readFileSync(join(POLICIES, "services", `${service}.yaml`), "utf8"));
    expect(src.graphqlSchema?.()).toBe(readFileSync(join(POLICIES, "services", `${service}.graphql`), "utf8"));
  });

  it("the bundle's compact schema is the schema file, type for type", () => {
    const sdl = readFileSync(join(POLICIES, "services", `${service}.graphql`), "utf8");
    const fromBundle = printSchema(lexicographicSortSchema(buildClientSchema(expandSchema(ep.schema))));
    expect(fromBundle).toBe(printSchema(lexicographicSortSchema(buildSchema(sdl))));
  });
});

describe("GitHub: what gh and octokit.graphql send", () => {
  it("a merge is a step of graphql.mergePullRequest, an alias of pulls.merge, however it is hidden", () => {
    const merge = "mergePullRequest(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { number } }";
    for (const query of [
      `mutation($id: ID!) { ${merge} }`,
      `mutation($id: ID!) { q: ${merge} }`,
      `mutation($id: ID!) { ...M } fragment M on Mutation { ${merge} }`,
      `query R { viewer { login } } mutation W($id: ID!) { ... on Mutation { ${merge} } }`,
    ]) {
      const calls = callsOf("github", {
        query,
        variables: { id: "PR_kwDO" },
        operationName: query.includes("W(") ? "W" : null,
      });
      expect(calls.map((c) => c.name)).toEqual(["github:graphql.mergePullRequest"]);
      expect(calls[0]?.spec?.same_effect_as).toEqual(["github:pulls.merge"]);
      expect(calls[0]?.spec?.risk).toBe("high");
      expect(calls[0]?.args).toEqual({ "input.pullRequestId": "PR_kwDO", "input.mergeMethod": "SQUASH" });
    }
  });

  it("gh pr list: one read of the repository, its resource from owner and name", () => {
    const query = `query PullRequestList($owner: String!, $repo: String!, $limit: Int!) {
      repository(owner: $owner, name: $repo) {
        pullRequests(first: $limit, states: [OPEN]) { totalCount nodes { number title author { login } } }
      }
    }`;
    const calls = callsOf("github", { query, variables: { owner: "acme", repo: "api", limit: 30 } });
    expect(calls.map((c) => [c.name, c.params])).toEqual([
      ["github:graphql.repository", { owner: "acme", name: "api" }],
    ]);
    expect(calls[0]?.spec?.resource).toEqual([{ t: "repo:" }, { param: "owner" }, { t: "/" }, { param: "name" }]);
    expect(calls[0]?.spec?.data).toContain("source_code");
  });

  it("each mutation a REST action does is its alias; writes to branches carry source_code", () => {
    const alias = (field: string) => bundle.actions[endpointOf("github").mutation[field] ?? -1]?.same_effect_as;
    expect(alias("addComment")).toEqual(["github:issues.comments.create"]);
    expect(alias("createIssue")).toEqual(["github:issues.create"]);
    expect(alias("closeIssue")).toEqual(["github:issues.update"]);
    expect(alias("createPullRequest")).toEqual(["github:pulls.create"]);
    expect(alias("createRef")).toEqual(["github:git.refs.create"]);
    expect(alias("deleteRef")).toEqual(["github:git.refs.delete"]);
    expect(alias("addLabelsToLabelable")).toEqual(["github:issues.labels.add"]);
    expect(alias("requestReviews")).toEqual(["github:pulls.requested_reviewers.add"]);
    const commit = callsOf("github", {
      query: `mutation { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "acme/api", branchName: "main"},
        expectedHeadOid: "0123", message: {headline: "x"}}) { commit { oid } } }`,
    });
    expect(commit[0]?.spec?.data).toContain("source_code");
    expect(commit[0]?.params).toEqual({ "input.branch.repositoryNameWithOwner": "acme/api" });
  });

  it("unmapped is action.unknown; introspection is its own read action; subscriptions and batches refused", () => {
    expect(stepsOf("github", { query: "{ __schema { queryType { name } } }" })).toEqual([
      "github:graphql.introspection",
    ]);
    expect(stepsOf("github", [{ query: "{ viewer { login } }" }])).toBe("graphql.batch");
    expect(stepsOf("github", { query: "{ viewer { nope } }" })).toBe("graphql.invalid");
  });
});

describe("Linear: what the SDK sends", () => {
  it("issueCreate with variables: the declared input fields, the team as its resource", () => {
    const calls = callsOf("linear", {
      query: "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id } } }",
      variables: { input: { teamId: "T1", title: "Bug", priority: 2 } },
    });
    expect(calls.map((c) => [c.name, c.args, c.params])).toEqual([
      [
        "linear:issueCreate",
        { "input.teamId": "T1", "input.title": "Bug", "input.priority": 2 },
        { "input.teamId": "T1" },
      ],
    ]);
  });

  it("reads of many people's work carry bulk_pii; clearing a field is seen as null", () => {
    const calls = callsOf("linear", {
      query: "{ viewer { id } issues(first: 10) { nodes { id title assignee { name } } } }",
    });
    expect(calls.map((c) => [c.name, c.spec?.data])).toEqual([
      ["linear:viewer", ["pii"]],
      ["linear:issues", ["pii", "bulk_pii"]],
    ]);
    const update = callsOf("linear", {
      query: 'mutation { issueUpdate(id: "I1", input: {assigneeId: null}) { success } }',
    });
    expect(update[0]?.args).toEqual({ id: "I1", "input.assigneeId": null });
    expect(stepsOf("linear", { query: '{ __type(name: "Issue") { name } }' })).toBe("graphql.introspection");
  });
});
