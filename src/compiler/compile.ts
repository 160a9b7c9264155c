/**
 * `firebreak compile`: policies/ -> one bundle. Every problem names file:line and what to change;
 * all problems are collected before failing, so one run shows them all.
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { writeCanonicalJson } from "../core/canonical-json";
import { checkCondition } from "../policy/cel";
import type {
  ActionSpec,
  Bundle,
  IssuerSpec,
  Manifest,
  ProfileSpec,
  RuleSpec,
  ServiceSpec,
  Settings,
} from "../policy/types";
import { BUNDLE_FORMAT } from "../policy/types";
import { compileMatch, type MatchData } from "./agents";
import { checkProfileCredentials, compileCredentials } from "./credentials";
import { emptyLintSources, entitySource, type LintSources, lintSettings } from "./lint-sources";
import { compileProfiles } from "./profiles";
import { buildIndex, checkSelectors, type SelectedRule } from "./rules";
import { compileService, httpsProblem } from "./services";
import { Problems, readSource, type SourceFile, type SourceKind, yamlFiles } from "./source";

export const COMPILER_VERSION = "0.1.0";

export interface CompileOptions {
  /** Include policies/dev/ (dev issuer, local upstreams). Never for a deployed bundle. */
  dev?: boolean;
}

/** `sources`: where each rule, profile and issuer is written, for `firebreak lint` (never in the bundle). */
export type CompileResult = { ok: true; bundle: Bundle; sources: LintSources } | { ok: false; problems: Problems };

export function compilePolicies(dir: string, options: CompileOptions = {}): CompileResult {
  const problems = new Problems();
  const compiled = compileSources(dir, Boolean(options.dev), problems);
  if (compiled === null || problems.any) return { ok: false, problems };
  // Assembled once the sources are out of reach: their YAML documents are most of the heap, and the
  // collector need not walk them again while the index is built and hashed.
  return { ok: true, bundle: assemble(compiled, Boolean(options.dev)), sources: compiled.sources };
}

function compileSources(dir: string, dev: boolean, problems: Problems): Compiled | null {
  const files = readPolicies(dir, dev, problems);
  if (problems.any || !files) return null;

  const { config, configs } = files;
  const declared = new Set(configs.flatMap((c) => (c.data as ConfigData).secrets ?? []));
  const sources = emptyLintSources();
  sources.lint = lintSettings(config);
  const issuers = compileIssuers(configs, declared, sources, problems);
  const settings = compileSettings(config.data as ConfigData, config, issuers, problems);
  // `upstreams` is honoured only in policies/dev/: in firebreak.yaml it would be ignored without a word.
  if ((config.data as ConfigData).upstreams !== undefined)
    problems.add(config.at(["upstreams"]), "upstreams is only read from the dev overlay: move it to policies/dev/");
  for (const overlay of configs.slice(1))
    if ((overlay.data as ConfigData).lint !== undefined)
      problems.add(overlay.at(["lint"]), "lint is only read from policies/firebreak.yaml: move it there");
  const { services, actions } = compileServices(files.services, configs, declared, problems);
  compileCredentials(configs, services, declared, problems);
  const rules = compileRules(files.rules, actions, services, settings, issuers, sources, problems);
  const profiles = compileProfiles(files.profiles, actions, services, issuers, settings, problems);
  checkProfileCredentials(services, profiles, problems);
  profileSources(files.profiles, sources);
  return { settings, issuers, services, actions, rules, profiles, sources };
}

const PROFILE_KEYS = ["agents", "ttl", "max_lifetime", "budgets", "budgets.calls", "budgets.windows", "approvals"];

function profileSources(files: SourceFile[], sources: LintSources): void {
  for (const src of files)
    (src.data as { profiles: { name: string }[] }).profiles.forEach((p, i) => {
      if (!sources.profiles.has(p.name))
        sources.profiles.set(p.name, entitySource(src, ["profiles", i], p, PROFILE_KEYS));
    });
}

/** The policy files that parsed and validated (each one that did not is a problem). */
interface PolicyFiles {
  config: SourceFile;
  /** firebreak.yaml, then the dev overlays. */
  configs: SourceFile[];
  services: SourceFile[];
  rules: SourceFile[];
  profiles: SourceFile[];
}

function readPolicies(dir: string, dev: boolean, problems: Problems): PolicyFiles | null {
  const root = dirname(dir);
  const read = (sub: string, kind: SourceKind) =>
    yamlFiles(join(dir, sub))
      .map((f) => readSource(f, kind, root, problems))
      .filter((f): f is SourceFile => f !== null);
  const config = readSource(join(dir, "firebreak.yaml"), "config", root, problems);
  const overlays = dev ? read("dev", "config") : [];
  const services = read("services", "service");
  const rules = read("rules", "rules");
  const profiles = read("profiles", "profiles");
  return config ? { config, configs: [config, ...overlays], services, rules, profiles } : null;
}

function compileServices(
  files: SourceFile[],
  configs: SourceFile[],
  declared: Set<string>,
  problems: Problems,
): { services: Record<string, ServiceSpec>; actions: ActionSpec[] } {
  const overlays = configs.slice(1);
  const upstreamOverrides = Object.assign({}, ...overlays.map((c) => (c.data as ConfigData).upstreams ?? {}));
  const services: Record<string, ServiceSpec> = {};
  const actions: ActionSpec[] = [];
  for (const src of files) {
    const svc = compileService(src, declared, upstreamOverrides, actions, problems);
    if (svc) services[svc.name] = svc;
  }
  for (const overlay of overlays) {
    for (const name of Object.keys((overlay.data as ConfigData).upstreams ?? {})) {
      // Own property only, and the file:line of the overlay that names it.
      if (!Object.hasOwn(services, name))
        problems.add(
          overlay.at(["upstreams", name]),
          `upstreams names unknown service "${name}": remove it or fix the name`,
        );
    }
  }
  return { services, actions };
}

function compileRules(
  files: SourceFile[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  settings: Settings,
  issuers: IssuerSpec[],
  sources: LintSources,
  problems: Problems,
): SelectedRule[] {
  const ctx: RuleContext = { settings, issuers, seen: new Map(), conditions: new Map(), problems };
  const selected: SelectedRule[] = [];
  for (const src of files) {
    (src.data as { rules: RuleData[] }).rules.forEach((r, i) => {
      const compiled = compileRule(src, r, i, ctx);
      if (!compiled) return;
      selected.push({
        spec: compiled,
        selectors: checkSelectors(r.actions, actions, services, (k, msg) =>
          problems.add(src.at(["rules", i, "actions", k]), msg),
        ),
      });
      if (!ctx.seen.has(compiled.id)) {
        ctx.seen.set(compiled.id, compiled);
        sources.rules.set(compiled.id, entitySource(src, ["rules", i], r, RULE_KEYS, compiled.source));
      }
    });
  }
  return selected;
}

/** The keys of a rule a lint finding points at (src/lint/). */
const RULE_KEYS = ["agents.sub", "agents.claims", "when", "mode"];

/** What every rule of a compile is checked against, and what the rules before it left. */
interface RuleContext {
  settings: Settings;
  issuers: IssuerSpec[];
  /** Rule id -> the first rule with that id. */
  seen: Map<string, RuleSpec>;
  /** Condition -> its type-check problem (null: none): rules repeat conditions, and a check is costly. */
  conditions: Map<string, string | null>;
  problems: Problems;
}

interface Compiled {
  settings: Settings;
  issuers: IssuerSpec[];
  services: Record<string, ServiceSpec>;
  actions: ActionSpec[];
  rules: SelectedRule[];
  profiles: ProfileSpec[];
  sources: LintSources;
}

/** The bundle: its content, and the manifest with the content's revision. */
function assemble(c: Compiled, dev: boolean): Bundle {
  const rules = c.rules.map((r) => r.spec);
  const content = {
    settings: c.settings,
    issuers: c.issuers,
    services: c.services,
    actions: c.actions,
    rules,
    ...buildIndex(c.actions, c.services, c.rules),
    profiles: c.profiles,
  };
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    revision: revisionOf(content),
    compiler_version: COMPILER_VERSION,
    dev,
    counts: {
      issuers: c.issuers.length,
      services: Object.keys(c.services).length,
      actions: c.actions.length,
      rules: rules.length,
      profiles: c.profiles.length,
    },
  };
  return { manifest, ...content };
}

interface ConfigData {
  settings?: Partial<Omit<Settings, "admins" | "approvers">> & { admins?: MatchData; approvers?: MatchData };
  secrets?: string[];
  issuers?: IssuerData[];
  upstreams?: Record<string, string>;
  lint?: unknown;
}
interface IssuerData {
  name: string;
  kind?: IssuerSpec["kind"];
  issuer: string;
  audience: string[];
  algorithms: string[];
  jwks_uri?: string;
  jwks_var?: string;
  clock_tolerance?: number;
  max_token_age?: number;
  max_token_lifetime?: number;
  claims?: string[];
  spiffe?: { trust_domains: string[] };
  require?: Record<string, string[]>;
}
export interface RuleData {
  id: string;
  effect: RuleSpec["effect"];
  mode?: RuleSpec["mode"];
  agents?: MatchData;
  actions: string[];
  when?: string;
  message?: string;
  approvers?: MatchData;
}

/** `exp - iat` accepted when an issuer sets neither max_token_lifetime nor max_token_age: one day. */
export const DEFAULT_MAX_LIFETIME_S = 86_400;

function compileSettings(data: ConfigData, src: SourceFile, issuers: IssuerSpec[], problems: Problems): Settings {
  const at = (...p: (string | number)[]) => src.at(["settings", ...p]);
  const { admins, approvers } = data.settings ?? {};
  return {
    mode: data.settings?.mode ?? "enforce",
    max_body_bytes: data.settings?.max_body_bytes ?? 1_048_576,
    upstream_timeout_ms: data.settings?.upstream_timeout_ms ?? 30_000,
    bare_workload_tokens: data.settings?.bare_workload_tokens ?? false,
    admins: admins ? compileMatch(admins, at, "admins", issuers, null, problems) : null,
    agent_limits: {
      live_tasks: data.settings?.agent_limits?.live_tasks ?? 10,
      starts_per_hour: data.settings?.agent_limits?.starts_per_hour ?? 60,
    },
    approvers: approvers ? compileMatch(approvers, at, "approvers", issuers, "person", problems) : null,
    forward_headers: (data.settings?.forward_headers ?? []).map((h) => h.toLowerCase()),
  };
}

function compileIssuers(
  configs: SourceFile[],
  declared: Set<string>,
  sources: LintSources,
  problems: Problems,
): IssuerSpec[] {
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
        kind: d.kind ?? "workload",
        issuer: d.issuer,
        audience: d.audience,
        algorithms: d.algorithms,
        jwks: d.jwks_uri ? { uri: d.jwks_uri } : { var: d.jwks_var as string },
        clock_tolerance_s: d.clock_tolerance ?? 30,
        max_token_age_s: d.max_token_age ?? null,
        // Without a maximum age, a token's own lifetime is still bounded: a stolen long-lived token is
        // the threat either bound answers.
        max_token_lifetime_s: d.max_token_lifetime ?? (d.max_token_age === undefined ? DEFAULT_MAX_LIFETIME_S : null),
        claims: d.claims ?? [],
        spiffe: d.spiffe ?? null,
        ...(d.require ? { require: d.require } : {}),
      });
      sources.issuers.set(d.name, entitySource(src, ["issuers", i], d, ["issuer", "require", "claims"]));
    });
  });
  return out;
}

function compileRule(src: SourceFile, r: RuleData, i: number, ctx: RuleContext): RuleSpec | null {
  const { settings, issuers, problems } = ctx;
  const at = (...p: (string | number)[]) => src.at(["rules", i, ...p]);
  const twin = ctx.seen.get(r.id);
  if (twin) problems.add(at("id"), `rule id "${r.id}" is used twice (also ${twin.source}): rename one`);
  if (r.when !== undefined) {
    let err = ctx.conditions.get(r.when);
    if (err === undefined) {
      err = checkCondition(r.when);
      ctx.conditions.set(r.when, err);
    }
    if (err) problems.add(at("when"), `CEL: ${err.split("\n")[0]}`);
  }
  if (r.approvers && r.effect !== "approve")
    problems.add(
      at("approvers"),
      `approvers apply to effect approve only: remove them or make the rule effect: approve`,
    );
  const mode = r.mode ?? settings.mode;
  if (r.effect === "approve" && mode === "enforce" && !r.approvers && !settings.approvers)
    problems.add(
      at("effect"),
      "nobody could approve this: add approvers: { issuer: [<person issuer>], ... } to the rule or settings.approvers",
    );
  return {
    id: r.id,
    effect: r.effect,
    mode,
    agents: r.agents ? compileMatch(r.agents, at, "agents", issuers, "workload", problems) : null,
    when: r.when ?? null,
    message: r.message ?? null,
    approvers: r.approvers ? compileMatch(r.approvers, at, "approvers", issuers, "person", problems) : null,
    source: at(),
  };
}

/**
 * The revision: sha256 of the content's canonical JSON, keys in the order the revision has always been
 * taken in (`index-first`), hashed piece by piece (a 10,000-rule bundle's content is tens of megabytes).
 */
function revisionOf(content: unknown): string {
  const hash = createHash("sha256");
  writeCanonicalJson(content, (piece) => hash.update(piece), "index-first");
  return hash.digest("hex");
}
