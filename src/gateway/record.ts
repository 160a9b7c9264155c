/**
 * Stage 7, record: one canonical decision record per request, written as one Analytics Engine data
 * point (layout v1, docs/analytics.md) and one JSON log line. The record is built from fields that
 * never hold a token or secret (no headers, no bodies), and recording never fails the request.
 */

import type { Reason } from "../core/reasons";
import { dataPointOf } from "../decisions/layout";

export { DATA_POINT_LAYOUT } from "../decisions/layout";

export interface DecisionRecord {
  decision_id: string;
  /** ISO time the request arrived. */
  ts: string;
  bundle_revision: string;
  /** What happened: allow, deny, approval_required. */
  effect: "allow" | "deny" | "approval_required";
  reason: Reason;
  /** Report mode: what enforce would have done (`deny`/`approval_required`) and why; else null. */
  would: { effect: string; reason: Reason; rules: string[] } | null;
  rules: string[];
  status: number;
  upstream_status: number | null;
  agent_issuer: string | null;
  agent_sub: string | null;
  task_id: string | null;
  service: string | null;
  action: string | null;
  resource: string | null;
  method: string;
  path: string | null;
  latency_ms: number;
  detail: string | null;
}

export interface AnalyticsSink {
  writeDataPoint(point: AnalyticsEngineDataPoint): void;
}

/** Analytics Engine layout v1: every position comes from the one column map (src/decisions/layout.ts). */
export function dataPoint(r: DecisionRecord): AnalyticsEngineDataPoint {
  return dataPointOf(r);
}

export function logLine(r: DecisionRecord): string {
  return JSON.stringify({ event: "firebreak.decision", ...r });
}

export function record(r: DecisionRecord, sink: AnalyticsSink | undefined): void {
  try {
    sink?.writeDataPoint(dataPoint(r));
  } catch {
    // Analytics is best effort; the log line below still carries the decision.
  }
  try {
    console.log(logLine(r));
  } catch {
    // Never fail a request because it could not be recorded.
  }
}
