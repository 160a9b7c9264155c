/// <reference types="vite/client" />
/**
 * The reason codes: each maps to one HTTP status and wire error (httpFor), each is documented in
 * docs/reasons.md with that status and error, and each is produced by a request through the worker
 * (the end-to-end table below: one request per code, with the code asserted on the wire and in the
 * decision record).
 */

import { runInDurableObject } from "cloudflare:test";
import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import reasonsDoc from "../../docs/reasons.md?raw";
import { createApp } from "../../src/app";
import { asiOf } from "../../src/core/reason-standards";
import { httpFor, REASONS, type Reason, type WireError } from "../../src/core/reasons";
import type { Env } from "../../src/env";
import { newTaskId, signTaskToken, taskKeys } from "../../src/identity/task-token";
import type { ProfileSpec } from "../../src/policy/types";
import { agentKey } from "../../src/tasks/agent-object";
import { MAX_LOG_ENTRIES } from "../../src/tasks/task-log";
import type { TaskObject } from "../../src/tasks/task-object";
import type { TaskStore } from "../../src/tasks/task-store";
import gatewayBundle from "../.generated/gateway.json";
import { ISSUERS, token } from "../helpers/tokens";
import {
  approved,
  ask,
  decide,
  decisionInit,
  MERGE,
  mergeInit,
  openApprovalAt,
  page,
  person,
} from "./approval-support";
import {
  type App,
  agentToken,
  BASE,
  bindings,
  expectRefusal,
  failConnectionsTo,
  gatewayApp,
  inlineToken,
  newTask,
  type SendInit,
  type Sent,
  send,
  TASKS_PATH,
} from "./support";

/** The expected mapping, written out: a change to httpFor must change this table too. */
const EXPECTED: Record<Reason, [number, WireError]> = {
  "policy.allowed": [200, "ok"],
  "route.unknown_service": [404, "not_found"],
  "route.not_found": [404, "not_found"],
  "route.bad_method": [400, "invalid_request"],
  "route.method_override": [400, "invalid_request"],
  "route.encoded_slash": [400, "invalid_request"],
  "route.dot_segment": [400, "invalid_request"],
  "route.empty_segment": [400, "invalid_request"],
  "route.path_parameter": [400, "invalid_request"],
  "route.control_character": [400, "invalid_request"],
  "route.bad_encoding": [400, "invalid_request"],
  "route.duplicate_query": [400, "invalid_request"],
  "route.duplicate_authorization": [400, "invalid_request"],
  "route.query_separator": [400, "invalid_request"],
  "request.url_too_long": [414, "uri_too_long"],
  "request.headers_too_large": [431, "headers_too_large"],
  "identity.missing": [401, "unauthorized"],
  "identity.malformed": [401, "unauthorized"],
  "identity.unknown_issuer": [401, "unauthorized"],
  "identity.bad_algorithm": [401, "unauthorized"],
  "identity.forbidden_header": [401, "unauthorized"],
  "identity.bad_signature": [401, "unauthorized"],
  "identity.expired": [401, "unauthorized"],
  "identity.not_yet_valid": [401, "unauthorized"],
  "identity.too_old": [401, "unauthorized"],
  "identity.lifetime_too_long": [401, "unauthorized"],
  "identity.token_too_large": [401, "unauthorized"],
  "identity.bad_audience": [401, "unauthorized"],
  "identity.missing_claim": [401, "unauthorized"],
  "identity.bad_spiffe_id": [401, "unauthorized"],
  "identity.jwks_unavailable": [503, "unavailable"],
  "action.unknown": [403, "forbidden"],
  "action.forbidden": [403, "forbidden"],
  "request.body_too_large": [413, "payload_too_large"],
  "request.body_invalid": [400, "invalid_request"],
  "request.arg_ambiguous": [400, "invalid_request"],
  "request.agent_credential": [400, "invalid_request"],
  "request.content_type": [415, "unsupported_media_type"],
  "request.duplicate_key": [400, "invalid_request"],
  "request.header_ambiguous": [400, "invalid_request"],
  "graphql.method": [400, "invalid_request"],
  "graphql.batch": [400, "invalid_request"],
  "graphql.persisted_query": [400, "invalid_request"],
  "graphql.syntax": [400, "invalid_request"],
  "graphql.invalid": [400, "invalid_request"],
  "graphql.operation": [400, "invalid_request"],
  "graphql.subscription": [400, "invalid_request"],
  "graphql.variables": [400, "invalid_request"],
  "graphql.too_large": [400, "invalid_request"],
  "graphql.ambiguous": [400, "invalid_request"],
  "graphql.introspection": [403, "forbidden"],
  "mcp.malformed": [400, "invalid_request"],
  "mcp.batch": [400, "invalid_request"],
  "mcp.header_mismatch": [400, "invalid_request"],
  "mcp.session_mismatch": [404, "not_found"],
  "mcp.response_invalid": [502, "bad_gateway"],
  "policy.denied": [403, "forbidden"],
  "policy.no_match": [403, "forbidden"],
  "policy.condition_error": [403, "forbidden"],
  "approval.required": [403, "approval_required"],
  "approval.granted": [200, "ok"],
  "approval.pending": [403, "forbidden"],
  "approval.denied": [403, "forbidden"],
  "approval.expired": [403, "forbidden"],
  "approval.used": [403, "forbidden"],
  "approval.mismatch": [403, "forbidden"],
  "approval.unknown": [403, "forbidden"],
  "approval.pending_limit": [429, "rate_limited"],
  "approval.agent_limit": [429, "rate_limited"],
  "approval.csrf": [403, "forbidden"],
  "approval.decided": [409, "conflict"],
  "approver.self": [403, "forbidden"],
  "approver.not_allowed": [403, "forbidden"],
  "approver.agent_identity": [403, "forbidden"],
  "task.required": [403, "forbidden"],
  "task.profile_denied": [403, "forbidden"],
  "task.scope_required": [400, "invalid_request"],
  "task.scope_denied": [403, "forbidden"],
  "task.out_of_scope": [403, "forbidden"],
  "task.mismatch": [403, "forbidden"],
  "task.agent_token_required": [401, "unauthorized"],
  "task.agent_mismatch": [403, "forbidden"],
  "task.unknown": [403, "forbidden"],
  "task.completed": [403, "forbidden"],
  "task.revoked": [403, "forbidden"],
  "task.log_full": [403, "forbidden"],
  "task.expired": [403, "forbidden"],
  "task.action_not_in_profile": [403, "forbidden"],
  "budget.exhausted": [403, "forbidden"],
  "budget.services": [403, "forbidden"],
  "budget.window": [429, "rate_limited"],
  "budget.total_exceeded": [403, "forbidden"],
  "budget.total_unknown": [403, "forbidden"],
  "sequence.requires": [403, "forbidden"],
  "sequence.pending": [429, "rate_limited"],
  "sequence.forbidden_after": [403, "forbidden"],
  "sequence.unread_resource": [403, "forbidden"],
  "agent.live_tasks": [429, "rate_limited"],
  "agent.start_rate": [429, "rate_limited"],
  "agent.revoked": [403, "forbidden"],
  "admin.denied": [403, "forbidden"],
  "task.unavailable": [503, "unavailable"],
  "agent.unavailable": [503, "unavailable"],
  "task.keys_unavailable": [503, "unavailable"],
  "decisions.invalid_query": [400, "invalid_request"],
  "decisions.unavailable": [503, "unavailable"],
  "decisions.query_failed": [502, "bad_gateway"],
  "credential.unavailable": [503, "unavailable"],
  "credential.unscoped": [503, "unavailable"],
  "credential.refused": [503, "unavailable"],
  "credential.unreachable": [503, "unavailable"],
  "credential.malformed": [503, "unavailable"],
  "bundle.invalid": [503, "unavailable"],
  "upstream.unreachable": [502, "bad_gateway"],
  "upstream.timeout": [504, "gateway_timeout"],
  "internal.error": [503, "unavailable"],
};

describe("httpFor", () => {
  it("has an expected entry for exactly the codes in REASONS", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...REASONS].sort());
    expect(new Set(REASONS).size).toBe(REASONS.length);
  });

  it.each(REASONS.map((r) => [r, ...EXPECTED[r]] as const))("maps %s to %i %s", (reason, status, error) => {
    expect(httpFor(reason)).toEqual({ status, error });
  });
});

describe("docs/reasons.md", () => {
  /** code -> [status cell, wire error cell] from the table rows `| \`code\` | status | \`error\` | ...`. */
  const rows = new Map(
    [...reasonsDoc.matchAll(/^\|\s*`([a-z_.]+)`\s*\|\s*([^|]+?)\s*\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => [
      m[1],
      [m[2], m[3]] as const,
    ]),
  );

  it("documents every code, and no code that does not exist", () => {
    expect([...rows.keys()].sort()).toEqual([...REASONS].sort());
  });

  it.each(REASONS)("documents %s with httpFor's status and wire error", (reason) => {
    const [status, error] = rows.get(reason) ?? ["", ""];
    const expected = httpFor(reason);
    expect(error).toBe(expected.error);
    // An allowed call answers with the upstream's status; every other code with its own.
    const passedThrough = reason === "policy.allowed" || reason === "approval.granted";
    expect(status).toBe(passedThrough ? "upstream's" : String(expected.status));
  });
});

/**
 * One request per reason code, through the gateway fixture bundle. `internal.error` has no request
 * that produces it (it is the catch-all for a bug of ours); `bundle.invalid` is checked below with an
 * app built from a bundle that does not load.
 */
interface Case {
  path: string;
  /** The request; a `path` it returns replaces the case's (ids made while setting up). */
  init?: () => Promise<SendInit & { path?: string }>;
  /** Around the request: set up, and return a function that undoes it. */
  around?: () => () => void;
  /** Another app than the gateway fixture's (a bundle with other settings). */
  app?: App;
  /**
   * The HTTP status when it is not the reason's: a JSON-RPC error answering an MCP request's id is a 200
   * (docs/design/mcp.md, "Refusals").
   */
  status?: number;
}

const app = gatewayApp();
const ISSUE = "/github/repos/acme/api/issues/1";
const COMMENTS = "/github/repos/acme/api/issues/1/comments";
const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };
const bearer = (t: () => Promise<string>) => async (): Promise<SendInit> => ({ bearer: await t() });
const tampered = async () => {
  const [h, p, s = ""] = (await token()).split(".");
  return `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
};

const env = workerEnv as unknown as Env;
/** The gateway fixture bundle with other settings (the revision is not re-checked at load). */
const withSettings = (settings: Record<string, unknown>): App =>
  createApp({ ...gatewayBundle, settings: { ...gatewayBundle.settings, ...settings } });
const startInit =
  (profile: string, bearerToken?: () => Promise<string>, scope?: unknown) => async (): Promise<SendInit> => ({
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ profile, purpose: "reasons", ...(scope === undefined ? {} : { scope }) }),
    ...(bearerToken ? { bearer: await bearerToken() } : {}),
  });
const GHAPP_SCOPE = { ghapp: { repositories: ["acme/api"] } };
/** A task token of agent-1 for `profile`, after `calls` were sent with it (each must be allowed). */
const taskAfter =
  (profile: string, calls: [string, RequestInit?][] = [], then?: (id: string) => Promise<unknown>) =>
  async (): Promise<SendInit> => {
    const task = await newTask(app, profile);
    for (const [path, init] of calls) {
      const sent = await send(app, path, { ...(init as SendInit), bearer: task.token });
      expect(sent.res.status, sent.text).toBe(200);
    }
    await then?.(task.id);
    return { bearer: task.token };
  };
/** A task token signed with the bound key for a task of our making (`open`: opened at that time, or never). */
async function handMadeTaskToken(open?: { now: number }): Promise<string> {
  const keys = await taskKeys(bindings);
  if (!keys.ok) throw new Error(keys.detail);
  const task_id = newTaskId();
  if (open) {
    const profile = gatewayBundle.profiles.find((p) => p.name === "basic") as unknown as ProfileSpec;
    const agent = { issuer: "remote", sub: "agent-1" };
    await env.TASKS!.getByName(task_id).open({ task_id, profile, agent, purpose: "reasons", now: open.now });
  }
  const origin = bindings.GATEWAY_ORIGIN as string;
  const { token: t } = await signTaskToken(
    keys.keys.current,
    { sub: "agent-1", agent_issuer: "remote", task_id, profile: "basic" },
    { audience: origin, issuer: origin, ttl_s: 60, deadline_ms: Date.now() + 60_000, now: new Date() },
  );
  return t;
}
const PII_READ: [string, RequestInit?] = ["/slack/api/users.info?user=U1"];
const COMMENT: RequestInit = { method: "POST", headers: JSON_TYPE, body: '{"body":"hi"}' };
const TIP = (body: string): SendInit => ({ method: "POST", headers: JSON_TYPE, body });
const ISSUE_CALL: [string, RequestInit?] = [ISSUE];
const DECISIONS_PATH = "/_firebreak/v1/decisions";
/** The gateway fixture's operator (settings.admins). */
const operatorToken = () => token({ sub: "operator-1" });

/** Approvals (issue 4): the agent's retry in the pipeline, and a person's decision on the page. */
const approvalTask = () => newTask(app, "approving");
const retryWith = async (id: string, t: string, body?: string) =>
  mergeInit(t, { headers: { "firebreak-approval": id }, body });
const onPage = (
  verdict: "approve" | "deny",
  setup: (id: string) => Promise<unknown>,
  as: () => Promise<string>,
  csrf?: string,
): Case => ({
  path: "",
  init: async () => {
    const task = await approvalTask();
    const a = await ask(app, task.token);
    const form = csrf ?? (await page(app, a.id, await person())).csrf;
    await setup(a.id);
    const init = decisionInit(await as(), form);
    return { ...init, path: `/_firebreak/v1/approvals/${a.id}/${verdict}` };
  },
});
const APPROVAL_CASES: Partial<Record<Reason, Case>> = {
  "approval.granted": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      return retryWith(await approved(app, task.token), task.token);
    },
  },
  "approval.pending": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      return retryWith((await ask(app, task.token)).id, task.token);
    },
  },
  "approval.denied": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      const a = await ask(app, task.token);
      await decide(app, a.id, "deny", await person());
      return retryWith(a.id, task.token);
    },
  },
  "approval.expired": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      return retryWith((await openApprovalAt(task.id, Date.now() - 31_000, 30)).id, task.token);
    },
  },
  "approval.used": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      const id = await approved(app, task.token);
      expect((await send(app, MERGE, await retryWith(id, task.token))).res.status).toBe(200);
      return retryWith(id, task.token);
    },
  },
  "approval.mismatch": {
    path: MERGE,
    init: async () => {
      const task = await approvalTask();
      return retryWith(await approved(app, task.token), task.token, '{"merge_method":"rebase"}');
    },
  },
  "approval.unknown": {
    path: MERGE,
    init: async () => retryWith(`ap_${"0".repeat(52)}`, (await approvalTask()).token),
  },
  "approval.pending_limit": {
    path: "/github/repos/acme/api/pulls/100/merge",
    init: async () => {
      const task = await approvalTask();
      for (let n = 1; n <= 10; n++) await ask(app, task.token, `/github/repos/acme/api/pulls/${n}/merge`);
      return mergeInit(task.token);
    },
  },
  // agent-1 of the inline issuer: another agent than the other cases' (20 waiting in two tasks, then a third).
  "approval.agent_limit": {
    path: "/github/repos/acme/api/pulls/100/merge",
    init: async () => {
      const tasks = [
        await newTask(app, "approving", await inlineToken()),
        await newTask(app, "approving", await inlineToken()),
      ];
      for (let n = 1; n <= 20; n++) await ask(app, tasks[n % 2]!.token, `/github/repos/acme/api/pulls/${n}/merge`);
      return mergeInit((await newTask(app, "approving", await inlineToken())).token);
    },
  },
  "approval.csrf": onPage(
    "approve",
    async () => {},
    () => person(),
    "stale-form-token",
  ),
  "approval.decided": onPage(
    "approve",
    async (id) => decide(app, id, "deny", await person("bob", { groups: ["approvers"] })),
    () => person(),
  ),
  "approver.self": onPage(
    "approve",
    async () => {},
    () => person("agent-1"),
  ),
  "approver.not_allowed": onPage(
    "approve",
    async () => {},
    () => person("mallory", { groups: ["developers"] }),
  ),
  "approver.agent_identity": onPage(
    "approve",
    async () => {},
    () => token({ sub: "operator-1" }),
  ),
};

/**
 * MCP (the fixture's crm service, an MCP server at /crm/mcp): answered as JSON-RPC errors, the reason
 * in `error.data`. With no id to answer (a notification, a batch) or a status the transport acts on
 * (404, 400 for headers), the reason's status.
 */
const MCP = "/crm/mcp";
const rpc =
  (message: unknown, headers: Record<string, string> = {}) =>
  async (): Promise<SendInit> => ({
    method: "POST",
    headers: { ...JSON_TYPE, accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(message),
  });
const LOOKUP = { name: "customers.lookup", arguments: { email: "a@b.c" } };
const MCP_CASES: Partial<Record<Reason, Case>> = {
  // A request method sent as a notification (no id): a server that ran it would act with no answer.
  "mcp.malformed": { path: MCP, init: rpc({ jsonrpc: "2.0", method: "tools/call", params: LOOKUP }) },
  "mcp.batch": { path: MCP, init: rpc([{ jsonrpc: "2.0", id: 1, method: "tools/call", params: LOOKUP }]) },
  "mcp.header_mismatch": {
    path: MCP,
    init: rpc({ jsonrpc: "2.0", id: 1, method: "tools/call", params: LOOKUP }, { "mcp-name": "email.send" }),
  },
  "mcp.session_mismatch": {
    path: MCP,
    init: rpc({ jsonrpc: "2.0", id: 1, method: "ping" }, { "mcp-session-id": `not-issued.${"A".repeat(22)}` }),
  },
  // The fake server answers initialize with a session id over the bound: it cannot be bound to the caller.
  "mcp.response_invalid": {
    path: MCP,
    init: rpc({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "reasons", version: "1" } },
    }),
    status: 200,
  },
};

/**
 * GraphQL (the fixture's gql service, a tiny schema at /gql/graphql): refused in GraphQL's `errors`
 * shape, answered 200, the reason and wire error (`code`) in `errors[0].extensions`, before anything is
 * forwarded.
 */
const GQL = "/gql/graphql";
const gql = (body: unknown) => async (): Promise<SendInit> => ({
  method: "POST",
  headers: JSON_TYPE,
  body: JSON.stringify(body),
});
const ITEM = '{ item(id: "1") { id } }';
const GRAPHQL_CASES: Partial<Record<Reason, Case>> = {
  // GraphQL over GET: servers, proxies and caches read a query string differently.
  "graphql.method": { path: `${GQL}?query=${encodeURIComponent(ITEM)}` },
  "graphql.batch": { path: GQL, init: gql([{ query: ITEM }]) },
  "graphql.persisted_query": {
    path: GQL,
    init: gql({ extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } }),
  },
  "graphql.syntax": { path: GQL, init: gql({ query: '{ item(id: "1" { id } }' }) },
  "graphql.invalid": { path: GQL, init: gql({ query: '{ item(id: "1") { title } }' }) },
  "graphql.operation": { path: GQL, init: gql({ query: `query A ${ITEM} query B ${ITEM}` }) },
  "graphql.subscription": { path: GQL, init: gql({ query: 'subscription { itemChanged(id: "1") { id } }' }) },
  "graphql.variables": { path: GQL, init: gql({ query: "query ($id: ID!) { item(id: $id) { id } }" }) },
  // max_depth 3 in services/gql.yaml.
  "graphql.too_large": { path: GQL, init: gql({ query: '{ item(id: "1") { parent { parent { parent { id } } } } }' }) },
  "graphql.ambiguous": { path: GQL, init: gql({ query: '{ a: item(id: "1") { id } a: item(id: "2") { id } }' }) },
  // No action of gql maps __schema / __type.
  "graphql.introspection": { path: GQL, init: gql({ query: "{ __schema { queryType { name } } }" }) },
};

const E2E: Partial<Record<Reason, Case>> = {
  "policy.allowed": { path: ISSUE },
  "route.unknown_service": { path: "/nosuchservice/repos" },
  "route.not_found": { path: "/_firebreak/v1/nosuchroute" },
  "route.bad_method": { path: ISSUE, init: async () => ({ method: "OPTIONS" }) },
  "route.method_override": { path: ISSUE, init: async () => ({ headers: { "x-http-method-override": "DELETE" } }) },
  "route.encoded_slash": { path: "/github/repos/acme%2Fapi/issues/1" },
  "route.dot_segment": { path: "/github/repos/acme/%252e%252e/issues/1" },
  "route.empty_segment": { path: "/github/repos//acme/api/issues/1" },
  "route.path_parameter": { path: "/github/repos/acme;v=1/api/issues/1" },
  "route.control_character": { path: "/github/repos/acme/api%00/issues/1" },
  "route.bad_encoding": { path: "/github/repos/acme/%C3%28/issues/1" },
  "route.duplicate_query": { path: `${ISSUE}?page=1&page=2` },
  "route.duplicate_authorization": {
    path: ISSUE,
    init: async () => {
      const t = await token();
      return { headers: { authorization: `Bearer ${t}, Bearer ${t}` } };
    },
  },
  "route.query_separator": { path: `${ISSUE}?a=1;b=2` },
  "request.url_too_long": { path: `${ISSUE}?q=${"a".repeat(8200)}` },
  "request.headers_too_large": {
    path: ISSUE,
    init: async () => ({ headers: { "if-none-match": "a".repeat(33_000) } }),
  },
  "identity.missing": { path: ISSUE, init: async () => ({ bearer: null }) },
  "identity.malformed": { path: ISSUE, init: async () => ({ bearer: "not-a-jwt" }) },
  "identity.unknown_issuer": { path: ISSUE, init: bearer(() => token({ iss: "https://nobody.test.example" })) },
  "identity.bad_algorithm": { path: ISSUE, init: bearer(() => token({ key: "es256" })) },
  "identity.forbidden_header": {
    path: ISSUE,
    init: bearer(() => token({ header: { jku: "https://evil.example/jwks" } })),
  },
  "identity.bad_signature": { path: ISSUE, init: bearer(() => tampered()) },
  "identity.expired": { path: ISSUE, init: bearer(() => token({ exp: -600 })) },
  "identity.not_yet_valid": { path: ISSUE, init: bearer(() => token({ nbf: 600 })) },
  "identity.too_old": { path: ISSUE, init: bearer(() => token({ iat: -7200 })) },
  "identity.lifetime_too_long": {
    path: ISSUE,
    init: bearer(() => token({ key: "es256", iss: ISSUERS.inline, exp: 2 * 86_400 })),
  },
  "identity.token_too_large": { path: ISSUE, init: async () => ({ bearer: `${"a".repeat(8200)}.b.c` }) },
  "identity.bad_audience": { path: ISSUE, init: bearer(() => token({ aud: "https://elsewhere.test.example" })) },
  "identity.missing_claim": { path: ISSUE, init: bearer(() => token({ exp: null })) },
  "identity.bad_spiffe_id": {
    path: ISSUE,
    init: bearer(() => token({ key: "es256_spiffe", iss: ISSUERS.spiffe, sub: "agent-1" })),
  },
  "identity.jwks_unavailable": { path: ISSUE, init: bearer(() => token({ iss: ISSUERS.down })) },
  "action.unknown": { path: "/github/repos/acme/api/hooks" },
  "action.forbidden": { path: "/github/repositories/123" },
  "request.body_too_large": {
    path: COMMENTS,
    init: async () => ({ method: "POST", headers: JSON_TYPE, body: JSON.stringify({ body: "y".repeat(3000) }) }),
  },
  "request.body_invalid": {
    path: COMMENTS,
    init: async () => ({ method: "POST", headers: JSON_TYPE, body: '{"body":' }),
  },
  "request.arg_ambiguous": {
    path: "/slack/api/chat.postMessage?channel=C1",
    init: async () => ({ method: "POST", headers: FORM_TYPE, body: "channel=C1&text=hi" }),
  },
  "request.agent_credential": { path: "/slack/api/users.info?user=U1&token=xoxp-agent" },
  "request.content_type": {
    path: COMMENTS,
    init: async () => ({ method: "POST", headers: FORM_TYPE, body: '{"body":"hi"}' }),
  },
  "request.duplicate_key": {
    path: COMMENTS,
    init: async () => ({ method: "POST", headers: JSON_TYPE, body: '{"body":"hi","body":"bye"}' }),
  },
  "request.header_ambiguous": {
    path: "/connect/v1/customers/cus_1",
    init: async () => ({ headers: { "stripe-account": "acct_1, acct_2" } }),
  },
  "policy.denied": { path: "/github/repos/evil/x/issues/1" },
  "policy.no_match": {
    path: "/github/repos/other/api/issues/1/comments",
    init: async () => ({ method: "POST", headers: JSON_TYPE, body: '{"body":"hi"}' }),
  },
  "policy.condition_error": {
    path: COMMENTS,
    init: async () => ({ method: "POST", headers: JSON_TYPE, body: "{}" }),
  },
  "approval.required": { path: MERGE, init: async () => mergeInit((await newTask(app, "approving")).token) },
  ...APPROVAL_CASES,
  "credential.unavailable": { path: "/nocred/thing" },
  // Credentials minted at a task's start (task-credentials.test.ts): no token, no task.
  "credential.unscoped": { path: TASKS_PATH, init: startInit("unscoped-minting", undefined, GHAPP_SCOPE) },
  "credential.refused": {
    path: TASKS_PATH,
    init: startInit("minting", undefined, { ghapp: { repositories: ["acme/ghost"] } }),
  },
  "credential.unreachable": {
    path: TASKS_PATH,
    init: startInit("minting", undefined, GHAPP_SCOPE),
    around: () => failConnectionsTo("api.github.com").restore,
  },
  "credential.malformed": { path: TASKS_PATH, init: startInit("malformed-minting") },
  "task.out_of_scope": {
    path: "/ghapp/repos/acme/web/issues/1",
    init: async () => ({ bearer: (await newTask(app, "minting", undefined, GHAPP_SCOPE)).token }),
  },
  "upstream.unreachable": {
    path: "/down/thing",
    around: () => failConnectionsTo("unreachable.test.example").restore,
  },
  "upstream.timeout": { path: "/slow/thing" },
  "task.required": { path: ISSUE, app: withSettings({ bare_workload_tokens: false }) },
  "task.profile_denied": { path: TASKS_PATH, init: startInit("closed") },
  // `scoped` scopes github to acme's repositories (and octo-org/docs): a start must name its own, within them.
  "task.scope_required": { path: TASKS_PATH, init: startInit("scoped") },
  "task.scope_denied": {
    path: TASKS_PATH,
    init: async () => ({
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({
        profile: "scoped",
        purpose: "reasons",
        scope: { github: { repositories: ["evil/api"] } },
      }),
    }),
  },
  "task.mismatch": {
    path: `${TASKS_PATH}/${newTaskId()}/complete`,
    init: async () => ({ method: "POST", bearer: (await newTask(app, "basic")).token }),
  },
  "task.agent_token_required": {
    path: ISSUE,
    init: async () => {
      const task = await newTask(app, "basic");
      return { path: `${TASKS_PATH}/${task.id}/renew`, method: "POST", bearer: task.token };
    },
  },
  "task.agent_mismatch": {
    path: ISSUE,
    init: async () => {
      const task = await newTask(app, "basic");
      const other = await agentToken({ sub: "agent-2" });
      const headers = { "firebreak-agent-token": other };
      return { path: `${TASKS_PATH}/${task.id}/renew`, method: "POST", bearer: task.token, headers };
    },
  },
  "task.unknown": { path: ISSUE, init: async () => ({ bearer: await handMadeTaskToken() }) },
  "task.completed": {
    path: ISSUE,
    init: taskAfter("basic", [], async (id) => {
      const t = await env.TASKS!.getByName(id).complete(Date.now());
      expect(t.ok).toBe(true);
    }),
  },
  "task.revoked": {
    path: ISSUE,
    init: taskAfter("basic", [], (id) => env.TASKS!.getByName(id).revoke(Date.now(), "reasons.test")),
  },
  "task.expired": {
    path: ISSUE,
    init: async () => ({ bearer: await handMadeTaskToken({ now: Date.now() - 2 * 3600_000 }) }),
  },
  "task.action_not_in_profile": { path: ISSUE, init: taskAfter("tipping") },
  "budget.exhausted": { path: ISSUE, init: taskAfter("basic", Array(10).fill(ISSUE_CALL)) },
  "budget.services": { path: "/slack/api/users.info?user=U1", init: taskAfter("narrow", [ISSUE_CALL]) },
  "budget.window": { path: ISSUE, init: taskAfter("narrow", [ISSUE_CALL]) },
  "budget.total_exceeded": {
    path: "/github/tips",
    init: async () => ({ ...TIP('{"amount":101}'), bearer: (await newTask(app, "tipping")).token }),
  },
  "budget.total_unknown": {
    path: "/github/tips",
    init: async () => ({ ...TIP("{}"), bearer: (await newTask(app, "tipping")).token }),
  },
  "sequence.pending": {
    path: ISSUE,
    init: async () => {
      const task = await newTask(app, "after-slow");
      // Its prerequisite, a slow read, is reserved and has no answer yet (it times out later).
      const slow = new Request(`${BASE}/slow/thing`, { headers: { authorization: `Bearer ${task.token}` } });
      void Promise.resolve(app.fetch(slow, bindings as never)).then((r) => r.text());
      const stub = env.TASKS!.getByName(task.id);
      await vi.waitFor(async () => expect((await stub.inspect())!.counters.calls).toBe(1));
      return { bearer: task.token };
    },
  },
  "task.log_full": {
    path: ISSUE,
    init: taskAfter("basic", [], (id) =>
      runInDurableObject(env.TASKS!.getByName(id), (instance: TaskObject, state) => {
        // As if the log held its maximum (filling it for real takes minutes; task-object.test has the rest).
        state.storage.sql.exec("UPDATE task SET head_seq = ? WHERE id = 1", MAX_LOG_ENTRIES);
        (instance as unknown as { store: TaskStore }).store.forget();
      }),
    ),
  },
  "sequence.requires": {
    path: "/github/markdown",
    init: async () => ({ ...TIP("{}"), bearer: (await newTask(app, "sequenced")).token }),
  },
  "sequence.forbidden_after": {
    path: COMMENTS,
    init: async () => ({ ...(COMMENT as SendInit), ...(await taskAfter("basic", [PII_READ])()) }),
  },
  "sequence.unread_resource": {
    path: COMMENTS,
    init: async () => ({ ...(COMMENT as SendInit), bearer: (await newTask(app, "sequenced")).token }),
  },
  "agent.live_tasks": {
    path: TASKS_PATH,
    init: startInit("basic"),
    app: withSettings({ agent_limits: { live_tasks: 0, starts_per_hour: 5 } }),
  },
  "agent.start_rate": {
    path: TASKS_PATH,
    // A fresh agent: agent-1's live tasks from the other cases would hit live_tasks first.
    init: startInit("narrow", () => token({ sub: `fresh-${crypto.randomUUID()}` })),
    app: withSettings({ agent_limits: { live_tasks: 5, starts_per_hour: 0 } }),
  },
  "agent.revoked": {
    path: TASKS_PATH,
    init: async () => {
      const sub = `revoked-${crypto.randomUUID()}`;
      await env.AGENTS!.getByName(agentKey({ issuer: "remote", sub })).revokeAll(Date.now(), "reasons.test");
      return startInit("narrow", () => token({ sub }))();
    },
  },
  "admin.denied": {
    path: `${TASKS_PATH}/${newTaskId()}/revoke`,
    init: async () => ({ method: "POST" }),
  },
  "agent.unavailable": {
    path: MERGE,
    init: async () => ({ ...mergeInit((await approvalTask()).token), env: { ...bindings, AGENTS: undefined } }),
  },
  "task.unavailable": {
    path: ISSUE,
    init: async () => ({ ...(await taskAfter("basic")()), env: { ...bindings, TASKS: undefined } }),
  },
  "decisions.invalid_query": { path: `${DECISIONS_PATH}?view=pie`, init: bearer(operatorToken) },
  "decisions.unavailable": { path: DECISIONS_PATH, init: bearer(operatorToken) },
  "decisions.query_failed": {
    path: DECISIONS_PATH,
    init: async () => ({
      bearer: await operatorToken(),
      env: { ...bindings, CF_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", CF_API_TOKEN: "canary-cf-api-3e9d" },
    }),
    around: () => failConnectionsTo("api.cloudflare.com").restore,
  },
  "task.keys_unavailable": {
    path: ISSUE,
    init: async () => ({ ...(await taskAfter("basic")()), env: { ...bindings, FIREBREAK_TASK_KEY: undefined } }),
  },
  ...MCP_CASES,
  // A GraphQL refusal of a request that was read is a 200 with `errors` (src/gateway/respond.ts).
  ...Object.fromEntries(Object.entries(GRAPHQL_CASES).map(([reason, c]) => [reason, { status: 200, ...c }])),
};

/** Codes that are pipeline decisions: they carry decision headers and exactly one decision record. */
const NOT_PIPELINE = new Set<Reason>([
  "route.not_found",
  // the tasks API answers for itself: no proxied call, no decision record
  "task.profile_denied",
  "task.scope_required",
  "task.scope_denied",
  "credential.unscoped",
  "credential.refused",
  "credential.unreachable",
  "credential.malformed",
  "task.mismatch",
  "task.agent_token_required",
  "task.agent_mismatch",
  "agent.live_tasks",
  "agent.start_rate",
  "agent.revoked",
  "admin.denied",
  // a person deciding on the approval page: no proxied call
  "approval.csrf",
  "approval.decided",
  "approver.self",
  "approver.not_allowed",
  "approver.agent_identity",
  // the decisions API reads records, it makes none
  "decisions.invalid_query",
  "decisions.unavailable",
  "decisions.query_failed",
]);

describe("every reason code is produced by a request", () => {
  it("has a request for every code but internal.error and bundle.invalid", () => {
    const covered = Object.keys(E2E);
    const rest = REASONS.filter((r) => r !== "internal.error" && r !== "bundle.invalid");
    expect(covered.sort()).toEqual([...rest].sort());
  });

  it.each(Object.entries(E2E) as [Reason, Case][])("%s", async (reason, c) => {
    const undo = c.around?.();
    let sent: Sent;
    try {
      const { path, ...init } = (await c.init?.()) ?? {};
      sent = await send(c.app ?? app, path ?? c.path, init);
    } finally {
      undo?.();
    }
    const { status, error } = httpFor(reason);
    if (reason === "policy.allowed" || reason === "approval.granted") {
      expect(sent.res.status, sent.text).toBe(200);
      expect(sent.res.headers.get("firebreak-decision")).toBe("allow");
      expect(sent.upstream).toHaveLength(1);
    } else {
      expect(sent.res.status, sent.text).toBe(c.status ?? status);
      // An MCP client's refusal is a JSON-RPC error: the reason and wire error are in its data.
      // A GraphQL client's is a GraphQL error: the reason and wire error (`code`) are in its extensions.
      const ext = (sent.json?.errors as { extensions?: Record<string, unknown> }[] | undefined)?.[0]?.extensions;
      const said = ext
        ? { reason: ext.reason, error: ext.code }
        : sent.json?.jsonrpc === "2.0"
          ? (sent.json.error as { data?: Record<string, unknown> })?.data
          : sent.json;
      expect(said?.reason, sent.text).toBe(reason);
      expect(said?.error).toBe(error);
    }
    // Refused before forwarding; only the server's unreadable answer came from the server.
    if (reason.startsWith("mcp.")) expect(sent.upstream).toHaveLength(reason === "mcp.response_invalid" ? 1 : 0);
    if (reason.startsWith("graphql.")) expect(sent.upstream).toEqual([]);
    if (!NOT_PIPELINE.has(reason)) {
      expect(sent.records.map((r) => r.reason)).toEqual([reason]);
      expect(sent.records[0]?.decision_id).toBe(sent.res.headers.get("firebreak-decision-id"));
      // The record carries the reason's OWASP Agentic id (docs/standards.md), in the log line and blob16.
      expect(sent.records[0]?.asi).toBe(asiOf(reason));
      expect(sent.points.map((p) => p.blobs?.[15])).toEqual([asiOf(reason)]);
    }
  });

  it("bundle.invalid: an app whose bundle does not load refuses every proxied call, forwarding nothing", async () => {
    const sent = await send(createApp({}), ISSUE);
    expectRefusal(sent, 503, "bundle.invalid");
    expect(sent.json?.error).toBe(httpFor("bundle.invalid").error);
    expect(sent.records[0]?.bundle_revision).toBe("");
    expect(sent.records[0]?.asi).toBe(asiOf("bundle.invalid"));
  });
});
