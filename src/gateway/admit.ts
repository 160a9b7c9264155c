/**
 * Stage 5, admit: the seam where a task's Durable Object will check and reserve the step atomically
 * (budgets, windows, running totals, sequences) before anything is forwarded. Until task state lands,
 * a call without a task is admitted as is; `settle` is called once the upstream has answered.
 */
import type { Result } from "./result";

export interface Step {
  decisionId: string;
  action: string;
  service: string;
  resource: string;
}

export interface Admission {
  taskId: string | null;
  settle(upstreamStatus: number | null): void;
}

export async function admit(_step: Step): Promise<Result<{ admission: Admission }>> {
  return { ok: true, admission: { taskId: null, settle: () => {} } };
}
