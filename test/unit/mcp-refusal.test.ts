/**
 * The JSON-RPC refusal of an MCP call: its shape (id echoed, code, `error.data` with the reason and
 * decision id), its HTTP status, and what the SDK's own Client surfaces from it: a refused request
 * rejects that call with an McpError carrying `data.reason`; an approval carries its status URL.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import type { Reason } from "../../src/core/reasons";
import { jsonRpcError, jsonRpcRefusal } from "../../src/protocols/mcp/refusal";

const call = (id: unknown = 7) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "email.send", arguments: {} } });
const parsed = (r: { body: string }) => JSON.parse(r.body);

describe("jsonRpcRefusal", () => {
  it("answers the request's id with 200 and the reason and decision id in error.data", () => {
    const r = jsonRpcRefusal(call(), "policy.denied", "A policy rule denies this call.", "dec-1");
    expect(r.status).toBe(200);
    expect(parsed(r)).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: {
        code: -31403,
        message: "A policy rule denies this call.",
        data: { reason: "policy.denied", decision_id: "dec-1", error: "forbidden" },
      },
    });
    expect(parsed(jsonRpcRefusal(call("abc"), "policy.denied", "m", "d")).id).toBe("abc");
  });

  it("carries the approval, with its status URL in the message as well", () => {
    const approval = {
      id: "ap_1",
      status_url: "https://gw/_firebreak/v1/approvals/ap_1",
      expires_at: "2026-12-02T15:00:00Z",
    };
    const r = jsonRpcRefusal(call(), "approval.required", "This call needs a person's approval.", "dec-2", {
      approval,
    });
    expect(r.status).toBe(200);
    const { error } = parsed(r);
    expect(error.data).toEqual({
      approval,
      reason: "approval.required",
      decision_id: "dec-2",
      error: "approval_required",
    });
    expect(error.message).toBe(`This call needs a person's approval. Status: ${approval.status_url}`);
  });

  it("extra never overrides the reason or the decision id", () => {
    const r = jsonRpcRefusal(call(), "policy.denied", "m", "dec-3", { reason: "policy.allowed", decision_id: "x" });
    expect(parsed(r).error.data).toMatchObject({ reason: "policy.denied", decision_id: "dec-3" });
  });

  it.each<[Reason, number, number]>([
    ["action.unknown", 200, -31403],
    ["budget.window", 200, -31429],
    ["task.unavailable", 200, -31503],
    ["upstream.timeout", 200, -31504],
    ["mcp.malformed", 200, -32600],
    ["request.duplicate_key", 200, -32600],
    ["request.body_invalid", 200, -32602],
    ["request.body_too_large", 200, -32600],
    ["mcp.header_mismatch", 400, -32001],
    ["mcp.session_mismatch", 404, -31404],
    ["identity.expired", 401, -31401],
  ])("%s: HTTP %i, code %i", (reason, status, code) => {
    const r = jsonRpcRefusal(call(), reason, "m", "d");
    expect(r.status).toBe(status);
    expect(parsed(r).error.code).toBe(code);
    expect(parsed(r).id).toBe(7);
  });

  it.each([
    ["a notification", JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), 400, -32600],
    ["a client's response", JSON.stringify({ jsonrpc: "2.0", id: 3, result: {} }), 400, -32600],
    ["a batch", `[${call()}]`, 400, -32600],
    ["a body that does not parse", "{", 400, -32700],
    ["no body read", null, 400, -32600],
    ["a request with an id of another type", call({ x: 1 }), 400, -32600],
  ])("%s has no id to answer: id null and the reason's status", (_, body, status, code) => {
    const r = jsonRpcRefusal(body, "mcp.malformed", "m", "d");
    expect(r.status).toBe(status);
    expect(parsed(r)).toMatchObject({ id: null, error: { code } });
  });

  it("a policy refusal of a notification keeps its status too", () => {
    const note = JSON.stringify({ jsonrpc: "2.0", method: "custom/x" });
    expect(jsonRpcRefusal(note, "action.unknown", "m", "d").status).toBe(403);
  });

  it("jsonRpcError answers a given id (an SSE event's data)", () => {
    expect(JSON.parse(jsonRpcError("r1", "mcp.response_invalid", "m", "d"))).toMatchObject({
      id: "r1",
      error: { code: -31502, data: { reason: "mcp.response_invalid", decision_id: "d", error: "bad_gateway" } },
    });
  });
});

/**
 * A stand-in for the gateway: answers initialize like an MCP server, and every other request with the
 * refusal of `reason`, so the SDK's Client shows what an agent would see.
 */
function refusingFetch(reason: Reason, extra: Record<string, unknown> = {}): typeof fetch {
  return async (_url, init) => {
    const body = String(init?.body ?? "");
    const msg = JSON.parse(body);
    if (msg.method === "initialize") {
      return Response.json(
        {
          jsonrpc: "2.0",
          id: msg.id,
          result: {
            protocolVersion: "2025-06-18",
            capabilities: { tools: {} },
            serverInfo: { name: "x", version: "1" },
          },
        },
        { headers: { "mcp-session-id": "s.tag" } },
      );
    }
    if (msg.id === undefined) return new Response(null, { status: 202 });
    const r = jsonRpcRefusal(body, reason, `refused: ${reason}`, "dec-sdk", extra);
    return new Response(r.body, { status: r.status, headers: { "content-type": "application/json" } });
  };
}

async function connected(reason: Reason, extra: Record<string, unknown> = {}) {
  const transport = new StreamableHTTPClientTransport(new URL("http://gateway.test/crm/mcp"), {
    fetch: refusingFetch(reason, extra),
  });
  const client = new Client({ name: "agent", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

describe("the SDK's Client surfaces the refusal", () => {
  it("a denied tool call rejects with McpError: code, message, data.reason and data.decision_id", async () => {
    const client = await connected("policy.denied");
    const err = await client.callTool({ name: "email.send", arguments: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(McpError);
    expect(err.code).toBe(-31403);
    expect(err.message).toContain("refused: policy.denied");
    expect(err.data).toMatchObject({ reason: "policy.denied", decision_id: "dec-sdk" });
    await client.close();
  });

  it("an approval needed rejects with the approval's status URL in data and message", async () => {
    const approval = { id: "ap_9", status_url: "http://gateway.test/_firebreak/v1/approvals/ap_9", expires_at: "z" };
    const client = await connected("approval.required", { approval });
    const err = await client.callTool({ name: "email.send", arguments: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(McpError);
    expect(err.data).toMatchObject({ reason: "approval.required", approval });
    expect(err.message).toContain(approval.status_url);
    await client.close();
  });

  it("a session of another task is the transport's 404 (the client starts a new session)", async () => {
    const client = await connected("mcp.session_mismatch");
    const err = await client.listTools().catch((e) => e);
    expect(err).toBeInstanceOf(StreamableHTTPError);
    expect(err.code).toBe(404);
    expect(err.message).toContain("mcp.session_mismatch");
    await client.close();
  });
});
