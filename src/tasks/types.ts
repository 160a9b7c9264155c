/** The runtime messages between the gateway and a task's Durable Object (the bundle model is src/policy/types.ts). */
import type { PendingDecision } from "../policy/evaluate";
import type { StepFacts } from "../request/decide-call";

/** What the pipeline asks the task object to admit: everything is already classified and decided. */
export interface StepRequest {
  decision_id: string;
  action: string;
  service: string;
  /** `kind:<k>`, `risk:<r>`, `data:<d>` labels of the action. */
  labels: string[];
  resource: string;
  /** Declared numeric arguments (for running totals). */
  args: Record<string, number>;
  /** What the call asked for, kept in the step log for `firebreak replay` (absent: not recorded). */
  facts?: StepFacts;
  /** Epoch milliseconds. */
  now: number;
  /** The rules reading the task's state, for the object to decide with its state as it admits. */
  pending?: PendingDecision;
  /**
   * A person must decide this step (a decided step), or must if its rules allow it (a pending one): a
   * plain admit then reserves nothing and answers `approval.required`.
   */
  person?: boolean;
}

/**
 * The upstream's answer to one reserved call (all its steps `seqs`): its status (null: no answer),
 * when it came, and whether the upstream timed out (the upstream may have acted: the reservation stays).
 */
export interface SettleNote {
  seqs: number[];
  status: number | null;
  now: number;
  timedOut: boolean;
}
