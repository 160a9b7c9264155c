/**
 * Stage 7, record: one canonical decision record per request, written as one Analytics Engine data
 * point (layout v1, docs/analytics.md) and one JSON log line. The record is built from fields that
 * never hold a token or secret (no headers, no bodies), and recording never fails the request.
 */
import type { Reason } from "./reasons";

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

export const DATA_POINT_LAYOUT = "v1";

/** Analytics Engine layout v1; docs/analytics.md documents each position. Append only. */
export function dataPoint(r: DecisionRecord): AnalyticsEngineDataPoint {
  return {
    indexes: [(r.agent_sub ? `${r.agent_issuer}:${r.agent_sub}` : "anonymous").slice(0, 96)],
    blobs: [
      DATA_POINT_LAYOUT,
      r.decision_id,
      r.bundle_revision,
      r.effect,
      r.reason,
      r.would?.effect ?? "",
      r.would?.reason ?? "",
      r.agent_issuer ?? "",
      r.agent_sub ?? "",
      r.task_id ?? "",
      r.service ?? "",
      r.action ?? "",
      r.resource ?? "",
      r.method,
      r.rules.join(","),
    ].map((b) => b.slice(0, 512)),
    doubles: [r.status, r.upstream_status ?? 0, r.latency_ms, r.would ? 1 : 0],
  };
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
