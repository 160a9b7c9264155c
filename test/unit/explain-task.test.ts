/**
 * `explain` as a task's step (`--profile`): the profile's approval risk asks for a person, and every
 * budget and sequence rule that could still refuse the call at admission is named with its reason code;
 * an agent the profile does not admit, or an action outside it, is said first.
 */
import { describe, expect, it } from "vitest";
import { explainRequest } from "../../src/request/explain";
import { CI_ISSUER, compileSet, STAFF_ISSUER } from "../helpers/policy-set";

const bundle = compileSet({
  "firebreak.yaml": { secrets: ["API_TOKEN"], issuers: [CI_ISSUER, STAFF_ISSUER] },
  "services/svc.yaml": {
    service: "svc",
    upstream: "https://api.example.com",
    credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
    actions: {
      "items.get": { method: "GET", path: "/items/{id}", kind: "read", risk: "low", resource: "item:{id}" },
      "items.pay": {
        method: "POST",
        path: "/items/{id}/pay",
        kind: "write",
        risk: "high",
        resource: "item:{id}",
        args: { amount: "integer" },
      },
    },
  },
  "rules/rules.yaml": { rules: [{ id: "all", effect: "allow", actions: ["*"] }] },
  "profiles/pay.yaml": {
    profiles: [
      {
        name: "pay",
        agents: { issuer: ["ci"], sub: ["bot"] },
        actions: ["svc:items.get", "svc:items.pay"],
        budgets: {
          calls: 10,
          per_action: { "svc:items.pay": 1 },
          per_label: { "kind:write": 2 },
          windows: [{ calls: 5, seconds: 60 }],
          totals: [{ action: "svc:items.pay", arg: "amount", max: 500 }],
        },
        sequence: {
          requires: [{ action: "svc:items.pay", after: ["svc:items.get"] }],
          correlate: [{ action: "svc:items.pay", read_by: ["svc:items.get"] }],
        },
        approvals: { risk: "high", approvers: { issuer: ["staff"], sub: ["boss"] } },
      },
      { name: "read", agents: { issuer: ["ci"], sub: ["bot"] }, actions: ["svc:items.get"] },
    ],
  },
});
const bot = { issuer: "ci", iss: "https://ci.example.com", sub: "bot", claims: {} };
const now = new Date("2025-01-01T00:00:00Z");
const pay = { method: "POST", url: "/svc/items/7/pay", body: { amount: 100 } };

describe("explain --profile", () => {
  it("names every limit that could still refuse the call, and the profile's person", () => {
    const r = explainRequest(bundle, bot, { ...pay, task: { id: "t", profile: "pay" } }, now);
    expect(r.decision.effect).toBe("allow");
    expect(r.person).toEqual({ rules: ["profile:pay"], ttl_s: 900 });
    expect(r.limits.map((l) => l.split(":")[0])).toEqual([
      "budget.exhausted",
      "budget.exhausted",
      "budget.exhausted",
      "budget.window",
      "budget.total_exceeded",
      "sequence.requires",
      "sequence.unread_resource",
    ]);
    expect(r.limits).toContain("budget.total_exceeded: amount totals at most 500");
  });

  it("without a task: no person from a profile, no limits", () => {
    const r = explainRequest(bundle, bot, pay, now);
    expect([r.decision.effect, r.person, r.limits]).toEqual(["allow", null, []]);
  });

  it("says when the action is outside the profile, or the agent may not start it", () => {
    const outside = explainRequest(bundle, bot, { ...pay, task: { id: "t", profile: "read" } }, now);
    expect(outside.limits).toEqual(["task.action_not_in_profile: read does not allow svc:items.pay"]);
    const other = { ...bot, sub: "someone-else" };
    const denied = explainRequest(bundle, other, { ...pay, task: { id: "t", profile: "pay" } }, now);
    expect(denied.limits).toEqual(["task.profile_denied: this agent may not start a pay task"]);
  });
});
