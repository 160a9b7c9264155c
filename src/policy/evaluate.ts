/**
 * The policy evaluator: the one function that decides, used by the worker, `firebreak test` and
 * `firebreak explain`. Pure: everything it needs is an argument, `now` included.
 *
 * Default deny. Any matching enforce `deny` wins; then any enforce `approve`; then any `allow`.
 * Report-mode deny/approve rules never block: they are returned as `report` so the caller records
 * what would have happened. A condition that throws matches deny/approve rules and not allow rules.
 */
import type { Reason } from "../core/reasons";
import { type CelContext, type Condition, compileCondition } from "./cel";
import type { LoadedBundle } from "./load";
import { own } from "./routes";
import { forEachCandidate } from "./rule-index";
import type { ActionSpec, Agent, AgentMatch, RuleSpec } from "./types";

export type { Agent } from "./types";

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

/** A rule that matched, as a verdict needs it; `order` keeps the rule ids in the order they were visited. */
interface Hit {
  id: string;
  message: string | null;
  order: number;
}

/** The rules that matched, binned by effect and mode. Plain data: it travels to the task's object. */
export interface Matched {
  denyEnforce: Hit[];
  denyReport: Hit[];
  approveEnforce: Hit[];
  approveReport: Hit[];
  allow: Hit[];
  /** Ids of deny/approve rules whose condition threw. */
  errors: string[];
}

/** A rule whose condition reads the task's state (`task.calls`, `task.services`, `task.labels_read`). */
export interface TaskRule {
  id: string;
  effect: RuleSpec["effect"];
  mode: RuleSpec["mode"];
  message: string | null;
  when: string;
  order: number;
}

/**
 * A decision the task's Durable Object finishes: the rules that do not read the task's state, already
 * matched; those that do, with the context (without `task`) to evaluate them in. The object evaluates
 * them against its state in the same transaction that admits the step, so `task.calls < 5` is exact.
 */
export interface PendingDecision {
  matched: Matched;
  rules: TaskRule[];
  /** The CEL context without `task`, as plain data (null-prototype records do not cross RPC). */
  ctx: Omit<CelContext, "task">;
  /** The task variable's fixed part (`id`, `profile`); the object adds its state. */
  task: Record<string, unknown>;
  mode: "enforce" | "report";
}

export function decide(bundle: LoadedBundle, input: DecisionInput): Decision {
  const d = decideOrDefer(bundle, input, false);
  return d.decision ?? invalidBundle();
}

/**
 * As `decide`, except that with `defer` the rules reading the task's state are not evaluated here: when
 * any of them selects this agent, the result is pending, finished by the task object (`finishDecision`).
 * An enforce deny that matched without them is final at once (deny wins whatever they say); its
 * record then names the deny rules that decided without the task's state.
 */
export function decideOrDefer(
  bundle: LoadedBundle,
  input: DecisionInput,
  defer: boolean,
): { decision: Decision; pending: null } | { decision: null; pending: PendingDecision } {
  const action = bundle.spec.actions[input.action];
  if (action === undefined) return { decision: invalidBundle(), pending: null };
  if (action.forbidden !== null) {
    const forbidden: Decision = {
      effect: "deny",
      reason: "action.forbidden",
      rules: [],
      message: action.forbidden,
      report: null,
    };
    return { decision: forbidden, pending: null };
  }
  const deferred: TaskRule[] = [];
  const m = matchRules(bundle, action, input, defer ? deferred : null);
  if (m === null) return { decision: invalidBundle(), pending: null };
  const mode = bundle.spec.settings.mode;
  if (deferred.length === 0 || m.denyEnforce.length > 0) return { decision: verdict(m, mode), pending: null };
  const { task: _task, ...ctx } = celContext(action, input);
  return { decision: null, pending: { matched: m, rules: deferred, ctx: plainData(ctx), task: input.task, mode } };
}

/** The task object's half of a pending decision: its rules evaluated with the task's state. */
export function finishDecision(p: PendingDecision, state: Record<string, unknown>): Decision {
  const m: Matched = {
    denyEnforce: [...p.matched.denyEnforce],
    denyReport: [...p.matched.denyReport],
    approveEnforce: [...p.matched.approveEnforce],
    approveReport: [...p.matched.approveReport],
    allow: [...p.matched.allow],
    errors: [...p.matched.errors],
  };
  const ctx: CelContext = { ...recordsOf(p.ctx), task: { ...p.task, ...state } };
  for (const rule of p.rules) {
    const result = evaluateCondition(conditionFor(rule.when), ctx);
    if (result === "error") {
      if (rule.effect === "allow") continue;
      m.errors.push(rule.id);
    } else if (!result) continue;
    bin(m, rule).push({ id: rule.id, message: rule.message, order: rule.order });
  }
  return verdict(m, p.mode);
}

/** Any matching enforce deny wins; then any enforce approve; then any allow; else default deny. */
function verdict(m: Matched, mode: "enforce" | "report"): Decision {
  for (const list of [m.denyEnforce, m.denyReport, m.approveEnforce, m.approveReport, m.allow]) {
    list.sort((a, b) => a.order - b.order);
  }
  const errors = new Set(m.errors);
  if (m.denyEnforce.length > 0) return { ...verdictOf("deny", m.denyEnforce, errors), report: null };
  if (m.approveEnforce.length > 0) {
    return { ...verdictOf("approval_required", m.approveEnforce, errors), report: null };
  }
  const wouldBlock =
    m.denyReport.length > 0
      ? verdictOf("deny", m.denyReport, errors)
      : m.approveReport.length > 0
        ? verdictOf("approval_required", m.approveReport, errors)
        : null;
  if (m.allow.length > 0) {
    return { effect: "allow", reason: "policy.allowed", rules: ids(m.allow), message: null, report: wouldBlock };
  }
  const noMatch: Verdict = { effect: "deny", reason: "policy.no_match", rules: [], message: null };
  if (mode === "report") {
    return { effect: "allow", reason: "policy.allowed", rules: [], message: null, report: wouldBlock ?? noMatch };
  }
  return { ...noMatch, report: null };
}

function verdictOf(effect: Outcome, rules: Hit[], errors: Set<string>): Verdict {
  const reason: Reason = rules.some((r) => errors.has(r.id))
    ? "policy.condition_error"
    : effect === "deny"
      ? "policy.denied"
      : "approval.required";
  return { effect, reason, rules: ids(rules), message: rules.find((r) => r.message)?.message ?? null };
}

const ids = (rules: Hit[]) => rules.map((r) => r.id);

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

/**
 * The rules that match, binned by effect and mode; null when the index names a bucket or a rule the
 * bundle lacks. With `deferred`, a rule reading the task's state that selects this agent goes there instead.
 */
function matchRules(
  bundle: LoadedBundle,
  action: ActionSpec,
  input: DecisionInput,
  deferred: TaskRule[] | null,
): Matched | null {
  const m: Matched = { denyEnforce: [], denyReport: [], approveEnforce: [], approveReport: [], allow: [], errors: [] };
  const reads = deferred === null ? null : taskReaders(bundle);
  let ctx: CelContext | undefined;
  const walked = forEachCandidate(bundle.spec, input.action, input.agent, (i, order) => {
    const rule = bundle.spec.rules[i];
    if (rule === undefined) return false;
    if (!agentMatches(rule.agents, input.agent)) return true;
    const cond = bundle.conditions[i];
    if (cond && reads?.[i] && rule.when !== null) {
      deferred!.push({
        id: rule.id,
        effect: rule.effect,
        mode: rule.mode,
        message: rule.message,
        when: rule.when,
        order,
      });
      return true;
    }
    if (cond) {
      ctx ??= celContext(action, input);
      const result = evaluateCondition(cond, ctx);
      if (result === "error") {
        if (rule.effect === "allow") return true;
        m.errors.push(rule.id);
      } else if (!result) return true;
    }
    bin(m, rule).push({ id: rule.id, message: rule.message, order });
    return true;
  });
  return walked ? m : null;
}

function bin(m: Matched, rule: Pick<RuleSpec, "effect" | "mode">): Hit[] {
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

const readers = new WeakMap<object, boolean[]>();
const TASK_STATE = /\btask\.(calls|services|labels_read)\b/;

/** Per rule: whether its condition names `task.calls`, `task.services` or `task.labels_read`. Once per bundle. */
export function taskReaders(bundle: LoadedBundle): boolean[] {
  let reads = readers.get(bundle.spec);
  if (reads === undefined) {
    reads = bundle.spec.rules.map((r) => r.when !== null && TASK_STATE.test(r.when));
    readers.set(bundle.spec, reads);
  }
  return reads;
}

/** Conditions the task object compiled, by expression (one parse per isolate; bounded). */
const compiled = new Map<string, Condition>();
const MAX_COMPILED = 4096;

function conditionFor(when: string): Condition {
  let cond = compiled.get(when);
  if (cond === undefined) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    cond = compileCondition(when);
    compiled.set(when, cond);
  }
  return cond;
}

/** A copy that RPC can send: null-prototype records become plain objects (Dates stay Dates). */
function plainData<T>(v: T): T {
  if (v === null || typeof v !== "object" || v instanceof Date) return v;
  if (Array.isArray(v)) return v.map(plainData) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plainData(x);
  return out as T;
}

/** The request's and the agent's records back as null-prototype maps, as the gateway evaluates them. */
function recordsOf(ctx: Omit<CelContext, "task">): Omit<CelContext, "task"> {
  const bare = (r: unknown) => Object.assign(Object.create(null), r) as Record<string, unknown>;
  const req = ctx.request as Record<string, unknown>;
  const request = {
    ...req,
    params: bare(req.params),
    query: bare(req.query),
    args: bare(req.args),
    headers: bare(req.headers),
  };
  return { ...ctx, agent: { ...ctx.agent, claims: bare(ctx.agent.claims) }, request };
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
