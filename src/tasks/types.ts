/** The runtime messages between the gateway and a task's Durable Object (the bundle model is src/policy/types.ts). */

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
}

/** A call's request facts: never a header, a body or a token; long strings cut (docs/replay.md). */
export interface StepFacts {
  method: string;
  /** The canonical path, without the service prefix. */
  path: string;
  /** Sorted `[name, value]` pairs. */
  query: [string, string][];
  /** The action's declared arguments as read from the query and body (string, number or boolean). */
  args: Record<string, string | number | boolean>;
  /** The service's semantic headers the call carried (`stripe-account`), by lower-case name. */
  headers?: Record<string, string>;
  /** How the body was read (`application/json`, `application/x-www-form-urlencoded`); absent: no body read. */
  media_type?: string;
  /** Set when the facts were cut to fit the step log's bound (src/tasks/steps.ts). */
  truncated?: true;
}
