/**
 * The dashboard's decision figures: decisions over time by effect, the top denied actions, agents and
 * reasons, and the refusals by OWASP Agentic id (docs/standards.md), for one period. Five queries through `queryDecisions` (the same builder, stores and
 * sampling weights as GET /_firebreak/v1/decisions and `firebreak decisions`), run in parallel. No
 * source (no local store, no Analytics Engine credentials) or a failed query is a state of its own, so
 * the page says so and still renders everything else. `now` is an argument.
 */
import { ASI, type AsiId } from "../core/standards";
import { bucketOf, type DecisionQuery, type Filters, type View } from "../decisions/query";
import type { BucketRow, CountRow, DecisionResult } from "../decisions/rows";
import { type DecisionSource, type QueryOutcome, queryDecisions } from "../decisions/source";
import type { BarItem, TimeBucket } from "../ui/index";

export const PERIODS = {
  "1h": { window_ms: 3600_000, bucket: "5m", label: "the last hour", every: "5 minutes" },
  "24h": { window_ms: 24 * 3600_000, bucket: "1h", label: "the last 24 hours", every: "hour" },
  "7d": { window_ms: 7 * 24 * 3600_000, bucket: "6h", label: "the last 7 days", every: "6 hours" },
} as const;
export type Period = keyof typeof PERIODS;
export const DEFAULT_PERIOD: Period = "24h";
const TOP = 10;

export function isPeriod(v: unknown): v is Period {
  return typeof v === "string" && Object.hasOwn(PERIODS, v);
}

export type Figures =
  | { state: "unavailable" }
  | { state: "failed"; source: DecisionSource["kind"] }
  | {
      state: "ok";
      source: DecisionSource["kind"];
      /** Any figure stood for sampled decisions: the counts are estimates. */
      estimated: boolean;
      since: number;
      until: number;
      buckets: TimeBucket[];
      totals: Record<string, number>;
      deniedActions: BarItem[];
      deniedAgents: BarItem[];
      deniedReasons: BarItem[];
      /** Refusals per ASI id, labelled `ASI02 Tool Misuse and Exploitation`; "(none)" where none applies. */
      deniedAsi: BarItem[];
    };

export async function figures(source: DecisionSource | null, period: Period, now: number): Promise<Figures> {
  if (!source) return { state: "unavailable" };
  const p = PERIODS[period];
  const bucket = bucketOf(p.bucket);
  // The first bucket is whole: the window starts where the bucket that holds `now - window` starts.
  const since = Math.floor((now - p.window_ms) / bucket.ms) * bucket.ms;
  const base: Filters = { since, until: now };
  const denied: Filters = { ...base, effect: "deny" };
  const top = (by: "action" | "agent" | "reason" | "asi"): DecisionQuery => ({
    filters: denied,
    view: { kind: "counts", by, limit: TOP },
  });
  const queries: DecisionQuery[] = [
    { filters: base, view: { kind: "timeseries", bucket, by: "effect" } satisfies View },
    top("action"),
    top("agent"),
    top("reason"),
    top("asi"),
  ];
  const outcomes = await Promise.all(queries.map((q) => queryDecisions(source, q)));
  const failed = outcomes.flatMap((o) => (o.ok ? [] : [`${o.status ?? "no answer"}: ${o.message}`]));
  if (failed.length > 0) {
    // The API's status and words (never the token: analytics-api.ts scrubs it) go to the log line only.
    const detail = failed.join("; ");
    console.error(JSON.stringify({ event: "firebreak.dashboard", reason: "decisions.query_failed", detail }));
    return { state: "failed", source: source.kind };
  }
  const results = outcomes.map((o) => (o as Extract<QueryOutcome, { ok: true }>).result);
  const [series, actions, agents, reasons, asi] = results as [
    DecisionResult,
    DecisionResult,
    DecisionResult,
    DecisionResult,
    DecisionResult,
  ];
  const rows = series.rows as BucketRow[];
  const totals: Record<string, number> = {};
  for (const r of rows) totals[r.key ?? ""] = (totals[r.key ?? ""] ?? 0) + r.n;
  // A decision refused before it was classified has no action: it is counted, as "(none)".
  const bars = (r: DecisionResult) =>
    (r.rows as CountRow[]).map((row) => ({ label: row.key || "(none)", value: row.n }));
  return {
    state: "ok",
    source: source.kind,
    estimated: results.some((r) => r.estimated),
    since,
    until: now,
    buckets: fill(rows, since, now, bucket.ms, period),
    totals,
    deniedActions: bars(actions),
    deniedAgents: bars(agents),
    deniedReasons: bars(reasons),
    deniedAsi: (asi.rows as CountRow[]).map((row) => ({ label: asiLabel(row.key), value: row.n })),
  };
}

/**
 * `ASI02 Tool Misuse and Exploitation`. A refusal with no ASI id (or one recorded before layout v1
 * revision 2 added the field) is "(none)"; an id this code does not know is shown as stored.
 */
export function asiLabel(key: string): string {
  if (key === "") return "(none)";
  return Object.hasOwn(ASI, key) ? `${key} ${ASI[key as AsiId]}` : key;
}

/** Every bucket of the window, in order, with zeroes where the store had no row (a gap is a quiet time). */
export function fill(rows: BucketRow[], since: number, until: number, ms: number, period: Period): TimeBucket[] {
  const byStart = new Map<number, Record<string, number>>();
  for (const r of rows) {
    const t = Date.parse(r.bucket);
    if (Number.isNaN(t)) continue;
    const values = byStart.get(t) ?? {};
    values[r.key ?? ""] = (values[r.key ?? ""] ?? 0) + r.n;
    byStart.set(t, values);
  }
  const buckets: TimeBucket[] = [];
  for (let t = since; t < until; t += ms) buckets.push({ label: bucketLabel(t, period), values: byStart.get(t) ?? {} });
  return buckets;
}

/** UTC, as wide as the bucket needs: `10:05` within a day, `05-01 06:00` over a week. */
export function bucketLabel(t: number, period: Period): string {
  const iso = new Date(t).toISOString();
  return period === "7d" ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}
