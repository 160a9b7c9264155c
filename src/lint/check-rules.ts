/**
 * Checks of each rule on its own and against the unconditional denies: who and what it allows,
 * whether its condition means anything, whether it can match or decide at all, and whether a critical
 * action gets through it without a person.
 */
import type { RuleSpec } from "../policy/types";
import { constantCondition } from "./conditions";
import { type LintContext, listed, report, ruleSubject } from "./context";
import { covers, issuersOf, overlaps } from "./model";

const WRITE_KINDS = new Set(["write", "delete", "admin"]);

export function checkRules(ctx: LintContext): void {
  const { bundle } = ctx.model;
  const denies = unconditional(ctx, "deny");
  const approves = unconditional(ctx, "approve");
  bundle.rules.forEach((r, i) => {
    checkScopeOf(ctx, r, i);
    checkCondition(ctx, r);
    checkReachable(ctx, r, i);
    if (r.mode === "report" && bundle.settings.mode === "enforce")
      report(
        ctx,
        "report-mode-rule",
        ruleSubject(r),
        "mode",
        `rule ${r.id} is in report mode: its ${r.effect} is only recorded, never enforced`,
      );
    if (r.effect === "deny") return;
    // The denies for everyone are one set; the others (an agent's own) are asked one by one.
    const covering = coveringOf(denies, r);
    const denied = (a: number) => denies.everyone.has(a) || covering.some((d) => d.actions.has(a));
    if (r.effect !== "allow") {
      checkShadowed(ctx, r, i, denied, [...denies.forEveryone, ...covering]);
      return;
    }
    // An approve rule for all its agents asks a person before the allow counts (approve beats allow),
    // so an allow all of whose actions are denied or asked for never decides either.
    const asking = coveringOf(approves, r);
    const asked = (a: number) => approves.everyone.has(a) || asking.some((d) => d.actions.has(a));
    const stopped = (a: number) => denied(a) || asked(a);
    checkShadowed(ctx, r, i, stopped, [...denies.forEveryone, ...covering, ...approves.forEveryone, ...asking]);
    checkCritical(ctx, r, i, stopped);
  });
}

interface Deny {
  r: RuleSpec;
  actions: Set<number>;
}

interface Denies {
  /** The actions denied to any agent, and the rules that deny them. */
  everyone: Set<number>;
  forEveryone: Deny[];
  /** The others, by the first subject they name (a deny covers a rule's agents only if it names all its subjects). */
  bySub: Map<string, Deny[]>;
  noSub: Deny[];
}

/** The enforce deny (or approve) rules that match every call of their actions. */
function unconditional(ctx: LintContext, effect: "deny" | "approve"): Denies {
  const denies: Denies = { everyone: new Set(), forEveryone: [], bySub: new Map(), noSub: [] };
  ctx.model.bundle.rules.forEach((r, i) => {
    if (r.effect !== effect || r.mode !== "enforce" || !alwaysMatches(r)) return;
    const d = { r, actions: ctx.model.actions[i] ?? new Set<number>() };
    if (r.agents === null) {
      denies.forEveryone.push(d);
      for (const a of d.actions) denies.everyone.add(a);
    } else if (r.agents.sub === undefined) denies.noSub.push(d);
    else for (const sub of r.agents.sub) denies.bySub.set(sub, [...(denies.bySub.get(sub) ?? []), d]);
  });
  return denies;
}

/** The rules for some agents that select every agent `r` selects. */
function coveringOf(denies: Denies, r: RuleSpec): Deny[] {
  const first = r.agents?.sub?.[0];
  const candidates = first === undefined ? denies.noSub : [...(denies.bySub.get(first) ?? []), ...denies.noSub];
  return candidates.filter((d) => covers(d.r.agents, r.agents));
}

/** A rule with no condition, or one that always holds, matches every call of its actions and agents. */
const alwaysMatches = (r: RuleSpec) => r.when === null || constantCondition(r.when) === true;

function checkScopeOf(ctx: LintContext, r: RuleSpec, i: number): void {
  if (r.effect !== "allow") return;
  const subject = ruleSubject(r);
  if (r.agents === null)
    report(ctx, "allow-any-agent", subject, undefined, `rule ${r.id} allows any verified agent (it names no agents)`);
  const selectors = ctx.model.selectors[i] ?? [];
  if (selectors.includes("*")) {
    report(ctx, "allow-every-action", subject, "actions.*", `rule ${r.id} allows every action of every service ("*")`);
    return;
  }
  for (const sel of selectors) {
    if (!/^[^:]+:\*$/.test(sel) && !/^kind:(write|delete|admin)$/.test(sel)) continue;
    const writes = (ctx.model.bySelector.get(sel) ?? [])
      .map((a) => ctx.model.bundle.actions[a])
      .filter((a) => a !== undefined && WRITE_KINDS.has(a.kind));
    if (writes.length === 0) continue;
    report(
      ctx,
      "service-wide-write-glob",
      subject,
      `actions.${sel}`,
      `rule ${r.id} allows "${sel}": ${writes.length} write, delete or admin actions (${listed(writes.map((a) => a?.name ?? ""))})`,
    );
  }
}

function checkCondition(ctx: LintContext, r: RuleSpec): void {
  if (r.when === null || r.effect === "deny") return;
  if (constantCondition(r.when) === true)
    report(ctx, "condition-always-true", ruleSubject(r), "when", `rule ${r.id}'s condition is always true: ${r.when}`);
}

function checkReachable(ctx: LintContext, r: RuleSpec, i: number): void {
  const { bundle } = ctx.model;
  const subject = ruleSubject(r);
  if (r.when !== null && constantCondition(r.when) === false) {
    report(ctx, "rule-unreachable", subject, "when", `rule ${r.id}'s condition is always false: ${r.when}`);
    return;
  }
  const actions = [...(ctx.model.actions[i] ?? [])].map((a) => bundle.actions[a]);
  if (actions.length > 0 && actions.every((a) => a?.forbidden !== null)) {
    report(
      ctx,
      "rule-unreachable",
      subject,
      undefined,
      `every action rule ${r.id} selects is forbidden in its catalog`,
    );
    return;
  }
  const issuers = issuersOf(r.agents, bundle.issuers);
  for (const claim of Object.keys(r.agents?.claims ?? {})) {
    if (issuers.some((iss) => iss.claims.includes(claim))) continue;
    report(
      ctx,
      "rule-unreachable",
      subject,
      "agents.claims",
      `rule ${r.id} needs claim "${claim}", which none of its issuers (${listed(issuers.map((s) => s.name)) || "none"}) exposes`,
      `add "${claim}" to the issuer's claims: in policies/firebreak.yaml, or fix the claim's name`,
    );
    return;
  }
}

type Denied = (action: number) => boolean;

/** What the covering rules do to the shadowed one, agreeing with how many there are. */
function coverVerb(denies: number, asks: number): string {
  if (asks === 0) return denies === 1 ? "denies" : "deny";
  if (denies === 0) return asks === 1 ? "asks a person for" : "ask a person for";
  return "deny or ask a person for";
}

function checkShadowed(ctx: LintContext, r: RuleSpec, i: number, stopped: Denied, covering: Deny[]): void {
  const actions = [...(ctx.model.actions[i] ?? [])];
  if (actions.length === 0 || !actions.every(stopped)) return;
  const by = covering.filter((d) => actions.some((a) => d.actions.has(a)));
  const ids = by.map((d) => d.r.id);
  const asks = by.filter((d) => d.r.effect === "approve").length;
  const verb = coverVerb(ids.length - asks, asks);
  report(
    ctx,
    "rule-shadowed",
    ruleSubject(r),
    undefined,
    `rule ${r.id} never decides: ${listed(ids)} ${verb} all its actions for all its agents`,
  );
}

/** An allowed critical action is reachable without a person unless a deny or an approve rule covers it, or every task asks one. */
function checkCritical(ctx: LintContext, r: RuleSpec, i: number, stopped: Denied): void {
  const { bundle } = ctx.model;
  const critical = [...(ctx.model.actions[i] ?? [])].filter(
    (a) => bundle.actions[a]?.risk === "critical" && bundle.actions[a]?.forbidden === null && !stopped(a),
  );
  if (critical.length === 0) return;
  const names = (list: number[]) => list.map((a) => bundle.actions[a]?.name ?? "");
  const ways: string[] = [];
  if (bundle.settings.bare_workload_tokens) ways.push(`${listed(names(critical))} with a bare workload token`);
  for (const p of bundle.profiles) {
    if (p.approvals.risk !== null || !overlaps(p.agents, r.agents)) continue;
    const inProfile = critical.filter((a) => ctx.model.profileActions.get(p.name)?.has(a));
    if (inProfile.length > 0) ways.push(`${listed(names(inProfile))} in tasks of profile ${p.name}`);
  }
  if (ways.length === 0) return;
  report(
    ctx,
    "critical-without-approval",
    ruleSubject(r),
    undefined,
    `rule ${r.id} allows critical actions without a person's approval: ${ways.join("; ")}`,
  );
}
