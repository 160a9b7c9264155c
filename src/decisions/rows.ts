/**
 * Rows as either store answers them -> one result shape. Analytics Engine's JSON answer gives
 * DateTime columns as `YYYY-MM-DD hh:mm:ss` (UTC) and may give 64-bit sums as strings; the local
 * store gives milliseconds and numbers. Both become ISO times and numbers here.
 */
import { column, FIELDS, type FieldName } from "./layout";
import type { DecisionQuery, View } from "./query";

type ListField = Exclude<FieldName, "layout">;
type NumberField = "status" | "upstream_status" | "latency_ms" | "would_block";

/** One decision as stored; `sample_interval` is how many decisions this row stands for. */
export type DecisionRow = { ts: string; sample_interval: number } & Record<NumberField, number> &
  Record<Exclude<ListField, NumberField>, string>;
export interface CountRow {
  key: string;
  /** Decisions, weighted by the sample interval. */
  n: number;
}
export interface BucketRow {
  /** Start of the bucket, ISO. */
  bucket: string;
  key?: string;
  n: number;
}

export interface DecisionResult {
  view: View["kind"];
  /** True when any row stood for more than one decision (sampled): counts are then estimates. */
  estimated: boolean;
  rows: DecisionRow[] | CountRow[] | BucketRow[];
}

export const LIST_FIELDS = FIELDS.filter((f): f is ListField => f !== "layout");

export function readRows(q: DecisionQuery, raw: Record<string, unknown>[]): DecisionResult {
  const v = q.view;
  if (v.kind === "list") {
    const rows = raw.map(listRow);
    return { view: v.kind, estimated: rows.some((r) => r.sample_interval > 1), rows };
  }
  const estimated = raw.some((r) => num(r.max_interval) > 1);
  if (v.kind === "counts") {
    return { view: v.kind, estimated, rows: raw.map((r) => ({ key: str(r.group_key), n: num(r.n) })) };
  }
  const rows = raw.map((r) => {
    const row: BucketRow = { bucket: time(r.bucket), n: num(r.n) };
    if (v.by !== undefined) row.key = str(r.group_key);
    return row;
  });
  return { view: v.kind, estimated, rows };
}

function listRow(r: Record<string, unknown>): DecisionRow {
  const row: Record<string, unknown> = { ts: time(r.timestamp), sample_interval: num(r._sample_interval) };
  for (const f of LIST_FIELDS) {
    const c = column(f);
    row[f] = c.startsWith("double") ? num(r[c]) : str(r[c]);
  }
  return row as DecisionRow;
}

function num(v: unknown): number {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : 0;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : v === null || v === undefined ? "" : String(v);
}

/** ms since the epoch (local store) or `YYYY-MM-DD hh:mm:ss` in UTC (Analytics Engine) -> ISO. */
function time(v: unknown): string {
  const t =
    typeof v === "number"
      ? v
      : typeof v === "string" && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(v)
        ? Date.parse(`${v.replace(" ", "T")}Z`)
        : typeof v === "string"
          ? Date.parse(v)
          : Number.NaN;
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}
