/**
 * The demo CRM's MCP tools, read from its own `tools/list` answer: crm.tools.json beside this file is
 * the `result` the demo server (demo/src/crm.ts) gives, and test/e2e/mcp-demo.test.ts checks that it
 * still is. Any MCP server's answer reads the same way (src/catalog/mcp.ts): save it, point a source at
 * it. The server's resources and prompts are not in tools/list; crm.overrides.yaml declares them.
 */
import { readFileSync } from "node:fs";
import { mcpToolOperations } from "../mcp";
import type { CatalogSource } from "../source";

const ANSWER = new URL("./crm.tools.json", import.meta.url);

export const source: CatalogSource = {
  service: "crm",
  origin: "the demo CRM's tools/list answer (src/catalog/sources/crm.tools.json)",
  operations: () => mcpToolOperations(JSON.parse(readFileSync(ANSWER, "utf8")), "/mcp"),
};
