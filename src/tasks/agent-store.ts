/**
 * The agent object's SQLite tables and every read and write on them. All methods are synchronous
 * (`ctx.storage.sql.exec`), so the agent object can check and reserve a task start in one block with
 * no `await` in between (TOOLCHAIN.md, Durable Objects).
 */

export const HOUR_MS = 3_600_000;

export interface AgentRow {
  revoked: boolean;
  revoked_at: number | null;
  revoked_by: string | null;
  reinstated_at: number | null;
  reinstated_by: string | null;
}

export interface AgentTaskRow {
  task_id: string;
  started: number;
  deadline: number;
  ended_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS agent (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revoked INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER, revoked_by TEXT,
  reinstated_at INTEGER, reinstated_by TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
  task_id TEXT PRIMARY KEY, started INTEGER NOT NULL, deadline INTEGER NOT NULL, ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_started ON tasks (started);`;

/** A task holds a live slot while it has not ended and its deadline is in the future. */
const LIVE = "ended_at IS NULL AND deadline > ?";

export class AgentStore {
  constructor(private readonly sql: SqlStorage) {}

  migrate(): void {
    this.sql.exec(SCHEMA);
  }

  agent(): AgentRow {
    const row = this.sql.exec("SELECT * FROM agent WHERE id = 1").toArray()[0];
    if (!row) return { revoked: false, revoked_at: null, revoked_by: null, reinstated_at: null, reinstated_by: null };
    const r = row as unknown as Omit<AgentRow, "revoked"> & { revoked: number };
    return {
      revoked: r.revoked === 1,
      revoked_at: r.revoked_at,
      revoked_by: r.revoked_by,
      reinstated_at: r.reinstated_at,
      reinstated_by: r.reinstated_by,
    };
  }

  setRevoked(now: number, by: string): void {
    this.sql.exec(
      `INSERT INTO agent (id, revoked, revoked_at, revoked_by) VALUES (1, 1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET revoked = 1, revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
      now,
      by,
    );
  }

  setReinstated(now: number, by: string): void {
    this.sql.exec("UPDATE agent SET revoked = 0, reinstated_at = ?, reinstated_by = ? WHERE id = 1", now, by);
  }

  task(taskId: string): AgentTaskRow | null {
    const row = this.sql.exec("SELECT * FROM tasks WHERE task_id = ?", taskId).toArray()[0];
    return (row as unknown as AgentTaskRow | undefined) ?? null;
  }

  liveCount(now: number): number {
    return this.sql.exec<{ c: number }>(`SELECT count(*) AS c FROM tasks WHERE ${LIVE}`, now).one().c;
  }

  live(now: number): AgentTaskRow[] {
    return this.sql
      .exec(`SELECT * FROM tasks WHERE ${LIVE} ORDER BY started, task_id`, now)
      .toArray() as unknown as AgentTaskRow[];
  }

  /** Start times after `since`, oldest first (ended tasks included: a start is a start). */
  startsSince(since: number): number[] {
    return this.sql
      .exec<{ started: number }>("SELECT started FROM tasks WHERE started > ? ORDER BY started", since)
      .toArray()
      .map((r) => r.started);
  }

  insertTask(taskId: string, started: number, deadline: number): void {
    this.sql.exec("INSERT INTO tasks (task_id, started, deadline) VALUES (?, ?, ?)", taskId, started, deadline);
  }

  /** Marks a task ended; true when this call ended it (false: unknown or already ended). */
  endTask(taskId: string, now: number): boolean {
    const row = this.task(taskId);
    if (!row || row.ended_at !== null) return false;
    this.sql.exec("UPDATE tasks SET ended_at = ? WHERE task_id = ?", now, taskId);
    return true;
  }

  /** Drops tasks that hold neither a live slot nor a start inside the last hour. */
  prune(now: number): void {
    this.sql.exec(
      "DELETE FROM tasks WHERE (ended_at IS NOT NULL OR deadline <= ?) AND started <= ?",
      now,
      now - HOUR_MS,
    );
  }
}
