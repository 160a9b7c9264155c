/**
 * The policy evaluator: the one function that decides, used by the worker, `firebreak test` and
 * `firebreak explain`. Pure: everything it needs is an argument, `now` included.
 *
 * Default deny. Any matching enforce `deny` wins; then any enforce `approve`; then any `allow`.
 * Report-mode deny/approve rules never block: they are returned as `report` so the caller records
 * what would have happened. A condition that throws matches deny/approve rules and not allow rules.
 */
import type { Reason } from "../core/reasons";
import type { CelContext, Condition } from "./cel";
import type { LoadedBundle } from "./load";
import { own } from "./routes";
import type { ActionSpec, AgentMatch, RuleBucket, RuleSpec } from "./types";

export interface Agent {
  /** Name of the issuer in the bundle (`dev`, `github-actions`). */
  issuer: string;
  iss: string;
  sub: string;
  claims: Record<string, unknown>;
}

export interface RequestFacts {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  args: Record<string, unknown>;
  /** The service's semantic headers the call carries (src/request/headers.ts), by lower-case name. */
  headers: Record<string, string>;
}

export interface DecisionInput {
  agent: Agent;
  action: number;
  resource: string;
  request: RequestFacts;
  task: Record<string, unknown>;
  now: Date;
}

export type Outcome = "allow" | "deny" | "approval_required";

export interface Verdict {
  effect: Outcome;
  reason: Reason;
  /** Ids of the rules that decided (empty for default deny). */
  rules: string[];
  /** Message of the deciding deny rule, if it has one. */
  message: string | null;
}

export interface Decision extends Verdict {
  /** What report-mode rules (or a report-mode bundle) would have decided instead, when it differs. */
  report: Verdict | null;
}

interface Matched {
  denyEnforce: RuleSpec[];
  denyReport: RuleSpec[];
  approveEnforce: RuleSpec[];
  approveReport: RuleSpec[];
  allow: RuleSpec[];
  errors: Set<string>;
}

export function decide(bundle: LoadedBundle, input: DecisionInput): Decision {
  const action = bundle.spec.actions[input.action];
  const bucket = bundle.spec.index[input.action];
  if (action === undefined || bucket === undefined) return invalidBundle();
  if (action.forbidden !== null) {
    return { effect: "deny", reason: "action.forbidden", rules: [], message: action.forbidden, report: null };
  }
  const m = matchRules(bundle, action, bucket, input);
  if (m === null) return invalidBundle();
  if (m.denyEnforce.length > 0) return { ...verdictOf("deny", m.denyEnforce, m.errors), report: null };
  if (m.approveEnforce.length > 0) {
    return { ...verdictOf("approval_required", m.approveEnforce, m.errors), report: null };
  }
  const wouldBlock =
    m.denyReport.length > 0
      ? verdictOf("deny", m.denyReport, m.errors)
      : m.approveReport.length > 0
        ? verdictOf("approval_required", m.approveReport, m.errors)
        : null;
  if (m.allow.length > 0) {
    return { effect: "allow", reason: "policy.allowed", rules: ids(m.allow), message: null, report: wouldBlock };
  }
  const noMatch: Verdict = { effect: "deny", reason: "policy.no_match", rules: [], message: null };
  if (bundle.spec.settings.mode === "report") {
    return { effect: "allow", reason: "policy.allowed", rules: [], message: null, report: wouldBlock ?? noMatch };
  }
  return { ...noMatch, report: null };
}

function verdictOf(effect: Outcome, rules: RuleSpec[], errors: Set<string>): Verdict {
  const reason: Reason = rules.some((r) => errors.has(r.id))
    ? "policy.condition_error"
    : effect === "deny"
      ? "policy.denied"
      : "approval.required";
  return { effect, reason, rules: ids(rules), message: rules.find((r) => r.message)?.message ?? null };
}

const ids = (rules: RuleSpec[]) => rules.map((r) => r.id);

/**
 * The bundle names an action, a rule bucket or a rule by a position it does not have. `loadBundle`
 * checks the counts, not every position, so a corrupt bundle is refused here rather than allowed.
 */
const invalidBundle = (): Decision => ({
  effect: "deny",
  reason: "bundle.invalid",
  rules: [],
  message: null,
  report: null,
});

/** The rules that match, binned by effect and mode; null when the bucket names a rule the bundle lacks. */
function matchRules(
  bundle: LoadedBundle,
  action: ActionSpec,
  bucket: RuleBucket,
  input: DecisionInput,
): Matched | null {
  const m: Matched = {
    denyEnforce: [],
    denyReport: [],
    approveEnforce: [],
    approveReport: [],
    allow: [],
    errors: new Set(),
  };
  const bySub = own(bucket.by_sub, input.agent.sub) ?? [];
  let ctx: CelContext | undefined;
  for (const list of [bySub, bucket.any]) {
    for (const i of list) {
      const rule = bundle.spec.rules[i];
      if (rule === undefined) return null;
      if (!agentMatches(rule.agents, input.agent)) continue;
      const cond = bundle.conditions[i];
      if (cond) {
        ctx ??= celContext(action, input);
        const result = evaluateCondition(cond, ctx);
        if (result === "error") {
          if (rule.effect === "allow") continue;
          m.errors.add(rule.id);
        } else if (!result) continue;
      }
      bin(m, rule).push(rule);
    }
  }
  return m;
}

function bin(m: Matched, rule: RuleSpec): RuleSpec[] {
  if (rule.effect === "allow") return m.allow;
  if (rule.effect === "deny") return rule.mode === "enforce" ? m.denyEnforce : m.denyReport;
  return rule.mode === "enforce" ? m.approveEnforce : m.approveReport;
}

function evaluateCondition(cond: Condition, ctx: CelContext): boolean | "error" {
  try {
    return cond(ctx) === true;
  } catch {
    return "error";
  }
}

export function agentMatches(match: AgentMatch | null, agent: Agent): boolean {
  if (match === null) return true;
  if (match.issuer && !match.issuer.includes(agent.issuer)) return false;
  if (match.sub && !match.sub.includes(agent.sub)) return false;
  if (match.claims) {
    for (const [claim, allowed] of Object.entries(match.claims)) {
      const value = own(agent.claims, claim);
      const values = Array.isArray(value) ? value : [value];
      if (!values.some((v) => typeof v === "string" && allowed.includes(v))) return false;
    }
  }
  return true;
}

function celContext(action: ActionSpec, input: DecisionInput): CelContext {
  return {
    agent: { issuer: input.agent.issuer, iss: input.agent.iss, sub: input.agent.sub, claims: input.agent.claims },
    action: { name: action.name, service: action.service, kind: action.kind, risk: action.risk, data: action.data },
    resource: input.resource,
    request: { ...input.request },
    task: input.task,
    now: input.now,
  };
}
