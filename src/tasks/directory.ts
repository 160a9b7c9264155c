/**
 * Telling the directory (src/tasks/directory-object.ts) that a task started or ended, or that an
 * approval was opened or settled: one call where the event happens, `note(env, background, event)`.
 *
 * Best effort by construction: the write runs in the background (`ctx.waitUntil`, after the response),
 * is bounded by the RPC timeout, and any failure, even a binding that throws when touched, is
 * swallowed and logged as one JSON line. A task start, a call or an approval never waits for the
 * directory and never fails because of it; the authoritative state stays in each task's object.
 */
import type { Env } from "../env";
import { DIRECTORY_NAME, type DirectoryEvent } from "./directory-object";
import { rpcCall } from "./rpc";

export type { DirectoryEvent } from "./directory-object";

/** The two short events, for a one-line hook. */
export const taskEnded = (task_id: string, state: "completed" | "revoked", at: number): DirectoryEvent => ({
  kind: "task.ended",
  task_id,
  state,
  at,
});
export const approvalSettled = (
  id: string,
  task_id: string,
  state: "approved" | "denied" | "used",
  at: number,
): DirectoryEvent => ({ kind: "approval.settled", id, task_id, state, at });

export function note(env: unknown, background: (work: Promise<unknown>) => void, event: DirectoryEvent): void {
  try {
    const ns = (env as Env | undefined)?.DIRECTORY;
    if (!ns) return;
    const write = rpcCall(ns.getByName(DIRECTORY_NAME).record(event));
    background(write.catch((e) => failed(event, e)));
  } catch (e) {
    failed(event, e);
  }
}

/** The event's kind and ids only (never a purpose, a resource or a claim), and the error's words. */
function failed(event: DirectoryEvent, e: unknown): void {
  const err = e as Error | undefined;
  console.error(
    JSON.stringify({
      event: "firebreak.directory_write_failed",
      kind: event.kind,
      id: "id" in event ? event.id : event.task_id,
      detail: `${err?.name ?? "Error"}: ${String(err?.message ?? "").slice(0, 200)}`,
    }),
  );
}
