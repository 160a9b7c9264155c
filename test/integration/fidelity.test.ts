/**
 * Classified = executed (docs/decisions.md, "what Firebreak sees is what the upstream gets"): each
 * case is a request an attacker would send to make Firebreak decide about one call while the upstream
 * executes another. The recording fake upstream says what it received: a refusal forwards nothing, an
 * allowed call arrives exactly as it was decided.
 */
import { describe, expect, it } from "vitest";
import { token } from "../helpers/tokens";
import { decide, page, person } from "./approval-support";
import {
  CANARY,
  expectAllowed,
  expectRefusal,
  gatewayApp,
  headerNames,
  newTask,
  PROBE,
  type SendInit,
  send,
  taskRoute,
} from "./support";

const app = gatewayApp();
const MERGE = "/github/repos/acme/api/pulls/7/merge";
const COMMENTS = "/github/repos/acme/api/issues/1/comments";
const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };
/** Bytes that are valid JSON and also a (different) form body. */
const BOTH = '{"merge_method":"merge","sha":"abc"}';

describe("bodies are read the way the upstream parses them", () => {
  it("a JSON body sent as a form to GitHub (which parses JSON) is refused, not read as a form", async () => {
    const sent = await send(app, MERGE, { method: "PUT", headers: FORM_TYPE, body: BOTH });
    expectRefusal(sent, 415, "request.content_type");
    expect(sent.records[0]!.detail).toContain("upstream reads json");
  });

  it.each([
    ["text/plain", "hi"],
    ["multipart/form-data; boundary=x", "--x--"],
    ["application/json; charset=latin1", '{"body":"hi"}'],
  ])("refuses Content-Type %s on a body Firebreak must read", async (type, body) => {
    const sent = await send(app, COMMENTS, { method: "POST", headers: { "content-type": type }, body });
    expectRefusal(sent, 415, "request.content_type");
  });

  it("refuses a JSON body without a Content-Type: the upstream's reading cannot be checked", async () => {
    const sent = await send(app, COMMENTS, { method: "POST", body: '{"body":"hi"}' });
    expectRefusal(sent, 415, "request.content_type");
  });

  it("accepts JSON media types and a UTF-8 charset, and forwards the bytes unchanged", async () => {
    for (const type of [
      "application/json; charset=utf-8",
      "application/vnd.github+json",
      'application/json; charset="UTF-8"',
    ]) {
      const sent = await send(app, COMMENTS, {
        method: "POST",
        headers: { "content-type": type },
        body: '{"body":"hi"}',
      });
      const up = expectAllowed(sent);
      expect([up.headers["content-type"], up.body]).toEqual([type, '{"body":"hi"}']);
    }
  });

  it.each([
    ['{"body":"hi","body":"bye"}', "body", 400, "request.duplicate_key"],
    ['{"body":"hi","\\u0062ody":"bye"}', "body (escaped)", 400, "request.duplicate_key"],
    ['{"body":"hi","meta":{"a":1,"a":2}}', "nested", 400, "request.duplicate_key"],
    ['\ufeff{"body":"hi"}', "a byte order mark", 400, "request.body_invalid"],
    ['{"body":["hi"]}', "an array for a string", 400, "request.body_invalid"],
  ])("refuses %s (%s)", async (body, _what, status, reason) => {
    const sent = await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body });
    expectRefusal(sent, status, reason);
  });

  it("keeps equal keys in different objects and in string values", async () => {
    const body = '{"body":"a \\"body\\": 1","x":{"body":1},"y":[{"body":2},{"body":3}]}';
    const up = expectAllowed(await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body }));
    expect(up.body).toBe(body);
  });

  it("refuses a declared argument in the query of a service that reads it from the body", async () => {
    const sent = await send(app, `${MERGE}?merge_method=rebase`, {
      method: "PUT",
      headers: JSON_TYPE,
      body: '{"merge_method":"squash"}',
    });
    expectRefusal(sent, 400, "request.arg_ambiguous");
  });

  it("refuses a form argument sent as an array or a hash (amount[0]=...), as Stripe would read it", async () => {
    for (const body of ["charge=ch_1&amount[0]=500000", "charge=ch_1&amount[x]=1", "charge[]=ch_2"]) {
      const sent = await send(app, "/connect/v1/refunds", { method: "POST", headers: FORM_TYPE, body });
      expectRefusal(sent, 400, "request.body_invalid");
    }
  });
});

/** Headers an agent might send to steer the upstream or a proxy in front of it. */
const HOSTILE: Record<string, string> = {
  "x-original-url": "/admin-hostile1",
  "x-rewrite-url": "/repos/evil/x-hostile2",
  "x-override-url": "/admin-hostile3",
  "x-forwarded-host": "evil.example-hostile4",
  "x-forwarded-prefix": "/internal-hostile5",
  "x-host": "evil.example-hostile6",
  "x-original-host": "evil.example-hostile7",
  forwarded: "host=evil.example-hostile8",
  "x-real-ip": "127.0.0.1-hostile9",
  "true-client-ip": "127.0.0.1-hostile10",
  "x-client-ip": "127.0.0.1-hostile11",
  "x-api-key": "agent-own-key-hostile12",
  "x-github-token": "ghp_agent-hostile13",
  "x-auth-token": "agent-hostile14",
  "private-token": "agent-hostile15",
  "stripe-account": "acct_other-hostile16",
  "stripe-context": "ctx_other-hostile17",
  "x-middleware-subrequest": "middleware-hostile18",
  "x-envoy-original-path": "/admin-hostile19",
  "x-amz-security-token": "agent-hostile20",
  "proxy-authorization": "Basic YWdlbnQ=-hostile21",
  cookie: "session=agent-hostile22",
  "x-csrf-token": "agent-hostile23",
  "accept-encoding": "identity-hostile24",
  range: "bytes=0-1-hostile25",
};

describe("request headers by allowlist", () => {
  it("forwards none of a list of hostile headers, and still forwards the call", async () => {
    const sent = await send(app, "/github/repos/acme/api/issues/1", {
      headers: { ...HOSTILE, accept: "application/vnd.github+json", "user-agent": "octokit/1", "if-none-match": '"e"' },
    });
    const up = expectAllowed(sent);
    const names = headerNames(up).sort();
    // host and cf-worker are the runtime's own, on every outbound fetch.
    const runtime = ["host", "cf-worker"];
    expect(names).toEqual(["accept", "authorization", "if-none-match", PROBE, "user-agent", ...runtime].sort());
    expect(up.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
    expect(JSON.stringify(up.headers)).not.toContain("hostile");
  });

  it("forwards a service's own API-version header", async () => {
    const sent = await send(app, "/connect/v1/customers/cus_1", { headers: { "stripe-version": "2025-01-01" } });
    expect(expectAllowed(sent).headers["stripe-version"]).toBe("2025-01-01");
  });
});

describe("semantic headers are arguments", () => {
  it("Stripe-Account reaches the upstream and scopes the resource the rules and the record see", async () => {
    const sent = await send(app, "/connect/v1/customers/cus_1", { headers: { "stripe-account": "acct_1" } });
    expect(expectAllowed(sent).headers["stripe-account"]).toBe("acct_1");
    expect(sent.records[0]!.resource).toBe("account:acct_1/customer:cus_1");
    const plain = await send(app, "/connect/v1/customers/cus_1");
    expect(plain.records[0]!.resource).toBe("customer:cus_1");
  });

  it("rules read it as request.headers: a denied account forwards nothing", async () => {
    const sent = await send(app, "/connect/v1/customers/cus_1", { headers: { "stripe-account": "acct_blocked" } });
    expectRefusal(sent, 403, "policy.denied");
    expect(sent.records[0]!.rules).toEqual(["no-blocked-account"]);
  });

  it("a repeated or listed semantic header is refused: the upstream could take either", async () => {
    const listed = await send(app, "/connect/v1/customers/cus_1", {
      headers: { "stripe-account": "acct_1, acct_blocked" },
    });
    expectRefusal(listed, 400, "request.header_ambiguous");
    const repeated = await send(app, "/connect/v1/customers/cus_1", {
      headers: [
        ["stripe-account", "acct_1"],
        ["stripe-account", "acct_blocked"],
      ],
    });
    expectRefusal(repeated, 400, "request.header_ambiguous");
  });

  it("the step log keeps it, with the media type the body was read as", async () => {
    const task = await newTask(app, "faithful");
    expectAllowed(
      await send(app, "/connect/v1/customers/cus_1", { bearer: task.token, headers: { "stripe-account": "acct_1" } }),
    );
    const view = (await taskRoute(app, `/${task.id}`, task.token)).json as {
      steps: { kind: string; facts: unknown }[];
    };
    expect(view.steps.find((s) => s.kind === "call")!.facts).toEqual({
      method: "GET",
      path: "/v1/customers/cus_1",
      query: [],
      args: {},
      headers: { "stripe-account": "acct_1" },
    });
  });
});

describe("approvals bind what the approver saw", () => {
  /** The page the person approved on, last time approvedCall ran. */
  let approvalPage = "";

  /** Asks, has a person approve, and returns the retry function for variants of the request. */
  async function approvedCall(path: string, init: SendInit) {
    const task = await newTask(app, "faithful");
    const asked = await send(app, path, { ...init, bearer: task.token });
    expectRefusal(asked, 403, "approval.required", "approval_required");
    const id = (asked.json!.approval as { id: string }).id;
    const shown = (await page(app, id, await person())).html;
    expect((await decide(app, id, "approve", await person())).json.status).toBe("approved");
    approvalPage = shown;
    return (variant: SendInit) =>
      send(app, path, {
        ...init,
        ...variant,
        bearer: task.token,
        headers: { ...((variant.headers ?? init.headers) as Record<string, string>), "firebreak-approval": id },
      });
  }

  it("the same bytes under another Content-Type are another request: approval.mismatch, then the original works", async () => {
    const body = '{"channel":"C1","ts":"1.0"}';
    const retry = await approvedCall("/slack/api/chat.delete", { method: "POST", headers: JSON_TYPE, body });
    expectRefusal(await retry({ headers: FORM_TYPE }), 403, "approval.mismatch");
    const ok = await retry({ headers: JSON_TYPE });
    expect([ok.res.status, ok.records[0]!.reason]).toEqual([200, "approval.granted"]);
    expect(ok.upstream.map((u) => [u.headers["content-type"], u.body])).toEqual([["application/json", body]]);
  });

  it("another Stripe-Account, or none, is approval.mismatch; the approved account is admitted once", async () => {
    const init = {
      method: "POST",
      headers: { ...FORM_TYPE, "stripe-account": "acct_1" },
      body: "charge=ch_1&amount=100",
    };
    const retry = await approvedCall("/connect/v1/refunds", init);
    // The approver saw the account and how the body is read, next to the resource they scope.
    for (const shown of ["stripe-account", "acct_1", "application/x-www-form-urlencoded", "account:acct_1/charge:ch_1"])
      expect(approvalPage).toContain(shown);
    expectRefusal(await retry({ headers: { ...FORM_TYPE, "stripe-account": "acct_2" } }), 403, "approval.mismatch");
    expectRefusal(await retry({ headers: FORM_TYPE }), 403, "approval.mismatch");
    const ok = await retry({ headers: init.headers });
    expect(ok.res.status).toBe(200);
    expect(ok.upstream.map((u) => u.headers["stripe-account"])).toEqual(["acct_1"]);
  });

  it("a changed argument is approval.mismatch", async () => {
    const retry = await approvedCall("/connect/v1/refunds", {
      method: "POST",
      headers: FORM_TYPE,
      body: "charge=ch_1&amount=100",
    });
    expectRefusal(await retry({ body: "charge=ch_1&amount=100000" }), 403, "approval.mismatch");
  });

  it("a GitHub merge approved as JSON cannot be redeemed as a form", async () => {
    const retry = await approvedCall(MERGE, { method: "PUT", headers: JSON_TYPE, body: BOTH });
    expectRefusal(await retry({ headers: FORM_TYPE }), 415, "request.content_type");
  });
});

describe("limits, each with its own reason", () => {
  it("a URL over 8 KiB is request.url_too_long", async () => {
    expectRefusal(
      await send(app, `/github/repos/acme/api/issues/1?q=${"a".repeat(8200)}`),
      414,
      "request.url_too_long",
    );
  });

  it("headers over 32 KiB are request.headers_too_large", async () => {
    const headers = { "if-none-match": "a".repeat(33_000) };
    expectRefusal(await send(app, "/github/repos/acme/api/issues/1", { headers }), 431, "request.headers_too_large");
  });

  it("a bearer token over 8 KiB is refused before it is parsed", async () => {
    const sent = await send(app, "/github/repos/acme/api/issues/1", { bearer: `${"a".repeat(8200)}.b.c` });
    expectRefusal(sent, 401, "identity.token_too_large");
  });

  it("';' in the query is refused: some upstreams split on it", async () => {
    expectRefusal(await send(app, "/github/repos/acme/api/issues/1?a=1;b=2"), 400, "route.query_separator");
    expectAllowed(await send(app, "/github/repos/acme/api/issues/1?a=1%3Bb"));
  });

  it("a token living longer than its issuer's maximum lifetime is refused (default one day)", async () => {
    const inline = (exp: number) => token({ key: "es256", iss: "https://inline.test.example", exp });
    expectRefusal(
      await send(app, "/github/repos/acme/api/issues/1", { bearer: await inline(86_400 + 60) }),
      401,
      "identity.lifetime_too_long",
    );
    expectAllowed(await send(app, "/github/repos/acme/api/issues/1", { bearer: await inline(3600) }));
  });
});
