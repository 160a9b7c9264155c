/**
 * One entry of a task's step log: what it says, how it is stored, and the text its hash is taken over
 * (src/tasks/hash-chain.ts). docs/design/tasks.md, "The step log and its hash chain".
 */
import type { Json } from "./hash-chain";

/** What one log entry says; `null` where a field does not apply to its kind. */
export interface Entry {
  ts: number;
  /**
   * `open`, `call` (admitted or refused), `settle`, `renew` (a new task token), `complete`, `revoke`,
   * `expire`; `credential` (an upstream credential minted, renewed or revoked: its id, never its secret); approvals:
   * `approval` (a call asked for a person), `approve` / `deny` (a person's answer), `notify` (whether the
   * approvers were told); `refusals`: refused calls counted, not written one by one (src/tasks/task-log.ts).
   */
  kind:
    | "open"
    | "call"
    | "settle"
    | "renew"
    | "credential"
    | "refusals"
    | "complete"
    | "revoke"
    | "expire"
    | "approval"
    | "approve"
    | "deny"
    | "notify";
  decision_id?: string | null;
  action?: string | null;
  service?: string | null;
  resource?: string | null;
  /** Canonical JSON of the step's labels and declared arguments. */
  labels?: string | null;
  args?: string | null;
  /** `reserved` or `refused` (call entries). */
  outcome?: string | null;
  reason?: string | null;
  /** The call a settle entry settles. */
  ref?: number | null;
  /** Upstream status of a settle entry (null: no answer). */
  status?: number | null;
  /**
   * Canonical JSON of a call's request facts (method, path, query, declared arguments): what
   * `firebreak replay` re-decides with a candidate bundle. Never a header, a body or a token.
   */
  facts?: string | null;
  /**
   * Who ended the task (revoke), opened or renewed it, or decided an approval (`issuer sub`); `approval <id>`
   * on a call it admitted.
   */
  by?: string | null;
}

export interface StepRow extends Required<Entry> {
  seq: number;
  /** Call entries only, set by settle (not hashed: the settle entry carries the status in the chain). */
  settled: number;
  prev_hash: string;
  hash: string;
}

/**
 * The hashed columns, in the order canonical JSON writes them (sorted by UTF-16 code units), with
 * `facts` (hashed when present) and `status` (every kind but `call`) in their places.
 */
const HASHED_ORDER = [
  "seq",
  "ts",
  "kind",
  "decision_id",
  "action",
  "service",
  "resource",
  "labels",
  "args",
  "outcome",
  "reason",
  "ref",
  "by",
  "facts",
  "status",
].sort() as (keyof Entry | "seq")[];

export function blank(): Required<Entry> {
  return {
    ts: 0,
    kind: "call",
    decision_id: null,
    action: null,
    service: null,
    resource: null,
    labels: null,
    args: null,
    outcome: null,
    reason: null,
    ref: null,
    status: null,
    by: null,
    facts: null,
  };
}

/**
 * The hashed content of a stored entry, its keys in canonical order. A call's `status` is written
 * later by settle, so it is left out here; the settle entry that set it is hashed with its status,
 * and verifyLog checks the two agree.
 */
export function hashedEntry(row: Required<Entry> & { seq: number }): Json {
  const entry: Record<string, Json> = {};
  for (const k of HASHED_ORDER) {
    // Added later: hashed when present, so entries written before it existed keep their hashes.
    if (k === "facts" && (row.facts === null || row.facts === undefined)) continue;
    if (k === "status" && row.kind === "call") continue;
    entry[k] = row[k] as Json;
  }
  return entry;
}

/**
 * The text an entry's hash is taken over: canonical JSON of `hashedEntry(row)`. Every value is a
 * string, a number or null, and the keys are already in canonical order (none is an array index), so
 * JSON.stringify writes exactly the bytes canonicalJson would, without sorting each entry's keys again
 * (test/unit/task-entry.test.ts holds the two equal).
 */
export function entryText(row: Required<Entry> & { seq: number }): string {
  return JSON.stringify(hashedEntry(row));
}
