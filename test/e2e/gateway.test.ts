/**
 * End to end: the gateway bundled as it ships, in miniflare, with every outbound call caught by the
 * recording fake upstream (test/helpers/upstream.ts). Requests arrive over real HTTP, some as raw bytes
 * on a socket so that nothing on the client side normalises them first.
 */
import { join } from "node:path";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import keys from "../fixtures/keys.json" with { type: "json" };
import { token } from "../helpers/tokens";
import { outbound, type Recorded } from "../helpers/upstream";
import { type Gateway, ROOT, rawHttp, startGateway } from "./helpers/gateway";

/** Canary credentials: they must reach the upstream, and only the upstream. */
const CANARY = {
  GITHUB_TOKEN: "canary-gh-e2e-4b7d1a",
  SLACK_BOT_TOKEN: "canary-slack-e2e-9c2f0e",
};

let gw: Gateway;
let agentToken: string;

async function recorded(): Promise<Recorded[]> {
  return (await outbound(new Request("http://recorder.test/"))).json() as Promise<Recorded[]>;
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await gw.mf.dispatchFetch(new URL(path, gw.url), init as never);
  return res as unknown as Response;
}

beforeAll(async () => {
  gw = await startGateway({
    bundlePath: join(ROOT, "test", ".generated", "gateway.json"),
    bindings: { ...CANARY, TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }) },
    outbound: (request: MfRequest) => outbound(request as unknown as Request) as unknown as Promise<MfResponse>,
  });
  agentToken = await token({ sub: "agent-1" });
});

afterAll(async () => {
  await gw?.dispose();
});

beforeEach(async () => {
  await outbound(new Request("http://recorder.test/reset"));
});

describe("the gateway over HTTP", () => {
  it("answers health with the fixture bundle", async () => {
    const res = await call("/_firebreak/v1/health");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; bundle: { dev: boolean } };
    expect(body.status).toBe("ok");
    expect(body.bundle.dev).toBe(false);
  });

  it("forwards an allowed call with the service credential and without the agent's token", async () => {
    const res = await call("/github/repos/acme/api/issues/1?per_page=5", {
      headers: { authorization: `Bearer ${agentToken}`, cookie: "agent-session=1", "x-github-token": "agent-own" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("firebreak-decision")).toBe("allow");
    expect(res.headers.get("set-cookie")).toBeNull();
    const seen = await recorded();
    expect(seen).toHaveLength(1);
    const [up] = seen;
    expect(up!.method).toBe("GET");
    expect(up!.url).toBe("https://api.github.com/repos/acme/api/issues/1?per_page=5");
    expect(up!.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
    expect(up!.headers.cookie).toBeUndefined();
    expect(up!.headers["x-github-token"]).toBeUndefined();
    expect(JSON.stringify(up)).not.toContain(agentToken);
    const record = await gw.decision(res.headers.get("firebreak-decision-id")!);
    expect(record).toMatchObject({ effect: "allow", action: "github:issues.get", path: "/repos/acme/api/issues/1" });
    expect(JSON.stringify(gw.decisions)).not.toContain(CANARY.GITHUB_TOKEN);
    expect(JSON.stringify(gw.decisions)).not.toContain(agentToken);
  });

  it("forwards a write with its body unchanged", async () => {
    const body = JSON.stringify({ body: "Looks like a duplicate of #12" });
    const res = await call("/github/repos/acme/api/issues/1/comments", {
      method: "POST",
      headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(200);
    const [up] = await recorded();
    expect(up).toMatchObject({ method: "POST", url: "https://api.github.com/repos/acme/api/issues/1/comments", body });
    expect(up!.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
  });

  it.each([
    ["a call no rule allows", "GET", "/github/repos/evil/api/issues/1", 403, "policy.denied"],
    ["a call that needs approval", "PUT", "/github/repos/acme/api/pulls/1/merge", null, "approval.required"],
    ["a call outside the catalog", "GET", "/github/repos/acme/api/traffic/views", 403, "action.unknown"],
    ["an id-addressed path", "GET", "/github/repositories/42/issues", 403, "action.forbidden"],
  ])("does not forward %s", async (_name, method, path, status, reason) => {
    const res = await call(path, { method, headers: { authorization: `Bearer ${agentToken}` } });
    if (status !== null) expect(res.status).toBe(status);
    else expect([403, 428]).toContain(res.status);
    const body = (await res.json()) as { reason: string; decision_id: string };
    expect(body.reason).toBe(reason);
    expect(res.headers.get("firebreak-decision-id")).toBe(body.decision_id);
    expect(await recorded()).toEqual([]);
  });

  it("does not forward a call without a token", async () => {
    const res = await call("/github/repos/acme/api/issues/1");
    expect(res.status).toBe(401);
    expect(await recorded()).toEqual([]);
  });
});

describe("raw requests that a client library would have normalised", () => {
  const vectors: [string, string[]][] = [
    ["a dot-dot segment", ["PUT /github/repos/acme/api/issues/../pulls/1/merge HTTP/1.1"]],
    ["an encoded dot-dot segment", ["GET /github/repos/acme/api/issues/1/%2e%2e/x HTTP/1.1"]],
    ["a mixed-case encoded dot-dot", ["GET /github/repos/acme/api/pulls/%2E%2e/issues/1 HTTP/1.1"]],
    ["a backslash", ["GET /github\\repos/acme/api/issues/1 HTTP/1.1"]],
    ["an encoded slash", ["GET /github/repos/acme%2fapi/issues/1 HTTP/1.1"]],
    ["an encoded backslash", ["GET /github/repos/acme/api%5c..%5cissues/1 HTTP/1.1"]],
  ];

  it.each(vectors)("%s is refused, or what was classified is exactly what was forwarded", async (_name, head) => {
    const res = await rawHttp(gw.url, [...head, `Authorization: Bearer ${agentToken}`]);
    const seen = await recorded();
    if (res.status >= 400 && res.status < 500) {
      expect(seen).toEqual([]);
      return;
    }
    // workerd hands the worker a WHATWG-parsed URL, so `..`, `%2e%2e` and `\` may already be resolved
    // when the gateway sees it: then the canonical path that was classified (and logged) must be the
    // one the upstream received, with no dot segment, backslash or encoded separator left in it.
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
    const record = await gw.decision(res.headers["firebreak-decision-id"]!);
    const forwarded = new URL(seen[0]!.url);
    expect(forwarded.origin).toBe("https://api.github.com");
    expect(forwarded.pathname).toBe(record.path);
    expect(forwarded.pathname).not.toMatch(/(^|\/)\.\.?(\/|$)|\\|%2e|%2f|%5c/i);
  });

  it("a merge hidden behind a dot-dot segment is refused or classified as the merge it is", async () => {
    const res = await rawHttp(gw.url, [
      "PUT /github/repos/acme/api/issues/../pulls/1/merge HTTP/1.1",
      `Authorization: Bearer ${agentToken}`,
    ]);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await recorded()).toEqual([]);
    const record = await gw.decision(res.headers["firebreak-decision-id"]!);
    if (record.reason !== "route.dot_segment") {
      expect(record).toMatchObject({ action: "github:pulls.merge", effect: "approval_required" });
    }
  });

  it("two Authorization header lines are refused", async () => {
    const other = await token({ sub: "agent-2" });
    const res = await rawHttp(gw.url, [
      "GET /github/repos/acme/api/issues/1 HTTP/1.1",
      `Authorization: Bearer ${other}`,
      `Authorization: Bearer ${agentToken}`,
    ]);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ reason: "route.duplicate_authorization" });
    expect(await recorded()).toEqual([]);
  });

  it("the same token sent twice is refused too", async () => {
    const res = await rawHttp(gw.url, [
      "GET /github/repos/acme/api/issues/1 HTTP/1.1",
      `Authorization: Bearer ${agentToken}`,
      `Authorization: Bearer ${agentToken}`,
    ]);
    expect(res.status).toBe(400);
    expect(await recorded()).toEqual([]);
  });

  it("a method override header is refused", async () => {
    const res = await rawHttp(gw.url, [
      "GET /github/repos/acme/api/issues/1 HTTP/1.1",
      "X-HTTP-Method-Override: DELETE",
      `Authorization: Bearer ${agentToken}`,
    ]);
    expect(res.status).toBe(400);
    expect(await recorded()).toEqual([]);
  });

  it("a well-formed raw request is forwarded (the raw client itself works)", async () => {
    const res = await rawHttp(gw.url, [
      "GET /github/repos/acme/api/issues/1 HTTP/1.1",
      `Authorization: Bearer ${agentToken}`,
    ]);
    expect(res.status).toBe(200);
    expect(res.headers["firebreak-decision"]).toBe("allow");
    const seen = await recorded();
    expect(seen.map((r) => r.url)).toEqual(["https://api.github.com/repos/acme/api/issues/1"]);
  });
});
