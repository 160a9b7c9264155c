/**
 * The task object's SQLite tables and every read and write on them. All methods are synchronous
 * (`ctx.storage.sql.exec`), so the task object can check and reserve a step in one block with no
 * `await` in between (TOOLCHAIN.md, Durable Objects).
 */

import type { ProfileSpec } from "../policy/types";
import { type ChainLink, chainHash, GENESIS, type Json } from "./hash-chain";

export type TaskState = "live" | "completed" | "revoked" | "expired";

export interface TaskRow {
  task_id: string;
  issuer: string;
  sub: string;
  /** Canonical JSON of the agent's claims (the issuer's `claims:`) when the task started, or null. */
  claims: string | null;
  purpose: string;
  profile: ProfileSpec;
  state: TaskState;
  created: number;
  deadline: number;
  ended_at: number | null;
  ended_by: string | null;
}

/** What one log entry says; `null` where a field does not apply to its kind. */
export interface Entry {
  ts: number;
  /**
   * `open`, `call` (admitted or refused), `settle`, `renew` (a new task token), `complete`, `revoke`,
   * `expire`; approvals:
   * `approval` (a call asked for a person), `approve` / `deny` (a person's answer), `notify` (whether the
   * approvers were told); `refusals`: refused calls counted, not written one by one (src/tasks/task-log.ts).
   */
  kind:
    | "open"
    | "call"
    | "settle"
    | "renew"
    | "refusals"
    | "complete"
    | "revoke"
    | "expire"
    | "approval"
    | "approve"
    | "deny"
    | "notify";
  decision_id?: string | null;
  action?: string | null;
  service?: string | null;
  resource?: string | null;
  /** Canonical JSON of the step's labels and declared arguments. */
  labels?: string | null;
  args?: string | null;
  /** `reserved` or `refused` (call entries). */
  outcome?: string | null;
  reason?: string | null;
  /** The call a settle entry settles. */
  ref?: number | null;
  /** Upstream status of a settle entry (null: no answer). */
  status?: number | null;
  /**
   * Canonical JSON of a call's request facts (method, path, query, declared arguments): what
   * `firebreak replay` re-decides with a candidate bundle. Never a header, a body or a token.
   */
  facts?: string | null;
  /**
   * Who ended the task (revoke), opened or renewed it, or decided an approval (`issuer sub`); `approval <id>`
   * on a call it admitted.
   */
  by?: string | null;
}

export interface StepRow extends Required<Entry> {
  seq: number;
  /** Call entries only, set by settle (not hashed: the settle entry carries the status in the chain). */
  settled: number;
  prev_hash: string;
  hash: string;
}

const HASHED = [
  "seq",
  "ts",
  "kind",
  "decision_id",
  "action",
  "service",
  "resource",
  "labels",
  "args",
  "outcome",
  "reason",
  "ref",
  "by",
] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS task (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  task_id TEXT NOT NULL, issuer TEXT NOT NULL, sub TEXT NOT NULL, purpose TEXT NOT NULL,
  profile TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, deadline INTEGER NOT NULL,
  ended_at INTEGER, ended_by TEXT, head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n REAL NOT NULL);
CREATE TABLE IF NOT EXISTS window_calls (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS window_calls_ts ON window_calls (ts);
CREATE TABLE IF NOT EXISTS labels_read (label TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS resources_read (action TEXT NOT NULL, resource TEXT NOT NULL, PRIMARY KEY (action, resource));
CREATE TABLE IF NOT EXISTS succeeded (action TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS steps (
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,
  decision_id TEXT, action TEXT, service TEXT, resource TEXT, labels TEXT, args TEXT,
  outcome TEXT, reason TEXT, ref INTEGER, status INTEGER, by TEXT,
  settled INTEGER NOT NULL DEFAULT 0, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_open ON steps (seq) WHERE kind = 'call' AND outcome = 'reserved' AND settled = 0;`;

/** Columns added after objects were first created: added to older objects' tables on load. */
const ADDED_COLUMNS: [table: string, column: string][] = [
  ["task", "claims TEXT"],
  ["steps", "facts TEXT"],
  ["task", "verified_seq INTEGER NOT NULL DEFAULT 0"],
  ["task", "verified_hash TEXT"],
];

/** Counter keys: budget use, and the running totals with their in-flight reservations. */
export const key = {
  calls: "calls",
  action: (a: string) => `action:${a}`,
  label: (l: string) => `label:${l}`,
  service: (s: string) => `service:${s}`,
  total: (action: string, arg: string) => `total:${action}:${arg}`,
};

/**
 * The task's row, counters and labels read are kept in memory as well as in SQLite: an admit reads
 * them all, and a materialised SELECT costs more than the write. Every write goes through this class,
 * so the copies stay equal to the tables; a transaction that throws rolls the tables back, and its
 * caller calls `forget()` so the copies are read again.
 */
export class TaskStore {
  /** The profile never changes after open: parse it once, not on every admit. */
  private parsed: { raw: string; profile: ProfileSpec } | null = null;
  private row: (TaskRow & { head_seq: number; head_hash: string }) | null = null;
  private counterCache: Map<string, number> | null = null;
  private labelCache: Set<string> | null = null;

  constructor(private readonly sql: SqlStorage) {}

  /** Drops the in-memory copies (after a rolled-back transaction). */
  forget(): void {
    this.row = null;
    this.counterCache = null;
    this.labelCache = null;
  }

  migrate(): void {
    this.sql.exec(SCHEMA);
    for (const [table, column] of ADDED_COLUMNS) {
      const name = column.split(" ")[0];
      const has = this.sql.exec(`SELECT 1 FROM pragma_table_info('${table}') WHERE name = ?`, name).toArray();
      if (has.length === 0) this.sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
    }
  }

  task(): TaskRow | null {
    if (this.row !== null) return this.row;
    const rows = this.sql.exec("SELECT * FROM task WHERE id = 1").toArray();
    const row = rows[0];
    if (!row) return null;
    const raw = row.profile as string;
    if (this.parsed?.raw !== raw) this.parsed = { raw, profile: JSON.parse(raw) as ProfileSpec };
    this.row = {
      ...(row as unknown as TaskRow & { head_seq: number; head_hash: string }),
      profile: this.parsed.profile,
    };
    return this.row;
  }

  createTask(t: Omit<TaskRow, "state" | "ended_at" | "ended_by">): void {
    this.sql.exec(
      `INSERT INTO task (id, task_id, issuer, sub, claims, purpose, profile, state, created, deadline, head_seq,
         head_hash) VALUES (1, ?, ?, ?, ?, ?, ?, 'live', ?, ?, 0, ?)`,
      t.task_id,
      t.issuer,
      t.sub,
      t.claims,
      t.purpose,
      JSON.stringify(t.profile),
      t.created,
      t.deadline,
      GENESIS,
    );
    this.forget();
  }

  endTask(state: Exclude<TaskState, "live">, now: number, by: string | null): void {
    this.sql.exec("UPDATE task SET state = ?, ended_at = ?, ended_by = ? WHERE id = 1", state, now, by);
    if (this.row !== null) this.row = { ...this.row, state, ended_at: now, ended_by: by };
  }

  private counterMap(): Map<string, number> {
    if (this.counterCache === null) {
      this.counterCache = new Map();
      for (const row of this.sql.exec<{ key: string; n: number }>("SELECT key, n FROM counters")) {
        this.counterCache.set(row.key, row.n);
      }
    }
    return this.counterCache;
  }

  counter(k: string): number {
    return this.counterMap().get(k) ?? 0;
  }

  addCounter(k: string, delta: number): void {
    // Loaded before the write: loading after it would count the delta twice.
    const map = this.counterMap();
    this.sql.exec(
      "INSERT INTO counters (key, n) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET n = n + ?",
      k,
      delta,
      delta,
    );
    map.set(k, (map.get(k) ?? 0) + delta);
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.counterMap().keys()].sort()) out[k] = this.counter(k);
    return out;
  }

  /** The services the task has called (admitted), sorted. */
  services(): string[] {
    const out: string[] = [];
    for (const k of this.counterMap().keys()) if (k.startsWith("service:")) out.push(k.slice("service:".length));
    return out.sort();
  }

  distinctServices(): number {
    return this.services().length;
  }

  /** Admitted calls after `since` (a count: the window check reads no rows until a window is full). */
  windowCount(since: number): number {
    return this.sql.exec<{ c: number }>("SELECT count(*) AS c FROM window_calls WHERE ts > ?", since).one().c;
  }

  /** The timestamp of the `offset`-th admitted call after `since`, oldest first (0: the oldest). */
  windowAt(since: number, offset: number): number {
    return this.sql
      .exec<{ ts: number }>("SELECT ts FROM window_calls WHERE ts > ? ORDER BY ts LIMIT 1 OFFSET ?", since, offset)
      .one().ts;
  }

  recordWindow(seq: number, ts: number, pruneBefore: number): void {
    this.sql.exec("DELETE FROM window_calls WHERE ts <= ?", pruneBefore);
    this.sql.exec("INSERT INTO window_calls (seq, ts) VALUES (?, ?)", seq, ts);
  }

  private labelSet(): Set<string> {
    this.labelCache ??= new Set(
      this.sql
        .exec<{ label: string }>("SELECT label FROM labels_read")
        .toArray()
        .map((r) => r.label),
    );
    return this.labelCache;
  }

  labelsRead(): string[] {
    return [...this.labelSet()].sort();
  }

  /** The step's `data:*` labels join those the task has read. */
  recordRead(labels: string[]): void {
    const read = this.labelSet();
    for (const label of labels) {
      if (!label.startsWith("data:") || read.has(label)) continue;
      this.sql.exec("INSERT OR IGNORE INTO labels_read (label) VALUES (?)", label);
      read.add(label);
    }
  }

  /** Calls reserved and not settled yet (in flight), oldest first. */
  openCalls(): { seq: number; ts: number; action: string; resource: string; decision_id: string }[] {
    return this.sql
      .exec<{ seq: number; ts: number; action: string; resource: string; decision_id: string }>(
        "SELECT seq, ts, action, resource, decision_id FROM steps WHERE kind = 'call' AND outcome = 'reserved' AND settled = 0 ORDER BY seq",
      )
      .toArray();
  }

  resourcesRead(): { action: string; resource: string }[] {
    return this.sql
      .exec<{ action: string; resource: string }>(
        "SELECT action, resource FROM resources_read ORDER BY action, resource",
      )
      .toArray();
  }

  /** Whether one of `actions` succeeded in this task (and, when given, returned `resource`). */
  succeededAny(actions: string[], resource?: string): boolean {
    if (actions.length === 0) return false;
    const marks = actions.map(() => "?").join(",");
    const cursor =
      resource === undefined
        ? this.sql.exec(`SELECT 1 FROM succeeded WHERE action IN (${marks}) LIMIT 1`, ...actions)
        : this.sql.exec(
            `SELECT 1 FROM resources_read WHERE resource = ? AND action IN (${marks}) LIMIT 1`,
            resource,
            ...actions,
          );
    return cursor.toArray().length > 0;
  }

  recordSuccess(action: string, resource: string, labels: string[]): void {
    this.sql.exec("INSERT OR IGNORE INTO succeeded (action) VALUES (?)", action);
    this.sql.exec("INSERT OR IGNORE INTO resources_read (action, resource) VALUES (?, ?)", action, resource);
    this.recordRead(labels);
  }

  step(seq: number): StepRow | null {
    return (this.sql.exec("SELECT * FROM steps WHERE seq = ?", seq).toArray()[0] as unknown as StepRow) ?? null;
  }

  steps(after: number, limit: number): StepRow[] {
    return this.sql
      .exec("SELECT * FROM steps WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
      .toArray() as unknown as StepRow[];
  }

  markSettled(seq: number, status: number | null): void {
    this.sql.exec("UPDATE steps SET settled = 1, status = ? WHERE seq = ?", status, seq);
  }

  /** Appends one entry to the chain and moves the head; returns its seq. */
  append(entry: Entry): number {
    const head = this.head();
    const row = { ...blank(), ...entry, seq: head.seq + 1 };
    const hash = chainHash(head.hash, hashedEntry(row));
    this.sql.exec(
      `INSERT INTO steps (seq, ts, kind, decision_id, action, service, resource, labels, args, outcome, reason, ref,
         status, by, facts, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.seq,
      row.ts,
      row.kind,
      row.decision_id,
      row.action,
      row.service,
      row.resource,
      row.labels,
      row.args,
      row.outcome,
      row.reason,
      row.ref,
      row.status,
      row.by,
      row.facts,
      head.hash,
      hash,
    );
    this.sql.exec("UPDATE task SET head_seq = ?, head_hash = ? WHERE id = 1", row.seq, hash);
    if (this.row !== null) this.row = { ...this.row, head_seq: row.seq, head_hash: hash };
    return row.seq;
  }

  head(): { seq: number; hash: string } {
    const task = this.task();
    if (task === null) throw new Error("no task");
    const { head_seq, head_hash } = task as TaskRow & { head_seq: number; head_hash: string };
    return { seq: head_seq, hash: head_hash };
  }

  /** The last entry the chain was verified through (the genesis before any verification). */
  verified(): { seq: number; hash: string } {
    const t = this.task() as (TaskRow & { verified_seq?: number; verified_hash?: string | null }) | null;
    return { seq: t?.verified_seq ?? 0, hash: t?.verified_hash ?? GENESIS };
  }

  markVerified(head: { seq: number; hash: string }): void {
    this.sql.exec("UPDATE task SET verified_seq = ?, verified_hash = ? WHERE id = 1", head.seq, head.hash);
    if (this.row !== null)
      this.row = { ...this.row, verified_seq: head.seq, verified_hash: head.hash } as typeof this.row;
  }

  /** The entries after `seq` as chain links, in stored order, read `page` rows at a time. */
  *linksAfter(seq: number, page: number): Generator<ChainLink & { row: StepRow }> {
    let after = seq;
    for (;;) {
      const rows = this.steps(after, page);
      for (const row of rows) {
        yield { seq: row.seq, prev_hash: row.prev_hash, hash: row.hash, entry: hashedEntry(row), row };
      }
      if (rows.length < page) return;
      after = rows[rows.length - 1]!.seq;
    }
  }
}

function blank(): Required<Entry> {
  return {
    ts: 0,
    kind: "call",
    decision_id: null,
    action: null,
    service: null,
    resource: null,
    labels: null,
    args: null,
    outcome: null,
    reason: null,
    ref: null,
    status: null,
    by: null,
    facts: null,
  };
}

/**
 * The hashed content of a stored entry. A call's `status` is written later by settle, so it is left
 * out here; the settle entry that set it is hashed with its status, and verifyLog checks the two agree.
 */
export function hashedEntry(row: Required<Entry> & { seq: number }): Json {
  const entry: Record<string, Json> = {};
  for (const k of HASHED) entry[k] = row[k];
  // Added later: hashed when present, so entries written before it existed keep their hashes.
  if (row.facts !== null && row.facts !== undefined) entry.facts = row.facts;
  if (row.kind !== "call") entry.status = row.status;
  return entry;
}
