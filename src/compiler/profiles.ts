/**
 * Task profiles (policies/profiles/*.yaml) -> ProfileSpec: selectors resolved to action names, every
 * action, label, argument and service a budget or sequence rule names checked against the catalogs and
 * against the profile's own actions (a limit on an action the task can never call is a mistake).
 */
import type {
  ActionSpec,
  Budgets,
  IssuerSpec,
  ProfileSpec,
  Risk,
  SequenceRules,
  ServiceSpec,
  Settings,
} from "../policy/types";
import { compileMatch, type MatchData } from "./agents";
import { compileOauthScopes, type OauthScopesData } from "./oauth-scopes";
import { labelProblem, lookupAction, resolveSelectors } from "./rules";
import { compileScope, type ScopeData } from "./scope";
import type { Problems, SourceFile } from "./source";

export const DEFAULT_TTL_S = 600;
export const DEFAULT_MAX_LIFETIME_S = 3600;
export const DEFAULT_APPROVAL_TTL_S = 900;

export interface ProfileData {
  name: string;
  description?: string;
  agents?: MatchData;
  ttl?: number;
  max_lifetime?: number;
  actions: string[];
  budgets?: {
    calls?: number;
    per_action?: Record<string, number>;
    per_label?: Record<string, number>;
    services?: number;
    windows?: { calls: number; seconds: number }[];
    totals?: { action: string; arg: string; max: number }[];
  };
  sequence?: {
    requires?: { action: string; after: string[] }[];
    forbid_after?: { read: string[]; deny: string[]; allow_services?: string[] }[];
    correlate?: { action: string; read_by: string[] }[];
  };
  approvals?: { ttl?: number; risk?: Risk; approvers?: MatchData };
  scope?: ScopeData;
  oauth_scopes?: OauthScopesData;
}

type Path = (string | number)[];

export function compileProfiles(
  files: SourceFile[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  issuers: IssuerSpec[],
  settings: Settings,
  problems: Problems,
): ProfileSpec[] {
  const out: ProfileSpec[] = [];
  for (const src of files) {
    (src.data as { profiles: ProfileData[] }).profiles.forEach((p, i) => {
      const at = (...path: Path) => src.at(["profiles", i, ...path]);
      const compiled = compileProfile(p, at, actions, services, issuers, settings, problems);
      const same = out.find((o) => o.name === p.name);
      if (same) problems.add(at("name"), `profile name "${p.name}" is used twice (also ${same.source}): rename one`);
      else out.push(compiled);
    });
  }
  return out;
}

function compileProfile(
  p: ProfileData,
  at: (...path: Path) => string,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  issuers: IssuerSpec[],
  settings: Settings,
  problems: Problems,
): ProfileSpec {
  const agents = p.agents ? compileMatch(p.agents, at, "agents", issuers, "workload", problems) : null;
  const approvals = compileApprovals(p, at, issuers, settings, problems);
  const ttl = p.ttl ?? DEFAULT_TTL_S;
  const maxLifetime = p.max_lifetime ?? Math.max(DEFAULT_MAX_LIFETIME_S, ttl);
  if (maxLifetime < ttl)
    problems.add(
      at("max_lifetime"),
      `max_lifetime ${maxLifetime} is shorter than ttl ${ttl}: raise max_lifetime to at least ${ttl} or lower ttl`,
    );

  // Exactly the selected actions: a profile is an allow list, so aliases (same_effect_as) are not
  // pulled in. An alias that is in the profile counts as its targets too (`effects`), so a limit on
  // the target reaches it: a GraphQL mergePullRequest spends the REST merge's budget.
  const indexes = new Set(
    resolveSelectors(p.actions, actions, services, (k, msg) => problems.add(at("actions", k), msg), { aliases: false }),
  );
  const selected = actions.filter((_, i) => indexes.has(i));
  const inProfile = new Set(selected.map((a) => a.name));

  const scope = profileScope(at, actions, services, inProfile, problems);
  const budgets = compileBudgets(p.budgets ?? {}, scope);
  const sequence = compileSequence(p.sequence ?? {}, scope);
  const reach = compileScope(p.scope, at, selected, services, problems);
  const oauthScopes = compileOauthScopes(p.oauth_scopes, at, selected, services, problems);

  return {
    name: p.name,
    agents,
    ttl_s: ttl,
    max_lifetime_s: maxLifetime,
    actions: [...inProfile].sort(),
    budgets,
    sequence,
    effects: effectsOf(selected, actions),
    approvals,
    ...(reach ? { scope: reach } : {}),
    ...(oauthScopes ? { oauth_scopes: oauthScopes } : {}),
    source: at(),
  };
}

function compileApprovals(
  p: ProfileData,
  at: (...path: Path) => string,
  issuers: IssuerSpec[],
  settings: Settings,
  problems: Problems,
): ProfileSpec["approvals"] {
  const approvals = {
    ttl_s: p.approvals?.ttl ?? DEFAULT_APPROVAL_TTL_S,
    risk: p.approvals?.risk ?? null,
    approvers: p.approvals?.approvers
      ? compileMatch(p.approvals.approvers, at, "approvals", issuers, "person", problems)
      : null,
  };
  if (approvals.risk !== null && !approvals.approvers && !settings.approvers)
    problems.add(
      at("approvals", "risk"),
      "nobody could approve these calls: add approvals.approvers: { issuer: [<person issuer>], ... } or settings.approvers",
    );
  return approvals;
}

/** What the budgets and sequence rules of one profile are checked against, and where problems go. */
interface ProfileScope {
  at: (...path: Path) => string;
  services: Record<string, ServiceSpec>;
  problems: Problems;
  /** Checks one action name; returns its spec when it exists and the profile may call it. */
  action: (name: string, path: Path, role: string, guards?: string) => ActionSpec | null;
  /** Checks one label; true when some action carries it. */
  label: (l: string, path: Path) => boolean;
}

function profileScope(
  at: (...path: Path) => string,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  inProfile: Set<string>,
  problems: Problems,
): ProfileScope {
  const action = (name: string, path: Path, role: string, guards?: string): ActionSpec | null => {
    const hit = lookupAction(name, actions, services);
    if (typeof hit === "string") {
      problems.add(at(...path), hit);
      return null;
    }
    if (!inProfile.has(name)) {
      problems.add(
        at(...path),
        `${role} names "${name}", which is not in this profile's actions (a task could never call it${guards ? `, so it never lets ${guards} run` : ""}): add it to actions or remove it here`,
      );
      return null;
    }
    return hit;
  };
  const label = (l: string, path: Path): boolean => {
    const bad = labelProblem(l, actions);
    if (bad) problems.add(at(...path), bad);
    return bad === null;
  };
  return { at, services, problems, action, label };
}

function compileBudgets(
  b: NonNullable<ProfileData["budgets"]>,
  { at, problems, action, label }: ProfileScope,
): Budgets {
  const budgets: Budgets = {
    calls: b.calls ?? null,
    per_action: {},
    per_label: {},
    services: b.services ?? null,
    windows: (b.windows ?? []).map((w) => ({ calls: w.calls, seconds: w.seconds })),
    totals: [],
  };
  for (const [name, max] of Object.entries(b.per_action ?? {})) {
    if (action(name, ["budgets", "per_action", name], "budgets.per_action")) budgets.per_action[name] = max;
  }
  for (const [l, max] of Object.entries(b.per_label ?? {})) {
    if (label(l, ["budgets", "per_label", l])) budgets.per_label[l] = max;
  }
  (b.totals ?? []).forEach((t, k) => {
    const a = action(t.action, ["budgets", "totals", k, "action"], "budgets.totals");
    if (!a) return;
    const type = Object.hasOwn(a.args, t.arg) ? a.args[t.arg] : undefined;
    if (type === undefined)
      problems.add(
        at("budgets", "totals", k, "arg"),
        `${t.action} declares no argument "${t.arg}"${argList(a)}: declare it in ${a.source.replace(/:\d+$/, "")} or fix the name`,
      );
    else if (type !== "integer" && type !== "number")
      problems.add(
        at("budgets", "totals", k, "arg"),
        `${t.action} argument "${t.arg}" is declared ${type}: a running total needs an integer or number argument`,
      );
    budgets.totals.push({ action: t.action, arg: t.arg, max: t.max });
  });
  return budgets;
}

function compileSequence(s: NonNullable<ProfileData["sequence"]>, scope: ProfileScope): SequenceRules {
  const { at, services, problems, action, label } = scope;
  const sequence: SequenceRules = { requires: [], forbid_after: [], correlate: [] };
  (s.requires ?? []).forEach((r, k) => {
    action(r.action, ["sequence", "requires", k, "action"], "sequence.requires");
    r.after.forEach((n, j) => {
      action(n, ["sequence", "requires", k, "after", j], "sequence.requires.after", r.action);
    });
    sequence.requires.push({ action: r.action, after: [...r.after] });
  });
  (s.forbid_after ?? []).forEach((f, k) => {
    f.read.forEach((l, j) => {
      label(l, ["sequence", "forbid_after", k, "read", j]);
    });
    f.deny.forEach((l, j) => {
      label(l, ["sequence", "forbid_after", k, "deny", j]);
    });
    (f.allow_services ?? []).forEach((svc, j) => {
      if (!Object.hasOwn(services, svc))
        problems.add(
          at("sequence", "forbid_after", k, "allow_services", j),
          `unknown service "${svc}" in allow_services: add policies/services/${svc}.yaml or fix the name`,
        );
    });
    sequence.forbid_after.push({ read: [...f.read], deny: [...f.deny], allow_services: [...(f.allow_services ?? [])] });
  });
  (s.correlate ?? []).forEach((c, k) => {
    const a = action(c.action, ["sequence", "correlate", k, "action"], "sequence.correlate");
    if (a && a.resource === null) problems.add(at("sequence", "correlate", k, "action"), noResource(a));
    c.read_by.forEach((n, j) => {
      const r = action(n, ["sequence", "correlate", k, "read_by", j], "sequence.correlate.read_by", c.action);
      if (r && r.resource === null) problems.add(at("sequence", "correlate", k, "read_by", j), noResource(r));
    });
    sequence.correlate.push({ action: c.action, read_by: [...c.read_by] });
  });
  return sequence;
}

const argList = (a: ActionSpec) => {
  const names = Object.keys(a.args);
  return names.length > 0 ? ` (it declares ${names.join(", ")})` : "";
};

const noResource = (a: ActionSpec) =>
  `${a.name} has no resource, so correlation cannot compare what it targets: give it a resource in ${a.source.replace(/:\d+$/, "")} or remove it here`;

/**
 * For each action of the profile that is an alias (same_effect_as, followed transitively), the actions
 * whose effect it has: the task object counts and orders it as each of them too.
 */
function effectsOf(selected: ActionSpec[], actions: ActionSpec[]): Record<string, string[]> {
  const byName = new Map(actions.map((a) => [a.name, a]));
  const out: Record<string, string[]> = {};
  for (const alias of selected) {
    const seen = new Set<string>();
    const todo = [...alias.same_effect_as];
    for (let t = todo.pop(); t !== undefined; t = todo.pop()) {
      if (seen.has(t) || t === alias.name) continue;
      seen.add(t);
      todo.push(...(byName.get(t)?.same_effect_as ?? []));
    }
    if (seen.size > 0) out[alias.name] = [...seen].sort();
  }
  return out;
}
