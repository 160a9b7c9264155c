/**
 * Where decisions are read from, and the one function that reads them: `queryDecisions(source, query)`
 * -> rows and whether they are estimates. The CLI calls it with an Analytics Engine source built from
 * its environment; the worker (GET /_firebreak/v1/decisions, and later the dashboard) with
 * `workerSource(env)`: the local store when this run has one, else the SQL API with worker secrets.
 */
import type { Env } from "../env";
import { ANALYTICS_API, type AnalyticsApi, runSql } from "./analytics-api";
import { LOCAL_TABLE, localStore, queryStore } from "./local-store";
import type { DecisionQuery } from "./query";
import { type DecisionResult, readRows } from "./rows";
import { buildSql } from "./sql";

export const DEFAULT_DATASET = "firebreak_decisions";

export type DecisionSource =
  | { kind: "local"; db: D1Database }
  | { kind: "analytics_engine"; api: AnalyticsApi; dataset: string };

export type QueryOutcome =
  | { ok: true; source: DecisionSource["kind"]; result: DecisionResult }
  /** `status`: the SQL API's HTTP status, or null when it did not answer (or the store failed). */
  | { ok: false; status: number | null; message: string };

export async function queryDecisions(source: DecisionSource, query: DecisionQuery): Promise<QueryOutcome> {
  if (source.kind === "local") {
    try {
      const rows = await queryStore(source.db, buildSql(query, "sqlite", LOCAL_TABLE));
      return { ok: true, source: source.kind, result: readRows(query, rows) };
    } catch (e) {
      return { ok: false, status: null, message: `local store: ${(e as Error)?.message ?? "error"}` };
    }
  }
  let sql: string;
  try {
    sql = buildSql(query, "analytics_engine", source.dataset);
  } catch (e) {
    return { ok: false, status: null, message: (e as Error).message };
  }
  const answer = await runSql(source.api, sql);
  if (!answer.ok) return answer;
  return { ok: true, source: source.kind, result: readRows(query, answer.rows) };
}

/**
 * The worker's source: the local store (dev runs only), else the SQL API when both CF_ACCOUNT_ID and
 * the CF_API_TOKEN secret are set (dataset: CF_DECISIONS_DATASET or firebreak_decisions), else null.
 */
export function workerSource(env: Env): DecisionSource | null {
  const db = localStore(env);
  if (db) return { kind: "local", db };
  const accountId = env.CF_ACCOUNT_ID;
  const token = env.CF_API_TOKEN;
  if (typeof accountId !== "string" || typeof token !== "string" || accountId === "" || token === "") return null;
  const dataset =
    typeof env.CF_DECISIONS_DATASET === "string" && env.CF_DECISIONS_DATASET
      ? env.CF_DECISIONS_DATASET
      : DEFAULT_DATASET;
  return {
    kind: "analytics_engine",
    dataset,
    api: { base: ANALYTICS_API, accountId, token, fetch: (r) => fetch(r) },
  };
}
