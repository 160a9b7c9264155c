/**
 * The query builder: one DecisionQuery -> one SQL statement, for the Analytics Engine SQL API
 * (ClickHouse-flavoured: `toDateTime`, `toStartOfInterval`, `INTERVAL '5' MINUTE`, `FORMAT JSON`) or
 * for SQLite (the local store, src/decisions/local-store.ts). Columns come only from the column map
 * (src/decisions/layout.ts) and the table name is checked to be a plain identifier; every value is a
 * string literal escaped for the dialect, or a number this module computed. Pure.
 *
 * Counts are weighted by `_sample_interval` (each stored row stands for that many decisions), and every
 * aggregate also returns MAX(_sample_interval) so that the result can say whether it is an estimate.
 */
import { column, DATA_POINT_LAYOUT, FIELDS, type FieldName } from "./layout";
import type { CountBy, DecisionQuery, Filters } from "./query";

export type Dialect = "analytics_engine" | "sqlite";

/** The columns a list row selects, in this order (the layout's, after the two the store adds). */
export const LIST_COLUMNS = ["timestamp", "_sample_interval", ...FIELDS.map(column)] as const;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const BY_FIELD: Record<CountBy, FieldName> = {
  effect: "effect",
  reason: "reason",
  asi: "asi",
  action: "action",
  agent: "agent",
};

/** Escapes in ClickHouse's string literal syntax (what Analytics Engine parses). */
const AE_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0" };

const isControl = (code: number) => code < 0x20 || code === 0x7f;

/**
 * `v` as one string literal of the dialect. Analytics Engine: a quote is doubled (valid both where a
 * backslash escapes and where it does not) and a backslash is doubled, so no input can end the literal
 * early; control characters become escapes. SQLite has no escapes: a quote is doubled, and control
 * characters are spliced in with char(), since a NUL would end the statement text.
 */
export function literal(v: string, dialect: Dialect): string {
  if (dialect === "analytics_engine") {
    let out = "'";
    for (const ch of v) {
      const code = ch.codePointAt(0)!;
      if (ch === "'") out += "''";
      else if (ch === "\\") out += "\\\\";
      else if (isControl(code)) out += AE_ESCAPES[ch] ?? `\\x${code.toString(16).padStart(2, "0")}`;
      else out += ch;
    }
    return `${out}'`;
  }
  const parts: string[] = [];
  let current = "";
  for (const ch of v) {
    const code = ch.codePointAt(0)!;
    if (isControl(code)) {
      parts.push(`'${current}'`, `char(${code})`);
      current = "";
    } else current += ch === "'" ? "''" : ch;
  }
  parts.push(`'${current}'`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(" || ")})`;
}

/** The one statement for `q` against `table`. Throws only for a table name that is not an identifier. */
export function buildSql(q: DecisionQuery, dialect: Dialect, table: string): string {
  if (!IDENTIFIER.test(table)) throw new Error("the dataset name must be a plain SQL identifier");
  checkNumbers(q);
  const where = `WHERE ${predicates(q.filters, dialect).join(" AND ")}`;
  const from = `FROM ${table}`;
  const weights = "SUM(_sample_interval) AS n, MAX(_sample_interval) AS max_interval";
  const v = q.view;
  let lines: string[];
  if (v.kind === "list") {
    lines = [`SELECT ${LIST_COLUMNS.join(", ")}`, from, where, "ORDER BY timestamp DESC", `LIMIT ${v.limit}`];
  } else if (v.kind === "counts") {
    const key = column(BY_FIELD[v.by]);
    lines = [
      `SELECT ${key} AS group_key, ${weights}`,
      from,
      where,
      "GROUP BY group_key",
      "ORDER BY n DESC, group_key ASC",
      `LIMIT ${v.limit}`,
    ];
  } else {
    const bucket =
      dialect === "analytics_engine"
        ? `toStartOfInterval(timestamp, INTERVAL '${v.bucket.n}' ${v.bucket.unit})`
        : `(timestamp / ${v.bucket.ms}) * ${v.bucket.ms}`;
    const key = v.by === undefined ? null : column(BY_FIELD[v.by]);
    lines = [
      `SELECT ${bucket} AS bucket, ${key ? `${key} AS group_key, ` : ""}${weights}`,
      from,
      where,
      `GROUP BY bucket${key ? ", group_key" : ""}`,
      `ORDER BY bucket ASC${key ? ", group_key ASC" : ""}`,
    ];
  }
  if (dialect === "analytics_engine") lines.push("FORMAT JSON");
  return lines.join("\n");
}

const UNITS = new Set(["SECOND", "MINUTE", "HOUR", "DAY"]);

/** Numbers and keywords go into the statement as text: a query built by hand must not smuggle any in. */
function checkNumbers(q: DecisionQuery): void {
  const whole = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  const v = q.view;
  const ok =
    whole(q.filters.since) &&
    whole(q.filters.until) &&
    (v.kind === "timeseries"
      ? whole(v.bucket.n) && v.bucket.n > 0 && whole(v.bucket.ms) && v.bucket.ms > 0 && UNITS.has(v.bucket.unit)
      : whole(v.limit) && v.limit > 0) &&
    (v.kind === "list" || v.by === undefined || Object.hasOwn(BY_FIELD, v.by));
  if (!ok) throw new Error("not a valid decision query");
}

function predicates(f: Filters, dialect: Dialect): string[] {
  const lit = (v: string) => literal(v, dialect);
  const eq = (field: FieldName, v: string) => `${column(field)} = ${lit(v)}`;
  // Analytics Engine's timestamp is a DateTime (seconds); the local store keeps milliseconds.
  const at = (ms: number, round: (x: number) => number) =>
    dialect === "analytics_engine" ? `toDateTime(${round(ms / 1000)})` : String(round(ms));
  // Only rows of the layout this code reads: a future v2 may give positions other meanings.
  const out = [eq("layout", DATA_POINT_LAYOUT)];
  out.push(`timestamp >= ${at(f.since, Math.floor)}`, `timestamp < ${at(f.until, Math.ceil)}`);
  if (f.agent !== undefined) out.push(agentPredicate(f.agent, eq));
  if (f.task !== undefined) out.push(eq("task_id", f.task));
  if (f.service !== undefined) out.push(eq("service", f.service));
  if (f.action !== undefined) out.push(eq("action", f.action));
  if (f.effect !== undefined) out.push(eq("effect", f.effect));
  if (f.reason !== undefined) out.push(eq("reason", f.reason));
  // Rows written before layout v1 revision 2 hold "" here: an ASI filter does not find them.
  if (f.asi !== undefined) out.push(eq("asi", f.asi));
  if (f.would_deny) out.push(`${column("would_block")} = 1`);
  return out;
}

/**
 * `issuer:sub`, or a subject alone. A subject may itself hold colons (SPIFFE IDs do), so a value with a
 * colon matches either reading; the index term also finds `anonymous` (calls refused before identity).
 */
function agentPredicate(agent: string, eq: (field: FieldName, v: string) => string): string {
  const terms = [eq("agent", agent), eq("agent_sub", agent)];
  const colon = agent.indexOf(":");
  if (colon > 0 && colon < agent.length - 1) {
    terms.push(`(${eq("agent_issuer", agent.slice(0, colon))} AND ${eq("agent_sub", agent.slice(colon + 1))})`);
  }
  return `(${terms.join(" OR ")})`;
}
