/**
 * A task's step log as it is read back (inspect, the approval page, replay): one entry per row, with
 * its JSON columns parsed; and the request facts as they are written (canonical JSON, bounded).
 */
import { canonicalJson, type Json } from "../core/canonical-json";
import { asiOf } from "../core/reason-standards";
import type { Reason } from "../core/reasons";
import type { AsiId } from "../core/standards";
import type { StepFacts } from "../request/decide-call";
import type { Entry, StepRow } from "./task-store";
import type { StepRequest } from "./types";

export interface StepView {
  seq: number;
  ts: number;
  kind: Entry["kind"];
  decision_id: string | null;
  action: string | null;
  service: string | null;
  resource: string | null;
  labels: string[] | null;
  args: Record<string, string | number> | null;
  outcome: string | null;
  reason: string | null;
  /**
   * The reason's OWASP Agentic id, as the decision record carries it (src/core/reason-standards.ts):
   * derived when read, never stored, so it cannot disagree with the hashed reason; "" for none.
   */
  asi: AsiId | "";
  ref: number | null;
  status: number | null;
  settled: boolean;
  by: string | null;
  /** The call's request facts (call entries), for `firebreak replay`. */
  facts: StepFacts | null;
  hash: string;
}

export function stepView(row: StepRow): StepView {
  return {
    seq: row.seq,
    ts: row.ts,
    kind: row.kind,
    decision_id: row.decision_id,
    action: row.action,
    service: row.service,
    resource: row.resource,
    labels: row.labels === null || row.kind !== "call" ? null : (JSON.parse(row.labels) as string[]),
    args: row.args === null ? null : (JSON.parse(row.args) as Record<string, string | number>),
    outcome: row.outcome,
    reason: row.reason,
    asi: row.reason === null ? "" : asiOf(row.reason as Reason),
    ref: row.ref,
    status: row.status,
    settled: Boolean(row.settled),
    by: row.by,
    facts: row.facts === null ? null : (JSON.parse(row.facts) as StepFacts),
    hash: row.hash,
  };
}

/** The log entry of one call: admitted (`reserved`) or `refused` with its reason; `by` names an approval. */
export function callEntry(step: StepRequest, reason: string | null, by: string | null = null): Entry {
  return {
    ts: step.now,
    kind: "call",
    decision_id: step.decision_id,
    action: step.action || null,
    service: step.service || null,
    resource: step.resource || null,
    labels: canonicalJson(step.labels),
    args: canonicalJson(step.args),
    outcome: reason === null ? "reserved" : "refused",
    reason,
    by,
    facts: factsOf(step),
  };
}

/**
 * A step's facts as stored: canonical JSON of at most MAX_FACTS characters in all. Strings are cut
 * shorter and shorter until the whole fits; facts with too many entries even then keep only the
 * method and the path. Anything cut says `truncated: true`, so replay knows it is not the call.
 */
export function factsOf(step: StepRequest): string | null {
  if (!step.facts) return null;
  const whole = canonicalJson(step.facts as unknown as Json);
  if (whole.length <= MAX_FACTS) return whole;
  for (const cap of STRING_CAPS) {
    const cut = canonicalJson({ ...(capStrings(step.facts, cap) as object), truncated: true } as Json);
    if (cut.length <= MAX_FACTS) return cut;
  }
  const { method, path } = step.facts;
  const bare = { method, path: capStrings(path, 1024), query: [], args: {}, truncated: true };
  return canonicalJson(bare as Json);
}

/** Characters of one step's stored facts (docs/decisions.md, limits). */
export const MAX_FACTS = 8192;
const STRING_CAPS = [2048, 512, 128, 32];

function capStrings(v: unknown, cap: number): unknown {
  if (typeof v === "string") return v.length > cap ? `${v.slice(0, cap)}…` : v;
  if (Array.isArray(v)) return v.map((x) => capStrings(x, cap));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [capStrings(k, cap), capStrings(x, cap)]));
  return v;
}
