/**
 * What one can ask of the recorded decisions: filters and a view, and the one parser that turns
 * strings (CLI flags, or the query string of GET /_firebreak/v1/decisions) into that, so the CLI and
 * the worker accept exactly the same input. Pure: `now` is an argument.
 */
import { ASI, type AsiId } from "../core/standards";

export const EFFECTS = ["allow", "deny", "approval_required"] as const;
export type Effect = (typeof EFFECTS)[number];

export const COUNT_BY = ["effect", "reason", "asi", "action", "agent"] as const;
export type CountBy = (typeof COUNT_BY)[number];

export interface Filters {
  /** Inclusive lower bound, ms since the epoch. */
  since: number;
  /** Exclusive upper bound, ms since the epoch. */
  until: number;
  /** `issuer:sub`, or a subject alone. */
  agent?: string;
  task?: string;
  service?: string;
  action?: string;
  effect?: Effect;
  reason?: string;
  /** The reason's OWASP Agentic id (docs/standards.md). */
  asi?: AsiId;
  /** Only decisions that report mode says enforce would have blocked. */
  would_deny?: boolean;
}

export interface Bucket {
  n: number;
  unit: "SECOND" | "MINUTE" | "HOUR" | "DAY";
  ms: number;
}

export type View =
  | { kind: "list"; limit: number }
  | { kind: "counts"; by: CountBy; limit: number }
  | { kind: "timeseries"; bucket: Bucket; by?: CountBy };

export interface DecisionQuery {
  filters: Filters;
  view: View;
}

/** The raw input: flag or query-parameter name -> value (`true` for a bare flag). */
export type QueryInput = Record<string, string | boolean | undefined>;

export type Parsed = { ok: true; query: DecisionQuery } | { ok: false; problem: string };

export const QUERY_PARAMS = [
  "since",
  "until",
  "agent",
  "task",
  "service",
  "action",
  "effect",
  "reason",
  "asi",
  "would_deny",
  "view",
  "by",
  "bucket",
  "limit",
] as const;

const DEFAULT_WINDOW_MS = 24 * 3600_000;
const MAX_LIMIT = 1000;
const MAX_BUCKETS = 2000;
const MAX_VALUE = 512;
const UNITS: Record<string, [Bucket["unit"], number]> = {
  s: ["SECOND", 1000],
  m: ["MINUTE", 60_000],
  h: ["HOUR", 3600_000],
  d: ["DAY", 86_400_000],
};
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

class Problem extends Error {}

/** A parameter name for a message: shown only when it looks like one (a message never echoes input). */
export function nameOf(key: string): string {
  return /^[a-z_-]{1,32}$/.test(key) ? `"${key}"` : "(unprintable name)";
}

/** Parses and validates; every problem names the input and what it should look like, never echoes it. */
export function parseQuery(input: QueryInput, now: number): Parsed {
  try {
    for (const key of Object.keys(input)) {
      if (!(QUERY_PARAMS as readonly string[]).includes(key)) throw new Problem(`unknown parameter ${nameOf(key)}`);
    }
    const filters = filtersOf(input, now);
    return { ok: true, query: { filters, view: viewOf(input, filters) } };
  } catch (e) {
    if (e instanceof Problem) return { ok: false, problem: e.message };
    throw e;
  }
}

function filtersOf(input: QueryInput, now: number): Filters {
  const until = input.until === undefined ? now : time(input.until, "until", now);
  const since = input.since === undefined ? until - DEFAULT_WINDOW_MS : time(input.since, "since", now);
  if (since >= until) throw new Problem("since must be before until");
  const filters: Filters = { since, until };
  for (const key of ["agent", "task", "service", "action", "reason"] as const) {
    const v = value(input[key], key);
    if (v !== undefined) filters[key] = v;
  }
  const effect = value(input.effect, "effect");
  if (effect !== undefined) {
    if (!(EFFECTS as readonly string[]).includes(effect))
      throw new Problem(`effect must be one of ${EFFECTS.join(", ")}`);
    filters.effect = effect as Effect;
  }
  const asi = value(input.asi, "asi");
  if (asi !== undefined) {
    if (!Object.hasOwn(ASI, asi)) throw new Problem("asi must be an OWASP Agentic id, ASI01 to ASI10");
    filters.asi = asi as AsiId;
  }
  const wouldDeny = input.would_deny;
  if (wouldDeny === true || wouldDeny === "true" || wouldDeny === "1") filters.would_deny = true;
  else if (wouldDeny !== undefined && wouldDeny !== false && wouldDeny !== "false" && wouldDeny !== "0")
    throw new Problem("would_deny must be true or false");
  return filters;
}

function viewOf(input: QueryInput, f: Filters): View {
  const kind = value(input.view, "view") ?? "list";
  const by = value(input.by, "by");
  if (by !== undefined && !(COUNT_BY as readonly string[]).includes(by))
    throw new Problem(`by must be one of ${COUNT_BY.join(", ")}`);
  switch (kind) {
    case "list":
      if (by !== undefined) throw new Problem("by applies to the counts and timeseries views");
      if (input.bucket !== undefined) throw new Problem("bucket applies to the timeseries view");
      return { kind, limit: limit(input.limit, 50) };
    case "counts":
      if (input.bucket !== undefined) throw new Problem("bucket applies to the timeseries view");
      return { kind, by: (by ?? "effect") as CountBy, limit: limit(input.limit, 20) };
    case "timeseries": {
      if (input.limit !== undefined) throw new Problem("limit applies to the list and counts views");
      const bucket = bucketOf(value(input.bucket, "bucket") ?? "1h");
      if ((f.until - f.since) / bucket.ms > MAX_BUCKETS)
        throw new Problem(`more than ${MAX_BUCKETS} buckets: use a larger bucket or a shorter window`);
      return by === undefined ? { kind, bucket } : { kind, bucket, by: by as CountBy };
    }
    default:
      throw new Problem("view must be list, counts or timeseries");
  }
}

function value(v: string | boolean | undefined, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw new Problem(`${name} needs a value`);
  if (v.length > MAX_VALUE) throw new Problem(`${name} is longer than ${MAX_VALUE} characters`);
  try {
    encodeURIComponent(v); // throws on a lone surrogate, which no stored value can match
  } catch {
    throw new Problem(`${name} is not valid Unicode text`);
  }
  return v;
}

/** An ISO date or time, or a duration back from now: `90s`, `30m`, `1h`, `7d`. */
export function time(v: string | boolean, name: string, now: number): number {
  if (typeof v === "string") {
    const rel = /^([1-9][0-9]{0,5})([smhd])$/.exec(v);
    if (rel) return now - Number(rel[1]) * UNITS[rel[2]!]![1];
    if (ISO.test(v)) {
      const t = Date.parse(v);
      if (!Number.isNaN(t)) return t;
    }
  }
  throw new Problem(
    `${name} must be an ISO date or time (2026-05-01, 2026-05-01T12:00:00Z) or a duration (30m, 1h, 7d)`,
  );
}

export function bucketOf(v: string): Bucket {
  const m = /^([1-9][0-9]{0,3})([smhd])$/.exec(v);
  if (!m) throw new Problem("bucket must be a duration such as 5m, 1h or 1d");
  const [unit, ms] = UNITS[m[2]!]!;
  return { n: Number(m[1]), unit, ms: Number(m[1]) * ms };
}

function limit(v: string | boolean | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === "string" && /^[0-9]{1,4}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new Problem(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

/** The query as query parameters (absolute times): what the CLI sends to the gateway with --local. */
export function toParams(q: DecisionQuery): URLSearchParams {
  const p = new URLSearchParams();
  const f = q.filters;
  p.set("since", new Date(f.since).toISOString());
  p.set("until", new Date(f.until).toISOString());
  for (const key of ["agent", "task", "service", "action", "effect", "reason", "asi"] as const) {
    const v = f[key];
    if (v !== undefined) p.set(key, v);
  }
  if (f.would_deny) p.set("would_deny", "true");
  p.set("view", q.view.kind);
  if (q.view.kind !== "timeseries") p.set("limit", String(q.view.limit));
  if (q.view.kind !== "list" && q.view.by !== undefined) p.set("by", q.view.by);
  if (q.view.kind === "timeseries") p.set("bucket", `${q.view.bucket.n}${q.view.bucket.unit[0]!.toLowerCase()}`);
  return p;
}
