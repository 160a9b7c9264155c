/**
 * Settle inside the task object: the upstream's answer to reserved calls. It arrives after the agent
 * has its answer, carried by the next admit from the same gateway isolate or sent on its own
 * (src/gateway/settles.ts); either way it is held in memory and written by the object's next
 * transaction (the admit that carried it, any other call, or the alarm), so it never has a commit of
 * its own. While it is held, or lost, nothing is decided wrongly: the step counts toward every budget
 * and total from admission, a read counts as read from admission, a `requires` or `correlate` on it
 * answers `sequence.pending`; one lost with the object's memory leaves the step reserved until the
 * alarm closes it as `settle.missing`. docs/design/tasks.md, "Settle".
 */
import { effectsOf, release } from "./admission";
import type { TaskRow, TaskStore } from "./task-store";
import type { SettleNote } from "./types";

/** Settles held at once, at most: one more writes them first (a burst of answers with no admit between). */
export const MAX_HELD = 256;

/**
 * How long a reserved call may go without its settle before the alarm closes it as unknown: longer
 * than any upstream timeout (the settle is sent when the upstream's headers arrive, or it times out).
 */
export const SETTLE_GRACE_MS = 5 * 60_000;

/** Settles received since the last transaction, in the order they came. */
export class HeldSettles {
  private notes: SettleNote[] = [];

  get size(): number {
    return this.notes.length;
  }

  hold(notes: SettleNote[]): void {
    for (const n of notes) this.notes.push({ seqs: [...n.seqs], status: n.status, now: n.now, timedOut: n.timedOut });
  }

  /** Writes the first `n` held settles (inside the caller's transaction). */
  apply(store: TaskStore, n: number): void {
    if (n === 0) return;
    const task = store.task();
    if (!task) return;
    for (let i = 0; i < n; i++) {
      const h = this.notes[i]!;
      for (const seq of h.seqs) settleOne(store, task, seq, h.status, h.now, h.timedOut);
    }
  }

  /** Forgets the first `n`, once the transaction that wrote them has committed. */
  drop(n: number): void {
    this.notes.splice(0, n);
  }
}

/**
 * Records the upstream answer of a reserved step, once. 2xx: the step's action joins the succeeded
 * set and its resource resources_read (its `data:*` labels were read from admission). No answer (null)
 * or >= 500: its running-total reservations are given back; its calls stay counted (the attempt
 * happened). Anything else (3xx, 4xx) keeps the reservation. `timedOut` (no answer in time: the
 * upstream may have acted) records status null and keeps the reservation. A seq that is not a call in
 * flight (unknown, refused, already settled): no-op.
 */
export function settleOne(
  store: TaskStore,
  task: TaskRow,
  seq: number,
  status: number | null,
  now: number,
  timedOut: boolean,
  reason: string | null = timedOut ? "upstream.timeout" : null,
): void {
  const call = store.openCall(seq);
  if (call === undefined) return;
  store.markSettled(seq, status);
  store.append({ ts: now, kind: "settle", ref: seq, status, reason });
  if (status !== null && status >= 200 && status < 300) {
    const labels = JSON.parse(call.labels) as string[];
    for (const name of effectsOf(task.profile, call.action)) store.recordSuccess(name, call.resource, labels);
  } else if (!timedOut && (status === null || status >= 500)) {
    release(store, task.profile, call.action, JSON.parse(call.args) as Record<string, number>);
  }
}

/**
 * The alarm's part: calls reserved longer than SETTLE_GRACE_MS with no settle are closed as
 * `settle.missing` (status null, reservation kept: the upstream may have acted). Returns when the
 * oldest call still open is due, or null when none is.
 */
export function closeMissing(store: TaskStore, task: TaskRow, now: number): number | null {
  const open = store.openCalls();
  for (const c of open)
    if (c.ts <= now - SETTLE_GRACE_MS) settleOne(store, task, c.seq, null, now, true, "settle.missing");
  const oldest = open.find((c) => c.ts > now - SETTLE_GRACE_MS);
  return oldest === undefined ? null : Math.max(oldest.ts, now) + SETTLE_GRACE_MS;
}
