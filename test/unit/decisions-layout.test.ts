/**
 * The one column map (src/decisions/layout.ts): positions unique, contiguous and in order, the data
 * point of a record byte for byte as layout v1 has always written it, and the writer placing every
 * field exactly where the query builder reads it; revision 2's `asi` appended after revision 1.
 */
import { describe, expect, it } from "vitest";
import {
  column,
  DATA_POINT_LAYOUT,
  dataPointOf,
  FIELDS,
  LAYOUT,
  LAYOUT_REVISIONS,
  position,
} from "../../src/decisions/layout";
import type { DecisionRecord } from "../../src/decisions/record";
import { dataPoint } from "../../src/gateway/record";

const RECORD: DecisionRecord = {
  decision_id: "d-1",
  ts: "2026-05-01T12:00:00.000Z",
  bundle_revision: "rev",
  effect: "deny",
  reason: "policy.no_match",
  would: { effect: "deny", reason: "policy.denied", rules: ["r2"] },
  rules: ["r1", "r2"],
  status: 403,
  upstream_status: null,
  agent_issuer: "workloads",
  agent_sub: "triage-bot",
  task_id: "t_1",
  service: "github",
  action: "github:pulls.merge",
  resource: "repo:acme/api",
  method: "PUT",
  path: "/repos/acme/api/pulls/1/merge",
  latency_ms: 7,
  detail: "never stored",
};

describe("the column map", () => {
  it("gives every field its own column, contiguous from 1 in each array, in order", () => {
    const seen: Record<string, number[]> = { indexes: [], blobs: [], doubles: [] };
    for (const f of FIELDS) seen[position(column(f)).array]!.push(position(column(f)).at);
    for (const positions of Object.values(seen)) expect(positions).toEqual(positions.map((_, i) => i));
    expect(new Set(FIELDS.map(column)).size).toBe(FIELDS.length);
  });

  it("is layout v1 as docs/analytics.md documents it", () => {
    expect(Object.fromEntries(FIELDS.map((f) => [f, LAYOUT[f].column]))).toEqual({
      agent: "index1",
      layout: "blob1",
      decision_id: "blob2",
      bundle_revision: "blob3",
      effect: "blob4",
      reason: "blob5",
      would_effect: "blob6",
      would_reason: "blob7",
      agent_issuer: "blob8",
      agent_sub: "blob9",
      task_id: "blob10",
      service: "blob11",
      action: "blob12",
      resource: "blob13",
      method: "blob14",
      rules: "blob15",
      asi: "blob16",
      status: "double1",
      upstream_status: "double2",
      latency_ms: "double3",
      would_block: "double4",
    });
  });

  it("writes the data point v1 has always written, revision 2's asi appended", () => {
    expect(dataPoint(RECORD)).toEqual({
      indexes: ["workloads:triage-bot"],
      blobs: [
        "v1",
        "d-1",
        "rev",
        "deny",
        "policy.no_match",
        "deny",
        "policy.denied",
        "workloads",
        "triage-bot",
        "t_1",
        "github",
        "github:pulls.merge",
        "repo:acme/api",
        "PUT",
        "r1,r2",
        "ASI02",
      ],
      doubles: [403, 0, 7, 1],
    });
  });

  it("writes empty strings and zeros for what a refusal before identity lacks, indexed anonymous", () => {
    const early: DecisionRecord = {
      ...RECORD,
      would: null,
      rules: [],
      agent_issuer: null,
      agent_sub: null,
      task_id: null,
      service: null,
      action: null,
      resource: null,
      status: 401,
    };
    const p = dataPointOf(early);
    expect(p.indexes).toEqual(["anonymous"]);
    expect(p.blobs).toEqual([
      "v1",
      "d-1",
      "rev",
      "deny",
      "policy.no_match",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "PUT",
      "",
      "ASI02",
    ]);
    expect(p.doubles).toEqual([401, 0, 7, 0]);
  });

  it("cuts the index at 96 and blobs at 512 characters", () => {
    const long = "x".repeat(600);
    const p = dataPointOf({ ...RECORD, agent_sub: long, resource: long });
    expect(p.indexes![0]).toHaveLength(96);
    expect(p.blobs![position(column("agent_sub")).at]).toHaveLength(512);
    expect(p.blobs![position(column("resource")).at]).toHaveLength(512);
  });

  it("puts each field where the builder reads it", () => {
    const p = dataPointOf(RECORD) as Record<string, unknown[]>;
    const at = (f: (typeof FIELDS)[number]) => p[position(column(f)).array]![position(column(f)).at];
    expect(at("effect")).toBe("deny");
    expect(at("task_id")).toBe("t_1");
    expect(at("would_block")).toBe(1);
    expect(at("status")).toBe(403);
    expect(JSON.stringify(p)).not.toContain("never stored");
  });

  it("revision 2 appends asi after every revision 1 position: the reason's ASI id, empty for an allow", () => {
    expect(LAYOUT_REVISIONS.flatMap((r) => r.added).sort()).toEqual([...FIELDS].sort());
    expect(LAYOUT_REVISIONS.map((r) => r.revision)).toEqual([1, 2]);
    const first = LAYOUT_REVISIONS[0]!.added.map((f) => position(column(f)));
    const asi = position(column("asi"));
    expect(first.filter((p) => p.array === "blobs").every((p) => p.at < asi.at)).toBe(true);
    const at = (r: DecisionRecord) => dataPointOf(r).blobs![asi.at];
    expect(at({ ...RECORD, effect: "allow", reason: "policy.allowed", would: null })).toBe("");
    expect(at({ ...RECORD, reason: "identity.expired" })).toBe("ASI03");
    expect(at({ ...RECORD, reason: "budget.exhausted" })).toBe("ASI08");
    expect(DATA_POINT_LAYOUT).toBe("v1");
  });

  it("refuses a column name that is not a data point column", () => {
    expect(() => position("blob0" as never)).toThrow();
    expect(() => position("timestamp" as never)).toThrow();
  });
});
