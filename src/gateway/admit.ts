/**
 * Stage 5, admit: the task's Durable Object checks and reserves the step atomically (budgets, windows,
 * running totals, sequences, and the rules reading the task's state) before anything is forwarded;
 * `settle` records the upstream's answer, after the response: held in this isolate and carried by the
 * task's next admit, or sent on its own shortly after (src/gateway/settles.ts).
 * A call without a task (a workload token, `bare_workload_tokens: true`) is admitted as is.
 *
 * Fail closed: an exception from the object, or no answer within TASK_RPC_TIMEOUT_MS, is 503
 * `task.unavailable` and nothing is forwarded. A budget never fails open.
 */

import type { Refusal } from "../core/result";
import type { Env } from "../env";
import type { TaskRef } from "../identity/caller";
import type { Decision } from "../policy/evaluate";
import type { AdmitAll, AdmitReason } from "../tasks/admission";
import { rpcCall } from "../tasks/rpc";
import type { StepRequest } from "../tasks/types";
import { carrying, holdSettle } from "./settles";

/**
 * How the upstream call ended: its status, `null` when no connection was made, or `"timeout"` when no
 * answer came in time. A timeout keeps its running-total reservation (the upstream may have acted: a
 * refund made, the answer lost); a failed connection gives it back.
 */
export type UpstreamOutcome = number | null | "timeout";

type Background = (work: Promise<unknown>) => void;

export interface Admission {
  taskId: string | null;
  /** The task's own credential for the service (minted by its object), or null: the static secret. */
  credential: string | null;
  /**
   * Records the upstream's answer: held, then carried by the task's next admit or sent in
   * `background`. Never throws; a settle that cannot be sent is logged and its reservation stays.
   */
  settle(outcome: UpstreamOutcome, now: number, background: Background, decisionId: string): void;
}

/** A call admitted without a task's object: a bare workload token, or an MCP message that names no action. */
export const NO_ADMISSION: Admission = { taskId: null, credential: null, settle: () => undefined };

/** What admission answers: admitted or refused, with the decisions the object finished (rules reading `task.*`). */
export type AdmitResult = ({ ok: true; admission: Admission } | (Refusal & { ok: false })) & {
  decisions?: (Decision | null)[];
};

/**
 * The request's steps (one for REST; a GraphQL document's root fields, ...), decided where their rules
 * read the task's state, and admitted together or refused: one round trip to the task's object, which
 * also carries the settles of this isolate's earlier calls of the task.
 */
export async function admit(
  steps: [StepRequest, ...StepRequest[]],
  task: TaskRef | null,
  env: Env,
  background: Background,
): Promise<AdmitResult> {
  if (task === null) return { ok: true, admission: NO_ADMISSION };
  const ns = env.TASKS;
  if (!ns) return { ok: false, reason: "task.unavailable", detail: "TASKS binding missing" };
  let result: AdmitAll;
  try {
    result = await carrying(ns, task.id, background, (settles) =>
      rpcCall<AdmitAll>(ns.getByName(task.id).admitAll(steps, settles)),
    );
  } catch (e) {
    return {
      ok: false,
      reason: "task.unavailable",
      detail: `admit: ${(e as Error)?.message ?? "error"}`.slice(0, 200),
    };
  }
  const decisions = result.decisions?.some((d) => d !== null) ? { decisions: result.decisions } : {};
  if (!result.ok) {
    const reason: AdmitReason = result.reason;
    return {
      ok: false,
      reason,
      detail: result.detail ?? `task ${task.id}`,
      ...(result.retry_after_s !== undefined ? { retryAfter: result.retry_after_s } : {}),
      ...decisions,
    };
  }
  return { ok: true, admission: settling(ns, task.id, result.seqs, result.credential), ...decisions };
}

/** The admission of reserved steps `seqs`: its settle records the upstream's answer (src/gateway/settles.ts). */
export function settling(
  ns: NonNullable<Env["TASKS"]>,
  taskId: string,
  seqs: number[],
  credential: string | undefined,
): Admission {
  return {
    taskId,
    credential: credential ?? null,
    settle: (outcome, now, background, decisionId) => {
      const note = { seqs, status: outcome === "timeout" ? null : outcome, now, timedOut: outcome === "timeout" };
      holdSettle(ns, taskId, { note, decisionId }, background);
    },
  };
}

/** Writes a call the gateway refused before admission to the task's log; best effort, never throws. */
export async function logRefused(steps: StepRequest[], reason: string, task: TaskRef, env: Env): Promise<void> {
  const ns = env.TASKS;
  if (!ns) return;
  try {
    await rpcCall(ns.getByName(task.id).logRefused(steps, reason));
  } catch {
    // The decision record still carries the refusal; the task's log misses one refused entry.
  }
}

/** The declared arguments that are finite numbers (running totals read these; anything else is absent). */
export function numericArgs(args: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(args)) if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}
