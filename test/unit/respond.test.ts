/** Refusals in each dialect (src/gateway/respond.ts): what every shape keeps, and what each SDK reads. */
import { describe, expect, it } from "vitest";
import { httpFor, REASONS } from "../../src/core/reasons";
import type { Refusal } from "../../src/core/result";
import type { DecisionRecord } from "../../src/decisions/record";
import { dialectOf, refusalResponse } from "../../src/gateway/respond";
import type { RefusalDialect } from "../../src/policy/types";

const DECISION = "d_01TESTDECISION";
const APPROVAL = {
  id: "ap_1",
  status_url: "https://gw.example/_firebreak/v1/approvals/ap_1/status",
  expires_at: "2030-01-01T00:00:00.000Z",
};

function rec(): DecisionRecord {
  return { decision_id: DECISION, effect: "deny" } as DecisionRecord;
}

async function refuse(refusal: Omit<Refusal, "ok">, dialect?: RefusalDialect) {
  const res = refusalResponse({ ok: false, ...refusal }, rec(), dialect);
  // biome-ignore lint/suspicious/noExplicitAny: each dialect's body is read by its own paths
  return { res, body: (await res.json()) as Record<string, any> };
}

const REFUSALS = REASONS.filter((r) => r !== "policy.allowed" && r !== "approval.granted");

describe("every dialect", () => {
  it.each(["firebreak", "slack", "stripe"] as const)(
    "%s: every reason code with its decision id and headers, no-store, JSON, never the detail",
    async (dialect) => {
      const detail = "secret-detail-9f1e Bearer eyJhbGciOi";
      for (const reason of REFUSALS) {
        const { res, body } = await refuse({ reason, detail }, dialect);
        const effect =
          reason === "approval.required"
            ? "approval_required"
            : ["upstream.timeout", "upstream.unreachable", "mcp.response_invalid"].includes(reason)
              ? "allow"
              : "deny";
        expect(res.headers.get("firebreak-decision"), reason).toBe(effect);
        expect(res.headers.get("firebreak-decision-id"), reason).toBe(DECISION);
        expect(res.headers.get("cache-control"), reason).toBe("no-store");
        expect(res.headers.get("content-type"), reason).toMatch(/^application\/json/);
        const text = JSON.stringify(body);
        expect(text, reason).toContain(`"${reason}"`);
        expect(text, reason).toContain(DECISION);
        expect(text, reason).not.toContain("secret-detail");
        expect(text, reason).not.toContain("eyJhbGciOi");
      }
    },
  );

  it.each(["firebreak", "slack", "stripe"] as const)("%s keeps the approval object", async (dialect) => {
    const { body } = await refuse({ reason: "approval.required", approval: APPROVAL }, dialect);
    const where = dialect === "slack" ? body.firebreak : dialect === "stripe" ? body.error : body;
    expect(where.approval).toEqual(APPROVAL);
  });

  it("an operator's rule message is the message in every dialect", async () => {
    const message = "Nothing touches evil repositories.";
    expect((await refuse({ reason: "policy.denied", message })).body.message).toBe(message);
    expect((await refuse({ reason: "policy.denied", message }, "slack")).body.firebreak.message).toBe(message);
    expect((await refuse({ reason: "policy.denied", message }, "stripe")).body.error.message).toBe(message);
  });
});

describe("firebreak", () => {
  it("is DESIGN.md's shape with httpFor's status (the default)", async () => {
    const { res, body } = await refuse({ reason: "identity.expired" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(body).toEqual({
      error: "unauthorized",
      reason: "identity.expired",
      decision_id: DECISION,
      message: "The token has expired.",
    });
  });
});

describe("slack", () => {
  it("every reason but a rate window: 200 with ok false and the reason as Slack's error code", async () => {
    for (const reason of REFUSALS.filter((r) => httpFor(r).status !== 429)) {
      const { res, body } = await refuse({ reason }, "slack");
      expect(res.status, reason).toBe(200);
      expect(res.headers.get("www-authenticate"), reason).toBeNull();
      expect(body.ok, reason).toBe(false);
      expect(body.error, reason).toBe(reason);
      expect(body.firebreak, reason).toMatchObject({ reason, decision_id: DECISION, error: httpFor(reason).error });
      expect(body.response_metadata.messages[0], reason).toMatch(/^\[ERROR\] /);
    }
  });

  it("a rate window stays 429 with Retry-After, as Slack's own limits", async () => {
    const { res, body } = await refuse({ reason: "budget.window", retryAfter: 120 }, "slack");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("120");
    expect(body).toMatchObject({ ok: false, error: "budget.window" });
  });

  it("a 429 reason without a Retry-After is ok false (the SDK cannot wait for nothing)", async () => {
    const { res, body } = await refuse({ reason: "approval.pending_limit" }, "slack");
    expect(res.status).toBe(200);
    expect(body.error).toBe("approval.pending_limit");
  });
});

describe("stripe", () => {
  it("every reason: Stripe's error object with httpFor's status; policy refusals never retried", async () => {
    for (const reason of REFUSALS) {
      const { status } = httpFor(reason);
      const { res, body } = await refuse({ reason }, "stripe");
      expect(res.status, reason).toBe(status);
      expect(body.error, reason).toMatchObject({
        type: status >= 500 ? "api_error" : "invalid_request_error",
        code: reason,
        decision_id: DECISION,
      });
      expect(typeof body.error.message, reason).toBe("string");
      expect(res.headers.get("request-id"), reason).toBe(DECISION);
      const retry = [429, 502, 503, 504].includes(status) ? null : "false";
      expect(res.headers.get("stripe-should-retry"), reason).toBe(retry);
    }
  });

  it("a rate window keeps its Retry-After", async () => {
    const { res } = await refuse({ reason: "budget.window", retryAfter: 30 }, "stripe");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("30");
  });
});

describe("dialectOf", () => {
  const bundle = {
    ok: true,
    bundle: { spec: { services: { slack: { refusal: "slack" }, stripe: { refusal: "stripe" } } } },
  } as never;

  it("is the routed service's dialect, firebreak before routing or without a bundle", () => {
    expect(dialectOf(bundle, "slack")).toBe("slack");
    expect(dialectOf(bundle, "stripe")).toBe("stripe");
    expect(dialectOf(bundle, null)).toBe("firebreak");
    expect(dialectOf(bundle, "constructor")).toBe("firebreak");
    expect(dialectOf({ ok: false, error: "x" }, "slack")).toBe("firebreak");
  });
});
