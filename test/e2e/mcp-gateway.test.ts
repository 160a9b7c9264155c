/**
 * The MCP SDK's own `Client` over `StreamableHTTPClientTransport`, a task token as its bearer, through
 * the bundled gateway in miniflare to the demo CRM's MCP server (demo/src/crm.ts, in workerd as
 * `npm start` runs it). Policies: the shipped ones with the dev overlay (policies/: the crm catalog,
 * rules/crm-assistant.yaml, profiles/crm-followup.yaml), plus one test profile (`crm-lookup`: the CRM
 * assistant without email) so that a tool list is visibly filtered. The demo upstream answers every
 * service of the dev overlay (http://127.0.0.1:8788/<service>) and records what it received
 * (GET /_demo/requests): each test checks from there what was, and was not, forwarded.
 *
 * Covered: initialize and notifications pass; tools/list filtered by the task's profile and rules; an
 * allowed tools/call forwarded with its exact arguments; refusals as McpError (`data.reason`,
 * `data.decision_id`, `data.approval.status_url`) with nothing forwarded; sessions bound to the task
 * (another task's id, the upstream's raw id: 404 `mcp.session_mismatch`); personal data read through
 * the MCP tool, then a REST Slack post in the same task refused by `forbid_after`; `Mcp-Method` /
 * `Mcp-Name` headers that contradict the body (400 `mcp.header_mismatch`); the MCP steps in the
 * decision records and the task's step log as `crm:<tool>` with their arguments.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureDevKeys, mintDevToken } from "../../src/cli/devkeys";
import { compilePolicies } from "../../src/compiler/compile";
import { type Demo, startDemo } from "./helpers/demo";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

/** Where the dev overlay points every service (policies/dev/dev.yaml): the demo upstream. */
const DEMO_ORIGIN = "http://127.0.0.1:8788";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BOUND_SESSION = /^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}$/;
const JENNY = "jenny.rosen@example.com";
/** The test profile: what crm-followup allows, without email. */
const LOOKUP_PROFILE = {
  profiles: [
    {
      name: "crm-lookup",
      description: "Look customers up and report to Slack; no email (test/e2e/mcp-gateway.test.ts)",
      agents: { issuer: ["workloads"], sub: ["crm-assistant"] },
      actions: ["crm:customers.lookup", "crm:customers.record", "crm:followup", "slack:chat.postMessage"],
    },
  ],
};

interface Received {
  id: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
}

let dir: string;
let demo: Demo;
let gw: Gateway;
let endpoint: URL;
/** The CRM assistant's workload token (the dev issuer, as `npx firebreak token --agent crm-assistant`). */
let agent: string;
const unmocked: string[] = [];
/** Clients and tasks of the running test: closed and completed after it (the agent may hold 10 live tasks). */
const clients: Client[] = [];
const tasks: { id: string; token: string }[] = [];

/** The shipped policies with the test profile added: a directory of links, compiled with the dev overlay. */
function policySet(): string {
  const policies = join(dir, "policies");
  mkdirSync(join(policies, "profiles"), { recursive: true });
  for (const entry of ["firebreak.yaml", "services", "rules", "dev"]) {
    symlinkSync(join(ROOT, "policies", entry), join(policies, entry));
  }
  for (const file of readdirSync(join(ROOT, "policies", "profiles"))) {
    symlinkSync(join(ROOT, "policies", "profiles", file), join(policies, "profiles", file));
  }
  writeFileSync(join(policies, "profiles", "e2e-crm-lookup.yaml"), JSON.stringify(LOOKUP_PROFILE));
  const compiled = compilePolicies(policies, { dev: true });
  if (!compiled.ok) throw new Error(compiled.problems.format());
  const bundlePath = join(dir, "bundle.json");
  writeFileSync(bundlePath, JSON.stringify(compiled.bundle));
  return bundlePath;
}

/** The bindings `firebreak dev-keys` writes to .dev.vars, but the approval webhook (not tested here). */
function devVars(): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(join(dir, ".dev.vars"), "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m && m[1] !== "FIREBREAK_APPROVAL_WEBHOOK") vars[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
  }
  return vars;
}

/** The gateway's outbound fetches: the demo's origin goes to the demo in workerd, anything else fails. */
async function toDemo(request: MfRequest): Promise<MfResponse> {
  const url = new URL(request.url);
  if (url.origin !== DEMO_ORIGIN) {
    unmocked.push(`${request.method} ${url.origin}${url.pathname}`);
    return new Response("unmocked egress", { status: 599 }) as unknown as MfResponse;
  }
  const headers = new Headers([...request.headers].filter(([name]) => name !== "host"));
  const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
  const res = await fetch(new URL(`${url.pathname}${url.search}`, demo.url), {
    method: request.method,
    headers,
    body,
    signal: request.signal as AbortSignal,
  });
  if (request.method !== "GET" || res.body === null) return res as unknown as MfResponse;
  // Miniflare hands an outbound answer to workerd through a Node response, whose headers leave with its
  // first body chunk: the server's GET stream, silent until it has something to say, would never
  // arrive. An SSE comment line first (which every SSE reader skips) sends them, as a server on the
  // network does at once.
  const opened = new TextEncoder().encode(": stream open\n\n");
  const stream = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({ start: (controller) => controller.enqueue(opened) }),
  );
  return new Response(stream, { status: res.status, headers: res.headers }) as unknown as MfResponse;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "firebreak-mcp-gateway-"));
  demo = await startDemo();
  const bundlePath = policySet();
  await ensureDevKeys(dir);
  gw = await startGateway({ env: "dev", bundlePath, bindings: devVars(), outbound: toDemo });
  endpoint = new URL("/crm/mcp", gw.url);
  agent = await mintDevToken(dir, "crm-assistant");
}, 120_000);

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  for (const task of tasks.splice(0)) {
    const res = await fetch(new URL(`/_firebreak/v1/tasks/${task.id}/complete`, gw.url), {
      method: "POST",
      headers: { authorization: `Bearer ${task.token}` },
    });
    expect(res.status, await res.text()).toBe(200);
  }
});

afterAll(async () => {
  await gw?.dispose();
  await demo?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts a task of `profile` for the CRM assistant. */
async function startTask(profile: string): Promise<{ id: string; token: string }> {
  const res = await fetch(new URL("/_firebreak/v1/tasks", gw.url), {
    method: "POST",
    headers: { authorization: `Bearer ${agent}`, "content-type": "application/json" },
    body: JSON.stringify({ profile, purpose: "mcp e2e" }),
  });
  const body = (await res.json()) as { task_id: string; task_token: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  const task = { id: body.task_id, token: body.task_token };
  tasks.push(task);
  return task;
}

/** One HTTP exchange of the client with the gateway, as the client's fetch saw it. */
interface Exchange {
  method: string;
  /** The JSON-RPC message sent (null: none, a GET or DELETE). */
  message: { method?: string; id?: unknown; params?: Record<string, unknown> } | null;
  status: number;
  decisionId: string | null;
}

interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Every exchange so far, oldest first. */
  exchanges: Exchange[];
}

/**
 * An SDK client of the gateway's crm endpoint with `token` as its bearer, as the README configures one.
 * `sessionId`: resume that session (the SDK then sends no initialize); `headers`: extra headers for
 * each JSON-RPC message, by message.
 */
async function connect(
  token: string,
  opts: { sessionId?: string; headers?: (message: Exchange["message"]) => Record<string, string> } = {},
): Promise<Connected> {
  const exchanges: Exchange[] = [];
  const tap: typeof fetch = async (input, init) => {
    const message = typeof init?.body === "string" ? JSON.parse(init.body) : null;
    const headers = new Headers(init?.headers);
    for (const [k, v] of Object.entries(opts.headers?.(message) ?? {})) headers.set(k, v);
    const res = await fetch(input, { ...init, headers });
    const decisionId = res.headers.get("firebreak-decision-id");
    exchanges.push({ method: init?.method ?? "GET", message, status: res.status, decisionId });
    return res;
  };
  const transport = new StreamableHTTPClientTransport(endpoint, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: tap,
    ...(opts.sessionId ? { sessionId: opts.sessionId } : {}),
  });
  const client = new Client({ name: "e2e-agent", version: "1.0.0" });
  clients.push(client);
  await client.connect(transport);
  // After initialize the client opens its GET stream for the server's messages, in the background:
  // waited for, so that what the upstream receives next is what the test sends.
  if (!opts.sessionId) await until(() => exchanges.some((e) => e.method === "GET"), "the client's GET stream");
  return { client, transport, exchanges };
}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The exchange of the one JSON-RPC message of `method` (and tool `name`), the last one sent. */
function exchangeOf(c: Connected, method: string, name?: string): Exchange {
  const found = c.exchanges.filter(
    (e) => e.message?.method === method && (name === undefined || e.message.params?.name === name),
  );
  expect(found.length, `${method} ${name ?? ""}`).toBeGreaterThan(0);
  return found.at(-1)!;
}

/** What the demo received, oldest first. */
async function received(): Promise<Received[]> {
  return ((await demo.received()) as Received[]).toReversed();
}

/** A mark in what the demo received: `since()` gives what came after it. */
async function mark(): Promise<{ since: () => Promise<Received[]> }> {
  const last = (await received()).at(-1)?.id ?? 0;
  return { since: async () => (await received()).filter((r) => r.id > last) };
}

const rpcOf = (r: Received) => (r.body === null ? null : JSON.parse(r.body));
/** The demo's fingerprint of the dev CRM credential (dev-crm-token-not-real): the gateway injected it. */
const CRM_CREDENTIAL = "Bearer dev-crm…(22 chars)";

/** The rejection of `call`, which must reject. */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (e) {
    return e;
  }
  throw new Error("the call was not refused");
}

const textOf = (r: unknown) => ((r as { content: { text: string }[] }).content[0] ?? { text: "" }).text;
const lookupJenny = { name: "customers.lookup", arguments: { email: JENNY } };

/** The task's step log (GET /_firebreak/v1/tasks/:id with its own token). */
async function stepsOf(task: { id: string; token: string }): Promise<Record<string, unknown>[]> {
  const res = await fetch(new URL(`/_firebreak/v1/tasks/${task.id}?limit=100`, gw.url), {
    headers: { authorization: `Bearer ${task.token}` },
  });
  const body = (await res.json()) as { steps: Record<string, unknown>[] };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.steps;
}

describe("connect and tools/list through the gateway", () => {
  it("initialize and notifications/initialized pass, to the upstream with the gateway's credential", async () => {
    const task = await startTask("crm-followup");
    const at = await mark();
    const c = await connect(task.token);
    expect(c.client.getServerVersion()).toEqual({ name: "firebreak-demo-crm", version: "1.0.0" });
    expect(c.transport.protocolVersion! >= "2025-06-18").toBe(true);
    // The client holds the gateway's id: the upstream's, bound to this task.
    const sid = c.transport.sessionId!;
    expect(sid).toMatch(BOUND_SESSION);
    const upstreamId = sid.slice(0, sid.lastIndexOf("."));

    const init = exchangeOf(c, "initialize");
    const initialized = exchangeOf(c, "notifications/initialized");
    expect([init.status, initialized.status]).toEqual([200, 202]);
    for (const e of [init, initialized]) {
      expect(await gw.decision(e.decisionId!)).toMatchObject({
        effect: "allow",
        reason: "policy.allowed",
        service: "crm",
        task_id: task.id,
        detail: `mcp ${e.message!.method}: no action`,
      });
    }
    const upstream = (await at.since()).filter((r) => r.path === "/crm/mcp" && r.method === "POST");
    expect(upstream.map((r) => rpcOf(r).method)).toEqual(["initialize", "notifications/initialized"]);
    expect(upstream[0]!.headers["mcp-session-id"]).toBeUndefined();
    expect(upstream[1]!.headers["mcp-session-id"]).toBe(upstreamId);
    for (const r of upstream) expect(r.headers.authorization).toBe(CRM_CREDENTIAL);
    // The client's GET stream for the server's messages passes too, on the upstream's session.
    const stream = c.exchanges.find((e) => e.method === "GET")!;
    expect(stream.status).toBe(200);
    expect(await gw.decision(stream.decisionId!)).toMatchObject({ effect: "allow", detail: "mcp GET: no action" });
    const get = (await at.since()).filter((r) => r.path === "/crm/mcp" && r.method === "GET");
    expect(get.map((r) => r.headers["mcp-session-id"])).toEqual([upstreamId]);
  });

  it("tools/list shows only the tools the task's profile and rules allow; the upstream listed more", async () => {
    const direct = new Client({ name: "direct", version: "1.0.0" });
    clients.push(direct);
    await direct.connect(
      new StreamableHTTPClientTransport(new URL("/crm/mcp", demo.url), {
        requestInit: { headers: { Authorization: "Bearer dev-crm-token-not-real" } },
      }),
    );
    const upstreamTools = (await direct.listTools()).tools;
    const all = upstreamTools.map((t) => t.name);
    expect(all).toEqual(["customers.lookup", "email.send"]);

    // crm-lookup has no crm:email.send: the tool is dropped from the answer the upstream gave in full.
    const lookupOnly = await connect((await startTask("crm-lookup")).token);
    const at = await mark();
    const listed = await lookupOnly.client.listTools();
    expect(listed.tools.map((t) => t.name)).toEqual(["customers.lookup"]);
    expect(listed.tools[0]).toEqual(upstreamTools[0]);
    const asked = (await at.since()).filter((r) => rpcOf(r)?.method === "tools/list");
    expect(asked).toHaveLength(1);
    expect(asked[0]!.headers["mcp-session-id"]).toBe(lookupOnly.transport.sessionId!.split(".")[0]);

    // crm-followup has both, and the rules allow email.send (to colleagues; to others with approval).
    const followup = await connect((await startTask("crm-followup")).token);
    expect((await followup.client.listTools()).tools.map((t) => t.name)).toEqual(all);
    const decision = await gw.decision(exchangeOf(lookupOnly, "tools/list").decisionId!);
    expect(decision).toMatchObject({ effect: "allow", detail: "mcp tools/list: no action", status: 200 });
  });
});

describe("tools/call through the gateway", () => {
  it("an allowed call reaches the server with exactly the arguments the client sent", async () => {
    const task = await startTask("crm-followup");
    const c = await connect(task.token);
    const at = await mark();
    const found = await c.client.callTool(lookupJenny);
    expect(JSON.parse(textOf(found))).toMatchObject({ id: "cus_1001", name: "Jenny Rosen" });

    const [call, ...more] = await at.since();
    expect(more).toEqual([]);
    expect(call).toMatchObject({ method: "POST", path: "/crm/mcp" });
    expect(call!.headers.authorization).toBe(CRM_CREDENTIAL);
    expect(call!.headers["mcp-session-id"]).toBe(c.transport.sessionId!.split(".")[0]);
    const sent = rpcOf(call!);
    expect(sent).toMatchObject({ jsonrpc: "2.0", method: "tools/call" });
    expect(sent.params).toEqual({ name: "customers.lookup", arguments: { email: JENNY } });

    const decision = await gw.decision(exchangeOf(c, "tools/call").decisionId!);
    expect(decision).toMatchObject({
      effect: "allow",
      reason: "policy.allowed",
      action: "crm:customers.lookup",
      resource: `customer:${JENNY}`,
      rules: ["crm-read"],
      task_id: task.id,
      upstream_status: 200,
    });
  });

  it("a tool outside the task's profile is an McpError with the reason and decision id; nothing forwarded", async () => {
    const task = await startTask("crm-lookup");
    const c = await connect(task.token);
    const at = await mark();
    const err = await rejection(
      c.client.callTool({ name: "email.send", arguments: { to: "dana@acme.example", subject: "Hi", body: "x" } }),
    );
    expect(err).toBeInstanceOf(McpError);
    const { code, data } = err as McpError & { data: Record<string, unknown> };
    expect(code).toBe(-31403);
    expect(data).toMatchObject({ reason: "task.action_not_in_profile", error: "forbidden" });
    expect(data.decision_id).toMatch(UUID);
    const exchange = exchangeOf(c, "tools/call", "email.send");
    expect(exchange).toMatchObject({ status: 200, decisionId: data.decision_id });
    expect(await gw.decision(data.decision_id as string)).toMatchObject({
      effect: "deny",
      reason: "task.action_not_in_profile",
      action: "crm:email.send",
    });
    expect(await at.since()).toEqual([]);
  });

  it("a tool the catalog does not know is refused action.unknown; nothing forwarded", async () => {
    const c = await connect((await startTask("crm-followup")).token);
    const at = await mark();
    const err = await rejection(c.client.callTool({ name: "customers.export", arguments: {} }));
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).data).toMatchObject({
      reason: "action.unknown",
      decision_id: expect.stringMatching(UUID),
    });
    expect(await at.since()).toEqual([]);
  });

  it("mail to an outside address needs approval: data.approval.status_url, in the message too; nothing sent", async () => {
    const task = await startTask("crm-followup");
    const c = await connect(task.token);
    await c.client.callTool(lookupJenny); // crm-followup: email only a customer the task looked up
    const at = await mark();
    const err = await rejection(
      c.client.callTool({ name: "email.send", arguments: { to: JENNY, subject: "Hello", body: "Following up." } }),
    );
    expect(err).toBeInstanceOf(McpError);
    const { data, message } = err as McpError & { data: Record<string, unknown> };
    expect(data).toMatchObject({ reason: "approval.required", error: "approval_required" });
    expect(data.decision_id).toMatch(UUID);
    const approval = data.approval as { id: string; status_url: string; expires_at: string };
    expect(approval.id).toMatch(/^ap_[0-9A-Z]+$/);
    expect(approval.status_url).toBe(`http://127.0.0.1:8787/_firebreak/v1/approvals/${approval.id}/status`);
    expect(message.endsWith(`Status: ${approval.status_url}`)).toBe(true);
    expect(await gw.decision(data.decision_id as string)).toMatchObject({
      effect: "approval_required",
      reason: "approval.required",
      action: "crm:email.send",
      rules: ["crm-email-outside-needs-approval"],
    });
    expect(await at.since()).toEqual([]);

    // Mail to a colleague goes out as the client sent it.
    const sent = await c.client.callTool({
      name: "email.send",
      arguments: { to: "dana@acme.example", subject: "Jenny", body: "Called her." },
    });
    expect(textOf(sent)).toBe('Sent "Jenny" to dana@acme.example.');
    const [out, ...more] = await at.since();
    expect(more).toEqual([]);
    expect(rpcOf(out!).params).toEqual({
      name: "email.send",
      arguments: { to: "dana@acme.example", subject: "Jenny", body: "Called her." },
    });
  });
});

describe("the session is bound to the task", () => {
  it("another task presenting this task's session id gets 404 mcp.session_mismatch; nothing forwarded", async () => {
    const owner = await connect((await startTask("crm-followup")).token);
    const sid = owner.transport.sessionId!;
    const other = await startTask("crm-followup");
    const at = await mark();
    // The SDK resumes a session it is given without initialize: its first message carries the id.
    const thief = await connect(other.token, { sessionId: sid });
    for (const call of [thief.client.listTools(), thief.client.callTool(lookupJenny)]) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(StreamableHTTPError);
      expect((err as StreamableHTTPError).code).toBe(404);
      expect((err as Error).message).toContain('"reason":"mcp.session_mismatch"');
    }
    expect(thief.exchanges.map((e) => [e.message?.method, e.status])).toEqual([
      ["tools/list", 404],
      ["tools/call", 404],
    ]);
    for (const e of thief.exchanges) {
      expect(await gw.decision(e.decisionId!)).toMatchObject({
        effect: "deny",
        reason: "mcp.session_mismatch",
        status: 404,
        task_id: other.id,
      });
    }
    expect(await at.since()).toEqual([]);
    // Refused before anything was decided or admitted: no step of the other task was reserved, so no
    // budget moved and no personal data counts as read there.
    expect((await stepsOf(other)).filter((step) => step.kind === "call")).toEqual([]);
    // The owner's session still works.
    expect((await owner.client.listTools()).tools).toHaveLength(2);
  });

  it("the upstream's raw session id, never issued by the gateway, is refused too", async () => {
    const task = await startTask("crm-followup");
    const owner = await connect(task.token);
    const raw = owner.transport.sessionId!.split(".")[0]!;
    const at = await mark();
    const res = await fetch(endpoint, {
      method: "POST",
      headers: {
        authorization: `Bearer ${task.token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": raw,
        "mcp-protocol-version": owner.transport.protocolVersion!,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call", params: lookupJenny }),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { id: number; error: { data: Record<string, unknown> } };
    expect(body.id).toBe(9);
    expect(body.error.data).toMatchObject({ reason: "mcp.session_mismatch", error: "not_found" });
    expect(body.error.data.decision_id).toBe(res.headers.get("firebreak-decision-id"));
    // The SDK's transport given the raw id fares no better.
    const resumed = await connect(task.token, { sessionId: raw });
    expect(((await rejection(resumed.client.listTools())) as StreamableHTTPError).code).toBe(404);
    expect(await at.since()).toEqual([]);
  });
});

describe("one task state across protocols", () => {
  it("personal data read through the MCP tool, then a REST Slack post: sequence.forbidden_after", async () => {
    const task = await startTask("crm-followup");
    const post = (text: string) =>
      fetch(new URL("/slack/api/chat.postMessage", gw.url), {
        method: "POST",
        headers: { authorization: `Bearer ${task.token}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ channel: "C0SUPPORT1", text }).toString(),
      });
    // Before any personal data: the post is allowed (rule crm-report) and reaches Slack.
    const first = await post("Starting the follow-ups");
    expect(first.status).toBe(200);
    expect(first.headers.get("firebreak-decision")).toBe("allow");
    await first.body?.cancel();

    const c = await connect(task.token);
    await c.client.callTool(lookupJenny);
    const at = await mark();
    const res = await post("Jenny Rosen: +1 415 555 0101");
    // Slack's dialect: 200 with ok:false and the reason code.
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; error: string; firebreak: Record<string, unknown> };
    expect(body).toMatchObject({ ok: false, error: "sequence.forbidden_after" });
    expect(await gw.decision(body.firebreak.decision_id as string)).toMatchObject({
      effect: "deny",
      reason: "sequence.forbidden_after",
      action: "slack:chat.postMessage",
      task_id: task.id,
    });
    expect(await at.since()).toEqual([]);

    // The CRM that holds the data may still be written to (allow_services: [crm]).
    await c.client.callTool({ name: "email.send", arguments: { to: "dana@acme.example", subject: "J", body: "x" } });
    const slack = (await received()).filter((r) => r.path === "/slack/api/chat.postMessage");
    expect(slack.filter((r) => r.body?.includes("Jenny"))).toEqual([]);
  });
});

describe("Mcp-Method / Mcp-Name headers", () => {
  it("a header naming another tool than the body is 400 mcp.header_mismatch; nothing forwarded", async () => {
    const task = await startTask("crm-followup");
    // Headers that say customers.lookup on every tools/call, whatever the body calls.
    const lookupHeaders: Record<string, string> = { "mcp-method": "tools/call", "mcp-name": "customers.lookup" };
    const c = await connect(task.token, { headers: (m) => (m?.method === "tools/call" ? lookupHeaders : {}) });
    const at = await mark();
    const err = await rejection(
      c.client.callTool({ name: "email.send", arguments: { to: "dana@acme.example", subject: "Hi", body: "x" } }),
    );
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect((err as StreamableHTTPError).code).toBe(400);
    expect((err as Error).message).toContain('"reason":"mcp.header_mismatch"');
    expect((err as Error).message).toContain('"code":-32001');
    const refused = exchangeOf(c, "tools/call", "email.send");
    expect(await gw.decision(refused.decisionId!)).toMatchObject({
      effect: "deny",
      reason: "mcp.header_mismatch",
      status: 400,
    });
    expect(await at.since()).toEqual([]);

    // Headers that say what the body says pass, and are forwarded (the service's forward_headers).
    await c.client.callTool(lookupJenny);
    const [call, ...more] = await at.since();
    expect(more).toEqual([]);
    expect(call!.headers).toMatchObject({ "mcp-method": "tools/call", "mcp-name": "customers.lookup" });
  });

  it("on the wire: the JSON-RPC error answers the request's id with -32001", async () => {
    const task = await startTask("crm-followup");
    const at = await mark();
    const res = await fetch(endpoint, {
      method: "POST",
      headers: {
        authorization: `Bearer ${task.token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-method": "tools/list",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { id: number; error: { code: number; data: Record<string, unknown> } };
    expect(body).toMatchObject({ jsonrpc: "2.0", id: 0, error: { code: -32001 } });
    expect(body.error.data).toMatchObject({ reason: "mcp.header_mismatch", error: "invalid_request" });
    expect(await at.since()).toEqual([]);
  });
});

describe("the MCP steps in the decision records and the task's log", () => {
  it("are actions crm:<tool> with their arguments, with REST steps in the same log", async () => {
    const task = await startTask("crm-followup");
    const c = await connect(task.token);
    await c.client.callTool(lookupJenny);
    await rejection(c.client.callTool({ name: "email.send", arguments: { to: JENNY, subject: "Hi", body: "x" } }));
    const slack = await fetch(new URL("/slack/api/chat.postMessage", gw.url), {
      method: "POST",
      headers: { authorization: `Bearer ${task.token}`, "content-type": "application/x-www-form-urlencoded" },
      body: "channel=C0SUPPORT1&text=done",
    });
    await slack.body?.cancel();

    const steps = (await stepsOf(task)).filter((s) => s.kind === "call" || s.kind === "approval");
    const lookup = exchangeOf(c, "tools/call", "customers.lookup");
    expect(steps[0]).toMatchObject({
      kind: "call",
      decision_id: lookup.decisionId,
      action: "crm:customers.lookup",
      service: "crm",
      resource: `customer:${JENNY}`,
      labels: expect.arrayContaining(["data:pii", "kind:read"]),
      outcome: "reserved",
      status: 200,
      settled: true,
      facts: { method: "POST", path: "/mcp", at: "tools/call customers.lookup", args: { email: JENNY } },
    });
    expect(steps.map((s) => [s.kind, s.action, s.outcome, s.reason])).toEqual([
      ["call", "crm:customers.lookup", "reserved", null],
      ["approval", "crm:email.send", "requested", "approval.required"],
      ["call", "slack:chat.postMessage", "refused", "sequence.forbidden_after"],
    ]);
    expect(steps[1]).toMatchObject({
      decision_id: exchangeOf(c, "tools/call", "email.send").decisionId,
      resource: `mailbox:${JENNY}`,
      facts: { at: "tools/call email.send", args: { to: JENNY, subject: "Hi", body: "x" } },
    });
    // The messages that name no action are forwarded, recorded as decisions, and are no steps.
    const record = await gw.decision(lookup.decisionId!);
    expect(record).toMatchObject({ action: "crm:customers.lookup", method: "POST", path: "/mcp" });
    const passed = gw.decisions.filter((d) => d.task_id === task.id && d.action === null);
    expect(passed.map((d) => d.detail)).toEqual(
      expect.arrayContaining(["mcp initialize: no action", "mcp notifications/initialized: no action"]),
    );
  });

  it("sent nothing anywhere but the demo upstream", () => {
    expect(unmocked).toEqual([]);
  });
});
