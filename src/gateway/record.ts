/**
 * Stage 7, record: one canonical decision record per request, written as one Analytics Engine data
 * point (layout v1, docs/analytics.md) and one JSON log line, both with the reason's ASI id (`asi`). The record is built from fields that
 * never hold a token or secret (no headers, no bodies), and recording never fails the request.
 */

import { dataPointOf } from "../decisions/layout";
import { type DecisionRecord, loggedRecord } from "../decisions/record";

export { DATA_POINT_LAYOUT } from "../decisions/layout";
export type { DecisionRecord };

export interface AnalyticsSink {
  writeDataPoint(point: AnalyticsEngineDataPoint): void;
}

/** Analytics Engine layout v1: every position comes from the one column map (src/decisions/layout.ts). */
export function dataPoint(r: DecisionRecord): AnalyticsEngineDataPoint {
  return dataPointOf(r);
}

export function logLine(r: DecisionRecord): string {
  return JSON.stringify({ event: "firebreak.decision", ...loggedRecord(r) });
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
