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
  return new Parser(tokenize(sql, dialect), dialect).statement();
}

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly dialect: Dialect,
  ) {}

  statement(): Statement {
    this.word("SELECT");
    const select = this.list(() => this.selectItem());
    this.word("FROM");
    const from = this.word();
    this.word("WHERE");
    const where = this.or();
    const groupBy = this.clause("GROUP", () => this.word());
    const orderBy = this.clause("ORDER", () => {
      const key = this.word();
      const dir = this.isWord("ASC") || this.isWord("DESC") ? this.word().toUpperCase() : "ASC";
      return { key, desc: dir === "DESC" };
    });
    const limit = this.keyword("LIMIT") ? this.num() : null;
    const format = this.keyword("FORMAT") ? this.word() : null;
    if (this.i !== this.toks.length) throw new Error("trailing tokens after the statement");
    return { select, from, where, groupBy, orderBy, limit, format };
  }

  private peek() {
    return this.toks[this.i];
  }
  private next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new Error("unexpected end of statement");
    return t;
  }
  private word(w?: string): string {
    const t = this.next();
    if (t.t !== "word" || (w !== undefined && t.v.toUpperCase() !== w)) throw new Error(`expected ${w ?? "a name"}`);
    return t.v;
  }
  private op(o: string): void {
    const t = this.next();
    if (t.t !== "op" || t.v !== o) throw new Error(`expected ${o}`);
  }
  private num(): number {
    const t = this.next();
    if (t.t !== "num") throw new Error("expected a number");
    return t.v;
  }
  private str(): string {
    const t = this.next();
    if (t.t !== "str") throw new Error("expected a string");
    return t.v;
  }
  private isWord(w: string): boolean {
    const t = this.peek();
    return t?.t === "word" && t.v.toUpperCase() === w;
  }
  private isOp(o: string): boolean {
    const t = this.peek();
    return t?.t === "op" && t.v === o;
  }
  /** Takes `w` if it comes next. */
  private keyword(w: string): boolean {
    if (!this.isWord(w)) return false;
    this.word();
    return true;
  }
  private list<T>(item: () => T): T[] {
    const out = [item()];
    while (this.isOp(",")) {
      this.op(",");
      out.push(item());
    }
    return out;
  }
  /** `GROUP BY a, b` / `ORDER BY ...`, or nothing. */
  private clause<T>(keyword: string, item: () => T): T[] {
    if (!this.isWord(keyword)) return [];
    this.word();
    this.word("BY");
    return this.list(item);
  }

  private value(): Value {
    const t = this.peek();
    if (t?.t === "str") return this.str();
    if (t?.t === "num") return this.num();
    if (this.dialect === "analytics_engine" && this.isWord("TODATETIME")) {
      this.word();
      this.op("(");
      const n = this.num();
      this.op(")");
      return n * 1000;
    }
    if (this.dialect === "sqlite" && this.isOp("(")) return this.concatenation();
    throw new Error("expected a value");
  }
  /** SQLite: `('a' || char(0) || 'b')`. */
  private concatenation(): string {
    this.op("(");
    let v = "";
    for (;;) {
      if (this.peek()?.t === "str") v += this.str();
      else {
        this.word("CHAR");
        this.op("(");
        v += String.fromCharCode(this.num());
        this.op(")");
      }
      if (this.isOp(")")) break;
      this.op("||");
    }
    this.op(")");
    return v;
  }

  private atom(): Cond {
    if (this.isOp("(")) {
      this.op("(");
      const c = this.or();
      this.op(")");
      return c;
    }
    const column = this.word();
    const t = this.next();
    if (t.t !== "op" || !["=", "!=", ">=", "<"].includes(t.v)) throw new Error("expected a comparison");
    return { column, op: t.v, value: this.value() };
  }
  private and(): Cond {
    const parts = [this.atom()];
    while (this.isWord("AND")) {
      this.word();
      parts.push(this.atom());
    }
    return parts.length === 1 ? parts[0]! : { and: parts };
  }
  private or(): Cond {
    const parts = [this.and()];
    while (this.isWord("OR")) {
      this.word();
      parts.push(this.and());
    }
    return parts.length === 1 ? parts[0]! : { or: parts };
  }

  private selectItem(): SelectItem {
    if (this.isWord("SUM") || this.isWord("MAX")) {
      const agg = this.word().toUpperCase() as "SUM" | "MAX";
      this.op("(");
      const column = this.word();
      this.op(")");
      return { expr: { agg, column }, as: this.alias() };
    }
    if (this.dialect === "analytics_engine" && this.isWord("TOSTARTOFINTERVAL")) {
      this.word();
      this.op("(");
      this.word("TIMESTAMP");
      this.op(",");
      this.word("INTERVAL");
      const n = this.str();
      if (!/^[1-9][0-9]*$/.test(n)) throw new Error("expected INTERVAL 'n'");
      const unit = this.word().toUpperCase();
      this.op(")");
      return { expr: { bucket: { n: Number(n), unit } }, as: this.alias() };
    }
    if (this.dialect === "sqlite" && this.isOp("(")) {
      this.op("(");
      this.word("TIMESTAMP");
      this.op("/");
      const ms = this.num();
      this.op(")");
      this.op("*");
      if (this.num() !== ms) throw new Error("bucket width mismatch");
      return { expr: { bucket: { ms } }, as: this.alias() };
    }
    const column = this.word();
    return { expr: { column }, as: this.isWord("AS") ? this.alias() : column };
  }
  private alias(): string {
    this.word("AS");
    return this.word();
  }
}

/** Every predicate of a WHERE tree, flattened (for "the right WHERE clauses" checks). */
export function predicates(c: Cond): { column: string; op: string; value: Value }[] {
  if ("or" in c) return c.or.flatMap(predicates);
  if ("and" in c) return c.and.flatMap(predicates);
  return [c];
}

export type StoredRow = Record<string, Value> & { timestamp: number; _sample_interval: number };

/** A stored layout-v1 row (revision 2: 16 blobs): every blob empty and every double 0 unless `over` says otherwise. */
export function storedRow(over: Partial<StoredRow> & { timestamp: number }): StoredRow {
  return {
    _sample_interval: 1,
    index1: "anonymous",
    ...Object.fromEntries(Array.from({ length: 16 }, (_, k) => [`blob${k + 1}`, k === 0 ? "v1" : ""])),
    ...Object.fromEntries(Array.from({ length: 4 }, (_, k) => [`double${k + 1}`, 0])),
    ...over,
  } as StoredRow;
}

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
