/**
 * A fake Analytics Engine SQL API: a real node:http server on 127.0.0.1 that accepts
 * `POST /client/v4/accounts/<account>/analytics_engine/sql` with `Authorization: Bearer <token>`,
 * parses the statement strictly (test/helpers/decisions-sql.ts), runs it over the rows it was given
 * and answers as the API does with FORMAT JSON: `{ meta, data, rows, rows_before_limit_at_least }`,
 * DateTime columns as `YYYY-MM-DD hh:mm:ss` and 64-bit sums quoted (ClickHouse's JSON output). A bad
 * token gets the v4 error body with 401; a statement it cannot parse gets 400 and is recorded, so a
 * test can assert that none was malformed.
 */
import { createServer, type Server } from "node:http";
import { evaluate, parse, type Statement, type StoredRow, type Value } from "./decisions-sql";

export interface Received {
  method: string;
  path: string;
  authorization: string | undefined;
  sql: string;
  statement: Statement | null;
  error: string | null;
}

export interface FakeAnalytics {
  /** Base URL to put in FIREBREAK_ANALYTICS_API (ends in /client/v4). */
  base: string;
  received: Received[];
  /** The next answer is this status and body instead (for error paths). */
  failNext(status: number, body: string): void;
  close(): Promise<void>;
}

const DATETIME_COLUMNS = new Set(["timestamp", "bucket"]);

function datetime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

function answer(s: Statement, rows: StoredRow[]): string {
  const data = evaluate(s, rows).map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]): [string, Value] => {
        if (DATETIME_COLUMNS.has(k)) return [k, datetime(Number(v))];
        if (k === "n" || k === "max_interval") return [k, String(v)];
        return [k, v];
      }),
    ),
  );
  const meta = s.select.map((item) => ({
    name: item.as,
    type: DATETIME_COLUMNS.has(item.as)
      ? "DateTime"
      : "agg" in item.expr
        ? "UInt64"
        : item.as.startsWith("double")
          ? "Float64"
          : "String",
  }));
  return JSON.stringify({ meta, data, rows: data.length, rows_before_limit_at_least: data.length });
}

export async function startFakeAnalytics(opts: {
  accountId: string;
  token: string;
  rows: StoredRow[];
}): Promise<FakeAnalytics> {
  const received: Received[] = [];
  let failure: { status: number; body: string } | null = null;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const sql = Buffer.concat(chunks).toString("utf8");
      const rec: Received = {
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
        sql,
        statement: null,
        error: null,
      };
      received.push(rec);
      const send = (status: number, body: string, type = "application/json") => {
        res.writeHead(status, { "content-type": type });
        res.end(body);
      };
      if (rec.method !== "POST" || rec.path !== `/client/v4/accounts/${opts.accountId}/analytics_engine/sql`) {
        return send(
          404,
          JSON.stringify({ success: false, errors: [{ code: 7003, message: "No route for that URI" }] }),
        );
      }
      if (rec.authorization !== `Bearer ${opts.token}`) {
        return send(
          401,
          JSON.stringify({ success: false, errors: [{ code: 10000, message: "Authentication error" }] }),
        );
      }
      if (failure) {
        const f = failure;
        failure = null;
        return send(f.status, f.body);
      }
      try {
        rec.statement = parse(sql, "analytics_engine");
      } catch (e) {
        rec.error = (e as Error).message;
        return send(400, `cannot parse the query: ${rec.error}`, "text/plain");
      }
      if (rec.statement.format !== "JSON") return send(400, "only FORMAT JSON here", "text/plain");
      send(200, answer(rec.statement, opts.rows));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    base: `http://127.0.0.1:${port}/client/v4`,
    received,
    failNext(status, body) {
      failure = { status, body };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
