/**
 * Services and their action catalogs: upstream and credential checks, path templates (no two of the
 * same shape for one method; precedence orders the rest, see src/policy/routes.ts), the route trie,
 * resource templates and aliases.
 */
import { basename } from "node:path";
import { insertRoute, own, parseTemplate, type TemplateSegment } from "../policy/routes";
import type { ActionSpec, Method, ResourcePart, RouteNode, ServiceSpec } from "../policy/types";
import { actionSpecOf } from "./action-spec";
import { compileGraphql, type GraphqlData, graphqlActionSpec } from "./graphql";
import { compileMcp, type McpData, type McpRef, mcpActionSpec } from "./mcp";
import type { Problems, SourceFile } from "./source";

const RESERVED_SERVICES = new Set(["_firebreak", "kind", "risk", "data", "firebreak"]);

interface ServiceData {
  service: string;
  upstream: string;
  credential: { secret: string; header: string; format: string };
  args_in?: ("body" | "query")[];
  reject_params?: string[];
  strip_headers?: string[];
  body_format?: ServiceSpec["body_format"];
  forward_headers?: string[];
  semantic_headers?: Record<string, { scope?: string }>;
  refusal?: ServiceSpec["refusal"];
  link_aliases?: { from: string; to: string }[];
  graphql?: GraphqlData;
  mcp?: McpData;
  actions: Record<string, ActionData>;
}
interface ActionData {
  method: Method | Method[];
  path: string;
  kind: ActionSpec["kind"];
  risk: ActionSpec["risk"];
  data?: string[];
  resource?: string;
  args?: Record<string, ActionSpec["args"][string]>;
  same_effect_as?: string[];
  forbidden?: string;
  body_format?: ServiceSpec["body_format"];
  /** A root field of the service's GraphQL endpoint (`mutation.mergePullRequest`): not a route. */
  graphql?: string | string[];
  /** A tool, prompt or resource URI of the service's MCP endpoint: not a route. */
  mcp?: McpRef;
}
/** Upstreams and JWKS URLs must be https to a host name: no IP literal, no credentials, no query. */
export function httpsProblem(raw: string, allowLocal = false): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL`;
  }
  const local =
    allowLocal && url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "localhost");
  if (local) return null;
  if (url.protocol !== "https:") return `"${raw}" must use https`;
  if (/^[\d.]+$/.test(url.hostname) || url.hostname.startsWith("[")) {
    return `"${raw}" is an IP literal: use the service's host name`;
  }
  if (url.username || url.password) return `"${raw}" must not carry credentials: use credential.secret`;
  if (url.search || url.hash) return `"${raw}" must not have a query or fragment`;
  return null;
}

export function compileService(
  src: SourceFile,
  declared: Set<string>,
  overrides: Record<string, string>,
  actions: ActionSpec[],
  problems: Problems,
): ServiceSpec | null {
  const d = src.data as ServiceData;
  const upstream = checkService(d, src, declared, overrides, problems);
  headerProblems(d, src, problems);
  const first = actions.length;
  const routes = compileActions(d, src, actions, problems);
  const graphql = compileGraphql(d.graphql, src, Object.entries(d.actions), first, problems);
  const mcp = compileMcp(d.mcp, src, Object.entries(d.actions), first, routes, problems);
  const reject = (d.reject_params ?? []).map((p) => p.toLowerCase());
  return {
    name: d.service,
    upstream: upstream.replace(/\/+$/, ""),
    credential: d.credential,
    args_in: d.args_in ?? ["body"],
    reject_params: reject,
    strip_headers: (d.strip_headers ?? []).map((h) => h.toLowerCase()),
    body_format: d.body_format ?? "content_type",
    forward_headers: (d.forward_headers ?? []).map((h) => h.toLowerCase()),
    semantic_headers: Object.entries(d.semantic_headers ?? {}).map(([name, h]) => ({
      name: name.toLowerCase(),
      scope: h.scope ?? null,
    })),
    refusal: d.refusal ?? "firebreak",
    link_aliases: linkAliases(d, src, problems),
    inspect_body: reject.length > 0 && (d.args_in ?? ["body"]).includes("body"),
    routes,
    graphql,
    mcp,
  };
}

/** Checks the service's name, upstream and credential; returns the upstream it forwards to. */
function checkService(
  d: ServiceData,
  src: SourceFile,
  declared: Set<string>,
  overrides: Record<string, string>,
  problems: Problems,
): string {
  const expected = basename(src.file).replace(/\.ya?ml$/, "");
  if (d.service !== expected)
    problems.add(
      src.at(["service"]),
      `service "${d.service}" must be in services/${d.service}.yaml (file is ${expected})`,
    );
  if (RESERVED_SERVICES.has(d.service))
    problems.add(src.at(["service"]), `"${d.service}" is reserved: choose another service name`);
  // Own property only: a service named `constructor` must not read Object as its dev upstream.
  const override = own(overrides, d.service);
  const upstream = override ?? d.upstream;
  const bad = httpsProblem(upstream, override !== undefined);
  if (bad) problems.add(src.at(["upstream"]), `upstream ${bad}`);
  if (!declared.has(d.credential.secret)) {
    problems.add(
      src.at(["credential", "secret"]),
      `secret ${d.credential.secret} is not declared: add it to "secrets" in policies/firebreak.yaml and set it with \`wrangler secret put ${d.credential.secret}\``,
    );
  }
  if (d.credential.format.split("{secret}").length !== 2)
    problems.add(src.at(["credential", "format"]), `format must contain {secret} exactly once`);
  return upstream;
}

/** An action of this service whose template parsed, as the later checks need it. */
interface Routed {
  name: string;
  key: string;
  methods: Method[];
  /** `same_effect_as` as written: names of this service's actions may be unqualified. */
  aliases: string[];
}

/** Appends the service's actions to `actions` and returns the route trie of their templates. */
function compileActions(d: ServiceData, src: SourceFile, actions: ActionSpec[], problems: Problems): RouteNode {
  const routes: RouteNode = {};
  const mine: Routed[] = [];
  // Shape -> the routed actions of that shape, in order: a template is compared with the earlier ones
  // of its shape, not with every earlier one (a catalog has thousands).
  const byShape = new Map<string, Routed[]>();
  for (const [key, a] of Object.entries(d.actions)) {
    const at = (...p: string[]) => src.at(["actions", key, ...p]);
    const methods = Array.isArray(a.method) ? a.method : [a.method];
    if (a.graphql !== undefined || a.mcp !== undefined) {
      // Classified by the GraphQL document's root fields (./graphql.ts) or the MCP message's method and
      // name (./mcp.ts), never by its path.
      actions.push(
        a.graphql !== undefined
          ? graphqlActionSpec(d.service, key, a, at, problems)
          : mcpActionSpec(d.service, key, a, at, problems),
      );
      mine.push({ name: `${d.service}:${key}`, key, methods: [], aliases: a.same_effect_as ?? [] });
      continue;
    }
    let segs: TemplateSegment[];
    try {
      segs = parseTemplate(a.path);
    } catch (e) {
      problems.add(at("path"), (e as Error).message);
      // Still declared (the compile fails anyway), so rules selecting the action do not also report
      // it as an unknown action: one mistake, one problem.
      actions.push(declaredOnly(d.service, key, methods, a, at()));
      continue;
    }
    const routed: Routed = { name: `${d.service}:${key}`, key, methods, aliases: a.same_effect_as ?? [] };
    const shape = shapeKey(segs);
    const same = byShape.get(shape) ?? [];
    for (const other of same) {
      const shared = methods.filter((m) => other.methods.includes(m));
      // A literal next to a parameter is fine (the literal wins, see routes.ts); two templates of the
      // same shape match exactly the same requests, and no precedence could choose between them.
      if (shared.length > 0) {
        problems.add(
          at("path"),
          `${shared.join(",")} ${a.path} has the same shape as ${other.key} (${src.at(["actions", other.key, "path"])}): both match the same requests; make a segment literal or remove one`,
        );
      }
    }
    if (same.length === 0) byShape.set(shape, same);
    same.push(routed);
    const index = actions.length;
    actions.push(actionSpec(d.service, key, a, methods, segs, at, problems));
    mine.push(routed);
    for (const m of methods) insertRoute(routes, segs, m, index);
  }
  aliasProblems(d.service, mine, src, problems);
  return routes;
}

/**
 * One string per shape (`sameShape` in routes.ts): literals as written, `{}` for a parameter, `{+}` for
 * a greedy tail. A literal segment has no `/`, `{` or `}`, so two shapes are the same exactly when their
 * keys are.
 */
function shapeKey(segs: TemplateSegment[]): string {
  return segs.map((s) => (s.kind === "literal" ? s.value : s.kind === "param" ? "{}" : "{+}")).join("/");
}

function aliasProblems(service: string, mine: Routed[], src: SourceFile, problems: Problems): void {
  const names = new Set(mine.map((o) => o.name));
  for (const { key, aliases } of mine) {
    for (const target of aliases) {
      const name = target.includes(":") ? target : `${service}:${target}`;
      if (!names.has(name))
        problems.add(src.at(["actions", key, "same_effect_as"]), `same_effect_as names unknown action "${name}"`);
    }
  }
}

function actionSpec(
  service: string,
  key: string,
  a: ActionData,
  methods: Method[],
  segs: TemplateSegment[],
  at: (...p: string[]) => string,
  problems: Problems,
): ActionSpec {
  const params = segs.flatMap((s) => (s.kind === "literal" ? [] : [s.name]));
  const resource =
    a.resource === undefined
      ? null
      : parseResource(a.resource, params, a.args ?? {}, (m) => problems.add(at("resource"), m));
  const own = { method: methods, params, resource, body_format: a.body_format ?? null };
  return actionSpecOf(service, key, a, own, at, problems);
}

function linkAliases(d: ServiceData, src: SourceFile, problems: Problems): ServiceSpec["link_aliases"] {
  const out: ServiceSpec["link_aliases"] = [];
  (d.link_aliases ?? []).forEach((a, i) => {
    const segments = (key: "from" | "to") => {
      try {
        const segs = parseTemplate(a[key]);
        if (segs.some((s) => s.kind === "greedy")) throw new Error(`"${a[key]}" may not have a {name+} segment`);
        return segs.map((s) => (s.kind === "literal" ? s.value : null));
      } catch (e) {
        problems.add(src.at(["link_aliases", i, key]), (e as Error).message);
        return null;
      }
    };
    const from = segments("from");
    const to = segments("to");
    if (from && to) out.push({ from, to });
  });
  return out;
}

/** Headers Firebreak owns or removes can never be forwarded as the agent sent them. */
const NEVER_FORWARDED = new Set(["authorization", "cookie", "host", "content-length", "proxy-authorization"]);

function headerProblems(d: ServiceData, src: SourceFile, problems: Problems): void {
  const own = new Set([...NEVER_FORWARDED, d.credential.header.toLowerCase()]);
  const check = (name: string, at: string) => {
    const h = name.toLowerCase();
    if (own.has(h) || h.startsWith("firebreak-") || h.startsWith("cf-") || h.startsWith("x-forwarded-"))
      problems.add(at, `header ${name} is never forwarded as sent (credential or routing): remove it`);
    if ((d.strip_headers ?? []).some((s) => s.toLowerCase() === h))
      problems.add(at, `header ${name} is also in strip_headers: keep it in one list`);
  };
  for (const [i, h] of (d.forward_headers ?? []).entries()) check(h, src.at(["forward_headers", i]));
  for (const h of Object.keys(d.semantic_headers ?? {})) {
    check(h, src.at(["semantic_headers", h]));
    if ((d.forward_headers ?? []).some((f) => f.toLowerCase() === h.toLowerCase()))
      problems.add(src.at(["semantic_headers", h]), `header ${h} is also in forward_headers: keep it in one list`);
  }
}

/** An action kept only by name and labels, for selectors, when its path template is broken. */
function declaredOnly(service: string, key: string, method: Method[], a: ActionData, source: string): ActionSpec {
  return {
    name: `${service}:${key}`,
    service,
    method,
    path: a.path,
    kind: a.kind,
    risk: a.risk,
    data: a.data ?? [],
    params: [],
    resource: null,
    args: a.args ?? {},
    same_effect_as: [],
    forbidden: a.forbidden ?? null,
    body_format: a.body_format ?? null,
    source,
  };
}

function parseResource(
  tpl: string,
  params: string[],
  args: Record<string, unknown>,
  fail: (m: string) => void,
): ResourcePart[] {
  const parts: ResourcePart[] = [];
  for (const piece of tpl.split(/(\{[^}]*\})/)) {
    if (piece === "") continue;
    const m = /^\{(args\.)?([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(piece);
    const name = m?.[2]; // the name group always takes part in a match
    if (name === undefined) {
      if (piece.includes("{") || piece.includes("}")) fail(`"${piece}" in resource is not {param} or {args.name}`);
      parts.push({ t: piece });
    } else if (m?.[1]) {
      // Own property only: `in` would let `{args.constructor}` through via Object.prototype.
      if (!Object.hasOwn(args, name))
        fail(`resource uses {args.${name}} but args does not declare ${name}: declare it`);
      parts.push({ arg: name });
    } else {
      if (!params.includes(name)) fail(`resource uses {${name}} but the path has no {${name}}`);
      parts.push({ param: name });
    }
  }
  return parts;
}
