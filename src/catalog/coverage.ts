/**
 * How much of its source a shipped catalog covers: every method + path the vendor describes must be
 * an action (parameter names aside: `{path}` and `{path+}` are one address). Pure.
 */
import type { ActionEntry } from "./overrides";
import type { SourceOperation } from "./source";

export interface Coverage {
  covered: number;
  total: number;
  /** `METHOD /path` of the source operations no action covers. */
  missing: string[];
}

const shape = (method: string, path: string) => `${method} ${path.replace(/\{[^}]*\}/g, "{}")}`;
/** A GraphQL root field is its own address: every field of the schema must be an action. */
const fieldShape = (field: string) => `graphql ${field}`;
/** So is an MCP tool: every tool the server lists must be an action. */
const toolShape = (tool: string) => `mcp tool ${tool}`;

export function coverageOf(ops: SourceOperation[], actions: Record<string, ActionEntry>): Coverage {
  const have = new Set<string>();
  for (const a of Object.values(actions)) {
    if (a.graphql !== undefined) for (const f of [a.graphql].flat()) have.add(fieldShape(f));
    else if (a.mcp !== undefined) {
      if (a.mcp.tool !== undefined) have.add(toolShape(a.mcp.tool));
    } else for (const m of Array.isArray(a.method) ? a.method : [a.method]) have.add(shape(m, a.path));
  }
  const wanted = [...new Set(ops.map(opShape))];
  const missing = wanted.filter((k) => !have.has(k)).sort();
  return { covered: wanted.length - missing.length, total: wanted.length, missing };
}

function opShape(op: SourceOperation): string {
  if (op.graphql) return fieldShape(op.graphql);
  return op.mcp ? toolShape(op.mcp.tool) : shape(op.method, op.path);
}
