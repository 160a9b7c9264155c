/**
 * An MCP server's own description of its tools, its `tools/list` answer, as catalog operations
 * (docs/design/catalogs.md, docs/design/mcp.md). Node only; pure over the answer it is given.
 *
 *   id        the tool's name (the key overrides use)
 *   name      the tool's name when it is an action name (`customers.lookup`), else made one
 *             (`get-customer` -> `get_customer`, `Search` -> `search`)
 *   method    POST, path the endpoint's (every tool is a POST of a JSON-RPC message there)
 *   kind      from the tool's annotations: `readOnlyHint: true` read, `destructiveHint: true` delete,
 *             else write (the spec's defaults are hints for clients, not for a gateway: only what the
 *             server states explicitly makes a tool less than a write)
 *   args      the input schema's top-level properties of a scalar type (string, integer, number,
 *             boolean; `["string", "null"]` reads as string); objects and arrays are not arguments
 *   mcp       { tool: <name> }
 *
 * Resources and prompts are not in tools/list: the overrides' `extra` declares them.
 */
import type { ArgType, Kind } from "../policy/types";
import type { SourceOperation } from "./source";

interface Tool {
  name?: unknown;
  title?: unknown;
  description?: unknown;
  inputSchema?: { properties?: Record<string, { type?: unknown }> };
  annotations?: { readOnlyHint?: unknown; destructiveHint?: unknown };
}

/** The tools of a tools/list answer: the JSON-RPC response, or its `result`. */
export function toolsOf(answer: unknown): Tool[] {
  const a = answer as { result?: { tools?: unknown }; tools?: unknown } | null;
  const tools = a?.result?.tools ?? a?.tools;
  if (!Array.isArray(tools)) throw new Error("not a tools/list answer: no result.tools list");
  return tools as Tool[];
}

export function mcpToolOperations(answer: unknown, path: string): SourceOperation[] {
  return toolsOf(answer).map((tool) => {
    if (typeof tool.name !== "string" || tool.name === "") throw new Error("a tool without a name");
    const description = typeof tool.description === "string" ? tool.description : String(tool.title ?? "");
    const args = scalarArgs(tool.inputSchema?.properties ?? {});
    return {
      id: tool.name,
      name: actionName(tool.name),
      method: "POST",
      path,
      kind: kindOf(tool.annotations ?? {}),
      deprecated: false,
      description: description.split("\n")[0]?.trim() ?? "",
      ...(Object.keys(args).length > 0 ? { args } : {}),
      mcp: { tool: tool.name },
    };
  });
}

function kindOf(a: { readOnlyHint?: unknown; destructiveHint?: unknown }): Kind {
  if (a.readOnlyHint === true) return "read";
  if (a.destructiveHint === true) return "delete";
  return "write";
}

const SCALARS: Record<string, ArgType> = { string: "string", integer: "integer", number: "number", boolean: "boolean" };

function scalarArgs(properties: Record<string, { type?: unknown }>): Record<string, ArgType> {
  const out: Record<string, ArgType> = {};
  for (const [name, p] of Object.entries(properties)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name in Object.prototype) continue;
    const types = [p.type].flat().filter((t) => t !== "null");
    const type = types.length === 1 && typeof types[0] === "string" ? SCALARS[types[0]] : undefined;
    if (type !== undefined) out[name] = type;
  }
  return out;
}

/** The tool's name as an action name: dotted segments of [a-z][A-Za-z0-9_]*. */
export function actionName(tool: string): string {
  return tool
    .split(/[./]/)
    .filter((seg) => seg !== "")
    .map((seg) => {
      const clean = seg.replace(/[^A-Za-z0-9_]/g, "_");
      const first = clean[0] ?? "t";
      return /[a-z]/.test(first) ? clean : /[A-Z]/.test(first) ? first.toLowerCase() + clean.slice(1) : `t${clean}`;
    })
    .join(".");
}
