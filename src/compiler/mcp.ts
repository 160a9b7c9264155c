/**
 * A service's MCP endpoint (docs/design/mcp.md): the path its JSON-RPC POSTs go to, and the tools,
 * resources and prompts its actions are. Node only.
 *
 *   mcp: { path: /mcp }
 *   actions:
 *     customers.lookup: { method: POST, path: /mcp, mcp: { tool: customers.lookup },
 *                         kind: read, risk: medium, data: [pii], args: { email: string } }
 *     customers.record: { method: POST, path: /mcp, mcp: { uri: "crm://customers/{id}" },
 *                         kind: read, risk: medium, data: [pii], resource: "customer:{id}" }
 *     followup:         { method: POST, path: /mcp, mcp: { prompt: followup }, kind: read, risk: low }
 *
 * A tool's declared arguments are names (or dotted paths) in `params.arguments`; a prompt's are its
 * string arguments; a resource has none, and its `{name}`s (a whole URI segment each, src/protocols/
 * mcp/uris.ts) are the params its resource template may use. One action per tool, prompt and URI; no
 * two URI templates of the same shape; no REST action of the service at the endpoint's path.
 */

import { matchRoute, parseTemplate } from "../policy/routes";
import type { ActionSpec, ArgType, Kind, McpEndpoint, ResourcePart, Risk, RouteNode } from "../policy/types";
import { isTemplate, parseUriTemplate, sameUriShape, type UriPart } from "../protocols/mcp/uris";
import { actionSpecOf } from "./action-spec";
import { graphqlResource } from "./graphql";
import type { Problems, SourceFile } from "./source";

export interface McpData {
  path: string;
}

/** What an action of an MCP endpoint says it is: exactly one of a tool, a prompt, a resource URI. */
export interface McpRef {
  tool?: string;
  prompt?: string;
  uri?: string;
}

export interface McpActionData {
  mcp?: McpRef;
  method: string | string[];
  path: string;
  kind: Kind;
  risk: Risk;
  data?: string[];
  resource?: string;
  args?: Record<string, ArgType>;
  same_effect_as?: string[];
  forbidden?: string;
}

/** MCP names: what the spec's SEP-986 allows tool names, visible ASCII for prompts, bounded. */
const NAME = /^[\x21-\x7e]{1,128}$/;

/**
 * The endpoint of a service, and its actions checked. `entries` are the service's actions as written;
 * `first` is the bundle index of the first of them; `routes` the service's REST route trie.
 */
export function compileMcp(
  m: McpData | undefined,
  src: SourceFile,
  entries: [string, McpActionData][],
  first: number,
  routes: RouteNode,
  problems: Problems,
): McpEndpoint | null {
  if (m === undefined) {
    for (const [key, a] of entries)
      if (a.mcp !== undefined)
        problems.add(
          src.at(["actions", key, "mcp"]),
          "the service has no mcp endpoint: add mcp: { path } or remove this",
        );
    return null;
  }
  const endpoint: McpEndpoint = { path: m.path, tools: {}, resources: {}, prompts: {} };
  pathProblems(m.path, src, routes, problems);
  const seen = new Map<string, string>();
  const templates: { key: string; parts: UriPart[] }[] = [];
  entries.forEach(([key, a], i) => {
    const ref = a.mcp;
    if (ref === undefined) return;
    const at = (...p: (string | number)[]) => src.at(["actions", key, ...p]);
    if (a.path !== m.path) problems.add(at("path"), `an MCP action's path is the endpoint's (${m.path})`);
    if ([a.method].flat().some((x) => x !== "POST")) problems.add(at("method"), "an MCP action's method is POST");
    const kinds = (["tool", "prompt", "uri"] as const).filter((k) => ref[k] !== undefined);
    const kind = kinds[0];
    if (kinds.length !== 1 || kind === undefined) {
      problems.add(at("mcp"), "name exactly one of tool, prompt or uri");
      return;
    }
    const name = ref[kind] as string;
    const other = seen.get(`${kind} ${name}`);
    if (other !== undefined) problems.add(at("mcp", kind), `${kind} ${name} is already the action ${other}`);
    seen.set(`${kind} ${name}`, key);
    if (kind === "uri") {
      const parts = uriProblems(a, name, at, templates, problems);
      if (parts !== null) templates.push({ key, parts });
      endpoint.resources[name] = first + i;
      return;
    }
    if (!NAME.test(name)) problems.add(at("mcp", kind), `"${name}" is not an MCP ${kind} name (visible ASCII, 1-128)`);
    if (kind === "prompt") {
      for (const [arg, type] of Object.entries(a.args ?? {}))
        if (type !== "string" || arg.includes("."))
          problems.add(at("args", arg), "a prompt's arguments are strings, by name: declare it as string");
    }
    resourceProblems(a, [], at, problems);
    (kind === "tool" ? endpoint.tools : endpoint.prompts)[name] = first + i;
  });
  return endpoint;
}

/** The endpoint is one literal path, and no REST action of the service answers a POST there. */
function pathProblems(path: string, src: SourceFile, routes: RouteNode, problems: Problems): void {
  try {
    const segs = parseTemplate(path);
    if (segs.some((s) => s.kind !== "literal")) throw new Error(`path "${path}" must be literal`);
    const rest = matchRoute(
      routes,
      segs.map((s) => (s.kind === "literal" ? s.value : "")),
      "POST",
    );
    if (rest !== null)
      problems.add(src.at(["mcp", "path"]), `a REST action of the service is POST ${path}: remove one`);
  } catch (e) {
    problems.add(src.at(["mcp", "path"]), (e as Error).message);
  }
}

/** A resource action: its URI or template, no arguments, a resource template over the URI's {name}s. */
function uriProblems(
  a: McpActionData,
  uri: string,
  at: (...p: (string | number)[]) => string,
  templates: { key: string; parts: UriPart[] }[],
  problems: Problems,
): UriPart[] | null {
  if (Object.keys(a.args ?? {}).length > 0)
    problems.add(at("args"), "resources/read carries no arguments: a resource's values are its URI's {name}s");
  const parts = isTemplate(uri) ? parseUriTemplate(uri) : uri.length > 0 && /^[\x21-\x7e]+$/.test(uri) ? [] : "bad";
  if (typeof parts === "string") {
    problems.add(at("mcp", "uri"), parts === "bad" ? `"${uri}" is not a URI (visible ASCII)` : parts);
    return null;
  }
  const params = parts.flatMap((p) => ("param" in p ? [p.param] : []));
  resourceProblems(a, params, at, problems);
  if (!isTemplate(uri)) return null;
  for (const t of templates) {
    if (sameUriShape(t.parts, parts))
      problems.add(at("mcp", "uri"), `${uri} has the same shape as the action ${t.key}: both match the same URIs`);
  }
  return parts;
}

/** `{param}`s of the resource template are the URI's {name}s; `{args.x}` are declared arguments. */
function resourceProblems(
  a: McpActionData,
  params: string[],
  at: (...p: (string | number)[]) => string,
  problems: Problems,
): void {
  if (a.resource === undefined) return;
  const { parts } = graphqlResource(a.resource, (msg) => problems.add(at("resource"), msg));
  for (const part of parts) {
    if ("param" in part && !params.includes(part.param))
      problems.add(at("resource"), `resource uses {${part.param}} but the URI has no {${part.param}}`);
    if ("arg" in part && !Object.hasOwn(a.args ?? {}, part.arg))
      problems.add(at("resource"), `resource uses {args.${part.arg}} but args does not declare it: declare it`);
  }
}

/** The ActionSpec of an MCP action: not in the route trie; a resource's params are its URI's {name}s. */
export function mcpActionSpec(
  service: string,
  key: string,
  a: McpActionData,
  at: (...p: string[]) => string,
  problems: Problems,
): ActionSpec {
  const uri = a.mcp?.uri;
  const parsed = uri !== undefined && isTemplate(uri) ? parseUriTemplate(uri) : [];
  const params = typeof parsed === "string" ? [] : parsed.flatMap((p) => ("param" in p ? [p.param] : []));
  const resource: ResourcePart[] | null = a.resource === undefined ? null : graphqlResource(a.resource, () => {}).parts;
  return actionSpecOf(service, key, a, { method: ["POST"], params, resource, body_format: null }, at, problems);
}
