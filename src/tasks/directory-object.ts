/**
 * The directory Durable Object: one object for the whole gateway (`getByName(DIRECTORY_NAME)`), SQLite
 * storage, native RPC. It lists tasks started and ended and approvals opened and settled, so that the
 * operator dashboard can find candidates without a global scan (each task is its own object).
 *
 * It is a view, never an authority: writes arrive in the background after the task or approval event
 * (src/tasks/directory.ts), may be lost or arrive out of order, and the dashboard asks each task's own
 * object for the real state before it shows anything. So every write is an upsert that commutes with
 * the others (an end that arrives before its start leaves the start's fields to fill; the first end or
 * settle time is kept, and `used` outranks the approval's `approved`), and the size is
 * bounded: rows ended, settled or expired more than a day ago are pruned when writing, and each table
 * keeps at most MAX_ROWS rows, the most recent first.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

export const DIRECTORY_NAME = "directory";
/** Ended tasks and settled approvals stay listed this long (for a late write to find its row). */
export const KEEP_MS = 24 * 3600_000;
export const MAX_ROWS = 10_000;
/** Pruning runs on a write at most this often (a delete per write would double the hot object's cost). */
const PRUNE_EVERY_MS = 60_000;
const MAX_LIST = 200;

export interface AgentRef {
  issuer: string;
  sub: string;
}

export type DirectoryEvent =
  | {
      kind: "task.started";
      task_id: string;
      agent: AgentRef;
      profile: string;
      purpose: string;
      started: number;
      deadline: number;
    }
  | { kind: "task.ended"; task_id: string; state: "completed" | "revoked"; at: number }
  | {
      kind: "approval.opened";
      id: string;
      task_id: string;
      action: string;
      resource: string;
      agent: AgentRef;
      created: number;
      expires: number;
    }
  | { kind: "approval.settled"; id: string; task_id: string; state: "approved" | "denied" | "used"; at: number };

export interface DirectoryTask {
  task_id: string;
  issuer: string;
  sub: string;
  profile: string;
  purpose: string;
  started: number;
  deadline: number;
}

export interface DirectoryApproval {
  id: string;
  task_id: string;
  action: string;
  resource: string;
  issuer: string;
  sub: string;
  created: number;
  expires: number;
}

export interface DirectorySnapshot {
  /** Live by the directory (started, not ended, deadline ahead), newest first, at most `limit`. */
  tasks: DirectoryTask[];
  /** Open by the directory (opened, not settled, unexpired, task not ended), newest first. */
  approvals: DirectoryApproval[];
  /** How many there are in all (the lists stop at `limit`). */
  live_tasks: number;
  open_approvals: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  task_id TEXT PRIMARY KEY, issuer TEXT, sub TEXT, profile TEXT, purpose TEXT, started INTEGER,
  deadline INTEGER, ended_at INTEGER, ended_state TEXT, seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_started ON tasks (started);
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL, action TEXT, resource TEXT, issuer TEXT, sub TEXT,
  created INTEGER, expires INTEGER, settled_at INTEGER, settled_state TEXT, seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_created ON approvals (created);`;

const LIVE_TASKS = "started IS NOT NULL AND ended_at IS NULL AND deadline > ?";
const OPEN_APPROVALS = `created IS NOT NULL AND settled_at IS NULL AND expires > ?1 AND NOT EXISTS (
  SELECT 1 FROM tasks t WHERE t.task_id = approvals.task_id AND (t.ended_at IS NOT NULL OR t.deadline <= ?1))`;

interface Upsert<E> {
  sql: string;
  args: (e: E, seen: number) => SqlStorageValue[];
}

/** One statement per kind; `seen` is the event's time, for the size cap. */
const UPSERTS: { [K in DirectoryEvent["kind"]]: Upsert<Extract<DirectoryEvent, { kind: K }>> } = {
  "task.started": {
    sql: `INSERT INTO tasks (task_id, issuer, sub, profile, purpose, started, deadline, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (task_id) DO UPDATE SET issuer = excluded.issuer, sub = excluded.sub, profile = excluded.profile,
        purpose = excluded.purpose, started = excluded.started, deadline = excluded.deadline, seen = excluded.seen`,
    args: (e, seen) => [e.task_id, e.agent.issuer, e.agent.sub, e.profile, e.purpose, e.started, e.deadline, seen],
  },
  "task.ended": {
    sql: `INSERT INTO tasks (task_id, ended_at, ended_state, seen) VALUES (?, ?, ?, ?)
      ON CONFLICT (task_id) DO UPDATE SET ended_at = coalesce(ended_at, excluded.ended_at),
        ended_state = coalesce(ended_state, excluded.ended_state), seen = excluded.seen`,
    args: (e, seen) => [e.task_id, e.at, e.state, seen],
  },
  "approval.opened": {
    sql: `INSERT INTO approvals (id, task_id, action, resource, issuer, sub, created, expires, seen)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET action = excluded.action, resource = excluded.resource, issuer = excluded.issuer,
        sub = excluded.sub, created = excluded.created, expires = excluded.expires, seen = excluded.seen`,
    args: (e, seen) => [e.id, e.task_id, e.action, e.resource, e.agent.issuer, e.agent.sub, e.created, e.expires, seen],
  },
  "approval.settled": {
    sql: `INSERT INTO approvals (id, task_id, settled_at, settled_state, seen) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET settled_at = coalesce(settled_at, excluded.settled_at),
        settled_state = CASE WHEN excluded.settled_state = 'used' THEN 'used'
          ELSE coalesce(settled_state, excluded.settled_state) END, seen = excluded.seen`,
    args: (e, seen) => [e.id, e.task_id, e.at, e.state, seen],
  },
};

export class DirectoryObject extends DurableObject<Env> {
  private lastPrune = Number.NEGATIVE_INFINITY;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  /** One event, as an upsert that commutes with every other; a malformed event throws (the caller logs it). */
  record(event: DirectoryEvent): void {
    const e = checked(event);
    const now = timeOf(e);
    const upsert = UPSERTS[e.kind] as Upsert<DirectoryEvent>;
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(upsert.sql, ...upsert.args(e, now));
      if (now - this.lastPrune >= PRUNE_EVERY_MS) {
        this.prune(now);
        this.lastPrune = now;
      }
    });
  }

  /** The candidates the dashboard checks with each task's object. */
  snapshot(now: number, limit = 50): DirectorySnapshot {
    const n = Math.min(Math.max(Math.trunc(limit) || 1, 1), MAX_LIST);
    const sql = this.ctx.storage.sql;
    const tasks = sql
      .exec(
        `SELECT task_id, issuer, sub, profile, purpose, started, deadline FROM tasks WHERE ${LIVE_TASKS}
         ORDER BY started DESC, task_id ASC LIMIT ?`,
        now,
        n,
      )
      .toArray() as unknown as DirectoryTask[];
    const approvals = sql
      .exec(
        `SELECT id, task_id, action, resource, issuer, sub, created, expires FROM approvals WHERE ${OPEN_APPROVALS}
         ORDER BY created DESC, id ASC LIMIT ?2`,
        now,
        n,
      )
      .toArray() as unknown as DirectoryApproval[];
    const count = (query: string) => sql.exec<{ c: number }>(query, now).one().c;
    return {
      tasks,
      approvals,
      live_tasks: count(`SELECT count(*) AS c FROM tasks WHERE ${LIVE_TASKS}`),
      open_approvals: count(`SELECT count(*) AS c FROM approvals WHERE ${OPEN_APPROVALS}`),
    };
  }

  /** Ended, settled or expired more than KEEP_MS ago: gone; then at most MAX_ROWS a table, the most recent kept. */
  private prune(now: number): void {
    const before = now - KEEP_MS;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM tasks WHERE ended_at < ?1 OR deadline < ?1", before);
    sql.exec("DELETE FROM approvals WHERE settled_at < ?1 OR expires < ?1", before);
    for (const [table, key] of [
      ["tasks", "task_id"],
      ["approvals", "id"],
    ] as const) {
      sql.exec(
        `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} ORDER BY seen DESC LIMIT -1 OFFSET ?)`,
        MAX_ROWS,
      );
    }
  }
}

/** Each kind's fields: text cut at a length (the directory only shows it), times in ms, a state, an agent. */
const FIELDS: Record<DirectoryEvent["kind"], Record<string, number | "time" | "agent" | readonly string[]>> = {
  "task.started": { task_id: 80, agent: "agent", profile: 128, purpose: 300, started: "time", deadline: "time" },
  "task.ended": { task_id: 80, state: ["completed", "revoked"], at: "time" },
  "approval.opened": {
    id: 80,
    task_id: 80,
    action: 200,
    resource: 512,
    agent: "agent",
    created: "time",
    expires: "time",
  },
  "approval.settled": { id: 80, task_id: 80, state: ["approved", "denied", "used"], at: "time" },
};

/** The event with exactly its kind's fields, each sound; anything else throws (a caller's bug). */
function checked(e: DirectoryEvent): DirectoryEvent {
  const fields = Object.hasOwn(FIELDS, e?.kind) ? FIELDS[e.kind] : null;
  if (!fields) throw new Error("directory: unknown event");
  const given = e as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { kind: e.kind };
  for (const [name, rule] of Object.entries(fields)) {
    const v = given[name];
    const bad = () => new Error(`directory: ${e.kind} ${name}`);
    if (rule === "time") {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad();
      out[name] = v;
    } else if (rule === "agent") {
      const a = v as Partial<AgentRef> | undefined;
      if (typeof a?.issuer !== "string" || typeof a.sub !== "string") throw bad();
      out[name] = { issuer: a.issuer.slice(0, 128), sub: a.sub.slice(0, 256) };
    } else if (typeof rule === "number") {
      if (typeof v !== "string" || (name.endsWith("id") && v === "")) throw bad();
      out[name] = v.slice(0, rule);
    } else {
      if (typeof v !== "string" || !rule.includes(v)) throw bad();
      out[name] = v;
    }
  }
  return out as unknown as DirectoryEvent;
}

function timeOf(e: DirectoryEvent): number {
  switch (e.kind) {
    case "task.started":
      return e.started;
    case "approval.opened":
      return e.created;
    default:
      return e.at;
  }
}
