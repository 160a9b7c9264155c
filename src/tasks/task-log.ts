/**
 * The bounds of a task's step log, and its verification. A task's log is its audit record, so it must
 * stay readable: refused calls past the first MAX_REFUSED_ENTRIES are counted per reason and written
 * as periodic `refusals` summary entries (still hash-chained) instead of one full entry each; the log
 * holds at most MAX_LOG_ENTRIES (then every admit is refused `task.log_full`); and the chain is
 * verified incrementally, from the position verified last, one page of rows at a time.
 * docs/design/tasks.md, "Bounded state".
 */
import { canonicalJson } from "../core/canonical-json";
import { GENESIS, verifyChain } from "./hash-chain";
import { callEntry } from "./steps";
import type { StepRow, TaskStore } from "./task-store";
import type { StepRequest } from "./types";

/** Entries a task's log may hold before admits are refused `task.log_full`. */
export const MAX_LOG_ENTRIES = 100_000;
/** Refused calls written in full per task; past it they are counted and summarised. */
export const MAX_REFUSED_ENTRIES = 1_000;
/** A `refusals` summary is written at most this long after the first call it counts (and at the end). */
export const SUMMARY_MS = 60_000;
/** ... or once it counts this many. */
const SUMMARY_EVERY = 1_000;
/** Rows read per page while verifying. */
const VERIFY_PAGE = 500;

const SCHEMA = `CREATE TABLE IF NOT EXISTS refusals (
  reason TEXT PRIMARY KEY, logged INTEGER NOT NULL, total INTEGER NOT NULL, summarized INTEGER NOT NULL
);`;

export class TaskLog {
  /** Refused calls written in full so far (loaded once). */
  private logged: number | null = null;
  /** Counted since the last summary, and when the first of them came (in memory: a lost count is summarised at the next one). */
  private pending = { n: 0, since: 0 };

  constructor(
    private readonly store: TaskStore,
    private readonly sql: SqlStorage,
  ) {}

  migrate(): void {
    this.sql.exec(SCHEMA);
  }

  forget(): void {
    this.logged = null;
  }

  /** Whether one more admitted call may be written. */
  full(): boolean {
    return this.store.head().seq >= MAX_LOG_ENTRIES;
  }

  /**
   * A refused call: a full entry while the task has written fewer than MAX_REFUSED_ENTRIES and the log
   * has room; else counted by reason. Returns when a summary is due at the latest (null: none pending).
   */
  refused(step: StepRequest, reason: string, by: string | null): number | null {
    this.logged ??= this.sql.exec<{ n: number }>("SELECT coalesce(sum(logged), 0) AS n FROM refusals").one().n;
    const full = this.logged < MAX_REFUSED_ENTRIES && !this.full();
    const written = full ? 1 : 0;
    this.sql.exec(
      `INSERT INTO refusals (reason, logged, total, summarized) VALUES (?, ?, 1, ?)
       ON CONFLICT (reason) DO UPDATE SET logged = logged + ?, total = total + 1, summarized = summarized + ?`,
      reason,
      written,
      written,
      written,
      written,
    );
    if (full) {
      this.store.append(callEntry(step, reason, by));
      this.logged += 1;
      return null;
    }
    if (this.pending.n === 0) this.pending.since = step.now;
    this.pending.n += 1;
    if (this.pending.n >= SUMMARY_EVERY || step.now - this.pending.since >= SUMMARY_MS) this.summarize(step.now);
    return this.pending.n === 0 ? null : this.pending.since + SUMMARY_MS;
  }

  /** Writes one `refusals` entry with the calls counted since the last one, by reason; nothing when there are none. */
  summarize(now: number): void {
    const rows = this.sql
      .exec<{ reason: string; n: number }>(
        "SELECT reason, total - summarized AS n FROM refusals WHERE total > summarized ORDER BY reason",
      )
      .toArray();
    this.pending = { n: 0, since: 0 };
    if (rows.length === 0) return;
    const counts = Object.fromEntries(rows.map((r) => [r.reason, r.n]));
    this.sql.exec("UPDATE refusals SET summarized = total");
    this.store.append({ ts: now, kind: "refusals", args: canonicalJson(counts), outcome: "refused" });
  }

  /** Refused calls of the task by reason, written in full or counted. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.sql.exec<{ reason: string; total: number }>(
      "SELECT reason, total FROM refusals ORDER BY reason",
    )) {
      out[r.reason] = r.total;
    }
    return out;
  }

  /**
   * Recomputes the chain from the last verified position to the head, a page of rows at a time, and
   * checks that every call's settled status is the one its (hashed) settle entry carries. `broken_at`
   * is the first seq that does not hold; a chain that holds moves the verified position to the head.
   * `full`: from the first entry, as an export does.
   */
  verify(full = false): { ok: boolean; broken_at?: number } {
    if (this.store.task() === null) return verifyChain([], { seq: 0, hash: GENESIS });
    const start = full ? { seq: 0, hash: GENESIS } : this.store.verified();
    const head = this.store.head();
    const settles = new SettleCheck(this.store, start.seq);
    const chain = verifyChain(settles.watch(this.store.linksAfter(start.seq, VERIFY_PAGE)), head, start);
    if (!chain.ok) return chain;
    const broken = settles.broken();
    if (broken !== null) return { ok: false, broken_at: broken };
    this.store.markVerified(head);
    return { ok: true };
  }
}

/**
 * A call's `settled` and `status` columns are written by its settle and not hashed; its settle entry
 * is. Each must match the other: a call settled with no settle entry, or with another status, breaks.
 */
class SettleCheck {
  /** Calls of the range marked settled whose settle entry has not been seen yet. */
  private awaiting = new Map<number, number | null>();
  private first: number | null = null;

  constructor(
    private readonly store: TaskStore,
    private readonly from: number,
  ) {}

  *watch<T extends { row: StepRow }>(links: Iterable<T>): Generator<T> {
    for (const link of links) {
      this.see(link.row);
      yield link;
    }
  }

  private see(row: StepRow): void {
    if (row.kind === "call" && row.settled) this.awaiting.set(row.seq, row.status);
    if (row.kind !== "settle" || row.ref === null) return;
    if (row.ref > this.from) {
      if (!this.awaiting.has(row.ref) || this.awaiting.get(row.ref) !== row.status) this.breakAt(row.ref);
      this.awaiting.delete(row.ref);
      return;
    }
    // A settle of a call verified earlier: that call's columns, read once.
    const call = this.store.step(row.ref);
    if (!call?.settled || call.status !== row.status) this.breakAt(row.ref);
  }

  private breakAt(seq: number): void {
    this.first = this.first === null ? seq : Math.min(this.first, seq);
  }

  broken(): number | null {
    for (const seq of this.awaiting.keys()) this.breakAt(seq);
    return this.first;
  }
}
