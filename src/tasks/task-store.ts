/**
 * The task object's SQLite tables and every read and write on them. All methods are synchronous
 * (`ctx.storage.sql.exec`), so the task object can check and reserve a step in one block with no
 * `await` in between (TOOLCHAIN.md, Durable Objects).
 */

import type { ProfileSpec } from "../policy/types";
import { blank, type Entry, entryText, type StepRow } from "./entry";
import { type ChainLink, chainHashText, GENESIS } from "./hash-chain";
import { migrateTaskTables } from "./task-schema";

export type { Entry, StepRow } from "./entry";

export type TaskState = "live" | "completed" | "revoked" | "expired";

export interface TaskRow {
  task_id: string;
  issuer: string;
  sub: string;
  /** Canonical JSON of the agent's claims (the issuer's `claims:`) when the task started, or null. */
  claims: string | null;
  /** Canonical JSON of the task's declared scope (src/policy/scope.ts), or null: its profile sets none. */
  scope: string | null;
  purpose: string;
  profile: ProfileSpec;
  state: TaskState;
  created: number;
  deadline: number;
  ended_at: number | null;
  ended_by: string | null;
}

/** Counter keys: budget use, and the running totals with their in-flight reservations. */
export const key = {
  calls: "calls",
  action: (a: string) => `action:${a}`,
  label: (l: string) => `label:${l}`,
  service: (s: string) => `service:${s}`,
  total: (action: string, arg: string) => `total:${action}:${arg}`,
};

/** A call reserved and not settled yet (in flight): what its settle and the sequence checks read. */
export interface OpenCall {
  seq: number;
  ts: number;
  action: string;
  resource: string;
  decision_id: string;
  /** Canonical JSON, as stored. */
  labels: string;
  args: string;
}

/** `(action, resource)` pairs known to be in resources_read, remembered at most (then forgotten at once). */
const MAX_KNOWN_READS = 1_000;
/** Counter rows per upsert statement (two bound values each). */
const UPSERT_ROWS = 100;

type HeadRow = TaskRow & { head_seq: number; head_hash: string };

/**
 * The task's row, counters, labels read, succeeded actions and calls in flight are kept in memory as
 * well as in SQLite: an admit and a settle read them all, and a materialised SELECT costs more than a
 * write. Every write goes through this class, so the copies stay equal to the tables; a transaction
 * that throws rolls the tables back, and its caller calls `forget()` so the copies are read again.
 *
 * Counter deltas and the log head are written once per transaction, by `flush()` (the task object
 * calls it last in every transaction): one upsert for every counter the transaction moved and one
 * UPDATE of the head, however many steps, settles and entries it wrote.
 */
export class TaskStore {
  /** The profile never changes after open: parse it once, not on every admit. */
  private parsed: { raw: string; profile: ProfileSpec } | null = null;
  private row: HeadRow | null = null;
  private counterCache: Map<string, number> | null = null;
  private labelCache: Set<string> | null = null;
  private succeededCache: Set<string> | null = null;
  private open: Map<number, OpenCall> | null = null;
  private knownReads = new Set<string>();
  /** Counter deltas and head not written yet (this transaction's). */
  private dirty = new Map<string, number>();
  private headDirty = false;

  constructor(private readonly sql: SqlStorage) {}

  /** Drops the in-memory copies and unwritten deltas (after a rolled-back transaction). */
  forget(): void {
    this.row = null;
    this.counterCache = null;
    this.labelCache = null;
    this.succeededCache = null;
    this.open = null;
    this.knownReads.clear();
    this.dirty.clear();
    this.headDirty = false;
  }

  migrate(): void {
    migrateTaskTables(this.sql);
  }

  /** Writes what this transaction moved: the counters' deltas (one upsert) and the log head. */
  flush(): void {
    if (this.dirty.size > 0) {
      const rows = [...this.dirty];
      this.dirty.clear();
      for (let i = 0; i < rows.length; i += UPSERT_ROWS) {
        const part = rows.slice(i, i + UPSERT_ROWS);
        this.sql.exec(
          `INSERT INTO counters (key, n) VALUES ${part.map(() => "(?, ?)").join(", ")}
           ON CONFLICT (key) DO UPDATE SET n = n + excluded.n`,
          ...part.flat(),
        );
      }
    }
    if (this.headDirty && this.row !== null) {
      this.sql.exec("UPDATE task SET head_seq = ?, head_hash = ? WHERE id = 1", this.row.head_seq, this.row.head_hash);
    }
    this.headDirty = false;
  }

  task(): TaskRow | null {
    if (this.row !== null) return this.row;
    const rows = this.sql.exec("SELECT * FROM task WHERE id = 1").toArray();
    const row = rows[0];
    if (!row) return null;
    const raw = row.profile as string;
    if (this.parsed?.raw !== raw) this.parsed = { raw, profile: JSON.parse(raw) as ProfileSpec };
    this.row = { ...(row as unknown as HeadRow), profile: this.parsed.profile };
    return this.row;
  }

  createTask(t: Omit<TaskRow, "state" | "ended_at" | "ended_by">): void {
    this.sql.exec(
      `INSERT INTO task (id, task_id, issuer, sub, claims, scope, purpose, profile, state, created, deadline,
         head_seq, head_hash) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?, 0, ?)`,
      t.task_id,
      t.issuer,
      t.sub,
      t.claims,
      t.scope,
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

  /** Moves a counter now in memory; the row is written by `flush()` at the end of the transaction. */
  addCounter(k: string, delta: number): void {
    const map = this.counterMap();
    map.set(k, (map.get(k) ?? 0) + delta);
    this.dirty.set(k, (this.dirty.get(k) ?? 0) + delta);
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
    let n = 0;
    for (const k of this.counterMap().keys()) if (k.startsWith("service:")) n += 1;
    return n;
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

  /** Whether the task has read `label` (a reserved read counts). */
  hasRead(label: string): boolean {
    return this.labelSet().has(label);
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

  private openMap(): Map<number, OpenCall> {
    if (this.open === null) {
      this.open = new Map();
      const rows = this.sql.exec<Omit<OpenCall, "labels" | "args"> & { labels: string | null; args: string | null }>(
        `SELECT seq, ts, action, resource, decision_id, labels, args FROM steps
         WHERE kind = 'call' AND outcome = 'reserved' AND settled = 0 ORDER BY seq`,
      );
      for (const r of rows) this.open.set(r.seq, { ...r, labels: r.labels ?? "[]", args: r.args ?? "{}" });
    }
    return this.open;
  }

  /** Calls reserved and not settled yet (in flight), oldest first. */
  openCalls(): OpenCall[] {
    return [...this.openMap().values()];
  }

  hasOpenCalls(): boolean {
    return this.openMap().size > 0;
  }

  /** The call `seq` if it is in flight (reserved, not settled); else undefined. */
  openCall(seq: number): OpenCall | undefined {
    return this.openMap().get(seq);
  }

  resourcesRead(): { action: string; resource: string }[] {
    return this.sql
      .exec<{ action: string; resource: string }>(
        "SELECT action, resource FROM resources_read ORDER BY action, resource",
      )
      .toArray();
  }

  private succeededSet(): Set<string> {
    this.succeededCache ??= new Set(
      this.sql
        .exec<{ action: string }>("SELECT action FROM succeeded")
        .toArray()
        .map((r) => r.action),
    );
    return this.succeededCache;
  }

  /** Whether one of `actions` succeeded in this task (and, when given, returned `resource`). */
  succeededAny(actions: string[], resource?: string): boolean {
    if (actions.length === 0) return false;
    if (resource === undefined) return actions.some((a) => this.succeededSet().has(a));
    const marks = actions.map(() => "?").join(",");
    const cursor = this.sql.exec(
      `SELECT 1 FROM resources_read WHERE resource = ? AND action IN (${marks}) LIMIT 1`,
      resource,
      ...actions,
    );
    return cursor.toArray().length > 0;
  }

  recordSuccess(action: string, resource: string, labels: string[]): void {
    const succeeded = this.succeededSet();
    if (!succeeded.has(action)) {
      this.sql.exec("INSERT OR IGNORE INTO succeeded (action) VALUES (?)", action);
      succeeded.add(action);
    }
    const pair = `${action}\n${resource}`;
    if (!this.knownReads.has(pair)) {
      this.sql.exec("INSERT OR IGNORE INTO resources_read (action, resource) VALUES (?, ?)", action, resource);
      if (this.knownReads.size >= MAX_KNOWN_READS) this.knownReads.clear();
      this.knownReads.add(pair);
    }
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
    this.open?.delete(seq);
  }

  /** Appends one entry to the chain and moves the head (written by `flush()`); returns its seq. */
  append(entry: Entry): number {
    const head = this.head();
    const row = { ...blank(), ...entry, seq: head.seq + 1 };
    const hash = chainHashText(head.hash, entryText(row));
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
    // The row is this store's own copy: moved in place, written by flush().
    const task = this.task() as HeadRow;
    task.head_seq = row.seq;
    task.head_hash = hash;
    this.headDirty = true;
    if (row.kind === "call" && row.outcome === "reserved") this.noteOpen(row);
    return row.seq;
  }

  private noteOpen(row: Required<Entry> & { seq: number }): void {
    // Only when the open calls are loaded: loading them later reads this row from the table.
    this.open?.set(row.seq, {
      seq: row.seq,
      ts: row.ts,
      action: row.action ?? "",
      resource: row.resource ?? "",
      decision_id: row.decision_id ?? "",
      labels: row.labels ?? "[]",
      args: row.args ?? "{}",
    });
  }

  head(): { seq: number; hash: string } {
    const task = this.task();
    if (task === null) throw new Error("no task");
    const { head_seq, head_hash } = task as HeadRow;
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
        yield { seq: row.seq, prev_hash: row.prev_hash, hash: row.hash, text: entryText(row), row };
      }
      if (rows.length < page) return;
      after = rows[rows.length - 1]!.seq;
    }
  }
}
