/** explainRequest (what `firebreak test` and `explain` run) reads bodies exactly when the worker does. */
import { describe, expect, it } from "vitest";
import { explainRequest } from "../../src/request/explain";
import { CI_ISSUER, compileSet } from "../helpers/policy-set";

const bundle = compileSet({
  "firebreak.yaml": { secrets: ["API_TOKEN"], issuers: [CI_ISSUER] },
  "services/svc.yaml": {
    service: "svc",
    upstream: "https://api.example.com",
    credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
    actions: {
      ping: { method: "POST", path: "/ping", kind: "write", risk: "low" },
      "items.create": {
        method: "POST",
        path: "/items",
        kind: "write",
        risk: "low",
        resource: "item:{args.name}",
        args: { name: "string" },
      },
      "items.list": { method: "GET", path: "/items", kind: "read", risk: "low", args: { name: "string" } },
    },
  },
  "rules/rules.yaml": { rules: [{ id: "all", effect: "allow", actions: ["*"] }] },
});
const agent = { issuer: "ci", iss: "https://ci.example.com", sub: "bot", claims: {} };
const now = new Date("2025-01-01T00:00:00Z");

describe("explainRequest: bodies", () => {
  it("does not parse the body of an action without declared arguments", () => {
    const r = explainRequest(
      bundle,
      agent,
      { method: "POST", url: "/svc/ping", headers: { "content-type": "text/plain" }, body: "hello" },
      now,
    );
    expect(r.action).toBe("svc:ping");
    expect(r.decision).toMatchObject({ effect: "allow", reason: "policy.allowed" });
  });

  it("does not read a GET body", () => {
    const r = explainRequest(bundle, agent, { method: "GET", url: "/svc/items", body: { name: "x" } }, now);
    expect(r.args).toEqual({});
    expect(r.decision.effect).toBe("allow");
  });

  it("parses the body of an action with declared arguments", () => {
    const ok = explainRequest(bundle, agent, { method: "POST", url: "/svc/items", body: { name: "x" } }, now);
    expect(ok).toMatchObject({ action: "svc:items.create", args: { name: "x" }, resource: "item:x" });
    const bad = explainRequest(
      bundle,
      agent,
      { method: "POST", url: "/svc/items", headers: { "content-type": "text/plain" }, body: "x" },
      now,
    );
    expect(bad.decision).toMatchObject({ effect: "deny", reason: "request.content_type" });
  });
});
