/**
 * The dashboard's live part: the directory names candidates (tasks it saw start and not end, approvals
 * it saw open and not settle), then each task's own object is asked for the real state, in parallel
 * (at most FANOUT calls at once, each bounded by the RPC timeout). What the task objects say wins: a
 * task they call ended is not shown, an approval they no longer call pending is not shown, and a task
 * object that does not answer shows as unavailable (an approval it holds cannot be checked and is
 * counted, not shown). The directory failing leaves this part empty with a note, never a 500.
 */
import type { Env } from "../env";
import type { Budgets } from "../policy/types";
import type { ApprovalView } from "../tasks/approval-types";
import {
  DIRECTORY_NAME,
  type DirectoryApproval,
  type DirectorySnapshot,
  type DirectoryTask,
} from "../tasks/directory-object";
import { rpcCall } from "../tasks/rpc";
import type { TaskView } from "../tasks/task-object";

/** Tasks and approvals listed at most (the directory's newest). */
export const LIST_LIMIT = 50;
/** Approvals shown per agent group (its newest); the group's count still counts them all. */
export const GROUP_ROWS = 10;
const FANOUT = 16;

export interface Use {
  /** `calls`, an action name, a label, or `<action> <arg>` for a running total. */
  name: string;
  used: number;
  /** The cap, or null where the profile sets none. */
  max: number | null;
}

export interface BudgetUse {
  calls: Use;
  per_action: Use[];
  per_label: Use[];
  totals: Use[];
  services: { touched: string[]; max: number | null };
}

export type LiveTask =
  | {
      entry: DirectoryTask;
      state: "live";
      agent: string;
      profile: string;
      purpose: string;
      deadline: number;
      use: BudgetUse;
    }
  | { entry: DirectoryTask; state: "unavailable" };

export interface PendingApproval {
  view: ApprovalView;
  entry: DirectoryApproval;
}

/** The waiting approvals of one agent (`issuer:sub`), newest first. */
export interface ApprovalGroup {
  agent: string;
  /** Its pending approvals among those listed and checked. */
  count: number;
  /** The newest GROUP_ROWS of them. */
  shown: PendingApproval[];
  /** The newest one's creation time. */
  newest: number;
}

export interface Live {
  /** `missing`: no DIRECTORY binding; `unavailable`: it did not answer. */
  directory: "ok" | "missing" | "unavailable";
  tasks: LiveTask[];
  approvals: PendingApproval[];
  /** The same approvals grouped by agent: the most waiting first, then the most recent. */
  groups: ApprovalGroup[];
  /** Listed by the directory in all (the lists stop at LIST_LIMIT). */
  listed: { tasks: number; approvals: number };
  /** Approvals whose task object did not answer. */
  unchecked: number;
}

const EMPTY = { tasks: [], approvals: [], groups: [], listed: { tasks: 0, approvals: 0 }, unchecked: 0 };

export async function live(env: Env, now: number): Promise<Live> {
  const { DIRECTORY, TASKS } = env;
  if (!DIRECTORY || !TASKS) return { directory: "missing", ...EMPTY };
  let snap: DirectorySnapshot;
  try {
    snap = await rpcCall<DirectorySnapshot>(DIRECTORY.getByName(DIRECTORY_NAME).snapshot(now, LIST_LIMIT));
  } catch (e) {
    const detail = `${(e as Error)?.message ?? "error"}`.slice(0, 200);
    console.error(JSON.stringify({ event: "firebreak.dashboard", reason: "directory.unavailable", detail }));
    return { directory: "unavailable", ...EMPTY };
  }
  const answers = await pool([
    ...snap.tasks.map((t) => () => rpcCall<TaskView | null>(TASKS.getByName(t.task_id).inspect(0, 1))),
    ...snap.approvals.map(
      (a) => () => rpcCall<{ view: ApprovalView } | null>(TASKS.getByName(a.task_id).approval(a.id, now)),
    ),
  ]);
  const tasks: LiveTask[] = [];
  const ended = new Set<string>();
  snap.tasks.forEach((entry, i) => {
    const v = answers[i] as Settled<TaskView | null>;
    if (!v.ok) tasks.push({ entry, state: "unavailable" });
    else if (v.value && isLive(v.value, now)) tasks.push(liveTask(entry, v.value));
    else ended.add(entry.task_id);
  });
  const approvals: PendingApproval[] = [];
  let unchecked = 0;
  snap.approvals.forEach((entry, i) => {
    const a = answers[snap.tasks.length + i] as Settled<{ view: ApprovalView } | null>;
    if (!a.ok) unchecked++;
    // Only a live task's approval can still be decided: one of a task found ended is not pending.
    else if (a.value?.view.status === "pending" && !ended.has(entry.task_id))
      approvals.push({ view: a.value.view, entry });
  });
  return {
    directory: "ok",
    tasks,
    approvals,
    groups: byAgent(approvals),
    listed: { tasks: snap.live_tasks, approvals: snap.open_approvals },
    unchecked,
  };
}

/**
 * One group per requesting agent, so that one agent's flood reads as one line of work: the agent
 * with the most waiting first (ties: the most recent first), each group newest first and cut at
 * GROUP_ROWS rows.
 */
export function byAgent(approvals: PendingApproval[], rows = GROUP_ROWS): ApprovalGroup[] {
  const groups = new Map<string, PendingApproval[]>();
  for (const a of approvals) {
    const agent = `${a.view.requester.issuer}:${a.view.requester.sub}`;
    const list = groups.get(agent);
    if (list) list.push(a);
    else groups.set(agent, [a]);
  }
  return [...groups.entries()]
    .map(([agent, list]) => {
      const sorted = [...list].sort((x, y) => y.view.created - x.view.created || x.view.id.localeCompare(y.view.id));
      return { agent, count: list.length, shown: sorted.slice(0, rows), newest: sorted[0]!.view.created };
    })
    .sort((x, y) => y.count - x.count || y.newest - x.newest || x.agent.localeCompare(y.agent));
}

function isLive(v: TaskView, now: number): boolean {
  return v.task.state === "live" && now < v.task.deadline;
}

function liveTask(entry: DirectoryTask, v: TaskView): LiveTask {
  return {
    entry,
    state: "live",
    agent: `${v.task.agent.issuer}:${v.task.agent.sub}`,
    profile: v.task.profile,
    purpose: v.task.purpose,
    deadline: v.task.deadline,
    use: budgetUse(v.budgets, v.counters, v.services),
  };
}

/** Counters against the profile's caps (the task object's counter names: task-object.ts `counters`). */
export function budgetUse(b: Budgets, counters: Record<string, number>, services: string[]): BudgetUse {
  const n = (key: string) => counters[key] ?? 0;
  return {
    calls: { name: "calls", used: n("calls"), max: b.calls },
    per_action: Object.entries(b.per_action).map(([a, max]) => ({ name: a, used: n(`action:${a}`), max })),
    per_label: Object.entries(b.per_label).map(([l, max]) => ({ name: l, used: n(`label:${l}`), max })),
    totals: b.totals.map((t) => ({ name: `${t.action} ${t.arg}`, used: n(`total:${t.action}:${t.arg}`), max: t.max })),
    services: { touched: [...services].sort(), max: b.services },
  };
}

type Settled<T> = { ok: true; value: T } | { ok: false };

/** Runs every job, at most FANOUT at once; a failure or a timeout is `{ ok: false }`, never a throw. */
async function pool(jobs: (() => Promise<unknown>)[]): Promise<Settled<unknown>[]> {
  const out: Settled<unknown>[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await jobs[i]!() };
      } catch {
        out[i] = { ok: false };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FANOUT, jobs.length) }, worker));
  return out;
}
