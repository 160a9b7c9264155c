/**
 * Stage 4, decide, through the worker's fetch: default deny, deny over allow, approval, aliases,
 * forbidden actions, conditions that fail closed, and report mode (what it forwards, what it records,
 * and what it still refuses). Bundles: test/fixtures/policies/gateway and .../report.
 */
import { describe, expect, it } from "vitest";
import { expectAllowed, expectRefusal, gatewayApp, inlineToken, reportApp, send } from "./support";

const app = gatewayApp();
const JSON_TYPE = { "content-type": "application/json" };

describe("enforce mode", () => {
  it("allows a call a rule allows and forwards it", async () => {
    const sent = await send(app, "/github/repos/acme/api/issues/7");
    const up = expectAllowed(sent);
    expect(up.url).toBe("https://api.github.com/repos/acme/api/issues/7");
    expect(sent.records[0]?.rules).toEqual(["agent-reads"]);
  });

  it("denies by default when no rule matches (policy.no_match)", async () => {
    // agent-1 may comment on acme repositories only; nothing allows other owners.
    const sent = await send(app, "/github/repos/other/api/issues/1/comments", {
      method: "POST",
      headers: JSON_TYPE,
      body: '{"body":"hi"}',
    });
    expectRefusal(sent, 403, "policy.no_match");
    expect(sent.records[0]?.rules).toEqual([]);
  });

  it("denies by default an agent that no rule names", async () => {
    expectRefusal(
      await send(app, "/github/user", { bearer: await inlineToken({ sub: "agent-2" }) }),
      403,
      "policy.no_match",
    );
  });

  it("shows a deny rule's message to the agent", async () => {
    const sent = await send(app, "/github/repos/evil/x/issues/1/comments", {
      method: "POST",
      headers: JSON_TYPE,
      body: '{"body":"hi"}',
    });
    expectRefusal(sent, 403, "policy.denied");
    expect(sent.json?.message).toBe("Nothing touches evil repositories.");
    expect(sent.records[0]?.rules).toEqual(["no-evil-repos"]);
  });

  it("lets a matching deny win over a matching allow", async () => {
    // agent-reads allows every read of agent-1; no-evil-repos denies this one.
    const sent = await send(app, "/github/repos/evil/x/issues/1");
    expectRefusal(sent, 403, "policy.denied");
    expect(sent.records[0]?.rules).toEqual(["no-evil-repos"]);
  });

  it("asks for approval (403 approval.required, Firebreak-Decision: approval_required)", async () => {
    const sent = await send(app, "/github/repos/acme/api/pulls/1/merge", {
      method: "PUT",
      headers: JSON_TYPE,
      body: '{"merge_method":"squash"}',
    });
    expectRefusal(sent, 403, "approval.required", "approval_required");
    expect(sent.json?.error).toBe("approval_required");
    expect(sent.records[0]).toMatchObject({ effect: "approval_required", rules: ["merges-need-approval"] });
  });

  it.each([
    ["github:repos.merge", "POST", "/github/repos/acme/api/merges", '{"base":"main","head":"feature"}'],
    ["github:git.refs.update", "PATCH", "/github/repos/acme/api/git/refs/heads/main", '{"sha":"abc","force":true}'],
  ])("covers the alias %s with the rule on pulls.merge", async (action, method, path, body) => {
    const sent = await send(app, path, { method, headers: JSON_TYPE, body });
    expectRefusal(sent, 403, "approval.required", "approval_required");
    expect(sent.records[0]).toMatchObject({ action, rules: ["merges-need-approval"] });
  });

  it("refuses a forbidden action with its reason, whatever the rules say", async () => {
    const sent = await send(app, "/github/repositories/123/issues");
    expectRefusal(sent, 403, "action.forbidden");
    expect(sent.json?.message).toBe("address repositories by owner/name");
  });

  it("fails closed when a deny rule's condition cannot be evaluated (policy.condition_error)", async () => {
    // big-comments-fail-closed reads request.args.body.size(): without `body` it throws, and the deny
    // applies even though agent-writes-acme allows comments on acme.
    const sent = await send(app, "/github/repos/acme/api/issues/1/comments", {
      method: "POST",
      headers: JSON_TYPE,
      body: '{"title":"no body"}',
    });
    expectRefusal(sent, 403, "policy.condition_error");
    expect(sent.records[0]?.rules).toEqual(["big-comments-fail-closed"]);
  });

  it("allows the same comment when the condition evaluates (control for the case above)", async () => {
    const sent = await send(app, "/github/repos/acme/api/issues/1/comments", {
      method: "POST",
      headers: JSON_TYPE,
      body: '{"body":"short"}',
    });
    expect(expectAllowed(sent).body).toBe('{"body":"short"}');
  });
});

describe("report mode", () => {
  const report = reportApp();
  const opts = async () => ({ bearer: await inlineToken() });

  it("forwards a call that enforce would deny, says so in Firebreak-Would, and records would", async () => {
    const sent = await send(report, "/github/repos/evil/x/issues/1", await opts());
    const up = expectAllowed(sent);
    expect(up.url).toBe("https://api.github.com/repos/evil/x/issues/1");
    expect(sent.res.headers.get("firebreak-would")).toBe("deny; reason=policy.denied");
    expect(sent.records[0]?.would).toEqual({ effect: "deny", reason: "policy.denied", rules: ["no-evil"] });
    expect(sent.points[0]?.doubles?.[3]).toBe(1);
  });

  it("forwards a call no rule allows and records would policy.no_match", async () => {
    const sent = await send(report, "/github/repos/acme/api/issues/1/comments", {
      ...(await opts()),
      method: "POST",
      headers: JSON_TYPE,
      body: '{"body":"hi"}',
    });
    expectAllowed(sent);
    expect(sent.res.headers.get("firebreak-would")).toBe("deny; reason=policy.no_match");
    expect(sent.records[0]?.would).toMatchObject({ effect: "deny", reason: "policy.no_match" });
  });

  it("adds no Firebreak-Would to a call enforce would allow too", async () => {
    const sent = await send(report, "/github/repos/acme/api/issues/1", await opts());
    expectAllowed(sent);
    expect(sent.res.headers.get("firebreak-would")).toBeNull();
    expect(sent.records[0]?.would).toBeNull();
  });

  it("still blocks with a rule whose mode is enforce", async () => {
    const sent = await send(report, "/github/repos/acme/api/pulls/1/merge", {
      ...(await opts()),
      method: "PUT",
      headers: JSON_TYPE,
      body: '{"merge_method":"merge"}',
    });
    expectRefusal(sent, 403, "policy.denied");
    expect(sent.records[0]?.rules).toEqual(["enforced-no-merge"]);
  });

  it.each([
    ["route.encoded_slash", 400, "/github/repos/acme%2Fapi/issues/1", {}],
    ["route.unknown_service", 404, "/stripe/v1/charges", {}],
    ["identity.missing", 401, "/github/repos/acme/api/issues/1", { bearer: null }],
    ["action.unknown", 403, "/github/repos/acme/api/hooks", {}],
    ["action.forbidden", 403, "/github/repositories/123", {}],
    ["request.body_invalid", 400, "/github/repos/acme/api/issues/1/comments", { method: "POST", body: "{" }],
  ] as const)("still refuses %s", async (reason, status, path, extra) => {
    const init = { ...(await opts()), headers: JSON_TYPE, ...extra };
    const sent = await send(report, path, init);
    expectRefusal(sent, status, reason);
    expect(sent.res.headers.get("firebreak-would")).toBeNull();
  });
});
