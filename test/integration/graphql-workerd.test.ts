/// <reference types="vite/client" />
/**
 * graphql-js inside workerd: the worker builds the shipped GitHub and Linear schemas from the bundle's
 * compact strings and classifies documents with the same code the Node tests run (parse, validate,
 * variable coercion, CollectFields). The first call of the isolate builds the schema; it is timed and
 * printed, never asserted (the machine's load varies).
 */
import { describe, expect, it } from "vitest";
import shipped from "../../build/bundle.json";
import type { Bundle } from "../../src/policy/types";
import { graphqlCalls } from "../../src/protocols/graphql/calls";

const bundle = shipped as unknown as Bundle;

function classify(service: string, body: unknown): string[] | string {
  const ep = bundle.services[service]?.graphql;
  if (!ep) throw new Error(`${service} has no GraphQL endpoint in build/bundle.json`);
  const started = performance.now();
  const r = graphqlCalls(ep, bundle.actions, JSON.stringify(body), "application/json");
  console.log(`workerd ${service}: ${(performance.now() - started).toFixed(1)} ms`);
  return r.ok ? r.calls.map((c) => bundle.actions[c.action]?.name ?? "?") : r.reason;
}

describe("graphql-js in workerd", () => {
  it("GitHub: a merge hidden behind an alias and a fragment is the merge; an invalid document is refused", () => {
    const query =
      "mutation($id: ID!) { ...M } fragment M on Mutation { q: mergePullRequest(input: {pullRequestId: $id}) { clientMutationId } }";
    expect(classify("github", { query, variables: { id: "PR_1" } })).toEqual(["github:graphql.mergePullRequest"]);
    expect(
      classify("github", { query: '{ repository(owner: "a", name: "b") { nameWithOwner } viewer { login } }' }),
    ).toEqual(["github:graphql.repository", "github:graphql.viewer"]);
    expect(classify("github", { query: "{ viewer { nope } }" })).toBe("graphql.invalid");
  });

  it("Linear: variables coerced against the schema the worker built", () => {
    const query = "mutation($input: IssueCreateInput!) { issueCreate(input: $input) { success } }";
    expect(classify("linear", { query, variables: { input: { teamId: "T", title: "x" } } })).toEqual([
      "linear:issueCreate",
    ]);
    expect(classify("linear", { query, variables: { input: { title: "x" } } })).toBe("graphql.variables");
  });
});
