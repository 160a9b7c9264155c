/**
 * GraphQL through the gateway as it ships (bundled, in miniflare), called by @octokit/rest's
 * `octokit.graphql` with task tokens, to the recording fake upstream (test/helpers/upstream.ts), which
 * answers GitHub's POST /graphql. Policies: test/fixtures/policies/graphql, whose services/ are links to
 * the real GitHub catalog and schema (policies/services/github.yaml, github.graphql): the endpoint, its
 * limits and its aliases (mergePullRequest same_effect_as pulls.merge) are the ones that ship.
 *
 * Every assertion about forwarding is made from the upstream's side (what it received, byte for byte):
 *   - an allowed query is forwarded as octokit sent it; the task's step log has one step per root field;
 *   - mergePullRequest is held for the approval the REST merge needs; approved, the retry with
 *     Firebreak-Approval is forwarded once; another pullRequestId is approval.mismatch;
 *   - one budget: per_action github:pulls.merge: 1 is spent by either merge, REST or GraphQL;
 *   - the bypass classes (aliases, second operations, batches, root fragments, @include/@skip,
 *     persisted queries, GraphQL over GET, introspection) are refused with their reason, nothing sent;
 *   - every refusal is GraphQL's `{errors: [{message, extensions: {code, reason, decision_id}}], data:
 *     null}`, answered 200 (401, 429 and 5xx keep their status), which octokit raises as its
 *     GraphqlResponseError with the message and `errors[0].extensions`.
 */
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { httpFor, type Reason } from "../../src/core/reasons";
import keys from "../fixtures/keys.json" with { type: "json" };
import { ISSUERS, token } from "../helpers/tokens";
import { outbound, type Recorded } from "../helpers/upstream";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const GITHUB_TOKEN = "canary-gh-graphql-5c2e81";
const ORIGIN = "https://firebreak.test.example";
const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "graphql-task-key",
  alg: "EdDSA",
};
const APPROVALS = "/_firebreak/v1/approvals";

let gw: Gateway;

interface Task {
  id: string;
  token: string;
}

const recorded = async (): Promise<Recorded[]> => (await outbound(new Request("http://recorder.test/"))).json();
const unmocked = async (): Promise<string[]> => (await outbound(new Request("http://recorder.test/unmocked"))).json();

async function startTask(profile: string, sub: string): Promise<Task> {
  const res = await fetch(new URL("/_firebreak/v1/tasks", gw.url), {
    method: "POST",
    headers: { authorization: `Bearer ${await token({ sub })}`, "content-type": "application/json" },
    body: JSON.stringify({ profile, purpose: "graphql e2e" }),
  });
  const body = (await res.json()) as { task_id: string; task_token: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { id: body.task_id, token: body.task_token };
}

/**
 * What octokit put on the wire, request by request (the body the gateway must forward unchanged), and
 * the decision id the gateway answered with.
 */
const sent: { url: string; body: string; decision: string | null }[] = [];

const QUIET = { debug() {}, info() {}, warn() {}, error() {} };

/** Octokit as a user configures it for the gateway; its fetch notes each body it sends. */
function octokit(task: Task): Octokit {
  return new Octokit({
    auth: task.token,
    baseUrl: `${gw.url}github`,
    log: QUIET,
    request: {
      fetch: async (url: string, init: RequestInit) => {
        const res = await fetch(url, init);
        sent.push({
          url: String(url),
          body: String(init.body ?? ""),
          decision: res.headers.get("firebreak-decision-id"),
        });
        return res;
      },
    },
  });
}

/** The decision record of octokit's last request, once it is logged. */
const lastDecision = () => gw.decision(sent.at(-1)?.decision ?? "none");

/** The rejection of `call`, which must reject. */
// biome-ignore lint/suspicious/noExplicitAny: octokit's error is read field by field, as its users read it
async function rejection(call: Promise<unknown>): Promise<any> {
  try {
    await call;
  } catch (e) {
    return e;
  }
  throw new Error("the call was not refused");
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body
  body: any;
}

/** octokit's GraphqlResponseError (a 200 with `errors`) as the answer the gateway sent. */
function answerOf(err: {
  name: string;
  headers: Record<string, string>;
  response: { errors: unknown; data: unknown };
}): Answer {
  expect(err.name).toBe("GraphqlResponseError");
  return { status: 200, headers: err.headers, body: err.response };
}

/** The status a GraphQL refusal is answered with: 200, except where clients act on HTTP (401, 429, 5xx). */
const graphqlStatus = (status: number) => (status === 401 || status === 429 || status >= 500 ? status : 200);

/** A POST to the GraphQL endpoint with a body octokit cannot send (batches, persisted queries). */
async function post(task: Task, body: string, init: { method?: string; path?: string } = {}): Promise<Answer> {
  const res = await fetch(new URL(`/github/graphql${init.path ?? ""}`, gw.url), {
    method: init.method ?? "POST",
    headers: {
      authorization: `Bearer ${task.token}`,
      ...(init.method === "GET" ? {} : { "content-type": "application/json" }),
    },
    ...(init.method === "GET" ? {} : { body }),
  });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.json() };
}

/**
 * A refusal in GraphQL's shape with the reason table's status, the decision id in the body, the header
 * and the decision record; nothing reached the upstream. Returns the extensions.
 */
async function expectRefused(a: Answer, reason: Reason): Promise<Record<string, unknown>> {
  const { error } = httpFor(reason);
  const status = graphqlStatus(httpFor(reason).status);
  expect(a.status, JSON.stringify(a.body)).toBe(status);
  expect(a.headers["content-type"]).toMatch(/^application\/json/);
  const id = a.headers["firebreak-decision-id"] as string;
  expect(a.body).toEqual({
    errors: [
      {
        message: expect.stringMatching(/^Firebreak: \S/),
        extensions: {
          code: error,
          reason,
          decision_id: id,
          ...(reason === "approval.required"
            ? { approval: { id: expect.any(String), status_url: expect.any(String), expires_at: expect.any(String) } }
            : {}),
        },
      },
    ],
    data: null,
  });
  expect(a.headers["firebreak-decision"]).toBe(reason === "approval.required" ? "approval_required" : "deny");
  expect(await gw.decision(id)).toMatchObject({ reason, status, decision_id: id });
  expect(await recorded()).toEqual([]);
  return a.body.errors[0].extensions;
}

/** A person of the `people` issuer in the approvers group (settings.approvers). */
const person = (sub = "alice") =>
  token({ key: "es256", iss: ISSUERS.people, sub, claims: { groups: ["approvers"], email: `${sub}@acme.test` } });

/** A person reads the approval page and presses Approve (the form as the page posts it). */
async function approve(id: string): Promise<string> {
  const who = await person();
  const page = await fetch(new URL(`${APPROVALS}/${id}`, gw.url), { headers: { "cf-access-jwt-assertion": who } });
  const html = await page.text();
  expect(page.status, html.slice(0, 300)).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  expect(csrf).toBeDefined();
  const res = await fetch(new URL(`${APPROVALS}/${id}/approve`, gw.url), {
    method: "POST",
    headers: {
      "cf-access-jwt-assertion": who,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      "sec-fetch-site": "same-origin",
    },
    body: new URLSearchParams({ csrf: csrf! }).toString(),
  });
  expect(await res.json()).toMatchObject({ status: "approved" });
  return html;
}

async function approvalStatus(task: Task, id: string): Promise<string> {
  const res = await fetch(new URL(`${APPROVALS}/${id}/status`, gw.url), {
    headers: { authorization: `Bearer ${task.token}` },
  });
  return ((await res.json()) as { status: string }).status;
}

interface TaskLog {
  steps: {
    kind: string;
    action: string;
    outcome: string;
    reason: string | null;
    resource: string | null;
    settled: boolean;
    status: number | null;
    facts: { args: Record<string, unknown>; at?: string; path: string };
  }[];
  counters: Record<string, number>;
}

/**
 * The task's call steps, oldest first, as GET /_firebreak/v1/tasks/:id shows them to the task, once
 * every admitted one has settled (the upstream's status is written after the answer is sent).
 */
async function callSteps(task: Task): Promise<TaskLog> {
  for (let tries = 0; ; tries++) {
    const res = await fetch(new URL(`/_firebreak/v1/tasks/${task.id}`, gw.url), {
      headers: { authorization: `Bearer ${task.token}` },
    });
    const view = (await res.json()) as TaskLog;
    expect(res.status).toBe(200);
    const steps = view.steps.filter((s) => s.kind === "call");
    if (tries >= 20 || steps.every((s) => s.outcome !== "reserved" || s.settled))
      return { steps, counters: view.counters };
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: join(ROOT, "test", ".generated", "graphql.json"),
    bindings: {
      GITHUB_TOKEN,
      GATEWAY_ORIGIN: ORIGIN,
      FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY),
      TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
    },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
});

afterAll(async () => {
  await gw?.dispose();
});

beforeEach(async () => {
  sent.length = 0;
  await outbound(new Request("http://recorder.test/reset"));
});

afterEach(async () => {
  expect(await unmocked()).toEqual([]);
});

const PULL_REQUEST = `query PullRequest($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) { id title mergeable }
  }
  viewer { login }
}`;

const MERGE = `mutation Merge($id: ID!) {
  mergePullRequest(input: { pullRequestId: $id, mergeMethod: SQUASH }) {
    pullRequest { number merged }
  }
}`;
const PR_ID = "PR_kwDOAcmeApi7";

describe("an allowed query", () => {
  it("is forwarded as octokit sent it, with GitHub's token; each root field is a step of the task", async () => {
    const task = await startTask("merging", "agent-1");
    const variables = { owner: "acme", name: "api", number: 7 };
    const data = await octokit(task).graphql(PULL_REQUEST, variables);
    // The fake upstream answers with what it received.
    expect(data).toEqual({ echo: { query: PULL_REQUEST, variables } });

    const [up, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(up).toMatchObject({ method: "POST", url: "https://api.github.com/graphql" });
    expect(sent).toHaveLength(1);
    expect(up!.body).toBe(sent[0]!.body);
    expect(JSON.parse(up!.body)).toEqual({ query: PULL_REQUEST, variables });
    expect(up!.headers.authorization).toBe(`Bearer ${GITHUB_TOKEN}`);
    expect(JSON.stringify(up)).not.toContain(task.token);

    const { steps } = await callSteps(task);
    // The arguments as the server executes them: variables resolved, the schema's defaults applied.
    expect(steps.map((s) => [s.action, s.outcome, s.status, s.resource, s.facts.at, s.facts.args])).toEqual([
      [
        "github:graphql.repository",
        "reserved",
        200,
        "repo:acme/api",
        "repository",
        { owner: "acme", name: "api", followRenames: true },
      ],
      ["github:graphql.viewer", "reserved", 200, null, "viewer", {}],
    ]);
    expect(await lastDecision()).toMatchObject({
      action: "github:graphql.repository",
      resource: "repo:acme/api",
      effect: "allow",
      reason: "policy.allowed",
      path: "/graphql",
      detail: "2 steps: github:graphql.repository,github:graphql.viewer",
    });
  });

  it("a second operation named by operationName is the one decided; the upstream gets the document whole", async () => {
    const task = await startTask("reading", "reader-1");
    const query = `query Read { viewer { login } } mutation Write { ${mergeField()} }`;
    const data = await octokit(task).graphql(query, { operationName: "Read" });
    expect(data).toEqual({ echo: { query, operationName: "Read" } });
    const [up] = await recorded();
    expect(up!.body).toBe(sent[0]!.body);
    expect(await lastDecision()).toMatchObject({ action: "github:graphql.viewer", effect: "allow" });
  });
});

/** The merge field, as a bypass would hide it. */
function mergeField(alias = "", directives = ""): string {
  return `${alias ? `${alias}: ` : ""}mergePullRequest(input: { pullRequestId: "${PR_ID}" }) ${directives} { clientMutationId }`;
}

/** Sends the GraphQL merge; the first time it is held for a person (approval.required). */
async function heldMerge(task: Task): Promise<{ id: string; status_url: string }> {
  const err = await rejection(octokit(task).graphql(MERGE, { id: PR_ID }));
  const ext = await expectRefused(answerOf(err), "approval.required");
  expect(err.message).toContain("Firebreak: ");
  return ext.approval as { id: string; status_url: string };
}

describe("mergePullRequest needs the approval the REST merge needs", () => {
  it("held with the status URL; approved, the same document and variables are forwarded once", async () => {
    const task = await startTask("merging", "agent-1");
    const approval = await heldMerge(task);
    expect(approval.id).toMatch(/^ap_[0-9A-HJKMNP-TV-Z]{52}$/);
    expect(approval.status_url).toBe(`${ORIGIN}${APPROVALS}/${approval.id}/status`);
    // The rule on the REST action decided it (rules select a target's aliases).
    expect(await lastDecision()).toMatchObject({
      action: "github:graphql.mergePullRequest",
      rules: ["merges-need-approval"],
      effect: "approval_required",
    });
    expect(await approvalStatus(task, approval.id)).toBe("pending");

    const page = await approve(approval.id);
    // The approver was shown the GraphQL action and the node id it merges.
    expect(page).toContain("github:graphql.mergePullRequest");
    expect(page).toContain(PR_ID);

    // Another pull request under the same approval: the body differs, so the digest does.
    const other = await rejection(
      octokit(task).graphql(MERGE, { id: "PR_kwDOAcmeApi8", headers: { "firebreak-approval": approval.id } }),
    );
    await expectRefused(answerOf(other), "approval.mismatch");

    sent.length = 0;
    const data = await octokit(task).graphql(MERGE, { id: PR_ID, headers: { "firebreak-approval": approval.id } });
    expect(data).toEqual({ echo: { query: MERGE, variables: { id: PR_ID } } });
    const [up, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(up!.body).toBe(sent[0]!.body);
    expect(up!.headers).not.toHaveProperty("firebreak-approval");
    expect(await approvalStatus(task, approval.id)).toBe("used");

    await outbound(new Request("http://recorder.test/reset"));
    const again = await rejection(
      octokit(task).graphql(MERGE, { id: PR_ID, headers: { "firebreak-approval": approval.id } }),
    );
    await expectRefused(answerOf(again), "approval.used");

    const { steps } = await callSteps(task);
    const merged = steps.filter((s) => s.outcome === "reserved");
    expect(merged.map((s) => [s.action, s.status, s.facts.at, s.facts.args])).toEqual([
      [
        "github:graphql.mergePullRequest",
        200,
        "mergePullRequest",
        { "input.pullRequestId": PR_ID, "input.mergeMethod": "SQUASH" },
      ],
    ]);
  });
});

describe("a document of several steps that need a person", () => {
  it("is one approval; the page shows every step, not only the first; approved, forwarded once", async () => {
    const task = await startTask("merging-many", "agent-1");
    const doc = `mutation {
  a: mergePullRequest(input: { pullRequestId: "PR_one" }) { clientMutationId }
  b: mergePullRequest(input: { pullRequestId: "PR_two", mergeMethod: REBASE }) { clientMutationId }
}`;
    const held = answerOf(await rejection(octokit(task).graphql(doc)));
    const { approval } = (await expectRefused(held, "approval.required")) as { approval: { id: string } };
    const page = await approve(approval.id);
    const cells = [...page.matchAll(/<dt>([^<]*)<\/dt>\s*<dd[^>]*>([^<]*)<\/dd>/g)].map((m) => [m[1], m[2]]);
    const shown = (at: string, args: Record<string, string>) =>
      `${at} → github:graphql.mergePullRequest ${JSON.stringify(args)}`.replaceAll('"', "&quot;");
    // As the server executes them: the schema's default merge method applied.
    expect(cells).toContainEqual([
      "Step 1 of 2",
      shown("a: mergePullRequest", { "input.pullRequestId": "PR_one", "input.mergeMethod": "MERGE" }),
    ]);
    expect(cells).toContainEqual([
      "Step 2 of 2",
      shown("b: mergePullRequest", { "input.pullRequestId": "PR_two", "input.mergeMethod": "REBASE" }),
    ]);

    await octokit(task).graphql(doc, { headers: { "firebreak-approval": approval.id } });
    const [up, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(JSON.parse(up!.body)).toEqual({ query: doc });
    const { steps, counters } = await callSteps(task);
    expect(steps.filter((s) => s.outcome === "reserved").map((s) => [s.facts.at, s.status])).toEqual([
      ["a: mergePullRequest", 200],
      ["b: mergePullRequest", 200],
    ]);
    expect(counters["action:github:pulls.merge"]).toBe(2);
  });

  it("a single step's approval lists no steps", async () => {
    const task = await startTask("merging-many", "agent-1");
    const approval = await heldMerge(task);
    const page = await approve(approval.id);
    expect(page).not.toContain("Step 1 of");
  });
});

describe("one budget for the REST and the GraphQL merge", () => {
  const restMerge = (task: Task, number: number, headers: Record<string, string> = {}) =>
    octokit(task).rest.pulls.merge({
      owner: "acme",
      repo: "api",
      pull_number: number,
      merge_method: "squash",
      headers,
    });

  it("after the GraphQL merge, the REST merge is budget.exhausted", async () => {
    const task = await startTask("merging", "agent-1");
    const approval = await heldMerge(task);
    await approve(approval.id);
    await octokit(task).graphql(MERGE, { id: PR_ID, headers: { "firebreak-approval": approval.id } });
    expect(await recorded()).toHaveLength(1);
    await outbound(new Request("http://recorder.test/reset"));

    const err = await rejection(restMerge(task, 8));
    expect(err.status).toBe(403);
    expect(err.response.data).toMatchObject({ error: "forbidden", reason: "budget.exhausted" });
    expect(await gw.decision(err.response.data.decision_id)).toMatchObject({
      action: "github:pulls.merge",
      reason: "budget.exhausted",
    });
    expect(await recorded()).toEqual([]);
    const { counters } = await callSteps(task);
    expect(counters["action:github:pulls.merge"]).toBe(1);
    expect(counters["action:github:graphql.mergePullRequest"]).toBe(1);
  });

  it("after the REST merge, the GraphQL merge is budget.exhausted", async () => {
    const task = await startTask("merging", "agent-1");
    const held = await rejection(restMerge(task, 8));
    expect(held.response.data).toMatchObject({ reason: "approval.required" });
    const id = held.response.data.approval.id as string;
    await approve(id);
    const { status } = await restMerge(task, 8, { "firebreak-approval": id });
    expect(status).toBe(200);
    const [up, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(up).toMatchObject({ method: "PUT", url: "https://api.github.com/repos/acme/api/pulls/8/merge" });
    await outbound(new Request("http://recorder.test/reset"));

    const err = await rejection(octokit(task).graphql(MERGE, { id: PR_ID }));
    await expectRefused(answerOf(err), "budget.exhausted");
    expect(await lastDecision()).toMatchObject({ action: "github:graphql.mergePullRequest" });
  });
});

describe("bypass classes: refused with their reason, nothing forwarded (reader-1 may only read)", () => {
  let task: Task;
  beforeAll(async () => {
    task = await startTask("reading", "reader-1");
  });
  const viaOctokit = async (query: string, options: Record<string, unknown> = {}) =>
    answerOf(await rejection(octokit(task).graphql(query, options)));

  it.each([
    ["an alias named like a read", `mutation { repository: ${mergeField()} }`],
    ["an alias named query", `mutation { query: ${mergeField()} }`],
    ["a read aliased beside it", `mutation { viewer: ${mergeField()} }`],
    ["a named fragment on Mutation", `mutation { ...M } fragment M on Mutation { ${mergeField("x")} }`],
    ["an inline fragment on Mutation", `mutation { ... on Mutation { ${mergeField("x")} } }`],
    ["an inline fragment without a type", `mutation { ... { ${mergeField()} } }`],
    [
      "a fragment inside a fragment",
      `mutation { ...A } fragment A on Mutation { ...B } fragment B on Mutation { ${mergeField()} }`,
    ],
  ])("%s: the merge is what the server runs (policy.no_match)", async (_, query) => {
    await expectRefused(await viaOctokit(query), "policy.no_match");
    expect(await lastDecision()).toMatchObject({ action: "github:graphql.mergePullRequest" });
  });

  it("a mutation in a second operation: without operationName graphql.operation, naming it policy.no_match", async () => {
    const query = `query Read { viewer { login } } mutation Write { ${mergeField()} }`;
    await expectRefused(await viaOctokit(query), "graphql.operation");
    await expectRefused(await viaOctokit(query, { operationName: "Write" }), "policy.no_match");
    await expectRefused(await viaOctokit(query, { operationName: "Nope" }), "graphql.operation");
    // Two operations of one name: servers differ on which runs.
    const twice = `query Read { viewer { login } } mutation Read { ${mergeField()} }`;
    await expectRefused(await viaOctokit(twice, { operationName: "Read" }), "graphql.operation");
  });

  it("@include / @skip: the variables that turn the merge on are read as the server reads them", async () => {
    const include = `mutation ($on: Boolean!) { ${mergeField("", "@include(if: $on)")} }`;
    await expectRefused(await viaOctokit(include, { on: true }), "policy.no_match");
    const skip = `mutation ($off: Boolean!) { ${mergeField("", "@skip(if: $off)")} }`;
    await expectRefused(await viaOctokit(skip, { off: false }), "policy.no_match");
    // A condition with no value cannot be decided.
    await expectRefused(await viaOctokit(skip), "graphql.variables");
    const inFragment = `mutation ($on: Boolean!) { ... @include(if: $on) { ${mergeField()} } }`;
    await expectRefused(await viaOctokit(inFragment, { on: true }), "policy.no_match");
  });

  it("a mutation fragment spread into a query is invalid, not a read", async () => {
    const query = `query { ...M } fragment M on Mutation { ${mergeField()} }`;
    await expectRefused(await viaOctokit(query), "graphql.invalid");
  });

  it("a batched array, even of reads, is graphql.batch", async () => {
    const batch = JSON.stringify([{ query: "{ viewer { login } }" }, { query: `mutation { ${mergeField()} }` }]);
    await expectRefused(await post(task, batch), "graphql.batch");
    await expectRefused(await post(task, JSON.stringify([{ query: "{ viewer { login } }" }])), "graphql.batch");
  });

  it("persisted-query ids are graphql.persisted_query, with or without a document", async () => {
    const apq = {
      persistedQuery: { version: 1, sha256Hash: "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38" },
    };
    await expectRefused(await post(task, JSON.stringify({ extensions: apq })), "graphql.persisted_query");
    const withDocument = { query: "{ viewer { login } }", extensions: apq };
    await expectRefused(await post(task, JSON.stringify(withDocument)), "graphql.persisted_query");
    await expectRefused(await post(task, JSON.stringify({ id: "merge-7" })), "graphql.persisted_query");
    await expectRefused(
      await post(task, JSON.stringify({ documentId: "d1", variables: {} })),
      "graphql.persisted_query",
    );
  });

  it("GraphQL over GET is graphql.method", async () => {
    const query = encodeURIComponent(`mutation { ${mergeField()} }`);
    await expectRefused(await post(task, "", { method: "GET", path: `?query=${query}` }), "graphql.method");
  });

  it("introspection is an action the rules deny here (policy.denied, the rule's message)", async () => {
    const schema = await viaOctokit("{ __schema { queryType { name } } }");
    await expectRefused(schema, "policy.denied");
    expect(schema.body.errors[0].message).toBe("Firebreak: Schema introspection is not allowed through the gateway.");
    await expectRefused(await viaOctokit('{ __type(name: "Repository") { name } }'), "policy.denied");
    // Beside an allowed read it still refuses the whole document.
    const beside = await viaOctokit('{ viewer { login } t: __type(name: "Mutation") { name } }');
    await expectRefused(beside, "policy.denied");
    expect(await lastDecision()).toMatchObject({ action: "github:graphql.introspection" });
  });

  it("one response key for two merges is graphql.ambiguous", async () => {
    const query = `mutation { m: ${mergeField()} m: mergePullRequest(input: { pullRequestId: "PR_2" }) { clientMutationId } }`;
    await expectRefused(await viaOctokit(query), "graphql.ambiguous");
  });

  it("a refused document logs each of its root fields refused, and moves no counter", async () => {
    const fresh = await startTask("reading", "reader-1");
    const err = await rejection(
      octokit(fresh).graphql(`mutation { a: ${mergeField()} viewer { login } b: ${mergeField()} }`),
    );
    await expectRefused(answerOf(err), "graphql.invalid");
    const two = await rejection(octokit(fresh).graphql(`mutation { a: ${mergeField()} b: ${mergeField()} }`));
    await expectRefused(answerOf(two), "policy.no_match");
    const { steps, counters } = await callSteps(fresh);
    expect(steps.slice(-2).map((s) => [s.action, s.outcome, s.reason, s.facts.at])).toEqual([
      ["github:graphql.mergePullRequest", "refused", "policy.no_match", "a: mergePullRequest"],
      ["github:graphql.mergePullRequest", "refused", "policy.no_match", "b: mergePullRequest"],
    ]);
    expect(counters.calls ?? 0).toBe(0);
  });
});

describe("the refusal as octokit surfaces it", () => {
  it("a GraphqlResponseError with Firebreak's message; errors[0].extensions carry reason, code and decision_id", async () => {
    const task = await startTask("reading", "reader-1");
    const err = await rejection(octokit(task).graphql(`mutation { ${mergeField()} }`));
    expect(err.name).toBe("GraphqlResponseError");
    const [first] = err.errors;
    expect(first.extensions).toEqual({
      code: "forbidden",
      reason: "policy.no_match",
      decision_id: err.headers["firebreak-decision-id"],
    });
    expect(first.message).toBe("Firebreak: No policy rule allows this call.");
    expect(err.data).toBeNull();
    expect(err.message).toContain("Firebreak: No policy rule allows this call.");
    expect(err.headers["firebreak-decision"]).toBe("deny");

    const bad = await rejection(octokit(task).graphql("{ viewer { login "));
    expect(bad.name).toBe("GraphqlResponseError");
    expect(bad.errors[0].extensions).toMatchObject({ code: "invalid_request", reason: "graphql.syntax" });
  });
});
