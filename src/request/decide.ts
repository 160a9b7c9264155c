/**
 * Stage 4, decide, as the gateway runs it around the evaluator (src/policy/evaluate.ts `decide()`):
 * whether the rules read the task's state (then the task's object finishes the decision), and whether the call
 * waits for a person. Pure, and free of Worker-only imports: `firebreak replay` runs the same code.
 */
import { type Agent, agentMatches, type Decision, taskReaders } from "../policy/evaluate";
import type { LoadedBundle } from "../policy/load";
import { forEachCandidate, rulesSelecting } from "../policy/rule-index";
import type { ActionSpec, AgentMatch, ProfileSpec, Risk } from "../policy/types";

const RISK_RANK: Record<Risk, number> = { low: 0, medium: 1, high: 2, critical: 3 };

export interface PersonNeeded {
  rules: string[];
  /** A person must match every one. */
  approvers: AgentMatch[];
  ttl_s: number;
}

/**
 * Whether this call waits for a person: an enforce `approve` rule decided it, or the task's profile
 * asks for a person at this action's risk (even when a rule allows it). Null: it does not.
 */
export function personNeeded(
  bundle: LoadedBundle,
  decision: Decision,
  action: ActionSpec,
  profile: ProfileSpec | null,
): PersonNeeded | null {
  const fallback = bundle.spec.settings.approvers;
  const ttl_s = profile?.approvals.ttl_s ?? 900;
  if (decision.effect === "approval_required") {
    const approvers = decision.rules.map((id) => bundle.rulesById.get(id)?.approvers ?? fallback);
    // The compiler guarantees someone can approve; a null here fails closed (nobody matches it).
    return { rules: decision.rules, approvers: approvers.map((a) => a ?? NOBODY), ttl_s };
  }
  const risk = profile?.approvals.risk ?? null;
  if (decision.effect === "allow" && profile && risk !== null && RISK_RANK[action.risk] >= RISK_RANK[risk]) {
    return {
      rules: [`profile:${profile.name}`],
      approvers: [profile.approvals.approvers ?? fallback ?? NOBODY],
      ttl_s,
    };
  }
  return null;
}

/** Matches no one: an issuer list no issuer name equals. */
const NOBODY: AgentMatch = { issuer: [] };

const readsState = new WeakMap<object, boolean[]>();

/**
 * Whether a rule that can decide this action (any rule selecting it) reads the task's state:
 * then, for a task's call, those rules are evaluated by the task's object when it admits the step.
 * Computed once per bundle, per action.
 */
export function readsTaskState(bundle: LoadedBundle, action: number): boolean {
  let perAction = readsState.get(bundle.spec);
  if (perAction === undefined) {
    const reads = taskReaders(bundle);
    perAction = bundle.spec.index.map((_, a) => rulesSelecting(bundle.spec, a).some((i) => reads[i]));
    readsState.set(bundle.spec, perAction);
  }
  return perAction[action] ?? false;
}

/**
 * Whether some call of this action could be allowed for this agent: it is not forbidden, an enforce
 * rule that allows it or asks a person selects this agent, and no enforce deny rule without a
 * condition does. What a `tools/list` answer is filtered by: the rules as the call would meet them,
 * before its arguments are known; the call itself is still decided with them.
 */
export function mayCall(bundle: LoadedBundle, agent: Agent, action: number): boolean {
  const spec = bundle.spec.actions[action];
  if (spec === undefined || spec.forbidden !== null) return false;
  let allows = false;
  // The walk stops (false) at a rule the bundle lacks, or at an enforce deny without a condition.
  const walked = forEachCandidate(bundle.spec, action, agent, (i) => {
    const rule = bundle.spec.rules[i];
    if (rule === undefined) return false;
    if (rule.mode !== "enforce" || !agentMatches(rule.agents, agent)) return true;
    if (rule.effect === "deny") return rule.when !== null;
    allows = true;
    return true;
  });
  if (!walked) return false;
  // A report-mode bundle blocks nothing it does not forbid.
  return bundle.spec.settings.mode === "report" || allows;
}
