/**
 * Stage 6, forward, through the worker's fetch: what the upstream receives (the service credential,
 * never the agent's; no hop-by-hop or Firebreak headers; the body as sent), what the agent gets back
 * (upstream status, allowlisted headers, redirects not followed), and the refusals on the way there
 * (bodies that cannot be read for declared arguments, agent credentials in parameters, upstream and
 * credential failures). The gateway fixture bundle: test/fixtures/policies/gateway.
 */
import { describe, expect, it } from "vitest";
import {
  bindings,
  CANARY,
  expectAllowed,
  expectRefusal,
  failConnectionsTo,
  gatewayApp,
  headerNames,
  recorded,
  type Sent,
  send,
} from "./support";

const app = gatewayApp();
const ISSUE = "/github/repos/acme/api/issues/1";
const COMMENTS = "/github/repos/acme/api/issues/1/comments";
const MERGE = "/github/repos/acme/api/pulls/1/merge";
const POST_MESSAGE = "/slack/api/chat.postMessage";
const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };

describe("credentials", () => {
  it("injects the service credential and removes the agent's Authorization", async () => {
    const sent = await send(app, ISSUE);
    const up = expectAllowed(sent);
    expect(up.url).toBe("https://api.github.com/repos/acme/api/issues/1");
    expect(up.headers.authorization).toBe(`Bearer ${CANARY.GITHUB_TOKEN}`);
    expect(JSON.stringify(up.headers)).not.toMatch(/eyJ/); // no JWT of the agent anywhere
  });

  it("injects each service's own credential", async () => {
    const sent = await send(app, POST_MESSAGE, { method: "POST", headers: FORM_TYPE, body: "channel=C1&text=hi" });
    expect(expectAllowed(sent).headers.authorization).toBe(`Bearer ${CANARY.SLACK_BOT_TOKEN}`);
  });

  it("removes credentials the agent supplies in Cookie, Proxy-Authorization and strip_headers", async () => {
    const sent = await send(app, ISSUE, {
      headers: {
        cookie: "user_session=agent-cookie",
        "proxy-authorization": "Basic YWdlbnQ6cGFzcw==",
        "x-github-token": "ghp_agent_own_token",
        "if-none-match": '"kept"',
      },
    });
    const up = expectAllowed(sent);
    expect(headerNames(up)).not.toContain("cookie");
    expect(headerNames(up)).not.toContain("proxy-authorization");
    expect(headerNames(up)).not.toContain("x-github-token");
    expect(up.headers["if-none-match"]).toBe('"kept"');
    expect(JSON.stringify(up.headers)).not.toMatch(/agent-cookie|YWdlbnQ6cGFzcw|ghp_agent_own_token/);
  });

  it("injects a secret verbatim even when it contains replacement patterns ($&, $', $$)", async () => {
    const secret = "gh$&tok$'en$$x$`y";
    const sent = await send(app, ISSUE, { env: { ...bindings, GITHUB_TOKEN: secret } });
    expect(expectAllowed(sent).headers.authorization).toBe(`Bearer ${secret}`);
  });

  it("answers 503 credential.unavailable and forwards nothing when the service secret is not set", async () => {
    const sent = await send(app, "/nocred/thing");
    expectRefusal(sent, 503, "credential.unavailable");
    expect((await recorded()).filter((r) => r.url.startsWith("https://nocred.test.example"))).toEqual([]);
  });
});

describe("request headers", () => {
  it("removes hop-by-hop headers and any header the Connection header nominates", async () => {
    const sent = await send(app, ISSUE, {
      headers: {
        connection: "keep-alive, x-secret-hop",
        "keep-alive": "timeout=5",
        te: "trailers",
        trailer: "x-checksum",
        upgrade: "websocket",
        "proxy-connection": "keep-alive",
        "x-secret-hop": "hop-only",
        "accept-language": "en",
      },
    });
    const names = headerNames(expectAllowed(sent));
    for (const h of ["connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "x-secret-hop"]) {
      expect(names, h).not.toContain(h);
    }
    expect(names).toContain("accept-language");
  });

  it("drops an allowlisted header that the Connection header nominates (hop-by-hop whatever its name)", async () => {
    const sent = await send(app, ISSUE, { headers: { connection: "if-none-match", "if-none-match": '"x"' } });
    expect(headerNames(expectAllowed(sent))).not.toContain("if-none-match");
  });

  it("removes Firebreak-* and X-Forwarded-* request headers", async () => {
    const sent = await send(app, ISSUE, {
      headers: {
        "firebreak-decision": "allow",
        "firebreak-task": "task-123",
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-host": "internal.example",
        "x-forwarded-proto": "http",
        "user-agent": "kept/1.0",
      },
    });
    const names = headerNames(expectAllowed(sent));
    expect(names.filter((h) => h.startsWith("firebreak-") || h.startsWith("x-forwarded-"))).toEqual([]);
    expect(names).toContain("user-agent");
  });
});

describe("responses", () => {
  it("returns an upstream redirect to the agent instead of following it", async () => {
    const sent = await send(app, ISSUE, { headers: { "x-fake-status": "302" } });
    expect(sent.res.headers.get("location")).toBe("https://elsewhere.example/next");
    expectAllowed(sent, 302);
    expect((await recorded()).filter((r) => r.url.startsWith("https://elsewhere.example"))).toEqual([]);
  });

  it("passes response headers through an allowlist", async () => {
    const sent = await send(app, ISSUE);
    expectAllowed(sent);
    const h = sent.res.headers;
    expect(h.get("set-cookie")).toBeNull();
    expect(h.get("x-oauth-scopes")).toBeNull();
    expect(h.get("etag")).toBe('"abc"');
    expect(h.get("x-ratelimit-remaining")).toBe("4999");
    expect(h.get("content-type")).toBe("application/json");
  });

  it.each([404, 500])("passes upstream status %i through as an allowed decision", async (status) => {
    const sent = await send(app, ISSUE, { headers: { "x-fake-status": String(status) } });
    expectAllowed(sent, status);
    expect(sent.json).toEqual({ ok: true, echo: { method: "GET", path: "/repos/acme/api/issues/1" } });
    expect(sent.records[0]?.upstream_status).toBe(status);
  });
});

describe("bodies", () => {
  const big = "x".repeat(5 * 1024);

  it("streams the body of an action without declared arguments unread, beyond max_body_bytes", async () => {
    const sent = await send(app, "/github/markdown", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: big,
    });
    const up = expectAllowed(sent);
    expect(up.method).toBe("POST");
    expect(up.body).toBe(big);
  });

  it("streams a chunked body of an action without declared arguments intact", async () => {
    const chunks = ["# title\n", big, "\nend"];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
        controller.close();
      },
    });
    const sent = await send(app, "/github/markdown", { method: "POST", body });
    expect(expectAllowed(sent).body).toBe(chunks.join(""));
  });

  it("forwards exactly the bytes it read for declared arguments (JSON)", async () => {
    const body = '{ "body" :\t"h\\u00e9llo wörld\\n",  "extra": [1, 2.50, null] }\n';
    const sent = await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body });
    const up = expectAllowed(sent);
    expect(up.body).toBe(body);
    expect(up.headers["content-type"]).toBe("application/json");
  });

  it("forwards exactly the bytes it read for declared arguments (form)", async () => {
    const body = "channel=C1&text=hello+w%C3%B6rld&unfurl_links=false";
    const sent = await send(app, POST_MESSAGE, { method: "POST", headers: FORM_TYPE, body });
    expect(expectAllowed(sent).body).toBe(body);
  });

  it("refuses a body over max_body_bytes that it must read (declared Content-Length)", async () => {
    const body = JSON.stringify({ body: "y".repeat(3000) });
    const headers = { ...JSON_TYPE, "content-length": String(body.length) };
    expectRefusal(await send(app, COMMENTS, { method: "POST", headers, body }), 413, "request.body_too_large");
  });

  it("refuses a body over max_body_bytes that it must read (streamed, no Content-Length)", async () => {
    const text = JSON.stringify({ body: "y".repeat(3000) });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 512) controller.enqueue(bytes.slice(i, i + 512));
        controller.close();
      },
    });
    expectRefusal(
      await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body }),
      413,
      "request.body_too_large",
    );
  });

  it("refuses JSON that does not parse", async () => {
    const sent = await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body: '{"body": "hi"' });
    expectRefusal(sent, 400, "request.body_invalid");
  });

  it("refuses a body that is not valid UTF-8 (policy and upstream could read it differently)", async () => {
    const body = new Uint8Array([
      ...new TextEncoder().encode('{"body": "'),
      0xc3,
      0x28,
      ...new TextEncoder().encode('"}'),
    ]);
    const sent = await send(app, COMMENTS, { method: "POST", headers: JSON_TYPE, body });
    expectRefusal(sent, 400, "request.body_invalid");
    expect(sent.records[0]?.detail).toBe("body is not UTF-8");
  });

  it("refuses a declared argument of the wrong type", async () => {
    const sent = await send(app, MERGE, { method: "PUT", headers: JSON_TYPE, body: '{"merge_method": 5}' });
    expectRefusal(sent, 400, "request.body_invalid");
  });

  it("refuses a body it must read in a content type it does not understand", async () => {
    const sent = await send(app, COMMENTS, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" });
    expectRefusal(sent, 415, "request.content_type");
  });
});

describe("agent-supplied parameters", () => {
  it("refuses a Slack token in the query", async () => {
    const sent = await send(app, "/slack/api/users.info?user=U1&token=xoxp-agent-own");
    expectRefusal(sent, 400, "request.agent_credential");
  });

  it("refuses a Slack token in a form body", async () => {
    const body = "channel=C1&text=hi&token=xoxp-agent-own";
    const sent = await send(app, POST_MESSAGE, { method: "POST", headers: FORM_TYPE, body });
    expectRefusal(sent, 400, "request.agent_credential");
  });

  it("refuses a Slack token in a JSON body", async () => {
    const body = JSON.stringify({ channel: "C1", text: "hi", token: "xoxp-agent-own" });
    const sent = await send(app, POST_MESSAGE, { method: "POST", headers: JSON_TYPE, body });
    expectRefusal(sent, 400, "request.agent_credential");
  });

  it("refuses an argument given both in the query and in the body", async () => {
    const sent = await send(app, `${POST_MESSAGE}?channel=C1`, {
      method: "POST",
      headers: FORM_TYPE,
      body: "channel=C1&text=hi",
    });
    expectRefusal(sent, 400, "request.arg_ambiguous");
  });

  it("refuses _method in a form body", async () => {
    const body = "channel=C1&text=hi&_method=DELETE";
    const sent = await send(app, POST_MESSAGE, { method: "POST", headers: FORM_TYPE, body });
    expectRefusal(sent, 400, "route.method_override");
  });
});

describe("upstream failures", () => {
  it("answers 504 upstream.timeout when the upstream does not answer in time", async () => {
    const started = Date.now();
    const sent = await send(app, "/slow/thing");
    // The bundle's upstream_timeout_ms is 1000 and the slow upstream answers after 3 s.
    expect(Date.now() - started).toBeLessThan(2500);
    expectRefusal(sent, 504, "upstream.timeout", "allow");
    // The call was decided and sent (the upstream may have acted on it); it got no answer.
    expect(sent.upstream).toHaveLength(1);
    expect(sent.records[0]).toMatchObject({ effect: "allow", upstream_status: null, status: 504 });
  });

  it("the timeout bounds the wait for response headers, not a body that is still streaming", async () => {
    // Headers come at once; the body's second half arrives 1.5 s later, past the 1000 ms timeout.
    const sent = await send(app, "/slowbody/thing");
    expectAllowed(sent);
    expect(sent.text).toBe("first half,second half");
  });

  it("answers 502 upstream.unreachable when the upstream cannot be reached", async () => {
    const down = failConnectionsTo("unreachable.test.example");
    let sent: Sent;
    try {
      sent = await send(app, "/down/thing");
    } finally {
      down.restore();
    }
    expectRefusal(sent, 502, "upstream.unreachable", "allow");
    expect(down.refused).toEqual(["https://unreachable.test.example/thing"]);
    expect(sent.records[0]).toMatchObject({ effect: "allow", upstream_status: null, status: 502 });
  });
});

describe("unmocked egress", () => {
  it("a fetch to a host no fake stands in for never leaves the machine and is flagged", async () => {
    expect((await fetch("https://example.org/")).status).toBe(599);
    const unmocked = (await (await fetch("http://recorder.test/unmocked")).json()) as string[];
    expect(unmocked).toContain("GET https://example.org/");
    // Leave the list as the no-egress check expects it: this entry was deliberate.
    await fetch("http://recorder.test/unmocked-clear");
  });
});
