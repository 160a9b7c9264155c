/**
 * The query builder (src/decisions/sql.ts), both dialects: each filter lands in WHERE as the right
 * column and value, each view has its shape, every value survives escaping as exactly one literal
 * (the statement is re-read by a strict parser with the dialect's own literal rules: an injected
 * `OR`, comment or quote would not parse, or would add a predicate), and counts are weighted by
 * `_sample_interval` with the estimate flag set exactly when a row was sampled.
 */
import { describe, expect, it } from "vitest";
import { column } from "../../src/decisions/layout";
import { type DecisionQuery, type Filters, parseQuery, type QueryInput } from "../../src/decisions/query";
import { type CountRow, readRows } from "../../src/decisions/rows";
import { buildSql, type Dialect, LIST_COLUMNS, literal } from "../../src/decisions/sql";
import { evaluate, parse, predicates, type StoredRow, storedRow, tokenize } from "../helpers/decisions-sql";

const NOW = Date.parse("2026-05-01T12:00:00Z");
const DIALECTS: Dialect[] = ["analytics_engine", "sqlite"];

function query(input: QueryInput): DecisionQuery {
  const parsed = parseQuery(input, NOW);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.query;
}

const sqlOf = (input: QueryInput, d: Dialect) => buildSql(query(input), d, "firebreak_decisions");
const where = (input: QueryInput, d: Dialect) => predicates(parse(sqlOf(input, d), d).where);
/** ms as the dialect stores it after the parser's reading (AE: whole seconds). */
const ms = (t: number, d: Dialect, round = Math.floor) => (d === "analytics_engine" ? round(t / 1000) * 1000 : t);

describe.each(DIALECTS)("filters (%s)", (d) => {
  it("always: layout v1 and the time window", () => {
    expect(where({}, d)).toEqual([
      { column: "blob1", op: "=", value: "v1" },
      { column: "timestamp", op: ">=", value: NOW - 24 * 3600_000 },
      { column: "timestamp", op: "<", value: NOW },
    ]);
  });

  it("since and until, relative and ISO", () => {
    const w = where({ since: "7d", until: "2026-05-01T11:59:59.500Z" }, d);
    expect(w[1]).toEqual({ column: "timestamp", op: ">=", value: NOW - 7 * 86_400_000 });
    expect(w[2]).toEqual({ column: "timestamp", op: "<", value: ms(NOW - 500, d, Math.ceil) });
  });

  it.each([
    ["task", "t_1", "blob10"],
    ["service", "github", "blob11"],
    ["action", "github:pulls.merge", "blob12"],
    ["effect", "deny", "blob4"],
    ["reason", "policy.no_match", "blob5"],
    ["asi", "ASI02", "blob16"],
  ])("%s", (key, value, col) => {
    const w = where({ [key]: value }, d);
    expect(w).toHaveLength(4);
    expect(w[3]).toEqual({ column: col, op: "=", value });
  });

  it("agent as issuer:sub matches the index, the subject, or issuer and subject", () => {
    const stmt = parse(sqlOf({ agent: "workloads:triage-bot" }, d), d);
    const agentCond = (stmt.where as { and: unknown[] }).and[3];
    expect(agentCond).toEqual({
      or: [
        { column: "index1", op: "=", value: "workloads:triage-bot" },
        { column: "blob9", op: "=", value: "workloads:triage-bot" },
        {
          and: [
            { column: "blob8", op: "=", value: "workloads" },
            { column: "blob9", op: "=", value: "triage-bot" },
          ],
        },
      ],
    });
  });

  it("agent as a subject alone", () => {
    expect(where({ agent: "triage-bot" }, d).slice(3)).toEqual([
      { column: "index1", op: "=", value: "triage-bot" },
      { column: "blob9", op: "=", value: "triage-bot" },
    ]);
  });

  it("would_deny: report mode would have blocked", () => {
    expect(where({ would_deny: true }, d)[3]).toEqual({ column: "double4", op: "=", value: 1 });
    expect(where({ would_deny: "false" }, d)).toHaveLength(3);
  });

  it("all filters together, ANDed", () => {
    const w = where(
      { task: "t", service: "s", action: "a", effect: "allow", reason: "r", asi: "ASI03", would_deny: true },
      d,
    );
    expect(w.map((p) => p.column)).toEqual([
      "blob1",
      "timestamp",
      "timestamp",
      "blob10",
      "blob11",
      "blob12",
      "blob4",
      "blob5",
      "blob16",
      "double4",
    ]);
  });
});

describe.each(DIALECTS)("views (%s)", (d) => {
  it("list: every column of the layout, newest first, limited", () => {
    const s = parse(sqlOf({ limit: "7" }, d), d);
    expect(s.select.map((x) => x.as)).toEqual([...LIST_COLUMNS]);
    expect(s.orderBy).toEqual([{ key: "timestamp", desc: true }]);
    expect(s.limit).toBe(7);
    expect(s.format).toBe(d === "analytics_engine" ? "JSON" : null);
  });

  it.each([
    ["effect", "blob4"],
    ["reason", "blob5"],
    ["asi", "blob16"],
    ["action", "blob12"],
    ["agent", "index1"],
  ])("counts by %s: weighted by _sample_interval", (by, col) => {
    const s = parse(sqlOf({ view: "counts", by }, d), d);
    expect(s.select).toEqual([
      { expr: { column: col }, as: "group_key" },
      { expr: { agg: "SUM", column: "_sample_interval" }, as: "n" },
      { expr: { agg: "MAX", column: "_sample_interval" }, as: "max_interval" },
    ]);
    expect(s.groupBy).toEqual(["group_key"]);
    expect(s.orderBy).toEqual([
      { key: "n", desc: true },
      { key: "group_key", desc: false },
    ]);
    expect(s.limit).toBe(20);
  });

  it("timeseries: bucketed, oldest first, optionally split", () => {
    const s = parse(sqlOf({ view: "timeseries", bucket: "5m" }, d), d);
    expect(s.select[0]).toEqual({
      expr: { bucket: d === "analytics_engine" ? { n: 5, unit: "MINUTE" } : { ms: 300_000 } },
      as: "bucket",
    });
    expect(s.groupBy).toEqual(["bucket"]);
    expect(s.orderBy).toEqual([{ key: "bucket", desc: false }]);
    const split = parse(sqlOf({ view: "timeseries", bucket: "1d", by: "effect" }, d), d);
    expect(split.select[1]).toEqual({ expr: { column: "blob4" }, as: "group_key" });
    expect(split.groupBy).toEqual(["bucket", "group_key"]);
  });

  it("Analytics Engine SQL text uses its own functions", () => {
    if (d !== "analytics_engine") return;
    const sql = sqlOf({ view: "timeseries", bucket: "1h" }, d);
    expect(sql).toContain("toStartOfInterval(timestamp, INTERVAL '1' HOUR) AS bucket");
    expect(sql).toContain(`timestamp >= toDateTime(${(NOW - 86_400_000) / 1000})`);
    expect(sql.endsWith("FORMAT JSON")).toBe(true);
  });
});

const NASTY = [
  ["a quote", "o'brien"],
  ["a backslash", "back\\slash"],
  ["a backslash before a quote", "x\\' OR 1=1 --"],
  ["a trailing backslash", "end\\"],
  ["a newline", "two\nlines\r\n"],
  ["a NUL", "nul\0byte"],
  ["other control characters", "bell\x07esc\x1b[2Jdel\x7f"],
  ["unicode", "agent-ünïcødé-🤖-שלום"],
  ["an injection", "x' OR 1=1 --"],
  ["a comment opener", "x'/* */; DROP TABLE firebreak_decisions; --"],
  ["only quotes", "''''"],
] as const;

describe.each(DIALECTS)("escaping (%s)", (d) => {
  it.each(NASTY)("%s stays one literal with the exact value", (_name, value) => {
    for (const key of ["agent", "task", "reason"] as const) {
      const w = where({ [key]: value }, d);
      const mine = w.slice(3);
      // agent: index1 and blob9 (plus an issuer/subject pair when the value has a colon inside)
      for (const p of mine) expect(p.op).toBe("=");
      expect(mine.some((p) => p.value === value)).toBe(true);
      expect(mine.length).toBe(key === "agent" ? (/.:./s.test(value) ? 4 : 2) : 1);
    }
  });

  it("writes literals in the dialect's syntax", () => {
    if (d === "analytics_engine") {
      expect(literal("o'brien", d)).toBe("'o''brien'");
      expect(literal("a\\b", d)).toBe("'a\\\\b'");
      expect(literal("a\nb\0c\x1b", d)).toBe("'a\\nb\\0c\\x1b'");
      expect(literal("é🤖", d)).toBe("'é🤖'");
    } else {
      expect(literal("o'brien", d)).toBe("'o''brien'");
      expect(literal("a\\b", d)).toBe("'a\\b'");
      expect(literal("a\nb\0", d)).toBe("('a' || char(10) || 'b' || char(0) || '')");
    }
  });

  it("the tokenizer sees an unescaped value as an injection (the checks above can fail)", () => {
    const naive = `SELECT blob4 FROM t WHERE blob9 = 'x' OR 1=1 --' FORMAT JSON`;
    expect(() => parse(naive, d)).toThrow();
    expect(tokenize("'x\\' OR 1=1'", "analytics_engine")).toEqual([{ t: "str", v: "x' OR 1=1" }]);
  });
});

describe("buildSql refuses what is not a query", () => {
  const q = query({});
  it.each([["firebreak-decisions"], ["x; DROP"], [""], ["1abc"]])("table %j", (table) => {
    expect(() => buildSql(q, "analytics_engine", table)).toThrow(/identifier/);
  });

  it.each([
    ["a fractional limit", { ...q, view: { kind: "list", limit: 1.5 } }],
    ["a limit with SQL in it", { ...q, view: { kind: "list", limit: "1; DROP" } }],
    [
      "a bucket unit outside the set",
      { ...q, view: { kind: "timeseries", bucket: { n: 1, unit: "HOUR) --", ms: 1 } } },
    ],
    ["a non-numeric time", { ...q, filters: { ...q.filters, since: "0 OR 1" } as unknown as Filters }],
    ["an unknown count key", { ...q, view: { kind: "counts", by: "blob1", limit: 1 } }],
  ])("%s", (_name, bad) => {
    expect(() => buildSql(bad as DecisionQuery, "sqlite", "firebreak_decisions")).toThrow(/not a valid/);
  });
});

describe("sample weighting", () => {
  const row = (i: number, effect: string, interval: number): StoredRow =>
    storedRow({
      timestamp: NOW - 3600_000 + i * 1000,
      _sample_interval: interval,
      index1: "workloads:bot",
      blob4: effect,
    });
  const run = (rows: StoredRow[], input: QueryInput) => {
    const q = query(input);
    const s = parse(buildSql(q, "analytics_engine", "firebreak_decisions"), "analytics_engine");
    // As the API answers: 64-bit sums quoted.
    const raw = evaluate(s, rows).map((r) => ({ ...r, n: String(r.n), max_interval: String(r.max_interval) }));
    return readRows(q, raw);
  };

  it("counts each stored row as _sample_interval decisions and says the figures are estimates", () => {
    const rows = [row(1, "deny", 10), row(2, "deny", 10), row(3, "allow", 1), row(4, "allow", 1), row(5, "allow", 1)];
    const r = run(rows, { view: "counts", by: "effect" });
    expect(r.rows as CountRow[]).toEqual([
      { key: "deny", n: 20 },
      { key: "allow", n: 3 },
    ]);
    expect(r.estimated).toBe(true);
  });

  it("is exact, and not an estimate, when nothing was sampled", () => {
    const r = run([row(1, "deny", 1), row(2, "allow", 1)], { view: "counts", by: "effect" });
    expect(r.rows).toEqual([
      { key: "allow", n: 1 },
      { key: "deny", n: 1 },
    ]);
    expect(r.estimated).toBe(false);
  });

  it("marks a list as an estimate when one listed row was sampled", () => {
    const r = run([row(1, "deny", 1), row(2, "deny", 10)], {});
    expect(r.rows.map((x) => (x as { sample_interval: number }).sample_interval)).toEqual([10, 1]);
    expect(r.estimated).toBe(true);
  });

  it("weights timeseries buckets", () => {
    const r = run([row(1, "deny", 10), row(2, "deny", 1)], { view: "timeseries", bucket: "1d" });
    expect(r.rows).toEqual([{ bucket: "2026-05-01T00:00:00.000Z", n: 11 }]);
    expect(r.estimated).toBe(true);
  });

  it("filters and groups by ASI id; a row from before layout revision 2 (blob16 empty) has none", () => {
    const at = (i: number, reason: string, asi: string, interval = 1) => ({
      ...row(i, "deny", interval),
      blob5: reason,
      blob16: asi,
    });
    const rows = [
      at(1, "identity.expired", "ASI03", 10),
      at(2, "identity.missing", "ASI03"),
      at(3, "policy.denied", "ASI02"),
      at(4, "policy.denied", ""), // written by revision 1
      { ...row(5, "allow", 1), blob5: "policy.allowed" },
    ];
    const grouped = run(rows, { view: "counts", by: "asi", effect: "deny" });
    expect(grouped.rows).toEqual([
      { key: "ASI03", n: 11 },
      { key: "", n: 1 },
      { key: "ASI02", n: 1 },
    ]);
    const only = run(rows, { asi: "ASI03" });
    expect(only.rows.map((r) => (r as { reason: string; asi: string }).reason)).toEqual([
      "identity.missing",
      "identity.expired",
    ]);
    expect(only.rows.every((r) => (r as { asi: string }).asi === "ASI03")).toBe(true);
  });

  it("reads the layout's columns back by the same map", () => {
    const r = run([row(1, "deny", 1)], {});
    expect(column("effect")).toBe("blob4");
    expect(r.rows[0]).toMatchObject({
      effect: "deny",
      agent: "workloads:bot",
      ts: new Date(NOW - 3600_000 + 1000).toISOString(),
    });
  });
});
