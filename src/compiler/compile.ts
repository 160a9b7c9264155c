/**
 * `firebreak compile`: policies/ -> one bundle. Every problem names file:line and what to change;
 * all problems are collected before failing, so one run shows them all.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { checkCondition } from "../policy/cel";
import { insertRoute, parseTemplate, type TemplateSegment, templatesOverlap } from "../policy/routes";
import type {
  ActionSpec,
  Bundle,
  IssuerSpec,
  Manifest,
  Method,
  ResourcePart,
  RouteNode,
  RuleSpec,
  ServiceSpec,
  Settings,
} from "../policy/types";
import { BUNDLE_FORMAT } from "../policy/types";
import { buildIndex, resolveSelectors } from "./rules";
import { Problems, readSource, type SourceFile, yamlFiles } from "./source";

export const COMPILER_VERSION = "0.1.0";
const RESERVED_SERVICES = new Set(["_firebreak", "kind", "risk", "data", "firebreak"]);

export interface CompileOptions {
  /** Include policies/dev/ (dev issuer, local upstreams). Never for a deployed bundle. */
  dev?: boolean;
}

export type CompileResult = { ok: true; bundle: Bundle } | { ok: false; problems: Problems };

export function compilePolicies(dir: string, options: CompileOptions = {}): CompileResult {
  const root = dirname(dir);
  const problems = new Problems();
  const configPath = join(dir, "firebreak.yaml");
  const config = readSource(configPath, "config", root, problems);
  const overlays = options.dev ? yamlFiles(join(dir, "dev")).map((f) => readSource(f, "config", root, problems)) : [];
  const services = yamlFiles(join(dir, "services")).map((f) => readSource(f, "service", root, problems));
  const ruleFiles = yamlFiles(join(dir, "rules")).map((f) => readSource(f, "rules", root, problems));
  if (problems.any || !config) return { ok: false, problems };

  const configs = [config, ...(overlays.filter(Boolean) as SourceFile[])];
  const declared = new Set(configs.flatMap((c) => (c.data as ConfigData).secrets ?? []));
  const settings = compileSettings(config.data as ConfigData);
  const issuers = compileIssuers(configs, declared, problems);
  const upstreamOverrides = Object.assign({}, ...configs.slice(1).map((c) => (c.data as ConfigData).upstreams ?? {}));
  // Fix: `upstreams` in firebreak.yaml used to be ignored without a word; it is honoured only in policies/dev/.
  if ((config.data as ConfigData).upstreams !== undefined)
    problems.add(config.at(["upstreams"]), "upstreams is only read from the dev overlay: move it to policies/dev/");

  const compiledServices: Record<string, ServiceSpec> = {};
  const actions: ActionSpec[] = [];
  for (const src of services) {
    if (!src) continue;
    const svc = compileService(src, declared, upstreamOverrides, actions, problems);
    if (svc) compiledServices[svc.name] = svc;
  }
  for (const overlay of configs.slice(1)) {
    for (const name of Object.keys((overlay.data as ConfigData).upstreams ?? {})) {
      // Fix: own-property lookup and the overlay's file:line (was the first overlay's file, no line).
      if (!Object.hasOwn(compiledServices, name))
        problems.add(
          overlay.at(["upstreams", name]),
          `upstreams names unknown service "${name}": remove it or fix the name`,
        );
    }
  }

  const rules: RuleSpec[] = [];
  const selections: number[][] = [];
  for (const src of ruleFiles) {
    if (!src) continue;
    (src.data as { rules: RuleData[] }).rules.forEach((r, i) => {
      const compiled = compileRule(src, r, i, settings, issuers, rules, problems);
      if (!compiled) return;
      selections.push(
        resolveSelectors(r.actions, actions, compiledServices, (k, msg) =>
          problems.add(src.at(["rules", i, "actions", k]), msg),
        ),
      );
      rules.push(compiled);
    });
  }
  if (problems.any) return { ok: false, problems };

  const content = {
    settings,
    issuers,
    services: compiledServices,
    actions,
    rules,
    index: buildIndex(actions, rules, selections),
  };
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    revision: sha256(canonicalJson(content)),
    compiler_version: COMPILER_VERSION,
    dev: Boolean(options.dev),
    counts: {
      issuers: issuers.length,
      services: Object.keys(compiledServices).length,
      actions: actions.length,
      rules: rules.length,
    },
  };
  return { ok: true, bundle: { manifest, ...content } };
}

interface ConfigData {
  settings?: Partial<Settings>;
  secrets?: string[];
  issuers?: IssuerData[];
  upstreams?: Record<string, string>;
}
interface IssuerData {
  name: string;
  issuer: string;
  audience: string[];
  algorithms: string[];
  jwks_uri?: string;
  jwks_var?: string;
  clock_tolerance?: number;
  max_token_age?: number;
  claims?: string[];
  spiffe?: { trust_domains: string[] };
}
interface ServiceData {
  service: string;
  upstream: string;
  credential: { secret: string; header: string; format: string };
  args_in?: ("body" | "query")[];
  reject_params?: string[];
  strip_headers?: string[];
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
}
export interface RuleData {
  id: string;
  effect: RuleSpec["effect"];
  mode?: RuleSpec["mode"];
  agents?: { issuer?: string[]; sub?: string[]; claims?: Record<string, string | string[]> };
  actions: string[];
  when?: string;
  message?: string;
}

function compileSettings(data: ConfigData): Settings {
  return {
    mode: data.settings?.mode ?? "enforce",
    max_body_bytes: data.settings?.max_body_bytes ?? 1_048_576,
    upstream_timeout_ms: data.settings?.upstream_timeout_ms ?? 30_000,
  };
}

function compileIssuers(configs: SourceFile[], declared: Set<string>, problems: Problems): IssuerSpec[] {
  const out: IssuerSpec[] = [];
  configs.forEach((src, overlay) => {
    ((src.data as ConfigData).issuers ?? []).forEach((d, i) => {
      const at = (...p: (string | number)[]) => src.at(["issuers", i, ...p]);
      const same = out.findIndex((o) => o.name === d.name);
      // The dev overlay replaces an issuer of the same name, so rules written for production apply locally.
      if (same !== -1 && overlay > 0) out.splice(same, 1);
      else if (same !== -1) problems.add(at("name"), `issuer name "${d.name}" is used twice: rename one`);
      if (out.some((o) => o.issuer === d.issuer)) problems.add(at("issuer"), `issuer "${d.issuer}" is declared twice`);
      if (d.jwks_uri) {
        const bad = httpsProblem(d.jwks_uri);
        if (bad) problems.add(at("jwks_uri"), `jwks_uri ${bad}`);
      }
      if (d.jwks_var && !declared.has(d.jwks_var)) {
        problems.add(
          at("jwks_var"),
          `jwks_var ${d.jwks_var} is not declared: add it to "secrets" in policies/firebreak.yaml`,
        );
      }
      out.push({
        name: d.name,
        issuer: d.issuer,
        audience: d.audience,
        algorithms: d.algorithms,
        jwks: d.jwks_uri ? { uri: d.jwks_uri } : { var: d.jwks_var as string },
        clock_tolerance_s: d.clock_tolerance ?? 30,
        max_token_age_s: d.max_token_age ?? null,
        claims: d.claims ?? [],
        spiffe: d.spiffe ?? null,
      });
    });
  });
  return out;
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

function compileService(
  src: SourceFile,
  declared: Set<string>,
  overrides: Record<string, string>,
  actions: ActionSpec[],
  problems: Problems,
): ServiceSpec | null {
  const d = src.data as ServiceData;
  const expected = basename(src.file).replace(/\.ya?ml$/, "");
  if (d.service !== expected)
    problems.add(
      src.at(["service"]),
      `service "${d.service}" must be in services/${d.service}.yaml (file is ${expected})`,
    );
  if (RESERVED_SERVICES.has(d.service))
    problems.add(src.at(["service"]), `"${d.service}" is reserved: choose another service name`);
  // Fix: own property only; a service named `constructor` read Object as its dev upstream.
  const overridden = Object.hasOwn(overrides, d.service);
  const upstream = overridden ? overrides[d.service] : d.upstream;
  const bad = httpsProblem(upstream, overridden);
  if (bad) problems.add(src.at(["upstream"]), `upstream ${bad}`);
  if (!declared.has(d.credential.secret)) {
    problems.add(
      src.at(["credential", "secret"]),
      `secret ${d.credential.secret} is not declared: add it to "secrets" in policies/firebreak.yaml and set it with \`wrangler secret put ${d.credential.secret}\``,
    );
  }
  if (d.credential.format.split("{secret}").length !== 2)
    problems.add(src.at(["credential", "format"]), `format must contain {secret} exactly once`);

  const routes: RouteNode = {};
  const mine: { name: string; methods: Method[]; segs: TemplateSegment[]; key: string }[] = [];
  for (const [key, a] of Object.entries(d.actions)) {
    const at = (...p: string[]) => src.at(["actions", key, ...p]);
    let segs: TemplateSegment[] | null = null;
    try {
      segs = parseTemplate(a.path);
    } catch (e) {
      problems.add(at("path"), (e as Error).message);
    }
    const methods = Array.isArray(a.method) ? a.method : [a.method];
    if (segs === null) {
      // Fix: an action whose path does not parse is still declared (the compile fails anyway), so rules
      // selecting it do not also report it as an unknown action: one mistake, one problem.
      actions.push(declaredOnly(d.service, key, methods, a, at()));
      continue;
    }
    for (const other of mine) {
      const shared = methods.filter((m) => other.methods.includes(m));
      if (shared.length > 0 && templatesOverlap(segs, other.segs)) {
        problems.add(
          at("path"),
          `${shared.join(",")} ${a.path} can match the same requests as ${other.key} (${src.at(["actions", other.key, "path"])}): make the templates disjoint or remove one`,
        );
      }
    }
    // Fix: argument names that are Object.prototype keys (`__proto__`, `constructor`, ...) cannot be
    // carried by the worker's plain argument objects (`__proto__` was silently dropped): refuse them.
    for (const name of Object.keys(a.args ?? {})) {
      if (name in Object.prototype)
        problems.add(at("args", name), `argument name "${name}" is reserved in the gateway: remove it from args`);
    }
    const params = segs.flatMap((s) => (s.kind === "literal" ? [] : [s.name]));
    const resource =
      a.resource === undefined
        ? null
        : parseResource(a.resource, params, a.args ?? {}, (m) => problems.add(at("resource"), m));
    const index = actions.length;
    actions.push({
      name: `${d.service}:${key}`,
      service: d.service,
      method: methods,
      path: a.path,
      kind: a.kind,
      risk: a.risk,
      data: a.data ?? [],
      params,
      resource,
      args: a.args ?? {},
      same_effect_as: (a.same_effect_as ?? []).map((t) => (t.includes(":") ? t : `${d.service}:${t}`)),
      forbidden: a.forbidden ?? null,
      source: at(),
    });
    mine.push({ name: `${d.service}:${key}`, methods, segs, key });
    for (const m of methods) insertRoute(routes, segs, m, index);
  }
  for (const { key } of mine) {
    for (const target of d.actions[key].same_effect_as ?? []) {
      const name = target.includes(":") ? target : `${d.service}:${target}`;
      if (!mine.some((o) => o.name === name))
        problems.add(src.at(["actions", key, "same_effect_as"]), `same_effect_as names unknown action "${name}"`);
    }
  }
  const reject = (d.reject_params ?? []).map((p) => p.toLowerCase());
  return {
    name: d.service,
    upstream: upstream.replace(/\/+$/, ""),
    credential: d.credential,
    args_in: d.args_in ?? ["body"],
    reject_params: reject,
    strip_headers: (d.strip_headers ?? []).map((h) => h.toLowerCase()),
    inspect_body: reject.length > 0 && (d.args_in ?? ["body"]).includes("body"),
    routes,
  };
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
    if (!m) {
      if (piece.includes("{") || piece.includes("}")) fail(`"${piece}" in resource is not {param} or {args.name}`);
      parts.push({ t: piece });
    } else if (m[1]) {
      // Fix: own property only; `{args.constructor}` used to pass because `in` sees Object.prototype.
      if (!Object.hasOwn(args, m[2]))
        fail(`resource uses {args.${m[2]}} but args does not declare ${m[2]}: declare it`);
      parts.push({ arg: m[2] });
    } else {
      if (!params.includes(m[2])) fail(`resource uses {${m[2]}} but the path has no {${m[2]}}`);
      parts.push({ param: m[2] });
    }
  }
  return parts;
}

function compileRule(
  src: SourceFile,
  r: RuleData,
  i: number,
  settings: Settings,
  issuers: IssuerSpec[],
  seen: RuleSpec[],
  problems: Problems,
): RuleSpec | null {
  const at = (...p: string[]) => src.at(["rules", i, ...p]);
  if (seen.some((s) => s.id === r.id))
    problems.add(
      at("id"),
      `rule id "${r.id}" is used twice (also ${seen.find((s) => s.id === r.id)?.source}): rename one`,
    );
  for (const name of r.agents?.issuer ?? []) {
    if (!issuers.some((s) => s.name === name))
      problems.add(at("agents", "issuer"), `unknown issuer "${name}": declare it in policies/firebreak.yaml`);
  }
  if (r.when !== undefined) {
    const err = checkCondition(r.when);
    if (err) problems.add(at("when"), `CEL: ${err.split("\n")[0]}`);
  }
  const claims = r.agents?.claims
    ? Object.fromEntries(Object.entries(r.agents.claims).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]))
    : undefined;
  return {
    id: r.id,
    effect: r.effect,
    mode: r.mode ?? settings.mode,
    agents: r.agents ? { issuer: r.agents.issuer, sub: r.agents.sub, claims } : null,
    when: r.when ?? null,
    message: r.message ?? null,
    source: at(),
  };
}

/** JSON with object keys sorted at every level: the input of the bundle revision. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
