/**
 * Replay input: task step logs as JSON Lines (what `firebreak task-log` prints). A `{"task": {...}}`
 * line starts a task (the `task` of GET /_firebreak/v1/tasks/:id); each line after it is one entry of
 * that task's log (a StepView). Several exports may be concatenated, and one task may appear in more
 * than one input (overlapping exports): entries are merged by task id and seq, the first copy kept.
 *
 * The log is input from a file an operator chose, but its values were chosen by agents: nothing here
 * evaluates them, and a malformed line is an error naming its file and line, never a guess.
 */

import type { StepFacts } from "../request/decide-call";
import type { StepView } from "../tasks/steps";
import type { TaskView } from "../tasks/task-object";

/** The task line's fields replay reads (exports carry the whole TaskView `task`). */
export interface LoggedTask {
  task_id: string;
  profile: string;
  agent: { issuer: string; sub: string; claims: Record<string, unknown> };
}

/** One log entry: the StepView fields replay reads. */
export type LogEntry = Pick<
  StepView,
  "seq" | "ts" | "kind" | "decision_id" | "action" | "service" | "resource" | "outcome" | "reason" | "ref" | "by"
> & {
  labels: string[] | null;
  args: Record<string, unknown> | null;
  status: number | null;
  facts: StepFacts | null;
};

export interface TaskLog {
  task: LoggedTask;
  /** In seq order, one per seq. */
  entries: LogEntry[];
}

export class LogError extends Error {}

/** The lines of one input (`where` names it in errors) -> tasks, in the order they first appear. */
export function parseLog(text: string, where: string): TaskLog[] {
  const tasks: TaskLog[] = [];
  let current: TaskLog | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const at = `${where}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new LogError(`${at}: not a JSON line`);
    }
    if (!isObject(value)) throw new LogError(`${at}: not a JSON object`);
    if ("task" in value) {
      current = { task: taskOf(value.task, at), entries: [] };
      tasks.push(current);
      return;
    }
    if (current === null) throw new LogError(`${at}: a step before any {"task": ...} line`);
    (current as TaskLog).entries.push(entryOf(value, at));
  });
  return tasks;
}

/** Tasks from several inputs: the same task id merged, entries deduplicated by seq and sorted. */
export function mergeLogs(logs: TaskLog[]): TaskLog[] {
  const byId = new Map<string, { task: LoggedTask; entries: Map<number, LogEntry> }>();
  for (const log of logs) {
    let merged = byId.get(log.task.task_id);
    if (!merged) {
      merged = { task: log.task, entries: new Map() };
      byId.set(log.task.task_id, merged);
    }
    for (const e of log.entries) if (!merged.entries.has(e.seq)) merged.entries.set(e.seq, e);
  }
  return [...byId.values()].map(({ task, entries }) => ({
    task,
    entries: [...entries.values()].sort((a, b) => a.seq - b.seq),
  }));
}

/** The first line of an export. */
export function taskLine(task: TaskView["task"], log?: unknown): string {
  return JSON.stringify(log === undefined ? { task } : { task, log });
}

function taskOf(v: unknown, at: string): LoggedTask {
  const agent = isObject(v) ? v.agent : undefined;
  if (
    !isObject(v) ||
    typeof v.task_id !== "string" ||
    typeof v.profile !== "string" ||
    !isObject(agent) ||
    typeof agent.issuer !== "string" ||
    typeof agent.sub !== "string" ||
    !(agent.claims === undefined || isObject(agent.claims))
  ) {
    throw new LogError(`${at}: the task line needs task_id, profile and agent {issuer, sub, claims}`);
  }
  return {
    task_id: v.task_id,
    profile: v.profile,
    agent: { issuer: agent.issuer, sub: agent.sub, claims: (agent.claims as Record<string, unknown>) ?? {} },
  };
}

function entryOf(v: Record<string, unknown>, at: string): LogEntry {
  if (!Number.isSafeInteger(v.seq) || typeof v.ts !== "number" || typeof v.kind !== "string") {
    throw new LogError(`${at}: a step needs seq, ts and kind`);
  }
  const text = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : null);
  const labels = Array.isArray(v.labels) ? v.labels.filter((l): l is string => typeof l === "string") : null;
  return {
    seq: v.seq as number,
    ts: v.ts,
    kind: v.kind as LogEntry["kind"],
    decision_id: text("decision_id"),
    action: text("action"),
    service: text("service"),
    resource: text("resource"),
    labels,
    args: isObject(v.args) ? v.args : null,
    outcome: text("outcome"),
    reason: text("reason"),
    ref: Number.isSafeInteger(v.ref) ? (v.ref as number) : null,
    status: Number.isSafeInteger(v.status) ? (v.status as number) : null,
    by: text("by"),
    facts: factsOf(v.facts, at),
  };
}

function factsOf(v: unknown, at: string): StepFacts | null {
  if (v === null || v === undefined) return null;
  const ok =
    isObject(v) &&
    typeof v.method === "string" &&
    typeof v.path === "string" &&
    v.path.startsWith("/") &&
    Array.isArray(v.query) &&
    v.query.every((p) => Array.isArray(p) && p.length === 2 && p.every((s) => typeof s === "string")) &&
    isObject(v.args) &&
    Object.values(v.args).every((a) => ["string", "number", "boolean"].includes(typeof a));
  if (!ok) throw new LogError(`${at}: facts must be {method, path, query: [[name, value]], args}`);
  return v as unknown as StepFacts;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
