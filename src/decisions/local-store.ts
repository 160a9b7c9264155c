/**
 * The local decision store: a D1 database bound as DECISIONS_LOCAL only in wrangler.toml's
 * `[env.dev]` (what `npm start` runs), never in the deployed worker. It holds exactly the data point,
 * one row per decision, in columns named as Analytics Engine names them (`index1`, `blob1`..,
 * `double1`.., `timestamp`, `_sample_interval` = 1), so the query builder's SQLite dialect reads it
 * with the same statements it writes for Analytics Engine.
 */
import type { Env } from "../env";
import { FIELDS, LAYOUT, position } from "./layout";

export const LOCAL_STORE_BINDING = "DECISIONS_LOCAL" satisfies keyof Env;
export const LOCAL_TABLE = "firebreak_decisions";

const COLUMNS = FIELDS.map((f) => LAYOUT[f].column);

/** The binding, if this run has one (D1's shape, not just any value under that name). */
export function localStore(env: Env): D1Database | null {
  const db = env.DECISIONS_LOCAL;
  return db && typeof db.prepare === "function" && typeof db.batch === "function" ? db : null;
}

/** Per isolate: the table exists and has every column of the layout (new ones are appended). */
const ready = new WeakMap<D1Database, Promise<void>>();

export function ensureTable(db: D1Database): Promise<void> {
  let p = ready.get(db);
  if (!p) {
    p = createTable(db);
    // A failure is retried on the next call rather than remembered.
    p.catch(() => ready.delete(db));
    ready.set(db, p);
  }
  return p;
}

async function createTable(db: D1Database): Promise<void> {
  const defs = COLUMNS.map(
    (c) => `${c} ${c.startsWith("double") ? "REAL NOT NULL DEFAULT 0" : "TEXT NOT NULL DEFAULT ''"}`,
  );
  await db.batch([
    db.prepare(
      `CREATE TABLE IF NOT EXISTS ${LOCAL_TABLE} (timestamp INTEGER NOT NULL, _sample_interval INTEGER NOT NULL DEFAULT 1, ${defs.join(", ")})`,
    ),
    db.prepare(`CREATE INDEX IF NOT EXISTS ${LOCAL_TABLE}_timestamp ON ${LOCAL_TABLE} (timestamp)`),
  ]);
  // The layout is append-only, so a store made by an older checkout only ever lacks trailing columns.
  const { results } = await db.prepare(`PRAGMA table_info(${LOCAL_TABLE})`).all<{ name: string }>();
  const have = new Set(results.map((r) => r.name));
  const missing = defs.filter((_, i) => !have.has(COLUMNS[i]!));
  for (const def of missing) await db.prepare(`ALTER TABLE ${LOCAL_TABLE} ADD COLUMN ${def}`).run();
}

/** One data point as one row; `now` is when it was written, as Analytics Engine stamps it. */
export async function writePoint(db: D1Database, point: AnalyticsEngineDataPoint, now: number): Promise<void> {
  await ensureTable(db);
  const values = COLUMNS.map((c) => {
    const { array, at } = position(c);
    const v = point[array]?.[at];
    if (array === "doubles") return typeof v === "number" && Number.isFinite(v) ? v : 0;
    return typeof v === "string" ? v : v instanceof ArrayBuffer ? new TextDecoder().decode(v) : "";
  });
  const marks = COLUMNS.map(() => "?").join(", ");
  await db
    .prepare(`INSERT INTO ${LOCAL_TABLE} (timestamp, _sample_interval, ${COLUMNS.join(", ")}) VALUES (?, 1, ${marks})`)
    .bind(now, ...values)
    .run();
}

/** Runs one statement of the builder's SQLite dialect. */
export async function queryStore(db: D1Database, sql: string): Promise<Record<string, unknown>[]> {
  await ensureTable(db);
  const { results } = await db.prepare(sql).all<Record<string, unknown>>();
  return results;
}

/**
 * The analytics sink of a dev run: every data point also goes to the local store, after the response
 * (`waitUntil`) and with any failure swallowed, so the store can neither slow nor fail a request. It
 * is handed the data point, nothing more: no header, body, token or secret can reach it.
 */
export function teeToStore(
  sink: { writeDataPoint(p: AnalyticsEngineDataPoint): void } | undefined,
  db: D1Database,
  waitUntil: (p: Promise<unknown>) => void,
): { writeDataPoint(p: AnalyticsEngineDataPoint): void } {
  return {
    writeDataPoint(point) {
      try {
        waitUntil(writePoint(db, point, Date.now()).catch(() => undefined));
      } catch {
        // the store is best effort
      }
      sink?.writeDataPoint(point);
    },
  };
}
