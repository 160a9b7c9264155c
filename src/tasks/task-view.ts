/**
 * A task as its operators read it (inspect, the approval page, replay, `firebreak task-log`): state,
 * budget use, reads, refused calls by reason, and one page of its log.
 */
import type { Budgets } from "../policy/types";
import { type StepView, stepView } from "./steps";
import type { TaskLog } from "./task-log";
import type { TaskRow, TaskStore } from "./task-store";

type Claim = string | number | boolean | null | string[];

export interface TaskView {
  task: Omit<TaskRow, "profile" | "issuer" | "sub" | "claims" | "scope"> & {
    /** The claims kept at the start (JSON values; typed flat so RPC types stay finite). */
    agent: { issuer: string; sub: string; claims: Record<string, Claim> };
    profile: string;
    /** The repositories the task named at start, per service (src/policy/scope.ts); absent: none. */
    scope?: Record<string, { repositories: string[] }>;
  };
  budgets: Budgets;
  /** Raw counters: `calls`, `action:<a>`, `label:<l>`, `service:<s>`, `total:<action>:<arg>` (reservations included). */
  counters: Record<string, number>;
  services: string[];
  /** Admitted calls still inside the longest window. */
  window_calls: number;
  labels_read: string[];
  resources_read: { action: string; resource: string }[];
  steps: StepView[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: number | null;
  /** Entries in the whole log (the seq of the last one): `cursor = log_length - n` reads the last n. */
  log_length: number;
  /** Refused calls by reason, those written in full and those only counted (`refusals` entries). */
  refused: Record<string, number>;
}

export function viewOf(store: TaskStore, log: TaskLog, cursor: number, limit: number): TaskView | null {
  const task = store.task();
  if (!task) return null;
  const size = Math.min(Math.max(Math.trunc(limit) || 1, 1), 500);
  const rows = store.steps(cursor, size + 1);
  const page = rows.slice(0, size);
  // `id` is the row key of the one-row table, not the task's; the verified position is the log's.
  const {
    id: _rowKey,
    verified_seq: _v,
    verified_hash: _h,
    profile,
    issuer,
    sub,
    claims,
    scope,
    ...rest
  } = task as TaskRow & { id?: number; verified_seq?: number; verified_hash?: string };
  return {
    task: {
      ...rest,
      agent: { issuer, sub, claims: claims === null ? {} : (JSON.parse(claims) as Record<string, Claim>) },
      profile: profile.name,
      ...(scope ? { scope: JSON.parse(scope) as Record<string, { repositories: string[] }> } : {}),
    },
    budgets: profile.budgets,
    counters: store.counters(),
    services: store.services(),
    window_calls: store.windowCount(Number.NEGATIVE_INFINITY),
    labels_read: store.labelsRead(),
    resources_read: store.resourcesRead(),
    steps: page.map(stepView),
    next_cursor: rows.length > size ? page[page.length - 1]!.seq : null,
    log_length: store.head().seq,
    refused: log.counts(),
  };
}
