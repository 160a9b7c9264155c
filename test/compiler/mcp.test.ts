/**
 * MCP endpoints in the compiler and the catalog importer: the shipped `crm` service compiles to its
 * endpoint (tools, resources, prompts -> actions), is exactly what `firebreak catalog import crm` gives
 * from the server's tools/list answer, and classifies through mcpCalls; each defect of an MCP service
 * is one problem at its file:line.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { coverageOf } from "../../src/catalog/coverage";
import { catalogText, generate } from "../../src/catalog/generate";
import { actionName, mcpToolOperations } from "../../src/catalog/mcp";
import { readOverrides } from "../../src/catalog/overrides";
import { source } from "../../src/catalog/sources/crm";
import { compilePolicies } from "../../src/compiler/compile";
import { matchRoute } from "../../src/policy/routes";
import type { Bundle } from "../../src/policy/types";
import { mcpCalls } from "../../src/protocols/mcp/calls";
import { CI_ISSUER, writePolicySet } from "../helpers/policy-set";

const POLICIES = join(import.meta.dirname, "..", "..", "policies");
const compiled = compilePolicies(POLICIES);
if (!compiled.ok) throw new Error(compiled.problems.format());
const bundle: Bundle = compiled.bundle;
const named = (i: number | undefined) => (i === undefined ? undefined : bundle.actions[i]?.name);

describe("the crm service (policies/services/crm.yaml)", () => {
  const crm = bundle.services.crm;
  const endpoint = crm?.mcp;

  it("compiles to its MCP endpoint, each tool, resource and prompt an action", () => {
    expect(endpoint?.path).toBe("/mcp");
    const map = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, named(v)]));
    expect(map(endpoint?.tools ?? {})).toEqual({
      "customers.lookup": "crm:customers.lookup",
      "email.send": "crm:email.send",
    });
    expect(map(endpoint?.resources ?? {})).toEqual({ "crm://customers/{id}": "crm:customers.record" });
    expect(map(endpoint?.prompts ?? {})).toEqual({ followup: "crm:followup" });
  });

  it("gives the actions their labels, arguments and resource templates", () => {
    const spec = (name: string) => bundle.actions.find((a) => a.name === name);
    expect(spec("crm:customers.lookup")).toMatchObject({
      kind: "read",
      data: ["pii"],
      args: { email: "string" },
      method: ["POST"],
      path: "/mcp",
      params: [],
    });
    expect(spec("crm:email.send")).toMatchObject({ kind: "write", risk: "high", data: ["messages", "external"] });
    expect(spec("crm:customers.record")).toMatchObject({
      params: ["id"],
      resource: [{ t: "customer:" }, { param: "id" }],
    });
  });

  it("puts no MCP action in the route trie: a POST to /mcp is the endpoint's, never a REST action", () => {
    expect(crm && matchRoute(crm.routes, ["mcp"], "POST")).toBeNull();
  });

  it("classifies the demo server's calls through mcpCalls", () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "customers.lookup", arguments: { email: "jenny.rosen@example.com" } },
    });
    const r = endpoint && mcpCalls(endpoint, bundle.actions, body, new Headers({ "content-type": "application/json" }));
    expect(r?.ok && named(r.calls[0]?.action)).toBe("crm:customers.lookup");
  });

  it("is exactly what `firebreak catalog import crm` gives, covering every tool", () => {
    const overrides = readOverrides(join(POLICIES, "services", "crm.overrides.yaml"));
    const generated = generate(source.operations(), overrides);
    expect(generated.unused).toEqual([]);
    const onDisk = (parse(catalogText(generated, overrides, source.origin)) as { actions: Record<string, never> })
      .actions;
    expect(coverageOf(source.operations(), onDisk)).toEqual({ covered: 2, total: 2, missing: [] });
  });
});

describe("a tools/list answer as catalog operations", () => {
  const answer = {
    jsonrpc: "2.0",
    id: 2,
    result: {
      tools: [
        {
          name: "get-customer",
          description: "Get one.\nMore.",
          inputSchema: {
            type: "object",
            properties: {
              id: { type: "string" },
              limit: { type: "integer" },
              note: { type: ["string", "null"] },
              filter: { type: "object" },
              tags: { type: "array" },
              "bad-name": { type: "string" },
            },
          },
          annotations: { readOnlyHint: true },
        },
        { name: "Orders.Delete", annotations: { destructiveHint: true } },
        { name: "notify", annotations: { readOnlyHint: false } },
        { name: "ping2" },
      ],
    },
  };

  it("reads name, kind from explicit annotations, scalar arguments and the tool reference", () => {
    const ops = mcpToolOperations(answer, "/mcp");
    expect(ops[0]).toEqual({
      id: "get-customer",
      name: "get_customer",
      method: "POST",
      path: "/mcp",
      kind: "read",
      deprecated: false,
      description: "Get one.",
      args: { id: "string", limit: "integer", note: "string" },
      mcp: { tool: "get-customer" },
    });
    expect(ops.map((o) => [o.name, o.kind])).toEqual([
      ["get_customer", "read"],
      ["orders.delete", "delete"],
      ["notify", "write"],
      ["ping2", "write"],
    ]);
    expect(mcpToolOperations(answer.result, "/mcp")).toHaveLength(4);
  });

  it("makes action names of tool names", () => {
    expect(actionName("customers.lookup")).toBe("customers.lookup");
    expect(actionName("a/b-c")).toBe("a.b_c");
    expect(actionName("9lives")).toBe("t9lives");
  });

  it("refuses what is not a tools/list answer", () => {
    expect(() => mcpToolOperations({ result: {} }, "/mcp")).toThrow(/tools\/list/);
    expect(() => mcpToolOperations({ tools: [{}] }, "/mcp")).toThrow(/name/);
  });
});

const TOKEN = { secret: "CRM_TOKEN", header: "Authorization", format: "Bearer {secret}" };
const tool = (name: string, extra: Record<string, unknown> = {}) => ({
  method: "POST",
  path: "/mcp",
  kind: "read",
  risk: "low",
  mcp: { tool: name },
  ...extra,
});

/** The problems of a set with one `crm` service (YAML written as JSON: one line per file). */
function problemsOf(service: Record<string, unknown>): string[] {
  const dir = writePolicySet({
    "firebreak.yaml": { secrets: ["CRM_TOKEN"], issuers: [CI_ISSUER] },
    "services/crm.yaml": { service: "crm", upstream: "https://crm.example.com", credential: TOKEN, ...service },
  });
  const r = compilePolicies(dir);
  return r.ok ? [] : r.problems.list.map((p) => p.message);
}

describe("MCP service problems", () => {
  const mcp = { path: "/mcp" };

  it("compiles a well-formed service", () => {
    expect(problemsOf({ mcp, actions: { lookup: tool("lookup") } })).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["an MCP action without an endpoint", { actions: { lookup: tool("lookup") } }, /no mcp endpoint/],
    [
      "an action at another path",
      { mcp, actions: { lookup: tool("lookup", { path: "/other" }) } },
      /path is the endpoint's/,
    ],
    [
      "an action with another method",
      { mcp, actions: { lookup: tool("lookup", { method: "GET" }) } },
      /method is POST/,
    ],
    ["two actions for one tool", { mcp, actions: { a: tool("x"), b: tool("x") } }, /tool x is already the action a/],
    [
      "two URI templates of the same shape",
      {
        mcp,
        actions: {
          a: tool("", { mcp: { uri: "crm://c/{id}" } }),
          b: tool("", { mcp: { uri: "crm://c/{key}" } }),
        },
      },
      /same shape as the action a/,
    ],
    [
      "a template segment that is not whole",
      { mcp, actions: { a: tool("", { mcp: { uri: "crm://c/{id}.json" } }) } },
      /one whole \{name\}/,
    ],
    ["a URI with a space", { mcp, actions: { a: tool("", { mcp: { uri: "crm://a b" } }) } }, /visible ASCII/],
    [
      "arguments on a resource",
      { mcp, actions: { a: tool("", { mcp: { uri: "crm://c/{id}" }, args: { x: "string" } }) } },
      /carries no arguments/,
    ],
    [
      "a resource template naming what the URI lacks",
      { mcp, actions: { a: tool("", { mcp: { uri: "crm://c/{id}" }, resource: "customer:{key}" }) } },
      /the URI has no \{key\}/,
    ],
    [
      "a tool resource naming an undeclared argument",
      { mcp, actions: { a: tool("a", { resource: "customer:{args.email}" }) } },
      /does not declare it/,
    ],
    ["a tool resource naming a param", { mcp, actions: { a: tool("a", { resource: "customer:{id}" }) } }, /no \{id\}/],
    [
      "a prompt argument that is not a string",
      { mcp, actions: { p: tool("", { mcp: { prompt: "p" }, args: { n: "integer" } }) } },
      /prompt's arguments are strings/,
    ],
    ["a tool name with a space", { mcp, actions: { a: tool("a b") } }, /not an MCP tool name/],
    [
      "an argument path through a prototype key",
      { mcp, actions: { a: tool("a", { args: { "x.constructor": "string" } }) } },
      /reserved/,
    ],
    [
      "a REST action at the endpoint's path",
      { mcp, actions: { rest: { method: "POST", path: "/mcp", kind: "write", risk: "low" } } },
      /REST action of the service is POST \/mcp/,
    ],
    [
      "an endpoint path with a parameter",
      { mcp: { path: "/{x}" }, actions: { a: tool("a", { path: "/{x}" }) } },
      /must be literal/,
    ],
  ])("%s", (_, service, message) => {
    const problems = problemsOf(service);
    expect(
      problems.some((p) => message.test(p)),
      problems.join("\n"),
    ).toBe(true);
  });

  it("an mcp reference names exactly one of tool, prompt or uri (the schema)", () => {
    const problems = problemsOf({ mcp, actions: { a: tool("a", { mcp: { tool: "a", prompt: "a" } }) } });
    expect(problems.length).toBeGreaterThan(0);
  });
});
