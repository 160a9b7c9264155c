/**
 * Stage 7, record, through the worker's fetch: exactly one decision log line and one Analytics Engine
 * data point per request, in the documented layout (docs/analytics.md); no canary secret in any
 * response, log line or data point; and recording that fails never changes the response.
 */
import { describe, expect, it } from "vitest";
import {
  bindings,
  CANARY,
  expectAllowed,
  expectRefusal,
  GATEWAY_REVISION,
  gatewayApp,
  inlineToken,
  only,
  REPORT_REVISION,
  reportApp,
  type SendInit,
  type Sent,
  send,
} from "./support";

const app = gatewayApp();
const ISSUE = "/github/repos/acme/api/issues/1";

/** The log line's fields, in docs/analytics.md's order. */
const LOG_FIELDS = [
  "event",
  "decision_id",
  "ts",
  "bundle_revision",
  "effect",
  "reason",
  "asi",
  "would",
  "rules",
  "status",
  "upstream_status",
  "agent_issuer",
  "agent_sub",
  "task_id",
  "service",
  "action",
  "resource",
  "method",
  "path",
  "latency_ms",
  "detail",
];

/** The single log line of a request: one console.log call, one JSON argument, the decision event. */
function onlyLogLine(sent: Sent) {
  expect(sent.logCalls).toHaveLength(1);
  return only(sent.records);
}

describe("decision log line", () => {
  it("is written once for an allowed call, with the documented fields", async () => {
    const sent = await send(app, ISSUE);
    expectAllowed(sent);
    const line = onlyLogLine(sent);
    expect(Object.keys(line)).toEqual(LOG_FIELDS);
    expect(line).toMatchObject({
      event: "firebreak.decision",
      decision_id: sent.res.headers.get("firebreak-decision-id"),
      bundle_revision: GATEWAY_REVISION,
      effect: "allow",
      reason: "policy.allowed",
      asi: "",
      would: null,
      rules: ["agent-reads"],
      agent_issuer: "remote",
      agent_sub: "agent-1",
      service: "github",
      action: "github:issues.get",
      resource: "repo:acme/api",
      method: "GET",
      path: "/repos/acme/api/issues/1",
      status: 200,
      upstream_status: 200,
    });
    expect(GATEWAY_REVISION).toMatch(/^[0-9a-f]{64}$/);
    expect(Number.isNaN(Date.parse(line.ts))).toBe(false);
    expect(line.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("is written once for a denied call, with nothing forwarded", async () => {
    const sent = await send(app, "/github/repos/evil/x/issues/1");
    expectRefusal(sent, 403, "policy.denied");
    expect(onlyLogLine(sent)).toMatchObject({
      decision_id: sent.json?.decision_id,
      bundle_revision: GATEWAY_REVISION,
      effect: "deny",
      reason: "policy.denied",
      asi: "ASI02",
      agent_sub: "agent-1",
      service: "github",
      action: "github:issues.get",
      resource: "repo:evil/x",
      status: 403,
      upstream_status: null,
    });
  });

  it("is written once for a call refused before identity, with the agent fields null", async () => {
    const sent = await send(app, "/github/repos/acme/api/issues/1", { bearer: null });
    expectRefusal(sent, 401, "identity.missing");
    expect(onlyLogLine(sent)).toMatchObject({
      effect: "deny",
      reason: "identity.missing",
      asi: "ASI03",
      agent_issuer: null,
      agent_sub: null,
      service: "github",
      action: null,
      status: 401,
      upstream_status: null,
    });
  });

  it("carries the revision of the bundle that decided", async () => {
    const sent = await send(reportApp(), ISSUE, { bearer: await inlineToken() });
    expectAllowed(sent);
    expect(REPORT_REVISION).not.toBe(GATEWAY_REVISION);
    expect(onlyLogLine(sent).bundle_revision).toBe(REPORT_REVISION);
  });
});

describe("Analytics Engine data point", () => {
  it("is written once per request in layout v1", async () => {
    const sent = await send(app, ISSUE);
    expectAllowed(sent);
    const id = sent.res.headers.get("firebreak-decision-id");
    const p = only(sent.points);
    expect(p.indexes).toEqual(["remote:agent-1"]);
    expect(p.blobs?.slice(0, 5)).toEqual(["v1", id, GATEWAY_REVISION, "allow", "policy.allowed"]);
    expect(p.blobs?.slice(7, 15)).toEqual([
      "remote",
      "agent-1",
      "",
      "github",
      "github:issues.get",
      "repo:acme/api",
      "GET",
      "agent-reads",
    ]);
    expect(p.blobs?.[15]).toBe(""); // asi (revision 2): none for an allowed call
    expect(p.blobs).toHaveLength(16);
    expect(p.doubles?.[0]).toBe(200);
    expect(p.doubles?.[1]).toBe(200);
  });

  it("carries the refusal's ASI id in blob16 (revision 2), the same as the log line's asi", async () => {
    for (const [path, init, status, reason, asi] of [
      ["/github/repos/evil/x/issues/1", {}, 403, "policy.denied", "ASI02"],
      [ISSUE, { bearer: null }, 401, "identity.missing", "ASI03"],
      ["/github/repos/acme%2Fapi/issues/1", {}, 400, "route.encoded_slash", "ASI02"],
    ] as const) {
      const sent = await send(app, path, init);
      expectRefusal(sent, status, reason);
      expect(only(sent.points).blobs?.[15], reason).toBe(asi);
      expect(onlyLogLine(sent).asi, reason).toBe(asi);
    }
  });

  it("is written once for a refusal, indexed as anonymous before identity", async () => {
    const sent = await send(app, ISSUE, { bearer: null });
    expectRefusal(sent, 401, "identity.missing");
    expect(sent.points).toHaveLength(1);
    expect(sent.points[0]?.indexes).toEqual(["anonymous"]);
    expect(sent.points[0]?.blobs?.slice(0, 5)).toEqual([
      "v1",
      sent.json?.decision_id,
      GATEWAY_REVISION,
      "deny",
      "identity.missing",
    ]);
    expect(sent.points[0]?.doubles?.slice(0, 2)).toEqual([401, 0]);
  });
});

describe("canary secrets", () => {
  it("are the values the worker is given (so the checks below can fail)", () => {
    for (const [name, value] of Object.entries(CANARY)) expect(bindings[name], name).toBe(value);
  });

  /** Everything Firebreak emitted for a request, except what it sent upstream. */
  function emitted(sent: Sent): string {
    return JSON.stringify({
      status: sent.res.status,
      headers: [...sent.res.headers],
      body: sent.text,
      logs: sent.logCalls,
      points: sent.points,
    });
  }

  const attackerPath =
    "/github/repos/acme/%7Bsecret%7D/issues/1?q={secret}&v=$GITHUB_TOKEN&w=%24%7BGITHUB_TOKEN%7D&x=$&";

  const cases: [string, string, SendInit, number][] = [
    ["an allowed call", ISSUE, {}, 200],
    ["a denied call", "/github/repos/evil/x/issues/1", {}, 403],
    ["an upstream error", ISSUE, { headers: { "x-fake-status": "500" } }, 500],
    ["an upstream timeout", "/slow/thing", {}, 504],
    ["a missing credential", "/nocred/thing", {}, 503],
    ["a path and query of attacker-chosen text", attackerPath, {}, 200],
    ["an unknown action at an attacker-chosen path", "/github/%7Bsecret%7D/$GITHUB_TOKEN?token={secret}", {}, 403],
  ];

  it.each(cases)("never appear in what Firebreak emits for %s", async (_name, path, init, status) => {
    const sent = await send(app, path, init);
    expect(sent.res.status, sent.text).toBe(status);
    expect(sent.logCalls).toHaveLength(1);
    expect(sent.points).toHaveLength(1);
    const out = emitted(sent);
    for (const value of Object.values(CANARY)) expect(out).not.toContain(value);
  });

  it("reach the upstream only in the credential header, even with an attacker-chosen path", async () => {
    const sent = await send(app, attackerPath);
    const up = expectAllowed(sent);
    expect(up.url).toBe(
      "https://api.github.com/repos/acme/%7Bsecret%7D/issues/1?q={secret}&v=$GITHUB_TOKEN&w=%24%7BGITHUB_TOKEN%7D&x=$&",
    );
    expect(up.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
    const { authorization: _, ...rest } = up.headers;
    expect(JSON.stringify([up.url, rest, up.body])).not.toContain(CANARY.GITHUB_TOKEN);
  });
});

describe("recording that fails", () => {
  const boom = () => {
    throw new Error("recording is down");
  };

  /** The response without the per-request decision id. */
  function outcome(sent: Sent) {
    const { decision_id: _, ...body } = sent.json ?? {};
    return { status: sent.res.status, decision: sent.res.headers.get("firebreak-decision"), body };
  }

  it.each([
    ["an allowed call", ISSUE],
    ["a denied call", "/github/repos/evil/x/issues/1"],
  ])("a throwing writeDataPoint does not change the response to %s", async (_name, path) => {
    const normal = await send(app, path);
    const broken = await send(app, path, { onDataPoint: boom });
    expect(broken.points).toHaveLength(1); // it was called, and threw
    expect(outcome(broken)).toEqual(outcome(normal));
    // The log line still carries the decision.
    expect(broken.records).toHaveLength(1);
    expect(broken.records[0]?.decision_id).toBe(broken.res.headers.get("firebreak-decision-id"));
  });

  it.each([
    ["an allowed call", ISSUE],
    ["a denied call", "/github/repos/evil/x/issues/1"],
  ])("a throwing console.log does not change the response to %s", async (_name, path) => {
    const normal = await send(app, path);
    const broken = await send(app, path, { onLog: boom });
    expect(broken.logCalls).toHaveLength(1); // it was called, and threw
    expect(outcome(broken)).toEqual(outcome(normal));
  });

  it("a throwing writeDataPoint and console.log together do not change the response", async () => {
    const normal = await send(app, ISSUE);
    const broken = await send(app, ISSUE, { onLog: boom, onDataPoint: boom });
    expect(outcome(broken)).toEqual(outcome(normal));
    expect(broken.upstream).toHaveLength(1);
  });
});
