/**
 * The Analytics Engine data point layout, v1, as one table: each decision-record field, the column it
 * is written to, and how its value is taken from the record. The writer (`dataPoint` in
 * src/gateway/record.ts), the local store (its columns) and the query builder (src/decisions/sql.ts)
 * all read this table, so they cannot disagree about where a field lives.
 *
 * Positions are append-only (docs/analytics.md): a new field takes the next free blobN or doubleN and
 * the layout stays `v1`; changing what a position means makes it `v2`. Revisions of v1 (what each
 * added; a row written before a revision reads its fields as "" or 0): `LAYOUT_REVISIONS`.
 */
import { asiOf } from "../core/reason-standards";
import type { DecisionRecord } from "./record";

export const DATA_POINT_LAYOUT = "v1";

/** Analytics Engine allows 96 bytes of index and caps blobs; these keep data points inside both. */
const INDEX_MAX = 96;
const BLOB_MAX = 512;

export type Column = "index1" | `blob${number}` | `double${number}`;

interface Field {
  column: Column;
  of: (r: DecisionRecord) => string | number;
}

const text = (column: "index1" | `blob${number}`, of: (r: DecisionRecord) => string): Field => ({ column, of });
const num = (column: `double${number}`, of: (r: DecisionRecord) => number): Field => ({ column, of });

/** Field name -> column, in position order. Field names are the log line's where they exist. */
export const LAYOUT = {
  // The index is the sampling key: one agent's traffic is sampled together, so each agent keeps its picture.
  agent: text("index1", (r) => (r.agent_sub ? `${r.agent_issuer}:${r.agent_sub}` : "anonymous")),
  layout: text("blob1", () => DATA_POINT_LAYOUT),
  decision_id: text("blob2", (r) => r.decision_id),
  bundle_revision: text("blob3", (r) => r.bundle_revision),
  effect: text("blob4", (r) => r.effect),
  reason: text("blob5", (r) => r.reason),
  would_effect: text("blob6", (r) => r.would?.effect ?? ""),
  would_reason: text("blob7", (r) => r.would?.reason ?? ""),
  agent_issuer: text("blob8", (r) => r.agent_issuer ?? ""),
  agent_sub: text("blob9", (r) => r.agent_sub ?? ""),
  task_id: text("blob10", (r) => r.task_id ?? ""),
  service: text("blob11", (r) => r.service ?? ""),
  action: text("blob12", (r) => r.action ?? ""),
  resource: text("blob13", (r) => r.resource ?? ""),
  method: text("blob14", (r) => r.method),
  rules: text("blob15", (r) => r.rules.join(",")),
  // Revision 2: the reason's OWASP Agentic id, "" where none applies (an allow).
  asi: text("blob16", (r) => asiOf(r.reason)),
  status: num("double1", (r) => r.status),
  upstream_status: num("double2", (r) => r.upstream_status ?? 0),
  latency_ms: num("double3", (r) => r.latency_ms),
  would_block: num("double4", (r) => (r.would ? 1 : 0)),
} satisfies Record<string, Field>;

export type FieldName = keyof typeof LAYOUT;

export const FIELDS = Object.keys(LAYOUT) as FieldName[];

/** What each revision of layout v1 after the first appended (the first is every other field). */
const APPENDED: readonly { revision: number; added: readonly FieldName[] }[] = [
  // Issue 15: refusals by OWASP Agentic id (docs/standards.md).
  { revision: 2, added: ["asi"] },
];

/**
 * Which fields each revision of layout v1 added, in order. Appending keeps every earlier position's
 * meaning, so the layout id stays `v1`; a stored row older than a revision has "" (blobs) or 0
 * (doubles) in that revision's fields. docs/analytics.md has the same list.
 */
export const LAYOUT_REVISIONS: readonly { revision: number; added: readonly FieldName[] }[] = [
  { revision: 1, added: FIELDS.filter((f) => !APPENDED.some((r) => r.added.includes(f))) },
  ...APPENDED,
];

/** The column of a field: the only way the query builder names a column. */
export function column(field: FieldName): Column {
  return LAYOUT[field].column;
}

/** Where a column sits in the data point: which array, and the 0-based position in it. */
export function position(c: Column): { array: "indexes" | "blobs" | "doubles"; at: number } {
  const m = /^(index|blob|double)([1-9][0-9]*)$/.exec(c);
  if (!m) throw new Error(`not a data point column: ${c}`);
  const array = m[1] === "index" ? "indexes" : m[1] === "blob" ? "blobs" : "doubles";
  return { array, at: Number(m[2]) - 1 };
}

/** Each field's array, position and value, worked out once: a data point is written for every call. */
const PLAN = FIELDS.map((field) => ({ ...position(LAYOUT[field].column), of: LAYOUT[field].of }));

/** The data point of a record, every value at its column's position. */
export function dataPointOf(r: DecisionRecord): AnalyticsEngineDataPoint {
  const indexes: string[] = [];
  const blobs: string[] = [];
  const doubles: number[] = [];
  for (const { array, at, of } of PLAN) {
    const value = of(r);
    if (array === "doubles") doubles[at] = value as number;
    else if (array === "indexes") indexes[at] = (value as string).slice(0, INDEX_MAX);
    else blobs[at] = (value as string).slice(0, BLOB_MAX);
  }
  return { indexes, blobs, doubles };
}
