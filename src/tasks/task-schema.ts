/** The task object's SQLite tables (src/tasks/task-store.ts reads and writes them), created on load. */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS task (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  task_id TEXT NOT NULL, issuer TEXT NOT NULL, sub TEXT NOT NULL, purpose TEXT NOT NULL,
  profile TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, deadline INTEGER NOT NULL,
  ended_at INTEGER, ended_by TEXT, head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n REAL NOT NULL);
CREATE TABLE IF NOT EXISTS window_calls (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS window_calls_ts ON window_calls (ts);
CREATE TABLE IF NOT EXISTS labels_read (label TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS resources_read (action TEXT NOT NULL, resource TEXT NOT NULL, PRIMARY KEY (action, resource));
CREATE TABLE IF NOT EXISTS succeeded (action TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS steps (
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,
  decision_id TEXT, action TEXT, service TEXT, resource TEXT, labels TEXT, args TEXT,
  outcome TEXT, reason TEXT, ref INTEGER, status INTEGER, by TEXT,
  settled INTEGER NOT NULL DEFAULT 0, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_open ON steps (seq) WHERE kind = 'call' AND outcome = 'reserved' AND settled = 0;`;

/** Columns added after objects were first created: added to older objects' tables on load. */
const ADDED_COLUMNS: [table: string, column: string][] = [
  ["task", "claims TEXT"],
  ["steps", "facts TEXT"],
  ["task", "verified_seq INTEGER NOT NULL DEFAULT 0"],
  ["task", "verified_hash TEXT"],
  ["task", "scope TEXT"],
];

/** Creates the tables an object lacks, and the columns added since older objects were created. */
export function migrateTaskTables(sql: SqlStorage): void {
  sql.exec(SCHEMA);
  for (const [table, column] of ADDED_COLUMNS) {
    const name = column.split(" ")[0];
    const has = sql.exec(`SELECT 1 FROM pragma_table_info('${table}') WHERE name = ?`, name).toArray();
    if (has.length === 0) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column}`);
  }
}
