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
  const denies = bundle.rules
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.effect === "deny" && r.mode === "enforce" && alwaysMatches(r));
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
    const covering = denies.filter((d) => d.i !== i && covers(d.r.agents, r.agents));
    const denied = new Set(covering.flatMap((d) => [...(ctx.model.actions[d.i] ?? [])]));
    checkShadowed(
      ctx,
      r,
      i,
      denied,
      covering.map((d) => d.r.id),
    );
    if (r.effect === "allow") checkCritical(ctx, r, i, denied);
  });
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

function checkShadowed(ctx: LintContext, r: RuleSpec, i: number, denied: Set<number>, denies: string[]): void {
  const actions = ctx.model.actions[i] ?? new Set();
  if (actions.size === 0 || denies.length === 0 || ![...actions].every((a) => denied.has(a))) return;
  report(
    ctx,
    "rule-shadowed",
    ruleSubject(r),
    undefined,
    `rule ${r.id} never decides: ${listed(denies)} ${denies.length === 1 ? "denies" : "deny"} all its actions for all its agents`,
  );
}

/** An allowed critical action is reachable without a person unless a deny covers it or every task asks one. */
function checkCritical(ctx: LintContext, r: RuleSpec, i: number, denied: Set<number>): void {
  const { bundle } = ctx.model;
  const critical = [...(ctx.model.actions[i] ?? [])].filter(
    (a) => bundle.actions[a]?.risk === "critical" && bundle.actions[a]?.forbidden === null && !denied.has(a),
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
