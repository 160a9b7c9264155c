/**
 * mcpCalls: every method class of an MCP POST body (tool, prompt, resource, housekeeping that passes,
 * notifications, the client's responses), batches, Mcp-Method / Mcp-Name headers, and each malformed
 * or ambiguous body refused with its reason code.
 */
import { describe, expect, it } from "vitest";
import type { ActionSpec, McpEndpoint } from "../../src/policy/types";
import { mcpCalls } from "../../src/protocols/mcp/calls";
import { decodeName } from "../../src/protocols/mcp/headers";
import { canonicalValue, matchResource } from "../../src/protocols/mcp/uris";

const action = (name: string, args: ActionSpec["args"] = {}, params: string[] = []): ActionSpec => ({
  name: `crm:${name}`,
  service: "crm",
  method: ["POST"],
  path: "/mcp",
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
});

const ACTIONS = [
  action("customers.lookup", { email: "string", limit: "integer", score: "number", active: "boolean" }),
  action("email.send", { to: "string", subject: "string" }),
  action("customers.record", {}, ["id"]),
  action("customers.orders", {}, ["id"]),
  action("customers.search", {}, []),
  action("plans", {}, []),
  action("followup", { email: "string" }),
  action("email.forward", { "recipient.email": "string", "recipient.cc.count": "integer" }),
];
const ENDPOINT: McpEndpoint = {
  path: "/mcp",
  tools: { "customers.lookup": 0, "email.send": 1, "email.forward": 7 },
  resources: {
    "crm://customers/{id}": 2,
    "crm://customers/{id}/orders": 3,
    "crm://customers/search": 4,
    "crm://plans": 5,
  },
  prompts: { followup: 6 },
};

const JSON_TYPE = { "content-type": "application/json" };
const rpc = (method: string, params?: unknown, id: unknown = 1) =>
  JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
/** A notification: no id at all. */
const note = (method: string, params?: unknown) =>
  JSON.stringify({ jsonrpc: "2.0", method, ...(params ? { params } : {}) });
const classify = (body: string, headers: Record<string, string> = {}) =>
  mcpCalls(ENDPOINT, ACTIONS, body, new Headers({ ...JSON_TYPE, ...headers }));
const reasonOf = (body: string, headers: Record<string, string> = {}) => {
  const r = classify(body, headers);
  return r.ok ? "ok" : r.reason;
};

describe("tools/call", () => {
  it("is the tool's action, with its declared arguments typed as declared", () => {
    const r = classify(
      rpc("tools/call", {
        name: "customers.lookup",
        arguments: { email: "jenny@example.com", limit: 3, score: 0.5, active: true, other: { x: 1 } },
      }),
    );
    expect(r.ok && r.calls).toEqual([
      {
        action: 0,
        args: { email: "jenny@example.com", limit: 3, score: 0.5, active: true },
        params: {},
        at: "tools/call customers.lookup",
      },
    ]);
    expect(r.ok && r.messages).toEqual([{ kind: "request", id: 1, method: "tools/call", name: "customers.lookup" }]);
  });

  it("has no arguments when the call gives none", () => {
    const r = classify(rpc("tools/call", { name: "email.send" }, "req-7"));
    expect(r.ok && r.calls[0]?.args).toEqual({});
    expect(r.ok && r.messages[0]?.id).toBe("req-7");
  });

  it.each([
    ["a string for an integer", { limit: "3" }],
    ["a fraction for an integer", { limit: 1.5 }],
    ["a number for a string", { email: 42 }],
    ["null", { email: null }],
    ["a string for a boolean", { active: "true" }],
    ["an object for a number", { score: { n: 1 } }],
  ])("refuses %s as request.body_invalid", (_, args) => {
    expect(reasonOf(rpc("tools/call", { name: "customers.lookup", arguments: args }))).toBe("request.body_invalid");
  });

  it("reads a declared path into nested arguments; a step through a non-object is absent", () => {
    const call = (args: unknown) => classify(rpc("tools/call", { name: "email.forward", arguments: args }));
    const nested = call({ recipient: { email: "a@b.c", cc: { count: 2 } }, "recipient.email": "x@y.z" });
    expect(nested.ok && nested.calls[0]?.args).toEqual({ "recipient.email": "a@b.c", "recipient.cc.count": 2 });
    const flat = call({ recipient: "a@b.c" });
    expect(flat.ok && flat.calls[0]?.args).toEqual({});
    expect(reasonOf(rpc("tools/call", { name: "email.forward", arguments: { recipient: { email: 5 } } }))).toBe(
      "request.body_invalid",
    );
  });

  it("refuses an unknown tool, and a prototype key, as action.unknown", () => {
    expect(reasonOf(rpc("tools/call", { name: "customers.delete" }))).toBe("action.unknown");
    expect(reasonOf(rpc("tools/call", { name: "constructor" }))).toBe("action.unknown");
    expect(reasonOf(rpc("tools/call", { name: "__proto__" }))).toBe("action.unknown");
  });

  it.each([
    ["no name", { arguments: {} }],
    ["a name that is not a string", { name: 7 }],
    ["an empty name", { name: "" }],
    ["arguments that are an array", { name: "email.send", arguments: ["a"] }],
    ["arguments that are null", { name: "email.send", arguments: null }],
  ])("refuses %s as mcp.malformed", (_, params) => {
    expect(reasonOf(rpc("tools/call", params))).toBe("mcp.malformed");
  });
});

describe("prompts/get", () => {
  it("is the prompt's action with its declared arguments", () => {
    const r = classify(rpc("prompts/get", { name: "followup", arguments: { email: "a@b.c" } }));
    expect(r.ok && r.calls).toEqual([{ action: 6, args: { email: "a@b.c" }, params: {}, at: "prompts/get followup" }]);
  });

  it("refuses an unknown prompt", () => {
    expect(reasonOf(rpc("prompts/get", { name: "summarize" }))).toBe("action.unknown");
  });
});

describe("resources/read and resources/subscribe", () => {
  const read = (uri: unknown, method = "resources/read") => classify(rpc(method, { uri }));

  it("an exact URI beats every template", () => {
    const r = read("crm://plans");
    expect(r.ok && r.calls).toEqual([{ action: 5, args: {}, params: {}, at: "resources/read crm://plans" }]);
  });

  it("a template's {name} values are the step's params", () => {
    expect(read("crm://customers/cus_1").ok && read("crm://customers/cus_1")).toMatchObject({
      calls: [{ action: 2, params: { id: "cus_1" } }],
      messages: [{ name: "crm://customers/cus_1" }],
    });
    expect(read("crm://customers/cus_1/orders")).toMatchObject({ calls: [{ action: 3, params: { id: "cus_1" } }] });
  });

  it("a literal segment beats a {name} at the first segment where templates differ", () => {
    expect(read("crm://customers/search")).toMatchObject({ calls: [{ action: 4, params: {} }] });
  });

  it("a subscription is classified as the read it announces", () => {
    expect(read("crm://customers/cus_1", "resources/subscribe")).toMatchObject({ calls: [{ action: 2 }] });
  });

  it("decodes percent-encoded unreserved characters in values, keeps other escapes", () => {
    expect(read("crm://customers/%63us_1")).toMatchObject({ calls: [{ params: { id: "cus_1" } }] });
    expect(read("crm://customers/a%2fb")).toMatchObject({ calls: [{ params: { id: "a%2Fb" } }] });
    expect(canonicalValue("%7e%41%20")).toBe("~A%20");
  });

  it.each([
    ["no template matches", "crm://orders/1"],
    ["a value may not be empty", "crm://customers/"],
    ["a template never swallows a query", "crm://customers/cus_1?fields=all"],
    ["one segment per {name}", "crm://customers/a/b/c"],
  ])("action.unknown when %s", (_, uri) => {
    expect(reasonOf(rpc("resources/read", { uri }))).toBe("action.unknown");
  });

  it.each([
    ["a bad escape", "crm://customers/%zz"],
    ["a space", "crm://customers/a b"],
    ["braces", "crm://customers/{id}"],
    ["no URI", undefined],
    ["a URI that is not a string", 5],
  ])("mcp.malformed for %s", (_, uri) => {
    expect(reasonOf(rpc("resources/read", uri === undefined ? {} : { uri }))).toBe("mcp.malformed");
  });

  it("matchResource reports the template's params without prototype keys", () => {
    const m = matchResource({ "x://{constructor}": 0 }, "x://y");
    expect(m).toEqual({ ok: true, action: 0, params: { constructor: "y" } });
  });
});

describe("messages that need no action pass", () => {
  it.each([
    "initialize",
    "ping",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "logging/setLevel",
  ])("%s", (method) => {
    const r = classify(rpc(method, method === "initialize" ? { protocolVersion: "2025-06-18" } : undefined));
    expect(r.ok && r).toEqual({ ok: true, calls: [], messages: [{ kind: "request", id: 1, method, name: null }] });
  });

  it("resources/unsubscribe, naming its URI", () => {
    const r = classify(rpc("resources/unsubscribe", { uri: "crm://customers/1" }));
    expect(r.ok && r.messages[0]).toMatchObject({ method: "resources/unsubscribe", name: "crm://customers/1" });
    expect(r.ok && r.calls).toEqual([]);
  });

  it("notifications", () => {
    for (const method of ["notifications/initialized", "notifications/cancelled", "notifications/roots/list_changed"]) {
      const r = classify(note(method, { requestId: 1 }));
      expect(r.ok && r.messages).toEqual([{ kind: "notification", id: null, method, name: null }]);
    }
  });

  it("the client's responses to the server's requests", () => {
    const result = JSON.stringify({ jsonrpc: "2.0", id: "s-1", result: { action: "accept" } });
    expect(classify(result)).toEqual({
      ok: true,
      calls: [],
      messages: [{ kind: "response", id: "s-1", method: null, name: null }],
    });
    const error = JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    expect(classify(error).ok).toBe(true);
  });
});

describe("everything else is action.unknown", () => {
  it.each(["completion/complete", "tasks/result", "tasks/list", "sampling/createMessage", "tools/delete", "x"])(
    "%s",
    (method) => {
      expect(reasonOf(rpc(method, {}))).toBe("action.unknown");
    },
  );

  it("a notification that is not notifications/*", () => {
    expect(reasonOf(note("custom/event", {}))).toBe("action.unknown");
  });

  it("a request method sent as a notification is malformed (no answer to decide on)", () => {
    expect(reasonOf(note("tools/call", { name: "email.send" }))).toBe("mcp.malformed");
  });
});

describe("batches", () => {
  it("are refused as a whole, whatever they hold", () => {
    const one = JSON.parse(rpc("tools/call", { name: "customers.lookup" }));
    expect(reasonOf(JSON.stringify([one]))).toBe("mcp.batch");
    expect(reasonOf(JSON.stringify([one, { ...one, id: 2, params: { name: "email.send" } }]))).toBe("mcp.batch");
    expect(reasonOf("[]")).toBe("mcp.batch");
  });
});

describe("Mcp-Method and Mcp-Name headers", () => {
  const call = rpc("tools/call", { name: "email.send" });

  it("pass when absent or matching the body", () => {
    expect(reasonOf(call)).toBe("ok");
    expect(reasonOf(call, { "mcp-method": "tools/call", "mcp-name": "email.send" })).toBe("ok");
    expect(reasonOf(rpc("tools/list"), { "mcp-method": "tools/list" })).toBe("ok");
    expect(reasonOf(rpc("resources/read", { uri: "crm://plans" }), { "mcp-name": "crm://plans" })).toBe("ok");
    expect(reasonOf(note("notifications/initialized"), { "mcp-method": "notifications/initialized" })).toBe("ok");
  });

  it.each([
    ["another method", { "mcp-method": "tools/list" }],
    ["another tool", { "mcp-name": "customers.lookup" }],
    ["the method in another case", { "mcp-method": "Tools/Call" }],
    ["a repeated header (joined with a comma)", { "mcp-name": "email.send, email.send" }],
  ])("refuse %s", (_, headers) => {
    expect(reasonOf(call, headers)).toBe("mcp.header_mismatch");
  });

  it("refuse a name on a method that names none, and any header on a response", () => {
    expect(reasonOf(rpc("tools/list"), { "mcp-name": "email.send" })).toBe("mcp.header_mismatch");
    const response = JSON.stringify({ jsonrpc: "2.0", id: 1, result: {} });
    expect(reasonOf(response, { "mcp-method": "tools/call" })).toBe("mcp.header_mismatch");
  });

  it("compare a base64-encoded name decoded", () => {
    const unicode = { ...ENDPOINT, tools: { tööl: 1 } };
    const body = rpc("tools/call", { name: "tööl" });
    const encoded = `=?base64?${Buffer.from("tööl").toString("base64")}?=`;
    const r = mcpCalls(unicode, ACTIONS, body, new Headers({ ...JSON_TYPE, "mcp-name": encoded }));
    expect(r.ok).toBe(true);
    const wrong = `=?base64?${Buffer.from("tool").toString("base64")}?=`;
    const w = mcpCalls(unicode, ACTIONS, body, new Headers({ ...JSON_TYPE, "mcp-name": wrong }));
    expect(w.ok ? "ok" : w.reason).toBe("mcp.header_mismatch");
    expect(decodeName("=?base64?/w==?=")).toBeNull();
    expect(decodeName("plain")).toBe("plain");
  });
});

describe("malformed or ambiguous bodies", () => {
  it.each([
    ["not JSON", "{"],
    ["empty", ""],
    ["a string", '"tools/call"'],
    ["null", "null"],
    ["no jsonrpc", JSON.stringify({ id: 1, method: "ping" })],
    ["jsonrpc 1.0", JSON.stringify({ jsonrpc: "1.0", id: 1, method: "ping" })],
    ["a method that is not a string", JSON.stringify({ jsonrpc: "2.0", id: 1, method: 5 })],
    ["params as an array", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: [] })],
    ["an id of null on a request", JSON.stringify({ jsonrpc: "2.0", id: null, method: "ping" })],
    ["a fractional id", JSON.stringify({ jsonrpc: "2.0", id: 1.5, method: "ping" })],
    ["an object id", JSON.stringify({ jsonrpc: "2.0", id: {}, method: "ping" })],
    ["a request with a result", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", result: {} })],
    ["a response with result and error", JSON.stringify({ jsonrpc: "2.0", id: 1, result: {}, error: {} })],
    ["a response without an id", JSON.stringify({ jsonrpc: "2.0", result: {} })],
    ["a result with id null", JSON.stringify({ jsonrpc: "2.0", id: null, result: {} })],
    ["neither request nor response", JSON.stringify({ jsonrpc: "2.0", id: 1 })],
  ])("%s: mcp.malformed", (_, body) => {
    expect(reasonOf(body)).toBe("mcp.malformed");
  });

  it("duplicate keys at any depth: request.duplicate_key", () => {
    expect(reasonOf('{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}')).toBe(
      "request.duplicate_key",
    );
    const nested =
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"email.send","name":"customers.lookup"}}';
    expect(reasonOf(nested)).toBe("request.duplicate_key");
    const escaped = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\\u0061me":"b"}}';
    expect(reasonOf(escaped)).toBe("request.duplicate_key");
  });

  it("a Content-Type other than JSON: request.content_type", () => {
    const body = rpc("ping");
    const as = (type: string | null) => {
      const headers = new Headers(type === null ? {} : { "content-type": type });
      const r = mcpCalls(ENDPOINT, ACTIONS, body, headers);
      return r.ok ? "ok" : r.reason;
    };
    expect(as("application/json; charset=utf-8")).toBe("ok");
    expect(as("Application/JSON")).toBe("ok");
    expect(as(null)).toBe("request.content_type");
    expect(as("text/plain")).toBe("request.content_type");
    expect(as("application/json; charset=latin1")).toBe("request.content_type");
    expect(as("application/x-www-form-urlencoded")).toBe("request.content_type");
  });

  it("an action index the bundle does not have: bundle.invalid", () => {
    const broken = { ...ENDPOINT, tools: { ghost: 99 } };
    const r = mcpCalls(broken, ACTIONS, rpc("tools/call", { name: "ghost" }), new Headers(JSON_TYPE));
    expect(r.ok ? "ok" : r.reason).toBe("bundle.invalid");
  });
});
