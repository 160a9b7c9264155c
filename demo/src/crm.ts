/**
 * The demo CRM's MCP server (demo/src/index.ts mounts it at /crm): a real `McpServer` from
 * @modelcontextprotocol/sdk on its Web-standard Streamable HTTP transport, at POST/GET/DELETE /crm/mcp.
 * Tools: `customers.lookup` (reads a customer's personal data) and `email.send` (writes to the outside
 * world); a resource template `crm://customers/{id}`; a prompt `followup`. The dev overlay points the
 * `crm` service at http://127.0.0.1:8788/crm, so Firebreak's `crm:*` actions land here.
 *
 * Sessions are the SDK's (`Mcp-Session-Id`), one server and transport per session in module memory:
 * one `wrangler dev` isolate, reset on restart, the oldest dropped past MAX_SESSIONS. JSON Schema
 * validation uses the SDK's @cfworker/json-schema provider: its default (ajv) compiles validators
 * with `new Function`, which workerd does not allow. Local only.
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { Hono } from "hono";
import { z } from "zod/v4";

type Args = Record<string, unknown>;
type Env = { Variables: { args: Args } };

interface Customer {
  id: string;
  name: string;
  email: string;
  phone: string;
  plan: string;
}

const CUSTOMERS: Customer[] = [
  { id: "cus_1001", name: "Jenny Rosen", email: "jenny.rosen@example.com", phone: "+1 415 555 0101", plan: "team" },
  { id: "cus_1002", name: "Ola Nordmann", email: "ola@example.no", phone: "+47 22 55 01 02", plan: "free" },
];

/** What `email.send` "sent", newest last: visible in GET /_demo/requests as the calls that made them. */
const outbox: { to: string; subject: string }[] = [];

const text = (value: unknown) => ({ type: "text" as const, text: JSON.stringify(value, null, 2) });

/** One MCP server: the tools, resources and prompts every session sees. */
export function crmServer(): McpServer {
  const server = new McpServer(
    { name: "firebreak-demo-crm", version: "1.0.0" },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  server.registerTool(
    "customers.lookup",
    {
      title: "Look up a customer",
      description: "Find a customer by email address: name, phone and plan.",
      inputSchema: { email: z.string().describe("The customer's email address") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ email }) => {
      const found = CUSTOMERS.find((c) => c.email === email);
      if (!found) return { isError: true, content: [{ type: "text", text: `No customer with email ${email}.` }] };
      return { content: [text(found)] };
    },
  );
  server.registerTool(
    "email.send",
    {
      title: "Send an email",
      description: "Send an email from the support mailbox to any address.",
      inputSchema: {
        to: z.string().describe("Recipient address"),
        subject: z.string(),
        body: z.string(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    },
    async ({ to, subject }) => {
      outbox.push({ to, subject });
      if (outbox.length > 50) outbox.shift();
      return { content: [{ type: "text", text: `Sent "${subject}" to ${to}.` }] };
    },
  );
  server.registerResource(
    "customer",
    new ResourceTemplate("crm://customers/{id}", { list: undefined }),
    { description: "A customer record", mimeType: "application/json" },
    async (uri, { id }) => {
      const found = CUSTOMERS.find((c) => c.id === id);
      if (!found) throw new Error(`No customer ${String(id)}`);
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(found) }] };
    },
  );
  server.registerPrompt(
    "followup",
    {
      description: "Draft a follow-up email to a customer",
      argsSchema: { email: z.string() },
    },
    ({ email }) => ({
      messages: [
        {
          role: "user",
          content: { type: "text", text: `Look up ${email} and draft a short, friendly follow-up email.` },
        },
      ],
    }),
  );
  return server;
}

const MAX_SESSIONS = 100;
const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", id: null, error: { code, message } }, { status });
}

/** One request to the MCP endpoint: a session's own transport, or a new session for `initialize`. */
async function handle(req: Request, body: string): Promise<Response> {
  let parsed: unknown;
  if (req.method === "POST") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return jsonRpcError(400, -32700, "Parse error");
    }
  }
  const sid = req.headers.get("mcp-session-id");
  if (sid !== null) {
    const transport = sessions.get(sid);
    // The spec's answer to an unknown or ended session: 404, and the client starts a new one.
    if (!transport) return jsonRpcError(404, -32001, "Session not found");
    return transport.handleRequest(req, { parsedBody: parsed });
  }
  if (req.method !== "POST" || !isInitializeRequest(parsed)) {
    return jsonRpcError(400, -32000, "Bad Request: no Mcp-Session-Id; start with initialize");
  }
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    onsessioninitialized: (id) => {
      sessions.set(id, transport);
      for (const old of sessions.keys()) {
        if (sessions.size <= MAX_SESSIONS) break;
        sessions.delete(old);
      }
    },
    onsessionclosed: (id) => {
      sessions.delete(id);
    },
  });
  await crmServer().connect(transport);
  return transport.handleRequest(req, { parsedBody: parsed });
}

export const crm = new Hono<Env>();
crm.all("/mcp", async (c) => {
  if (!c.req.header("authorization")) return jsonRpcError(401, -32001, "Unauthorized: no credential");
  // The record middleware (index.ts) has read the body already; Hono keeps it for c.req.text().
  const body = c.req.method === "POST" ? await c.req.text() : "";
  return handle(c.req.raw, body);
});
crm.get("/_outbox", (c) => c.json({ count: outbox.length, outbox }));
crm.all("*", () => jsonRpcError(404, -32601, "The demo CRM serves MCP at /crm/mcp"));
