/**
 * Checks of what bounds a task and who may be an agent at all: profile budgets and lifetimes against
 * the caps, issuers of public OIDC providers, and the agents, profiles and rules nothing can use.
 */
import type { ProfileSpec, RuleSpec } from "../policy/types";
import { type LintContext, listed, normalIssuer, report, ruleSubject } from "./context";
import { overlaps } from "./model";
import { RESTRICTING_CLAIMS } from "./rules";

export function checkProfiles(ctx: LintContext): void {
  for (const p of ctx.model.bundle.profiles) {
    const subject = { kind: "profile" as const, name: p.name };
    const { calls, windows } = p.budgets;
    if (calls === null && windows.length === 0)
      report(ctx, "profile-without-budget", subject, "budgets", `profile ${p.name} has no calls budget and no window`);
    if (calls !== null && calls > ctx.caps.calls)
      report(
        ctx,
        "budget-above-cap",
        subject,
        "budgets.calls",
        `profile ${p.name} allows ${calls} calls per task, above the cap of ${ctx.caps.calls}`,
      );
    // The fastest window, as calls per minute: a window bounds the rate, and the cap is a rate.
    const fastest = Math.max(0, ...windows.map((w) => (w.calls * 60) / w.seconds));
    if (fastest > ctx.caps.calls_per_minute)
      report(
        ctx,
        "budget-above-cap",
        subject,
        "budgets.windows",
        `profile ${p.name}'s windows allow ${Math.round(fastest)} calls per minute, above the cap of ${ctx.caps.calls_per_minute}`,
      );
    if (p.ttl_s > ctx.caps.task_ttl)
      report(
        ctx,
        "ttl-above-cap",
        subject,
        "ttl",
        `profile ${p.name}'s task tokens live ${p.ttl_s} s, above the cap of ${ctx.caps.task_ttl} s`,
      );
    if (p.max_lifetime_s > ctx.caps.task_lifetime)
      report(
        ctx,
        "ttl-above-cap",
        subject,
        "max_lifetime",
        `profile ${p.name}'s tasks live up to ${p.max_lifetime_s} s, above the cap of ${ctx.caps.task_lifetime} s`,
      );
  }
}

export function checkIssuers(ctx: LintContext): void {
  for (const iss of ctx.model.bundle.issuers) {
    // Person issuers too: an approver or operator is whoever the provider vouches for.
    if (!ctx.publicIssuers.includes(normalIssuer(iss.issuer))) continue;
    const pinned = Object.keys(iss.require ?? {}).filter((c) => RESTRICTING_CLAIMS.includes(c));
    if (pinned.length > 0) continue;
    report(
      ctx,
      "issuer-public-unrestricted",
      { kind: "issuer", name: iss.name },
      iss.require ? "require" : "issuer",
      `issuer ${iss.name} trusts ${iss.issuer}, a public provider, and requires no owner, repository or subject: anyone's token of it is accepted`,
    );
  }
}

const grants = (r: RuleSpec) => r.effect !== "deny";

/** Profiles, agents and rules that nothing can use. */
export function checkUsage(ctx: LintContext): void {
  const { bundle } = ctx.model;
  for (const p of bundle.profiles) {
    const mine = ctx.model.profileActions.get(p.name) ?? new Set();
    const used = bundle.rules.some(
      (r, i) => grants(r) && overlaps(r.agents, p.agents) && [...(ctx.model.actions[i] ?? [])].some((a) => mine.has(a)),
    );
    if (!used)
      report(
        ctx,
        "unused-profile",
        { kind: "profile", name: p.name },
        undefined,
        `no allow or approve rule lets profile ${p.name}'s agents call any of its actions`,
      );
  }
  // With bare workload tokens, an agent needs no profile to call: every rule may apply.
  if (bundle.settings.bare_workload_tokens) return;
  const seen = new Set<string>();
  bundle.rules.forEach((r, i) => {
    if (!grants(r)) return;
    const unadmitted = unusedAgents(ctx, r, seen);
    const profiles = bundle.profiles.filter((p) => overlaps(p.agents, r.agents));
    if (profiles.length === 0 && unadmitted === (r.agents?.sub?.length ?? -1)) return;
    checkRuleUsed(ctx, r, i, profiles);
  });
}

/** Reports each subject of the rule that no profile admits (once per agent); how many there are. */
function unusedAgents(ctx: LintContext, r: RuleSpec, seen: Set<string>): number {
  let count = 0;
  for (const sub of r.agents?.sub ?? []) {
    const one = { ...r.agents, sub: [sub] };
    if (ctx.model.bundle.profiles.some((p) => overlaps(p.agents, one))) continue;
    count++;
    const key = `${(r.agents?.issuer ?? []).join(",")}\u0000${sub}`;
    if (seen.has(key)) continue;
    seen.add(key);
    report(
      ctx,
      "unused-agent",
      ruleSubject(r),
      "agents.sub",
      `agent ${sub}${r.agents?.issuer ? ` (${r.agents.issuer.join(", ")})` : ""} can start no task: no profile admits it, so rule ${r.id} never applies to it`,
    );
  }
  return count;
}

function checkRuleUsed(ctx: LintContext, r: RuleSpec, i: number, profiles: ProfileSpec[]): void {
  const mine = ctx.model.actions[i] ?? new Set();
  if (profiles.some((p) => [...(ctx.model.profileActions.get(p.name) ?? [])].some((a) => mine.has(a)))) return;
  const why =
    profiles.length === 0
      ? "no profile admits its agents"
      : `the profiles its agents may start (${listed(profiles.map((p) => p.name))}) contain none of its actions`;
  report(ctx, "unused-rule", ruleSubject(r), undefined, `no task can use rule ${r.id}: ${why}`);
}
