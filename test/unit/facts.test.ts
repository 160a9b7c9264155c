/** extractArgs: declared arguments from the query and the body, typed as the catalog says. */
import { describe, expect, it } from "vitest";
import type { ActionSpec, ArgSource, ArgType, ServiceSpec } from "../../src/policy/types";
import { extractArgs, needsBody } from "../../src/request/facts";

function service(args_in: ArgSource[] = ["body"], reject_params: string[] = []): ServiceSpec {
  return {
    name: "svc",
    upstream: "https://api.example.com",
    credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
    args_in,
    reject_params,
    strip_headers: [],
    body_format: "content_type",
    forward_headers: [],
    semantic_headers: [],
    refusal: "firebreak",
    link_aliases: [],
    inspect_body: reject_params.length > 0 && args_in.includes("body"),
    routes: {},
    graphql: null,
    mcp: null,
  };
}

function action(args: Record<string, ArgType>): ActionSpec {
  return {
    name: "svc:items.create",
    service: "svc",
    method: ["POST"],
    path: "/items",
    kind: "write",
    risk: "low",
    data: [],
    params: [],
    resource: null,
    args,
    same_effect_as: [],
    forbidden: null,
    body_format: null,
    source: "test",
  };
}

/** extractArgs without the media type (asserted on its own below), so results compare by their arguments. */
function extract(...a: Parameters<typeof extractArgs>) {
  const r = extractArgs(...a);
  if (!r.ok) return r;
  return { ok: true, args: r.args };
}

/** Queries as the route stage builds them: prototype-less. */
const q = (o: Record<string, string> = {}) => Object.assign(Object.create(null) as Record<string, string>, o);

const ARGS = action({ name: "string", count: "integer", ratio: "number", flag: "boolean" });
const JSON_TYPE = "application/json";
const FORM = "application/x-www-form-urlencoded";
const json = (body: unknown, a = ARGS, s = service()) => extract(s, a, q(), JSON_TYPE, JSON.stringify(body));
const form = (body: string, a = ARGS, s = service()) => extract(s, a, q(), FORM, body);

describe("extractArgs: JSON bodies", () => {
  it("reads declared arguments with their JSON types and ignores the rest", () => {
    const r = json({ name: "x", count: 3, ratio: 1.5, flag: false, other: "ignored", nested: { a: 1 } });
    expect(r).toEqual({ ok: true, args: { name: "x", count: 3, ratio: 1.5, flag: false } });
  });

  it("leaves missing arguments absent (not null, not undefined)", () => {
    const r = json({ name: "x" });
    expect(r).toEqual({ ok: true, args: { name: "x" } });
    if (r.ok) expect(Object.keys(r.args)).toEqual(["name"]);
  });

  it.each([
    ["count", "3", "integer"],
    ["count", 1.5, "integer"],
    ["count", 2 ** 53, "integer"],
    ["count", null, "integer"],
    ["count", true, "integer"],
    ["ratio", "1.5", "number"],
    ["flag", "true", "boolean"],
    ["flag", 1, "boolean"],
    ["name", 5, "string"],
    ["name", ["a"], "string"],
    ["name", { a: 1 }, "string"],
    ["name", null, "string"],
  ])("refuses %s = %j (not a JSON %s)", (field, value, type) => {
    expect(json({ [field]: value })).toMatchObject({
      ok: false,
      reason: "request.body_invalid",
      detail: `argument ${field} is not a ${type}`,
    });
  });

  it("accepts integers for numbers and negative or zero values", () => {
    expect(json({ ratio: 2, count: -4 })).toEqual({ ok: true, args: { ratio: 2, count: -4 } });
    expect(json({ count: 0, ratio: -0.25 })).toEqual({ ok: true, args: { count: 0, ratio: -0.25 } });
  });

  it.each([
    ["[1, 2]", "JSON body is not an object"],
    ["null", "JSON body is not an object"],
    ['"text"', "JSON body is not an object"],
    ["{not json", "JSON does not parse"],
  ])("refuses the body %s", (body, detail) => {
    expect(extract(service(), ARGS, q(), JSON_TYPE, body)).toMatchObject({
      ok: false,
      reason: "request.body_invalid",
      detail,
    });
  });

  it.each([
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/vnd.api+json",
    "application/merge-patch+json",
    "application/problem+json; charset=utf-8",
  ])("parses %s as JSON", (contentType) => {
    expect(extract(service(), ARGS, q(), contentType, '{"count": 2}')).toEqual({ ok: true, args: { count: 2 } });
  });

  it("an empty or absent body means no arguments", () => {
    expect(extract(service(), ARGS, q(), JSON_TYPE, "")).toEqual({ ok: true, args: {} });
    expect(extract(service(), ARGS, q(), null, null)).toEqual({ ok: true, args: {} });
  });
});

describe("extractArgs: form bodies", () => {
  it("coerces strings to the declared types", () => {
    expect(form("name=a+b%21&count=42&ratio=1.5&flag=true")).toEqual({
      ok: true,
      args: { name: "a b!", count: 42, ratio: 1.5, flag: true },
    });
    expect(form("count=-7&ratio=3&flag=false")).toEqual({ ok: true, args: { count: -7, ratio: 3, flag: false } });
  });

  it("integer strings from forms become numbers", () => {
    const r = form("count=123456789012345");
    expect(r).toEqual({ ok: true, args: { count: 123456789012345 } });
    if (r.ok) expect(typeof r.args.count).toBe("number");
  });

  it.each([
    ["count=1.5", "count", "integer"],
    ["count=", "count", "integer"],
    ["count=abc", "count", "integer"],
    ["count=1e3", "count", "integer"],
    ["count=+1", "count", "integer"],
    ["count=1234567890123456", "count", "integer"],
    ["count=0x10", "count", "integer"],
    ["ratio=.5", "ratio", "number"],
    ["ratio=1.", "ratio", "number"],
    ["ratio=NaN", "ratio", "number"],
    ["ratio=Infinity", "ratio", "number"],
    ["flag=1", "flag", "boolean"],
    ["flag=TRUE", "flag", "boolean"],
    ["flag=", "flag", "boolean"],
  ])("refuses %s", (body, field, type) => {
    expect(form(body)).toMatchObject({
      ok: false,
      reason: "request.body_invalid",
      detail: `argument ${field} is not a ${type}`,
    });
  });

  it("a key without a value is an empty string; empty pairs are skipped", () => {
    expect(form("name&&count=1&")).toEqual({ ok: true, args: { name: "", count: 1 } });
  });

  it("refuses duplicate keys, declared or not", () => {
    expect(form("name=a&name=b")).toMatchObject({ ok: false, reason: "request.arg_ambiguous", detail: "name" });
    expect(form("x=1&x=2")).toMatchObject({ ok: false, reason: "request.arg_ambiguous", detail: "x" });
    expect(form("na%6De=a&name=b")).toMatchObject({ ok: false, reason: "request.arg_ambiguous" });
  });

  it("refuses malformed percent-encoding", () => {
    expect(form("name=%zz")).toMatchObject({ ok: false, reason: "request.body_invalid", detail: "form encoding" });
    expect(form("name=%C3")).toMatchObject({ ok: false, reason: "request.body_invalid" });
  });

  it("accepts a charset parameter", () => {
    expect(extract(service(), ARGS, q(), "application/x-www-form-urlencoded; charset=UTF-8", "count=1")).toEqual({
      ok: true,
      args: { count: 1 },
    });
  });
});

describe("extractArgs: content types", () => {
  it.each([
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/jsonp",
    "application/x-json-stream",
    null,
  ])("refuses a body of type %s", (contentType) => {
    expect(extract(service(), ARGS, q(), contentType, '{"count": 1}')).toMatchObject({
      ok: false,
      reason: "request.content_type",
    });
  });
});

describe("extractArgs: the query", () => {
  const both = service(["query", "body"]);

  it("reads declared arguments from the query when the service says so, typed", () => {
    expect(extract(service(["query"]), ARGS, q({ count: "5", flag: "true", other: "x" }), null, null)).toEqual({
      ok: true,
      args: { count: 5, flag: true },
    });
    expect(extract(service(["query"]), ARGS, q({ count: "1.5" }), null, null)).toMatchObject({
      ok: false,
      reason: "request.body_invalid",
    });
  });

  it("refuses a declared argument in the query of a body-only service: the upstream may merge them", () => {
    expect(extract(service(["body"]), ARGS, q({ count: "5" }), null, null)).toMatchObject({
      ok: false,
      reason: "request.arg_ambiguous",
      detail: "count",
    });
    expect(extract(service(["body"]), ARGS, q({ other: "5" }), null, null)).toEqual({ ok: true, args: {} });
  });

  it("refuses a declared argument in the body of a query-only service", () => {
    expect(extract(service(["query"]), ARGS, q(), JSON_TYPE, '{"count": 5}')).toMatchObject({
      ok: false,
      reason: "request.arg_ambiguous",
    });
    expect(extract(service(["query"]), ARGS, q(), JSON_TYPE, '{"other": 5}')).toEqual({ ok: true, args: {} });
  });

  it("reads from both, and refuses the same argument in both", () => {
    expect(extract(both, ARGS, q({ name: "q" }), JSON_TYPE, '{"count": 5}')).toEqual({
      ok: true,
      args: { name: "q", count: 5 },
    });
    expect(extract(both, ARGS, q({ count: "5" }), JSON_TYPE, '{"count": 5}')).toMatchObject({
      ok: false,
      reason: "request.arg_ambiguous",
      detail: "count",
    });
    expect(extract(both, ARGS, q({ count: "5" }), FORM, "count=5")).toMatchObject({
      ok: false,
      reason: "request.arg_ambiguous",
    });
  });

  it("a form body in a query+body service is typed from strings", () => {
    expect(extract(both, ARGS, q(), FORM, "count=5")).toEqual({ ok: true, args: { count: 5 } });
  });
});

describe("extractArgs: reject_params and method overrides", () => {
  const guarded = service(["query", "body"], ["token"]);
  const none = action({});

  it("refuses a rejected parameter in the query", () => {
    expect(extract(guarded, none, q({ token: "xoxb-agent" }), null, null)).toMatchObject({
      ok: false,
      reason: "request.agent_credential",
      detail: "query token",
    });
  });

  it("refuses a rejected parameter in a JSON or form body, even for an action without arguments", () => {
    expect(extract(guarded, none, q(), JSON_TYPE, '{"token": "xoxb-agent"}')).toMatchObject({
      ok: false,
      reason: "request.agent_credential",
      detail: "body token",
    });
    expect(extract(guarded, none, q(), FORM, "text=hi&token=xoxb-agent")).toMatchObject({
      ok: false,
      reason: "request.agent_credential",
      detail: "body token",
    });
    expect(extract(guarded, none, q(), "application/vnd.api+json", '{"token": ""}')).toMatchObject({
      ok: false,
      reason: "request.agent_credential",
    });
  });

  it("the check does not leak into unrelated names", () => {
    expect(extract(guarded, none, q({ tokens: "x" }), JSON_TYPE, '{"my_token": "x"}')).toEqual({
      ok: true,
      args: {},
    });
  });

  it("the body of a guarded service is always inspected", () => {
    expect(needsBody(guarded, none)).toBe(true);
    expect(needsBody(service(["body"]), none)).toBe(false);
    expect(needsBody(service(["body"]), ARGS)).toBe(true);
    expect(needsBody(service(["query"]), ARGS)).toBe(false);
  });

  it("refuses _method in the body", () => {
    expect(extract(service(), ARGS, q(), JSON_TYPE, '{"_method": "DELETE"}')).toMatchObject({
      ok: false,
      reason: "route.method_override",
    });
    expect(extract(service(), ARGS, q(), FORM, "_method=DELETE")).toMatchObject({
      ok: false,
      reason: "route.method_override",
    });
  });
});

describe("extractArgs: prototype keys", () => {
  it("a body field named like a prototype key is data, not an argument", () => {
    expect(json(JSON.parse('{"__proto__": {"count": 1}, "constructor": "x"}'))).toEqual({ ok: true, args: {} });
    expect(form("__proto__=1&constructor=2&toString=3")).toEqual({ ok: true, args: {} });
  });
});

describe("extractArgs: the body as the upstream parses it (body_format)", () => {
  const as = (body_format: ServiceSpec["body_format"]) => ({ ...service(), body_format });

  it.each([
    ["json", JSON_TYPE, '{"count": 1}', "application/json"],
    ["json", "application/vnd.github+json; charset=utf-8", '{"count": 1}', "application/json"],
    ["form", FORM, "count=1", "application/x-www-form-urlencoded"],
    ["content_type", JSON_TYPE, '{"count": 1}', "application/json"],
    ["content_type", FORM, "count=1", "application/x-www-form-urlencoded"],
  ] as const)("%s reads a %s body and says so", (format, type, body, media) => {
    expect(extractArgs(as(format), ARGS, q(), type, body)).toEqual({ ok: true, args: { count: 1 }, mediaType: media });
  });

  it.each([
    ["json", FORM, '{"count": 1}'],
    ["json", null, '{"count": 1}'],
    ["json", "text/plain", '{"count": 1}'],
    ["form", JSON_TYPE, '{"count": 1}'],
    ["form", "multipart/form-data; boundary=x", "--x--"],
    ["content_type", "text/plain", "count=1"],
    ["json", "application/json; charset=iso-8859-1", '{"count": 1}'],
  ] as const)("%s refuses Content-Type %s: request.content_type", (format, type, body) => {
    expect(extractArgs(as(format), ARGS, q(), type, body)).toMatchObject({ ok: false, reason: "request.content_type" });
  });

  it("an empty body needs no Content-Type and has no media type", () => {
    expect(extractArgs(as("json"), ARGS, q(), null, "")).toEqual({ ok: true, args: {}, mediaType: "" });
  });

  it("refuses duplicate JSON keys at any depth, compared decoded", () => {
    for (const body of ['{"count":1,"count":2}', '{"count":1,"\\u0063ount":2}', '{"x":[{"a":1,"a":1}]}']) {
      expect(extract(service(), ARGS, q(), JSON_TYPE, body), body).toMatchObject({
        ok: false,
        reason: "request.duplicate_key",
      });
    }
    expect(extract(service(), ARGS, q(), JSON_TYPE, '{"a":{"count":1},"count":2,"s":"\\"count\\":"}')).toEqual({
      ok: true,
      args: { count: 2 },
    });
  });

  it("refuses a form argument sent with brackets (an array or hash to Stripe and Rails)", () => {
    for (const body of ["count[]=1", "count[0]=1&count[1]=2", "name[a]=x"]) {
      expect(form(body), body).toMatchObject({ ok: false, reason: "request.body_invalid" });
    }
    expect(form("other[]=1&count=1")).toEqual({ ok: true, args: { count: 1 } });
  });
});

describe("extractArgs: an action's own body format", () => {
  it("wins over the service's: a JSON action of a form service (Stripe /v2) reads JSON, refuses a form", () => {
    const formService = { ...service(), body_format: "form" as const };
    const v2 = { ...ARGS, body_format: "json" as const };
    expect(extractArgs(formService, v2, q(), JSON_TYPE, '{"count": 1}')).toMatchObject({
      ok: true,
      args: { count: 1 },
    });
    expect(extractArgs(formService, v2, q(), FORM, "count=1")).toMatchObject({
      ok: false,
      reason: "request.content_type",
    });
    expect(extractArgs(formService, ARGS, q(), FORM, "count=1")).toMatchObject({ ok: true, args: { count: 1 } });
  });
});
