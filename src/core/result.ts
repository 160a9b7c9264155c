import type { Reason } from "./reasons";

/** A stage's refusal: a reason code for the wire and a detail for the decision record only. */
export interface Refusal {
  ok: false;
  reason: Reason;
  /** Internal detail for the decision record and logs; never holds a token or secret. */
  detail?: string;
  /** Operator-written message that may be shown to the agent (a rule's `message`). */
  message?: string | null;
  /** Seconds for a Retry-After header (429 `budget.window`, `agent.start_rate`). */
  retryAfter?: number;
  /** `approval.required`: where the agent polls, and until when the approval can be given and used. */
  approval?: { id: string; status_url: string; expires_at: string };
}

export type Result<T> = ({ ok: true } & T) | Refusal;

export const refuse = (reason: Reason, detail?: string): Refusal => ({ ok: false, reason, detail });
