/**
 * `firebreak replay`: every recorded call of every task, decided again with a candidate bundle, and
 * the decisions that would change, grouped by what decides them now. The rules are re-decided (and
 * the profile's approval risk); budgets and sequence rules are the task object's and are not: a call
 * they refused counts as one the rules allowed (docs/replay.md).
 */
import type { LoadedBundle } from "../policy/load";
import type { StepFacts } from "../request/decide-call";
import { approvalFacts, factsFor, type Recorded, recordedDecision, type Skip, TaskHistory } from "./history";
import type { TaskLog } from "./log";
import { type Redecided, redecide } from "./redecide";

export interface Change {
  task: string;
  seq: number;
  /** Epoch milliseconds. */
  ts: number;
  decision_id: string | null;
  kind: "call" | "approval";
  service: string;
  /** As recorded (the deployed catalog's); `after.action` is the candidate's. */
  action: string | null;
  resource: string | null;
  facts: StepFacts;
  before: Recorded;
  after: Redecided;
}

export interface Group {
  /** The rule ids that decide now joined with ` + `, or `default deny`, `no longer classified`, ... */
  name: string;
  rules: { id: string; source: string }[];
  changes: Change[];
}

export interface ReplayReport {
  bundle: { revision: string; dev: boolean };
  tasks: number;
  /** Call and approval entries in the logs. */
  entries: number;
  redecided: number;
  skipped: Record<Skip, number>;
  groups: Group[];
}

export function replay(bundle: LoadedBundle, logs: TaskLog[]): ReplayReport {
  const report: ReplayReport = {
    bundle: { revision: bundle.spec.manifest.revision, dev: bundle.spec.manifest.dev },
    tasks: logs.length,
    entries: 0,
    redecided: 0,
    skipped: { no_facts: 0, request_refused: 0, unknown_outcome: 0 },
    groups: [],
  };
  const changes: Change[] = [];
  for (const log of logs) {
    const history = new TaskHistory();
    const approvals = approvalFacts(log.entries);
    for (const e of log.entries) {
      if (e.kind === "call" || e.kind === "approval") {
        report.entries++;
        const facts = factsFor(e, approvals);
        const before = recordedDecision(e);
        if (facts === null || e.service === null) report.skipped.no_facts++;
        else if (typeof before === "string") report.skipped[before]++;
        else {
          report.redecided++;
          const call = {
            task: log.task,
            service: e.service,
            action: e.action,
            facts,
            state: history.state(),
            ts: e.ts,
          };
          const after = redecide(bundle, call);
          if (changed(before, after)) {
            const { seq, ts, decision_id, action, resource } = e;
            const kind = e.kind;
            changes.push({
              task: log.task.task_id,
              seq,
              ts,
              decision_id,
              kind,
              service: e.service,
              action,
              resource,
              facts,
              before,
              after,
            });
          }
        }
      }
      history.apply(e);
    }
  }
  report.groups = groupChanges(bundle, changes);
  return report;
}

/**
 * Whether the decision differs. The log keeps the effect of an allow and of an approval (always
 * `policy.allowed` / `approval.required` there), and the exact reason of a deny.
 */
function changed(before: Recorded, after: Redecided): boolean {
  if (before.effect !== after.effect) return true;
  return before.effect === "deny" && before.reason !== after.reason;
}

const NO_RULE: Record<string, string> = {
  "policy.no_match": "default deny",
  "action.unknown": "no longer classified",
  "route.unknown_service": "no longer classified",
  "route.bad_method": "no longer classified",
  "action.forbidden": "forbidden in the catalog",
  "identity.unknown_issuer": "issuer no longer in the bundle",
  "policy.allowed": "report mode (no rule)",
};

export function groupName(after: Redecided): string {
  return after.rules.length > 0 ? after.rules.join(" + ") : (NO_RULE[after.reason] ?? after.reason);
}

function groupChanges(bundle: LoadedBundle, changes: Change[]): Group[] {
  const groups = new Map<string, Group>();
  for (const c of changes) {
    const name = groupName(c.after);
    let g = groups.get(name);
    if (!g) {
      g = { name, rules: c.after.rules.map((id) => ({ id, source: sourceOf(bundle, id) })), changes: [] };
      groups.set(name, g);
    }
    g.changes.push(c);
  }
  return [...groups.values()].sort((a, b) => b.changes.length - a.changes.length || a.name.localeCompare(b.name));
}

/** `file:line` of a rule, or of the profile for `profile:<name>` (its approval risk asked for a person). */
function sourceOf(bundle: LoadedBundle, id: string): string {
  if (id.startsWith("profile:")) return bundle.profiles.get(id.slice("profile:".length))?.source ?? "";
  return bundle.rulesById.get(id)?.source ?? "";
}

/** The number of decisions that change. */
export const changeCount = (r: ReplayReport) => r.groups.reduce((n, g) => n + g.changes.length, 0);
