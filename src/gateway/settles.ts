/**
 * The settles of this isolate's task calls, held until they can ride on another call to the same task
 * object. A settle (the upstream's answer to a reserved call) is needed by nothing on the call's own
 * path, and an RPC of its own costs about what the admit's does; so it waits here, and the next
 * `admitAll` this isolate sends to that task carries it (written first, in that admit's transaction).
 * One not carried within CARRY_MS is sent on its own (`settleMany`), from the `waitUntil` of the call
 * that held it first, so no settle is lost while the isolate lives. If the isolate dies first, the
 * task object's alarm closes the call as `settle.missing` and keeps its reservation (fail closed).
 *
 * What a held settle means is what an unsent one means: the call counts toward every budget and total
 * from admission, a read counts as read from admission, a `requires` or `correlate` on it answers
 * `sequence.pending` (retryable) until it arrives. docs/design/tasks.md, "Settle".
 */
import type { Env } from "../env";
import { rpcCall } from "../tasks/rpc";
import type { SettleNote } from "../tasks/types";

/** How long a settle may wait for a call to ride on: well under a `sequence.pending` retry (1 s). */
export const CARRY_MS = 200;
/** Settles held for one task, at most: one more sends them all at once (one admit carries at most this many). */
export const MAX_HELD_PER_TASK = 32;
/** Settles held in this isolate, at most: past it the task that has waited longest is sent at once. */
export const MAX_HELD = 1024;

type Tasks = NonNullable<Env["TASKS"]>;

/** One call's settle, and the decision it answers (named in the log line if sending it fails). */
export interface Held {
  note: SettleNote;
  decisionId: string;
}

interface Box {
  ns: Tasks;
  held: Held[];
  /** Ends the wait of the call that holds this box open (its `waitUntil`) once the box is taken. */
  taken: () => void;
}

const boxes = new Map<string, Box>();
let count = 0;

/**
 * Holds one call's settle for `taskId`. The first settle of an empty box starts its wait, in
 * `background` (the call's `waitUntil`); a full box, or a full isolate, is sent at once.
 */
export function holdSettle(ns: Tasks, taskId: string, held: Held, background: (p: Promise<unknown>) => void): void {
  let box = boxes.get(taskId);
  if (box === undefined) {
    let taken!: () => void;
    const carried = new Promise<void>((resolve) => {
      taken = resolve;
    });
    box = { ns, held: [], taken };
    boxes.set(taskId, box);
    background(sendAfterWait(taskId, box, carried));
  }
  box.held.push(held);
  count += 1;
  if (box.held.length >= MAX_HELD_PER_TASK) background(sendNow(taskId));
  // Map order is insertion order: the first key has waited longest.
  while (count > MAX_HELD) background(sendNow(boxes.keys().next().value as string));
}

/** The settles held for `taskId`, taken out: the caller sends them (with its admit) or puts them back. */
export function takeSettles(taskId: string): Held[] {
  const box = boxes.get(taskId);
  if (box === undefined) return [];
  boxes.delete(taskId);
  count -= box.held.length;
  box.taken();
  return box.held;
}

/**
 * Makes `call` to the task's object with the settles held for it (it passes them on as an argument).
 * If the call fails, whether the object wrote them is unknown, so they are sent on their own: a
 * settle written twice is written once.
 */
export async function carrying<T>(
  ns: Tasks,
  taskId: string,
  background: (p: Promise<unknown>) => void,
  call: (settles: SettleNote[]) => PromiseLike<T>,
): Promise<T> {
  const held = takeSettles(taskId);
  try {
    return await call(held.map((h) => h.note));
  } catch (e) {
    if (held.length > 0) background(sendSettles(ns, taskId, held));
    throw e;
  }
}

/** Settles held in this isolate now, or for one task (tests read it). */
export function heldSettles(taskId?: string): number {
  return taskId === undefined ? count : (boxes.get(taskId)?.held.length ?? 0);
}

/** Sends every held settle now and waits for the answers: for tests, instead of waiting CARRY_MS. */
export async function flushSettles(): Promise<void> {
  await Promise.all([...boxes.keys()].map((id) => sendNow(id)));
}

/**
 * Sends the settles held for one task now (nothing when none are): a read or an end of the task
 * through this isolate then sees every answer this isolate has had.
 */
export function flushTask(taskId: string): Promise<void> {
  return sendNow(taskId);
}

async function sendAfterWait(taskId: string, box: Box, carried: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const due = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CARRY_MS);
  });
  await Promise.race([carried, due]);
  clearTimeout(timer);
  if (boxes.get(taskId) === box) await sendNow(taskId);
}

async function sendNow(taskId: string): Promise<void> {
  const ns = boxes.get(taskId)?.ns;
  const held = takeSettles(taskId);
  if (ns !== undefined && held.length > 0) await sendSettles(ns, taskId, held);
}

/**
 * Sends settles on their own. Never throws: a settle that cannot be sent is one log line, and its
 * calls stay reserved until the task's alarm closes them (fail closed).
 */
export async function sendSettles(ns: Tasks, taskId: string, held: Held[]): Promise<void> {
  try {
    await rpcCall(ns.getByName(taskId).settleMany(held.map((h) => h.note)));
  } catch (e) {
    const problem = `settle failed: ${(e as Error)?.message ?? "error"}`.slice(0, 200);
    const decisions = held.map((h) => h.decisionId);
    console.log(JSON.stringify({ msg: "settle", task_id: taskId, decision_ids: decisions, problem }));
  }
}
