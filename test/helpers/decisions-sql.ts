/**
 * A strict reader of the SQL that src/decisions/sql.ts writes, for tests: a tokenizer with each
 * dialect's string-literal rules (ClickHouse's for Analytics Engine: `''`, `\\`, `\'`, `\n`, `\0`,
 * `\xHH`; SQLite's: only `''`, control characters spliced in with `char(N)`), a parser for exactly the
 * statement shapes the builder emits, and an evaluator that runs a parsed statement over rows the way
 * the SQL API would. Anything else (a comment, a `;`, an unterminated literal, a stray word after a
 * literal) is a parse error: that is how a test sees an injection.
 */
export type Dialect = "analytics_engine" | "sqlite";

type Token = { t: "str"; v: string } | { t: "num"; v: number } | { t: "word"; v: string } | { t: "op"; v: string };

const AE_ESC: Record<string, string> = { n: "\n", r: "\r", t: "\t", "0": "\0", "\\": "\\", "'": "'", b: "\b", f: "\f" };

export function tokenize(sql: string, dialect: Dialect): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) i++;
    else if (ch === "'") {
      let v = "";
      i++;
      for (;;) {
        if (i >= sql.length) throw new Error("unterminated string literal");
        const c = sql[i]!;
        if (c === "'" && sql[i + 1] === "'") {
          v += "'";
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else if (c === "\\" && dialect === "analytics_engine") {
          const n = sql[i + 1] ?? "";
          if (n === "x") {
            v += String.fromCharCode(Number.parseInt(sql.slice(i + 2, i + 4), 16));
            i += 4;
          } else if (n in AE_ESC) {
            v += AE_ESC[n];
            i += 2;
          } else throw new Error(`unknown escape \\${n}`);
        } else {
          v += c;
          i++;
        }
      }
      out.push({ t: "str", v });
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+/.exec(sql.slice(i))![0];
      out.push({ t: "num", v: Number(m) });
      i += m.length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))![0];
      out.push({ t: "word", v: m });
      i += m.length;
    } else {
      const m = /^(>=|<=|!=|<>|\|\||[=<>(),*/])/.exec(sql.slice(i));
      if (!m) throw new Error(`unexpected character ${JSON.stringify(ch)} at ${i}`);
      out.push({ t: "op", v: m[1]! });
      i += m[1]!.length;
    }
  }
  return out;
}

export type Value = string | number;
export type Cond = { or: Cond[] } | { and: Cond[] } | { column: string; op: string; value: Value };
export interface SelectItem {
  expr:
    | { column: string }
    | { agg: "SUM" | "MAX"; column: string }
    | { bucket: { n: number; unit: string } | { ms: number } };
  as: string;
}
export interface Statement {
  select: SelectItem[];
  from: string;
  where: Cond;
  groupBy: string[];
  orderBy: { key: string; desc: boolean }[];
  limit: number | null;
  format: string | null;
}

/** Parses one statement of the builder's shape; throws on anything else. */
export function parse(sql: string, dialect: Dialect): Statement {
  const toks = tokenize(sql, dialect);
  let i = 0;
  const peek = () => toks[i];
  const next = () => {
    const t = toks[i++];
    if (!t) throw new Error("unexpected end of statement");
    return t;
  };
  const word = (w?: string) => {
    const t = next();
    if (t.t !== "word" || (w !== undefined && t.v.toUpperCase() !== w)) throw new Error(`expected ${w ?? "a name"}`);
    return t.v;
  };
  const op = (o: string) => {
    const t = next();
    if (t.t !== "op" || t.v !== o) throw new Error(`expected ${o}`);
  };
  const isWord = (w: string) => peek()?.t === "word" && (peek()!.v as string).toUpperCase() === w;
  const isOp = (o: string) => peek()?.t === "op" && peek()!.v === o;
  const num = () => {
    const t = next();
    if (t.t !== "num") throw new Error("expected a number");
    return t.v;
  };

  const value = (): Value => {
    const t = peek();
    if (t?.t === "str") return (next() as { v: string }).v;
    if (t?.t === "num") return num();
    if (dialect === "analytics_engine" && isWord("TODATETIME")) {
      word();
      op("(");
      const n = num();
      op(")");
      return n * 1000;
    }
    if (dialect === "sqlite" && isOp("(")) {
      // 'a' || char(0) || 'b'
      op("(");
      let v = "";
      for (;;) {
        if (peek()?.t === "str") v += (next() as { v: string }).v;
        else {
          word("CHAR");
          op("(");
          v += String.fromCharCode(num());
          op(")");
        }
        if (isOp(")")) break;
        op("||");
      }
      op(")");
      return v;
    }
    throw new Error("expected a value");
  };
  const atom = (): Cond => {
    if (isOp("(")) {
      op("(");
      const c = or();
      op(")");
      return c;
    }
    const column = word();
    const t = next();
    if (t.t !== "op" || !["=", "!=", ">=", "<"].includes(t.v)) throw new Error("expected a comparison");
    return { column, op: t.v, value: value() };
  };
  const and = (): Cond => {
    const parts = [atom()];
    while (isWord("AND")) {
      word();
      parts.push(atom());
    }
    return parts.length === 1 ? parts[0]! : { and: parts };
  };
  const or = (): Cond => {
    const parts = [and()];
    while (isWord("OR")) {
      word();
      parts.push(and());
    }
    return parts.length === 1 ? parts[0]! : { or: parts };
  };
  const selectItem = (): SelectItem => {
    if (isWord("SUM") || isWord("MAX")) {
      const agg = word().toUpperCase() as "SUM" | "MAX";
      op("(");
      const column = word();
      op(")");
      word("AS");
      return { expr: { agg, column }, as: word() };
    }
    if (dialect === "analytics_engine" && isWord("TOSTARTOFINTERVAL")) {
      word();
      op("(");
      word("TIMESTAMP");
      op(",");
      word("INTERVAL");
      const n = next();
      if (n.t !== "str" || !/^[1-9][0-9]*$/.test(n.v)) throw new Error("expected INTERVAL 'n'");
      const unit = word();
      op(")");
      word("AS");
      return { expr: { bucket: { n: Number(n.v), unit: unit.toUpperCase() } }, as: word() };
    }
    if (dialect === "sqlite" && isOp("(")) {
      op("(");
      word("TIMESTAMP");
      op("/");
      const ms = num();
      op(")");
      op("*");
      if (num() !== ms) throw new Error("bucket width mismatch");
      word("AS");
      return { expr: { bucket: { ms } }, as: word() };
    }
    const column = word();
    if (isWord("AS")) {
      word();
      return { expr: { column }, as: word() };
    }
    return { expr: { column }, as: column };
  };

  word("SELECT");
  const select = [selectItem()];
  while (isOp(",")) {
    op(",");
    select.push(selectItem());
  }
  word("FROM");
  const from = word();
  word("WHERE");
  const where = or();
  const groupBy: string[] = [];
  if (isWord("GROUP")) {
    word();
    word("BY");
    groupBy.push(word());
    while (isOp(",")) {
      op(",");
      groupBy.push(word());
    }
  }
  const orderBy: { key: string; desc: boolean }[] = [];
  if (isWord("ORDER")) {
    word();
    word("BY");
    do {
      if (isOp(",")) op(",");
      const key = word();
      const dir = isWord("ASC") || isWord("DESC") ? word().toUpperCase() : "ASC";
      orderBy.push({ key, desc: dir === "DESC" });
    } while (isOp(","));
  }
  let limit: number | null = null;
  if (isWord("LIMIT")) {
    word();
    limit = num();
  }
  let format: string | null = null;
  if (isWord("FORMAT")) {
    word();
    format = word();
  }
  if (i !== toks.length) throw new Error("trailing tokens after the statement");
  return { select, from, where, groupBy, orderBy, limit, format };
}

/** Every predicate of a WHERE tree, flattened (for "the right WHERE clauses" checks). */
export function predicates(c: Cond): { column: string; op: string; value: Value }[] {
  if ("or" in c) return c.or.flatMap(predicates);
  if ("and" in c) return c.and.flatMap(predicates);
  return [c];
}

export type StoredRow = Record<string, Value> & { timestamp: number; _sample_interval: number };

function holds(c: Cond, row: StoredRow): boolean {
  if ("or" in c) return c.or.some((x) => holds(x, row));
  if ("and" in c) return c.and.every((x) => holds(x, row));
  const v = row[c.column];
  if (v === undefined) throw new Error(`unknown column ${c.column}`);
  switch (c.op) {
    case "=":
      return v === c.value;
    case "!=":
      return v !== c.value;
    case ">=":
      return v >= c.value;
    default:
      return v < c.value;
  }
}

const UNIT_MS: Record<string, number> = { SECOND: 1000, MINUTE: 60_000, HOUR: 3600_000, DAY: 86_400_000 };

/** Runs the statement over rows (timestamps in ms); returns result rows keyed by alias. */
export function evaluate(s: Statement, rows: StoredRow[]): Record<string, Value>[] {
  const matching = rows.filter((r) => holds(s.where, r));
  const scalar = (item: SelectItem, r: StoredRow): Value => {
    const e = item.expr;
    if ("column" in e && !("agg" in e)) return r[e.column]!;
    if ("bucket" in e) {
      const ms = "ms" in e.bucket ? e.bucket.ms : e.bucket.n * UNIT_MS[e.bucket.unit]!;
      return Math.floor(r.timestamp / ms) * ms;
    }
    throw new Error("aggregate outside GROUP BY");
  };
  let out: Record<string, Value>[];
  if (s.groupBy.length === 0) {
    out = matching.map((r) => Object.fromEntries(s.select.map((item) => [item.as, scalar(item, r)])));
  } else {
    const groups = new Map<string, StoredRow[]>();
    for (const r of matching) {
      const key = JSON.stringify(s.groupBy.map((g) => scalar(s.select.find((x) => x.as === g)!, r)));
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    out = [...groups.values()].map((members) =>
      Object.fromEntries(
        s.select.map((item) => {
          const e = item.expr;
          if ("agg" in e) {
            const vals = members.map((m) => Number(m[e.column]));
            return [item.as, e.agg === "SUM" ? vals.reduce((a, b) => a + b, 0) : Math.max(...vals)];
          }
          return [item.as, scalar(item, members[0]!)];
        }),
      ),
    );
  }
  out.sort((a, b) => {
    for (const { key, desc } of s.orderBy) {
      const x = a[key]!;
      const y = b[key]!;
      if (x !== y) return (x < y ? -1 : 1) * (desc ? -1 : 1);
    }
    return 0;
  });
  return s.limit === null ? out : out.slice(0, s.limit);
}
