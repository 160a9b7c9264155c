/**
 * The approvals table inside a task's Durable Object (beside TaskStore's tables in the same SQLite
 * database). Synchronous, like every read and write of the task object, so a retried call's approval
 * check, the budgets and the reservation happen in one block.
 */
import type { AgentMatch } from "../policy/types";
import type { ApprovalRequest, ApprovalState, ApprovalStatus, ApprovalView } from "./approval-types";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, created INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
  digest TEXT NOT NULL, decision_id TEXT NOT NULL, request TEXT NOT NULL, rules TEXT NOT NULL,
  approvers TEXT NOT NULL, csrf TEXT NOT NULL, decided_at INTEGER, decided_by TEXT,
  used_at INTEGER, used_by_decision TEXT
);
CREATE INDEX IF NOT EXISTS approvals_digest ON approvals (digest);`;

export interface ApprovalRow {
  id: string;
  created: number;
  expires_at: number;
  state: ApprovalState;
  digest: string;
  decision_id: string;
  request: string;
  rules: string;
  approvers: string;
  csrf: string;
  decided_at: number | null;
  decided_by: string | null;
  used_at: number | null;
  used_by_decision: string | null;
}

export class ApprovalStore {
  constructor(private readonly sql: SqlStorage) {}

  migrate(): void {
    this.sql.exec(SCHEMA);
  }

  get(id: string): ApprovalRow | null {
    return (this.sql.exec("SELECT * FROM approvals WHERE id = ?", id).toArray()[0] as unknown as ApprovalRow) ?? null;
  }

  /** A pending, unexpired approval for exactly this request, if one is waiting already. */
  waiting(digest: string, now: number): ApprovalRow | null {
    const rows = this.sql
      .exec("SELECT * FROM approvals WHERE digest = ? AND state = 'pending' AND expires_at > ? LIMIT 1", digest, now)
      .toArray();
    return (rows[0] as unknown as ApprovalRow) ?? null;
  }

  pendingCount(now: number): number {
    return this.sql
      .exec<{ c: number }>("SELECT count(*) AS c FROM approvals WHERE state = 'pending' AND expires_at > ?", now)
      .one().c;
  }

  insert(row: Omit<ApprovalRow, "decided_at" | "decided_by" | "used_at" | "used_by_decision">): void {
    this.sql.exec(
      `INSERT INTO approvals (id, created, expires_at, state, digest, decision_id, request, rules, approvers, csrf)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      row.created,
      row.expires_at,
      row.state,
      row.digest,
      row.decision_id,
      row.request,
      row.rules,
      row.approvers,
      row.csrf,
    );
  }

  decide(id: string, state: "approved" | "denied", now: number, by: string): void {
    this.sql.exec("UPDATE approvals SET state = ?, decided_at = ?, decided_by = ? WHERE id = ?", state, now, by, id);
  }

  markUsed(id: string, now: number, decisionId: string): void {
    this.sql.exec("UPDATE approvals SET used_at = ?, used_by_decision = ? WHERE id = ?", now, decisionId, id);
  }

  /** Newest first. */
  list(limit: number): ApprovalRow[] {
    return this.sql
      .exec("SELECT * FROM approvals ORDER BY created DESC LIMIT ?", limit)
      .toArray() as unknown as ApprovalRow[];
  }
}

/**
 * What an approval is now: used once its call was admitted; otherwise expired at `expires_at` whether
 * or not a person said yes (an approval is used within its lifetime or not at all); else as stored.
 */
export function statusOf(row: ApprovalRow, now: number): ApprovalStatus {
  if (row.used_at !== null) return "used";
  if (row.state === "denied") return "denied";
  if (now >= row.expires_at) return "expired";
  return row.state;
}

export function viewOf(
  row: ApprovalRow,
  task: { task_id: string; issuer: string; sub: string },
  now: number,
): ApprovalView {
  return {
    id: row.id,
    task_id: task.task_id,
    status: statusOf(row, now),
    created: row.created,
    expires_at: row.expires_at,
    request: JSON.parse(row.request) as ApprovalRequest,
    rules: JSON.parse(row.rules) as string[],
    approvers: JSON.parse(row.approvers) as AgentMatch[],
    requester: { issuer: task.issuer, sub: task.sub },
    decided_at: row.decided_at,
    decided_by: row.decided_by,
    used_at: row.used_at,
    used_by_decision: row.used_by_decision,
  };
}
