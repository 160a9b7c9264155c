// MCP classification cost (docs/design/mcp.md): a typical `tools/call` message of each service with an
// MCP endpoint in policies/, through mcpCalls alone and through the gateway's whole pure front half
// (classifyCall + classifyBody + decideCall), warm, median of batches. Needs tsx registered:
//   node --import tsx bench/mcp.mjs
import { join } from "node:path";
import { timeUs } from "./graphql.mjs";

const RUNS = 4000;

/** What an agent's MCP client sends to call the demo CRM's lookup tool. */
export const MESSAGES = {
  crm: {
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name: "customers.lookup", arguments: { email: "ada@acme.example" } },
  },
};

export async function runMcp(repoRoot, log = console.log) {
  const { compilePolicies } = await import(join(repoRoot, "src/compiler/compile.ts"));
  const { loadBundle } = await import(join(repoRoot, "src/policy/load.ts"));
  const { mcpCalls } = await import(join(repoRoot, "src/protocols/mcp/calls.ts"));
  const { classifyBody, classifyCall, decideCall } = await import(join(repoRoot, "src/request/decide-call.ts"));
  const { route } = await import(join(repoRoot, "src/request/route.ts"));
  const result = compilePolicies(join(repoRoot, "policies"));
  if (!result.ok) throw new Error(`policies/ do not compile:\n${result.problems.format()}`);
  const bundle = loadBundle(JSON.parse(JSON.stringify(result.bundle)));
  const out = {};
  for (const [name, svc] of Object.entries(bundle.spec.services)) {
    if (!svc.mcp || !MESSAGES[name]) continue;
    const body = JSON.stringify(MESSAGES[name]);
    const headers = new Headers({ "content-type": "application/json", accept: "application/json, text/event-stream" });
    const agent = { issuer: "workloads", iss: "https://bench", sub: "crm-assistant", claims: {} };
    const request = new Request(`http://gateway/${name}${svc.mcp.path}`, { method: "POST", headers, body });
    const routed = route(request, bundle.spec.services, undefined);
    if (!routed.ok) throw new Error(`${name}: ${routed.reason}`);
    const req = routed.request;
    const front = () => {
      const c = classifyCall(bundle, req);
      if (!c.ok) throw new Error(c.reason);
      const b = classifyBody(bundle, req, c.value, body, headers);
      if (!b.ok) throw new Error(b.reason);
      const input = { req, classified: b.value, source: { headers, body }, agent, task: null, taskState: null };
      return decideCall(bundle, input, new Date());
    };
    const check = mcpCalls(svc.mcp, bundle.spec.actions, body, headers);
    if (!check.ok || check.calls.length !== 1) throw new Error(`${name}: the message does not classify to one step`);
    out[name] = {
      mcp_calls_us: timeUs(() => mcpCalls(svc.mcp, bundle.spec.actions, body, headers), RUNS),
      front_half_us: timeUs(front, RUNS),
    };
    log(
      `  ${name}: tools/call classified ${out[name].mcp_calls_us} µs; whole front half ${out[name].front_half_us} µs`,
    );
  }
  return out;
}

if (import.meta.filename === process.argv[1]) await runMcp(process.cwd());
