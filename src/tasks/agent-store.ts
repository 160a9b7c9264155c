/**
 * The agent object's SQLite tables and every read and write on them. All methods are synchronous
 * (`ctx.storage.sql.exec`), so the agent object can check and reserve a task start, or an approval
 * slot, in one block with no `await` in between (TOOLCHAIN.md, Durable Objects).
 */

export const HOUR_MS = 3_600_000;

export interface AgentRow {
  revoked: boolean;
  revoked_at: number | null;
  revoked_by: string | null;
  reinstated_at: number | null;
  reinstated_by: string | null;
}

/** One waiting approval of the agent, in any of its tasks, keyed by the request digest. */
export interface ApprovalSlotRow {
  digest: string;
  task_id: string;
  /** Null until the gateway says which approval the task object opened for it. */
  approval_id: string | null;
  held_at: number;
  expires_at: number;
  released_at: number | null;
}

/** The agent's current notification window (docs/approvals.md, "Notification"). */
export interface NoticeWindowRow {
  window_start: number;
  /** Approvals posted one by one in this window. */
  posts: number;
  /** Whether this window's one summary has been posted. */
  summarized: boolean;
  /** Approvals opened after the summary, in this window: not posted at all. */
  quiet: number;
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
CREATE INDEX IF NOT EXISTS tasks_started ON tasks (started);
CREATE TABLE IF NOT EXISTS approval_slots (
  digest TEXT PRIMARY KEY, task_id TEXT NOT NULL, approval_id TEXT, held_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, released_at INTEGER
);
CREATE INDEX IF NOT EXISTS approval_slots_id ON approval_slots (approval_id);
CREATE TABLE IF NOT EXISTS notice_window (
  id INTEGER PRIMARY KEY CHECK (id = 1), window_start INTEGER NOT NULL, posts INTEGER NOT NULL,
  summarized INTEGER NOT NULL, quiet INTEGER NOT NULL
);`;

/** A task holds a live slot while it has not ended and its deadline is in the future. */
const LIVE = "ended_at IS NULL AND deadline > ?";
/** An approval slot counts while it is not released and its approval has not expired. */
const WAITING = "released_at IS NULL AND expires_at > ?";

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

  slot(digest: string): ApprovalSlotRow | null {
    const row = this.sql.exec("SELECT * FROM approval_slots WHERE digest = ?", digest).toArray()[0];
    return (row as unknown as ApprovalSlotRow | undefined) ?? null;
  }

  /** Slots waiting at `now`, the one that expires first first. */
  waitingSlots(now: number): ApprovalSlotRow[] {
    return this.sql
      .exec(`SELECT * FROM approval_slots WHERE ${WAITING} ORDER BY expires_at, digest`, now)
      .toArray() as unknown as ApprovalSlotRow[];
  }

  waitingCount(now: number): number {
    return this.sql.exec<{ c: number }>(`SELECT count(*) AS c FROM approval_slots WHERE ${WAITING}`, now).one().c;
  }

  /** A new slot for `digest`, replacing a released or expired one of the same request. */
  holdSlot(digest: string, taskId: string, now: number, expiresAt: number): void {
    this.sql.exec(
      `INSERT INTO approval_slots (digest, task_id, approval_id, held_at, expires_at) VALUES (?, ?, NULL, ?, ?)
       ON CONFLICT (digest) DO UPDATE SET task_id = excluded.task_id, approval_id = NULL,
         held_at = excluded.held_at, expires_at = excluded.expires_at, released_at = NULL`,
      digest,
      taskId,
      now,
      expiresAt,
    );
  }

  /** Names the approval a waiting slot stands for, and its real expiry. True when a slot was found. */
  bindSlot(digest: string, approvalId: string, expiresAt: number, now: number): boolean {
    if (!this.isWaiting("digest", digest, now)) return false;
    this.sql.exec(
      "UPDATE approval_slots SET approval_id = ?, expires_at = ? WHERE digest = ?",
      approvalId,
      expiresAt,
      digest,
    );
    return true;
  }

  /** Releases the waiting slot of `digest`, or of approval `approval_id`; true when one was released. */
  releaseSlot(by: { digest: string } | { approval_id: string }, now: number): boolean {
    const [column, value] =
      "digest" in by ? (["digest", by.digest] as const) : (["approval_id", by.approval_id] as const);
    if (!this.isWaiting(column, value, now)) return false;
    this.sql.exec(`UPDATE approval_slots SET released_at = ? WHERE ${column} = ? AND ${WAITING}`, now, value, now);
    return true;
  }

  /** Releases every waiting slot of a task (it ended: its approvals can no longer be decided). */
  releaseTaskSlots(taskId: string, now: number): void {
    this.sql.exec(`UPDATE approval_slots SET released_at = ? WHERE task_id = ? AND ${WAITING}`, now, taskId, now);
  }

  private isWaiting(column: "digest" | "approval_id", value: string, now: number): boolean {
    const sql = `SELECT count(*) AS c FROM approval_slots WHERE ${column} = ? AND ${WAITING}`;
    return this.sql.exec<{ c: number }>(sql, value, now).one().c > 0;
  }

  /** Drops slots that no longer count (released or expired): the table holds little more than the cap. */
  pruneSlots(now: number): void {
    this.sql.exec("DELETE FROM approval_slots WHERE released_at IS NOT NULL OR expires_at <= ?", now);
  }

  noticeWindow(): NoticeWindowRow | null {
    const row = this.sql.exec("SELECT * FROM notice_window WHERE id = 1").toArray()[0];
    if (!row) return null;
    const r = row as unknown as Omit<NoticeWindowRow, "summarized"> & { summarized: number };
    return { window_start: r.window_start, posts: r.posts, summarized: r.summarized === 1, quiet: r.quiet };
  }

  setNoticeWindow(w: NoticeWindowRow): void {
    this.sql.exec(
      `INSERT INTO notice_window (id, window_start, posts, summarized, quiet) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET window_start = excluded.window_start, posts = excluded.posts,
         summarized = excluded.summarized, quiet = excluded.quiet`,
      w.window_start,
      w.posts,
      w.summarized ? 1 : 0,
      w.quiet,
    );
  }
}
