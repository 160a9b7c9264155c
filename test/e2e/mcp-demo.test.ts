/**
 * The demo MCP server (demo/src/crm.ts) in workerd, as `npm start` runs it, driven by the MCP SDK's own
 * `Client` over `StreamableHTTPClientTransport`: sessions, every tool, the resource and the prompt,
 * what the demo records, its refusals. Then the gateway's MCP helpers between that client and that
 * server, as the pipeline uses them: a tools/list answer filtered on its real SSE stream, and the
 * session bound to the task (another task's session id is refused). The same client through the
 * bundled gateway: test/e2e/mcp-gateway.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { jsonRpcError, jsonRpcRefusal } from "../../src/protocols/mcp/refusal";
import { bindSessionId, checkSessionId, type SessionKeys, sessionKeys } from "../../src/protocols/mcp/session";
import { filterToolsListResponse } from "../../src/protocols/mcp/tools-list";
import { type Demo, startDemo } from "./helpers/demo";
import { ROOT } from "./helpers/gateway";

let demo: Demo;
let endpoint: URL;
beforeAll(async () => {
  demo = await startDemo();
  endpoint = new URL("/crm/mcp", demo.url);
});
afterAll(async () => {
  await demo?.dispose();
});

const CREDENTIAL = { authorization: "Bearer dev-crm-token-not-real" };
const clients: Client[] = [];
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
});

async function connect(fetchFn?: typeof fetch): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(endpoint, {
    requestInit: { headers: CREDENTIAL },
    ...(fetchFn ? { fetch: fetchFn } : {}),
  });
  const client = new Client({ name: "e2e-agent", version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const textOf = (r: unknown) => ((r as { content: { text: string }[] }).content[0] ?? { text: "" }).text;

describe("the demo MCP server, with the SDK's Client", () => {
  it("opens a session at a protocol version of 2025-06-18 or later", async () => {
    const { client, transport } = await connect();
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(client.getServerVersion()).toEqual({ name: "firebreak-demo-crm", version: "1.0.0" });
    expect(transport.protocolVersion! >= "2025-06-18").toBe(true);
  });

  it("lists the tools exactly as the catalog's source (src/catalog/sources/crm.tools.json) says", async () => {
    const { client } = await connect();
    const stored = JSON.parse(readFileSync(join(ROOT, "src", "catalog", "sources", "crm.tools.json"), "utf8"));
    expect(await client.listTools()).toEqual(stored);
  });

  it("looks a customer up, and says so when there is none", async () => {
    const { client } = await connect();
    const found = await client.callTool({ name: "customers.lookup", arguments: { email: "jenny.rosen@example.com" } });
    expect(JSON.parse(textOf(found))).toMatchObject({ id: "cus_1001", name: "Jenny Rosen" });
    const none = await client.callTool({ name: "customers.lookup", arguments: { email: "nobody@example.com" } });
    expect(none.isError).toBe(true);
  });

  it("sends an email, reads the customer resource and the follow-up prompt", async () => {
    const { client } = await connect();
    const sent = await client.callTool({
      name: "email.send",
      arguments: { to: "a@acme.example", subject: "Hi", body: "x" },
    });
    expect(textOf(sent)).toBe('Sent "Hi" to a@acme.example.');
    const record = await client.readResource({ uri: "crm://customers/cus_1002" });
    expect(JSON.parse((record.contents[0] as { text: string }).text)).toMatchObject({ name: "Ola Nordmann" });
    const templates = await client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toEqual(["crm://customers/{id}"]);
    const prompt = await client.getPrompt({ name: "followup", arguments: { email: "a@b.c" } });
    expect(JSON.stringify(prompt.messages)).toContain("a@b.c");
    await client.ping();
  });

  it("records what it received, the credential as a fingerprint", async () => {
    const { client, transport } = await connect();
    await client.callTool({ name: "customers.lookup", arguments: { email: "ola@example.no" } });
    const call = (await demo.received()).find((r) => r.body?.includes('"ola@example.no"'));
    expect(call).toMatchObject({ method: "POST", path: "/crm/mcp" });
    expect(call?.headers["mcp-session-id"]).toBe(transport.sessionId);
    expect(call?.headers.authorization).toBe("Bearer dev-crm…(22 chars)");
    expect(JSON.parse(call?.body ?? "{}")).toMatchObject({
      method: "tools/call",
      params: { name: "customers.lookup" },
    });
  });

  it("ends a session on DELETE; the ended session is not found (404)", async () => {
    const { transport } = await connect();
    const id = transport.sessionId!;
    await transport.terminateSession();
    const res = await fetch(endpoint, {
      method: "POST",
      headers: {
        ...CREDENTIAL,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": id,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(res.status).toBe(404);
  });

  it("refuses a call without a credential, and a first call that is not initialize", async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
        body: JSON.stringify(body),
      });
    expect((await post({}, { jsonrpc: "2.0", id: 1, method: "ping" })).status).toBe(401);
    expect((await post(CREDENTIAL, { jsonrpc: "2.0", id: 1, method: "tools/list" })).status).toBe(400);
  });
});

let compiledTools: Record<string, number> | null = null;
/** The shipped crm endpoint's tools -> action indexes, from the compiled policies. */
function crmTools(): { tools: Record<string, number>; lookup: number } {
  if (compiledTools === null) {
    const compiled = compilePolicies(join(ROOT, "policies"));
    if (!compiled.ok) throw new Error(compiled.problems.format());
    compiledTools = compiled.bundle.services.crm?.mcp?.tools ?? {};
  }
  return { tools: compiledTools, lookup: compiledTools["customers.lookup"] as number };
}

/**
 * What the gateway does around the upstream, with the pure helpers it uses: the session id bound to
 * `task`, and tools/list answers filtered to the actions `allowed` accepts.
 */
function gatewayLike(keys: SessionKeys, task: string, allowed: (action: number) => boolean): typeof fetch {
  const { tools } = crmTools();
  return async (input, init) => {
    const body = typeof init?.body === "string" ? init.body : null;
    const headers = new Headers(init?.headers);
    const sid = headers.get("mcp-session-id");
    if (sid !== null) {
      const opened = await checkSessionId(keys, "crm", task, sid);
      if (!opened.ok) {
        const r = jsonRpcRefusal(body, opened.reason, "session of another task", "dec-e2e");
        return new Response(r.body, { status: r.status, headers: { "content-type": "application/json" } });
      }
      headers.set("mcp-session-id", opened.upstreamId);
    }
    let res = await fetch(input, { ...init, headers });
    const upstreamId = res.headers.get("mcp-session-id");
    if (upstreamId !== null) {
      const bound = await bindSessionId(keys, "crm", task, upstreamId);
      if (!bound.ok) throw new Error(bound.reason);
      const out = new Headers(res.headers);
      out.set("mcp-session-id", bound.sessionId);
      res = new Response(res.body, { status: res.status, headers: out });
    }
    const message = body === null ? null : JSON.parse(body);
    if (message?.method !== "tools/list") return res;
    const fallback = (r: { reason: Parameters<typeof jsonRpcError>[1] }) =>
      jsonRpcError(message.id, r.reason, "x", "d");
    return filterToolsListResponse(res, { tools, allowed, fallback });
  };
}

describe("the gateway's MCP helpers between the SDK's Client and the demo server", () => {
  it("filters tools/list on the server's real SSE answer: the client sees only what the task may call", async () => {
    const raw = await fetch(endpoint, {
      method: "POST",
      headers: { ...CREDENTIAL, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      }),
    });
    expect(raw.headers.get("content-type")).toBe("text/event-stream");
    await raw.body?.cancel();
    const { lookup } = crmTools();
    const { client } = await connect(gatewayLike(await sessionKeys("task-key-e2e"), "task-a", (a) => a === lookup));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["customers.lookup"]);
  });

  it("binds the session to its task: the client holds the bound id; another task presenting it is refused", async () => {
    const keys = await sessionKeys("task-key-e2e");
    const { client, transport } = await connect(gatewayLike(keys, "task-a", () => true));
    const bound = transport.sessionId!;
    expect(bound).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}$/);
    await client.callTool({ name: "customers.lookup", arguments: { email: "jenny.rosen@example.com" } });
    const upstreamId = bound.slice(0, bound.lastIndexOf("."));
    const forwarded = (await demo.received()).filter((r) => r.body?.includes("jenny.rosen@example.com"));
    expect(forwarded[0]?.headers["mcp-session-id"]).toBe(upstreamId);

    // Task B replays task A's session id: refused before the upstream sees it.
    const before = (await demo.received()).length;
    const stolen = new StreamableHTTPClientTransport(endpoint, {
      requestInit: { headers: CREDENTIAL },
      sessionId: bound,
      fetch: gatewayLike(keys, "task-b", () => true),
    });
    const thief = new Client({ name: "task-b", version: "1.0.0" });
    clients.push(thief);
    // The SDK skips initialize when it resumes a session id it was given.
    await thief.connect(stolen);
    const err = await thief.listTools().catch((e) => e);
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect(err.code).toBe(404);
    expect(err.message).toContain("mcp.session_mismatch");
    const after = await demo.received();
    expect(
      after
        .slice(0, after.length - before)
        .some((r) => r.headers["mcp-session-id"] === upstreamId && r.body?.includes("tools/list")),
    ).toBe(false);
  });
});
