/**
 * graphqlCalls: a GraphQL request -> one step per root field of the operation the server executes.
 * Each known bypass class (aliases hiding a mutation, a mutation in a second operation, batches,
 * fragments on the root, @skip/@include, introspection, persisted queries, limits) is refused or
 * classified as the server would execute it. Against a small GitHub-shaped schema.
 */
import { buildSchema } from "graphql";
import { describe, expect, it } from "vitest";
import type { ActionSpec, ArgType, GraphqlEndpoint } from "../../src/policy/types";
import { graphqlCalls } from "../../src/protocols/graphql/calls";
import { compactSchema } from "../../src/protocols/graphql/compact";

const SDL = `
  type Query {
    repository(owner: String!, name: String!): Repository
    viewer: User!
    node(id: ID!): Node
    search(query: String!, first: Int = 10): [Node!]!
  }
  type Mutation {
    mergePullRequest(input: MergePullRequestInput!): Payload
    addComment(input: AddCommentInput!): Payload
    deleteIssue(input: DeleteIssueInput!): Payload
  }
  type Subscription { issueChanged: Issue }
  interface Node { id: ID! }
  type User implements Node { id: ID! login: String! }
  type Issue implements Node { id: ID! title: String! comments(first: Int): [Comment!]! }
  type Comment implements Node { id: ID! body: String! author: User }
  type Repository implements Node {
    id: ID!
    name: String!
    issue(number: Int!): Issue
    owner: User!
  }
  type Payload { clientMutationId: String node: Node }
  enum MergeMethod { MERGE SQUASH REBASE }
  input MergePullRequestInput { pullRequestId: ID! mergeMethod: MergeMethod commitHeadline: String expectedHeadOid: String }
  input AddCommentInput { subjectId: ID! body: String! }
  input DeleteIssueInput { issueId: ID! }
`;

function action(name: string, args: Record<string, ArgType> = {}, params: string[] = []): ActionSpec {
  return {
    name: `github:graphql.${name}`,
    service: "github",
    method: ["POST"],
    path: "/graphql",
    kind: "read",
    risk: "low",
    data: [],
    params,
    resource: null,
    args,
    same_effect_as: [],
    forbidden: null,
    body_format: null,
    source: "test",
  };
}

const ACTIONS = [
  action("repository", { owner: "string", name: "string" }, ["owner", "name"]),
  action("viewer"),
  action("node", { id: "string" }),
  action("mergePullRequest", {
    "input.pullRequestId": "string",
    "input.mergeMethod": "string",
    "input.commitHeadline": "string",
  }),
  action("addComment", { "input.subjectId": "string", "input.body": "string" }),
  action("introspection"),
  action("search", { query: "string", first: "integer" }),
];
const I = Object.fromEntries(ACTIONS.map((a, i) => [a.name.replace("github:graphql.", ""), i]));

const endpoint = (over: Partial<GraphqlEndpoint> = {}): GraphqlEndpoint => ({
  path: "/graphql",
  query: { repository: I.repository!, viewer: I.viewer!, node: I.node!, search: I.search! },
  mutation: { mergePullRequest: I.mergePullRequest!, addComment: I.addComment! },
  schema: compactSchema(buildSchema(SDL)),
  max_depth: 6,
  max_fields: 40,
  introspection: false,
  ...over,
});
const EP = endpoint();
const JSON_TYPE = "application/json";

const run = (body: unknown, ep = EP, type: string | null = JSON_TYPE) =>
  graphqlCalls(ep, ACTIONS, typeof body === "string" ? body : JSON.stringify(body), type);
const names = (r: ReturnType<typeof run>) => (r.ok ? r.calls.map((c) => ACTIONS[c.action]?.name) : r.reason);
const merge = (directives = "") =>
  `mergePullRequest(input: {pullRequestId: "PR_1", mergeMethod: SQUASH}) ${directives} { clientMutationId }`;
const MERGE = merge();

describe("graphqlCalls: what the server executes", () => {
  it("a query's root fields, each one step with its arguments and resource params", () => {
    const r = run({ query: '{ repository(owner: "acme", name: "api") { name } viewer { login } }' });
    expect(r.ok && r.operation).toEqual({ type: "query", name: null });
    expect(r.ok && r.calls).toEqual([
      {
        action: I.repository,
        args: { owner: "acme", name: "api" },
        params: { owner: "acme", name: "api" },
        at: "repository",
      },
      { action: I.viewer, args: {}, params: {}, at: "viewer" },
    ]);
  });

  it("a mutation's root fields map through the mutation table, never the query table", () => {
    const r = run({ query: `mutation Merge { ${MERGE} }` });
    expect(r.ok && r.operation).toEqual({ type: "mutation", name: "Merge" });
    expect(names(r)).toEqual(["github:graphql.mergePullRequest"]);
    expect(r.ok && r.calls[0]?.args).toEqual({ "input.pullRequestId": "PR_1", "input.mergeMethod": "SQUASH" });
  });

  it("aliases: `q: mergePullRequest` inside a mutation is the merge, and each alias is its own step", () => {
    const r = run({
      query: `mutation { q: ${MERGE} viewer2: addComment(input: {subjectId: "I_1", body: "x"}) { clientMutationId } again: ${MERGE} }`,
    });
    expect(names(r)).toEqual([
      "github:graphql.mergePullRequest",
      "github:graphql.addComment",
      "github:graphql.mergePullRequest",
    ]);
    expect(r.ok && r.calls.map((c) => c.at)).toEqual([
      "q: mergePullRequest",
      "viewer2: addComment",
      "again: mergePullRequest",
    ]);
  });

  it("one response key for two different fields or arguments is ambiguous; the same field twice is one step", () => {
    expect(run({ query: 'query { a: viewer { login } a: node(id: "x") { id } }' }).ok).toBe(false);
    const twoArgs = run({
      query: `mutation { m: ${MERGE} m: mergePullRequest(input: {pullRequestId: "PR_2"}) { clientMutationId } }`,
    });
    expect(!twoArgs.ok && twoArgs.reason).toBe("graphql.ambiguous");
    const same = run({ query: "{ viewer { login } viewer { id } }" });
    expect(names(same)).toEqual(["github:graphql.viewer"]);
  });

  it("a mutation in a second operation: operationName picks; without it, two operations are refused", () => {
    const query = `query Read { viewer { login } } mutation Write { ${MERGE} }`;
    expect(names(run({ query, operationName: "Read" }))).toEqual(["github:graphql.viewer"]);
    expect(names(run({ query, operationName: "Write" }))).toEqual(["github:graphql.mergePullRequest"]);
    expect(names(run({ query }))).toBe("graphql.operation");
    expect(names(run({ query, operationName: "Other" }))).toBe("graphql.operation");
    expect(names(run({ query, operationName: "" }))).toBe("graphql.operation");
    // Two operations of one name: graphql-js would take the first, others may take the last.
    expect(names(run({ query: `query A { viewer { id } } mutation A { ${MERGE} }`, operationName: "A" }))).toBe(
      "graphql.operation",
    );
    expect(names(run({ query: `{ viewer { id } } mutation { ${MERGE} }` }))).toBe("graphql.operation");
  });

  it("fragments on the root, named and inline, contribute their fields; a mutation cannot hide in them", () => {
    const named = run({ query: `mutation { ...M } fragment M on Mutation { ${MERGE} }` });
    expect(names(named)).toEqual(["github:graphql.mergePullRequest"]);
    const inline = run({
      query: `mutation { ... on Mutation { x: ${MERGE} } ... { addComment(input: {subjectId: "a", body: "b"}) { clientMutationId } } }`,
    });
    expect(names(inline)).toEqual(["github:graphql.mergePullRequest", "github:graphql.addComment"]);
    const nested = run({
      query: 'query { ...A } fragment A on Query { ...B viewer { id } } fragment B on Query { node(id: "n") { id } }',
    });
    expect(names(nested)).toEqual(["github:graphql.node", "github:graphql.viewer"]);
    // A mutation field in a fragment on Mutation spread into a query is a validation error, not a read.
    expect(names(run({ query: `query { ...M } fragment M on Mutation { ${MERGE} }` }))).toBe("graphql.invalid");
    expect(names(run({ query: "query { ...A } fragment A on Query { ...A }" }))).toBe("graphql.invalid");
  });

  it("@skip / @include are evaluated with the variables; a condition without a value is refused", () => {
    const query = `mutation($s: Boolean!, $i: Boolean!) { m: ${merge("@skip(if: $s)")} c: addComment(input: {subjectId: "a", body: "b"}) @include(if: $i) { clientMutationId } }`;
    expect(names(run({ query, variables: { s: true, i: false } }))).toEqual([]);
    expect(names(run({ query, variables: { s: false, i: true } }))).toEqual([
      "github:graphql.mergePullRequest",
      "github:graphql.addComment",
    ]);
    expect(names(run({ query, variables: { s: false } }))).toBe("graphql.variables");
    const literal = run({
      query: `mutation { ... @include(if: false) { ${MERGE} } viewerless: ${merge("@skip(if: false)")} }`,
    });
    expect(names(literal)).toEqual(["github:graphql.mergePullRequest"]);
    const defaulted = run({ query: `mutation($s: Boolean = true) { ${merge("@skip(if: $s)")} }` });
    expect(names(defaulted)).toEqual([]);
    const bothDirectives = run({ query: `mutation { ${merge("@skip(if: false) @include(if: false)")} }` });
    expect(names(bothDirectives)).toEqual([]);
  });

  it("variables and inline literals give the same declared arguments", () => {
    const literal = run({ query: `mutation { ${MERGE} }` });
    const byVariable = run({
      query: "mutation($in: MergePullRequestInput!) { mergePullRequest(input: $in) { clientMutationId } }",
      variables: { in: { pullRequestId: "PR_1", mergeMethod: "SQUASH" } },
    });
    const mixed = run({
      query:
        "mutation($id: ID!, $m: MergeMethod) { mergePullRequest(input: {pullRequestId: $id, mergeMethod: $m}) { clientMutationId } }",
      variables: { id: "PR_1", m: "SQUASH" },
    });
    expect(literal.ok && byVariable.ok && mixed.ok).toBe(true);
    if (!literal.ok || !byVariable.ok || !mixed.ok) return;
    expect(byVariable.calls).toEqual(literal.calls);
    expect(mixed.calls).toEqual(literal.calls);
    // An ID sent as a number is coerced as the server coerces it: a string.
    const numeric = run({ query: "query($id: ID!) { node(id: $id) { id } }", variables: { id: 42 } });
    expect(numeric.ok && numeric.calls[0]?.args).toEqual({ id: "42" });
    // A default value is what the server uses when the argument is left out.
    expect(names(run({ query: '{ search(query: "x") { id } }' }))).toEqual(["github:graphql.search"]);
    const dflt = run({ query: '{ search(query: "x") { id } }' });
    expect(dflt.ok && dflt.calls[0]?.args).toEqual({ query: "x", first: 10 });
    // An explicit null is kept: clearing a field is a change a rule may want to see.
    const cleared = run({
      query: 'mutation { mergePullRequest(input: {pullRequestId: "P", commitHeadline: null}) { clientMutationId } }',
    });
    expect(cleared.ok && cleared.calls[0]?.args).toEqual({ "input.pullRequestId": "P", "input.commitHeadline": null });
  });

  it("variables that do not fit their definitions are refused", () => {
    const query = "mutation($in: MergePullRequestInput!) { mergePullRequest(input: $in) { clientMutationId } }";
    expect(names(run({ query, variables: {} }))).toBe("graphql.variables");
    expect(names(run({ query, variables: { in: { pullRequestId: "P", mergeMethod: "FAST" } } }))).toBe(
      "graphql.variables",
    );
    expect(names(run({ query, variables: { in: { pullRequestId: "P", extra: 1 } } }))).toBe("graphql.variables");
    expect(names(run({ query, variables: [] }))).toBe("graphql.variables");
  });

  it("an unmapped mutation is action.unknown, even next to mapped ones; __typename needs no action", () => {
    const r = run({ query: `mutation { ${MERGE} deleteIssue(input: {issueId: "I"}) { clientMutationId } }` });
    expect(!r.ok && r.reason).toBe("action.unknown");
    expect(!r.ok && r.detail).toBe("mutation deleteIssue");
    expect(names(run({ query: "{ __typename viewer { id } }" }))).toEqual(["github:graphql.viewer"]);
  });

  it("introspection: refused unless the catalog maps it, then a step of that read action", () => {
    expect(names(run({ query: "{ __schema { types { name } } }" }))).toBe("graphql.introspection");
    expect(names(run({ query: '{ __type(name: "User") { name } }' }))).toBe("graphql.introspection");
    const open = endpoint({
      introspection: true,
      query: { ...EP.query, __schema: I.introspection!, __type: I.introspection! },
    });
    expect(names(run({ query: '{ __schema { queryType { name } } t: __type(name: "User") { name } }' }, open))).toEqual(
      ["github:graphql.introspection", "github:graphql.introspection"],
    );
  });

  it("subscriptions are refused", () => {
    expect(names(run({ query: "subscription { issueChanged { id } }" }))).toBe("graphql.subscription");
  });

  it("depth and field count, fragments expanded and aliases counted", () => {
    const deep = '{ repository(owner: "a", name: "b") { issue(number: 1) { comments { author { login } } } } }';
    expect(names(run({ query: deep }))).toEqual(["github:graphql.repository"]);
    expect(names(run({ query: deep }, endpoint({ max_depth: 4 })))).toBe("graphql.too_large");
    const aliases = Array.from({ length: 41 }, (_, i) => `v${i}: __typename`).join(" ");
    expect(names(run({ query: `{ ${aliases} }` }))).toBe("graphql.too_large");
    // Fragments that multiply each other: counted as expanded, and the count stops at the limit.
    const bomb =
      "{ ...A } fragment A on Query { ...B ...B ...B ...B } fragment B on Query { ...C ...C ...C ...C } fragment C on Query { viewer { id login } }";
    expect(names(run({ query: bomb }))).toBe("graphql.too_large");
    // Limits hold for every operation of the document, not only the one executed.
    expect(names(run({ query: `query A { viewer { id } } query B { ${aliases} }`, operationName: "A" }))).toBe(
      "graphql.too_large",
    );
    const tokens = `{ viewer { ${"id ".repeat(2000)} } }`;
    expect(names(run({ query: tokens }))).toBe("graphql.too_large");
  });
});

describe("graphqlCalls: the request body", () => {
  it("batched arrays are refused, not classified by their first element", () => {
    expect(names(run([{ query: "{ viewer { id } }" }, { query: `mutation { ${MERGE} }` }]))).toBe("graphql.batch");
  });

  it("persisted-query ids are refused, with or without a document", () => {
    const apq = { extensions: { persistedQuery: { version: 1, sha256Hash: "ab" } } };
    expect(names(run(apq))).toBe("graphql.persisted_query");
    expect(names(run({ query: "{ viewer { id } }", ...apq }))).toBe("graphql.persisted_query");
    expect(names(run({ id: "q1", variables: {} }))).toBe("graphql.persisted_query");
    expect(names(run({ documentId: "q1" }))).toBe("graphql.persisted_query");
  });

  it("only { query, variables, operationName } as JSON, each key once", () => {
    expect(names(run({ query: "{ viewer { id } }", extensions: {} }))).toEqual(["github:graphql.viewer"]);
    expect(names(run({ query: "{ viewer { id } }", variables: null, operationName: null }))).toEqual([
      "github:graphql.viewer",
    ]);
    expect(names(run({ query: "{ viewer { id } }", extensions: { tracing: true } }))).toBe("request.body_invalid");
    expect(names(run({ query: "{ viewer { id } }", mutation: "x" }))).toBe("request.body_invalid");
    expect(names(run({ variables: {} }))).toBe("request.body_invalid");
    expect(names(run("not json"))).toBe("request.body_invalid");
    expect(names(run(`{"query": "{ viewer { id } }", "query": "mutation { ${MERGE.replaceAll('"', '\\"')} }"}`))).toBe(
      "request.duplicate_key",
    );
    expect(names(run({ query: "{ viewer { id } }" }, EP, "application/graphql"))).toBe("request.content_type");
    expect(names(run({ query: "{ viewer { id } }" }, EP, null))).toBe("request.content_type");
    expect(names(run({ query: "{ viewer { id } }" }, EP, "application/json; charset=utf-8"))).toEqual([
      "github:graphql.viewer",
    ]);
    expect(names(run({ query: "{ viewer { id } }" }, EP, "application/json; charset=latin1"))).toBe(
      "request.content_type",
    );
  });

  it("a document that does not parse or validate is refused", () => {
    expect(names(run({ query: "{ viewer { id }" }))).toBe("graphql.syntax");
    expect(names(run({ query: "{ viewer { nope } }" }))).toBe("graphql.invalid");
    // Which of two arguments (or input fields) of one name would the server take? Neither: refused.
    expect(
      names(
        run({
          query: 'mutation { mergePullRequest(input: {pullRequestId: "A", pullRequestId: "B"}) { clientMutationId } }',
        }),
      ),
    ).toBe("graphql.invalid");
    expect(names(run({ query: '{ node(id: "A", id: "B") { id } }' }))).toBe("graphql.invalid");
    expect(names(run({ query: "query($v: String) { viewer { id } }" }))).toBe("graphql.invalid");
    expect(names(run({ query: "type X { a: Int } { viewer { id } }" }))).toBe("graphql.invalid");
  });
});
