/**
 * The Stripe and Slack catalogs against their sources (issue 10): every method + path of the `stripe`
 * package and every Web API method of @slack/web-api classifies, through the worker's own route and
 * classify stages, to exactly its own action; the shipped catalogs are exactly what the import gives
 * (no entry the source lacks, no `extra`); and guardrails written by label (no money movement, no bulk
 * personal data) refuse every matching operation, as a table over both full catalogs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { catalogText, generate } from "../../src/catalog/generate";
import { type ActionEntry, readOverrides } from "../../src/catalog/overrides";
import { declaredMethods, slackMethodNames, source as slackSource } from "../../src/catalog/sources/slack";
import { actionName, stripeMethods, source as stripeSource } from "../../src/catalog/sources/stripe";
import { decide } from "../../src/policy/evaluate";
import type { ActionSpec } from "../../src/policy/types";
import { classify } from "../../src/request/classify";
import { route } from "../../src/request/route";
import { CI_ISSUER, compileSet } from "../helpers/policy-set";

const SERVICES = join(import.meta.dirname, "..", "..", "policies", "services");
const fileText = (name: string) => readFileSync(join(SERVICES, `${name}.yaml`), "utf8");
const shipped = (name: string) => (parse(fileText(name)) as { actions: Record<string, ActionEntry> }).actions;
const STRIPE = shipped("stripe");
const SLACK = shipped("slack");
const SOURCES = { stripe: stripeSource, slack: slackSource };

/** The two shipped catalogs, an allow-everything rule, and the guardrails, written by label only. */
const bundle = compileSet({
  "firebreak.yaml": { secrets: ["STRIPE_SECRET_KEY", "SLACK_BOT_TOKEN"], issuers: [CI_ISSUER] },
  "services/stripe.yaml": fileText("stripe"),
  "services/slack.yaml": fileText("slack"),
  "rules/rules.yaml": {
    rules: [
      { id: "everything", effect: "allow", actions: ["stripe:*", "slack:*"] },
      { id: "no-money-movement", effect: "deny", actions: ["data:financial"], when: 'action.kind == "write"' },
      { id: "no-bulk-pii", effect: "deny", actions: ["data:bulk_pii"] },
    ],
  },
});

/** The action `method /<service><path>` classifies to, or the refusal's reason. */
function classified(method: string, service: string, path: string): string {
  const url = `https://firebreak.example.com/${service}${path}`;
  const routed = route({ method, url, headers: new Headers() }, bundle.spec.services, undefined);
  if (!routed.ok) return `refused ${routed.reason}`;
  const c = classify(bundle, routed.request);
  return c.ok ? c.value.spec.name : `refused ${c.reason}`;
}

/** A concrete path: each `{param}` a value that is no literal of any Stripe path (`Xcustomer9`). */
const concrete = (path: string) => path.replace(/\{([a-z_]+)\}/g, "X$19");

describe("stripe: every method of the stripe package", () => {
  const overrides = readOverrides(join(SERVICES, "stripe.overrides.yaml"));
  const methods = stripeMethods();
  const api = methods.filter((m) => m.apiBase === null);

  it("is read from the SDK: every resource and method, v1 and v2", () => {
    expect(api.length).toBeGreaterThan(600);
    expect(api.some((m) => m.path.startsWith("/v2/"))).toBe(true);
    expect(methods.find((m) => m.id === "customers.search")).toMatchObject({
      method: "GET",
      path: "/v1/customers/search",
    });
    expect(methods.find((m) => m.id === "v2.core.events.list")).toMatchObject({
      method: "GET",
      path: "/v2/core/events",
    });
    expect(methods.find((m) => m.id === "customers.retrieveSource")).toMatchObject({
      path: "/v1/customers/{customer}/sources/{source}",
    });
    expect(new Set(methods.map((m) => `${m.method} ${m.path}`)).size).toBe(methods.length);
  });

  it("classifies each method + path to exactly its own action, and every action is one method", () => {
    const wrong: string[] = [];
    const hit = new Set<string>();
    for (const m of api) {
      const name = overrides.actions?.[m.id]?.name ?? actionName(m.id);
      const got = classified(m.method, "stripe", concrete(m.path));
      if (got !== `stripe:${name}`) wrong.push(`${m.id}: ${m.method} ${m.path} -> ${got}, want ${name}`);
      hit.add(got);
    }
    expect(wrong).toEqual([]);
    expect(hit.size).toBe(Object.keys(STRIPE).length);
  });

  it("leaves out what the SDK sends to other hosts, and such a call here classifies to nothing", () => {
    const other = methods.filter((m) => m.apiBase !== null).map((m) => `${m.id} ${m.apiBase}`);
    expect(other.sort()).toEqual([
      "files.create files",
      "oauth.deauthorize connect",
      "oauth.token connect",
      "quotes.pdf files",
      "v2.billing.meterEventStream.create meter_events",
    ]);
    for (const m of methods.filter((x) => x.apiBase !== null)) {
      expect(classified(m.method, "stripe", concrete(m.path)), m.id).toBe("refused action.unknown");
    }
  });
});

describe("slack: every Web API method of @slack/web-api", () => {
  const names = slackMethodNames();

  it("is read from the SDK: the bound methods are exactly the declared ones", () => {
    expect(names.length).toBeGreaterThan(270);
    const declared = [...declaredMethods().keys()].filter((n) => n !== "files.uploadV2"); // a helper, no method
    expect([...names].sort()).toEqual(declared.sort());
    expect(declaredMethods().get("chat.postMessage")?.args).toMatchObject({ channel: "string", text: "string" });
  });

  it("classifies POST /api/<method> to the method; GET to read methods only", () => {
    const wrong: string[] = [];
    for (const name of names) {
      const post = classified("POST", "slack", `/api/${name}`);
      if (post !== `slack:${name}`) wrong.push(`POST ${name} -> ${post}`);
      const get = classified("GET", "slack", `/api/${name}`);
      const want = SLACK[name]?.kind === "read" ? `slack:${name}` : "refused action.unknown";
      if (get !== want) wrong.push(`GET ${name} -> ${get}, want ${want}`);
    }
    expect(wrong).toEqual([]);
    expect(Object.keys(SLACK).sort()).toEqual([...names].sort());
  });
});

describe.each(["stripe", "slack"] as const)("%s.yaml is what the import gives", (name) => {
  const overrides = readOverrides(join(SERVICES, `${name}.overrides.yaml`));
  const source = SOURCES[name];

  it("byte for byte: no entry the source lacks, no extra, no override naming a missing operation", () => {
    expect(overrides.extra ?? {}).toEqual({});
    const generated = generate(source.operations(), overrides);
    expect(generated.unused).toEqual([]);
    expect(catalogText(generated, overrides, source.origin)).toBe(fileText(name));
  });

  it("covers every operation of its source, and nothing else (a Slack read method takes GET too)", () => {
    const shape = (method: string, path: string) => `${method} ${path.replace(/\{[^}]*\}/g, "{}")}`;
    const ops = new Set(source.operations().map((op) => shape(op.method, op.path)));
    const covered = new Set<string>();
    const beyond: string[] = [];
    for (const [action, a] of Object.entries(shipped(name))) {
      for (const m of [a.method].flat()) {
        const key = shape(m, a.path);
        if (ops.has(key)) covered.add(key);
        else if (!(name === "slack" && m === "GET" && a.kind === "read")) beyond.push(`${action}: ${key}`);
      }
    }
    expect(beyond).toEqual([]);
    expect(covered).toEqual(ops);
  });
});

describe("decisions kept from the hand-written catalogs", () => {
  it.each([
    ["stripe", "payouts.create", { kind: "write", risk: "critical", data: ["financial"] }],
    ["stripe", "transfers.create", { risk: "critical", args: { amount: "integer", currency: "string" } }],
    ["stripe", "refunds.create", { risk: "high", args: { amount: "integer", charge: "string" } }],
    ["stripe", "payment_intents.get", { resource: "payment_intent:{payment_intent}" }],
    ["stripe", "customers.get", { data: ["pii"], resource: "customer:{customer}" }],
    ["stripe", "customers.search", { risk: "medium", data: ["pii", "bulk_pii"] }],
    ["stripe", "charges.list", { data: ["financial"] }],
    ["slack", "chat.postMessage", { resource: "channel:{args.channel}", args: { reply_broadcast: "boolean" } }],
    ["slack", "conversations.kick", { kind: "admin", risk: "medium" }],
    ["slack", "conversations.history", { method: ["GET", "POST"], args: { limit: "integer" } }],
    ["slack", "files.getUploadURLExternal", { method: "POST", kind: "write", args: { length: "integer" } }],
    ["slack", "users.info", { data: ["pii"], resource: "user:{args.user}" }],
  ] as const)("%s:%s", (service, name, want) => {
    expect((service === "stripe" ? STRIPE : SLACK)[name]).toMatchObject(want);
  });

  it("service-level keys", () => {
    const stripe = parse(fileText("stripe"));
    expect(stripe).toMatchObject({ body_format: "form", refusal: "stripe", forward_headers: ["stripe-version"] });
    expect(Object.keys(stripe.semantic_headers)).toEqual(["stripe-account", "stripe-context"]);
    expect(parse(fileText("slack"))).toMatchObject({ reject_params: ["token"], body_format: "content_type" });
  });
});

/** Calls that move money, by what the SDK names them (test helpers only simulate, in test mode). */
const MONEY =
  /\.(capture|confirm|pay|increment_authorization|apply_customer_balance|create_refund|create_reversal|refund_payment|process_payment_intent|confirm_payment_intent)$|^(charges|payment_intents|refunds|payouts|transfers|topups|credit_notes|subscriptions|treasury\.(outbound_payments|outbound_transfers|inbound_transfers)|v2\.money_management\.(outbound_payments|inbound_transfers|payout_intents))\.create$|^(payouts\.reverse|invoices\.finalize_invoice|quotes\.accept|issuing\.authorizations\.approve)$/;

/** Reads of many people's personal data at once, by name: lists and searches of objects holding it. */
const BULK_PII = [
  "stripe:customers.list",
  "stripe:customers.search",
  "stripe:charges.search",
  "stripe:invoices.search",
  "stripe:checkout.sessions.list",
  "stripe:events.list",
  "stripe:accounts.list",
  "stripe:identity.verification_sessions.list",
  "stripe:issuing.cardholders.list",
  "slack:users.list",
  "slack:admin.users.list",
  "slack:team.accessLogs",
];

const ACTIONS = bundle.spec.actions.map((a, i) => ({ a, i }));

function decided(a: ActionSpec, i: number): string {
  const agent = { issuer: "ci", iss: CI_ISSUER.issuer, sub: "bot", claims: {} };
  // Every action has a method: the schema requires one.
  const request = { method: a.method[0]!, path: a.path, params: {}, query: {}, args: {}, headers: {} };
  const d = decide(bundle, { agent, action: i, resource: "", request, task: {}, now: new Date(0) });
  return d.effect === "allow" ? "allow" : `deny ${d.rules.join(",")}`;
}

describe("guardrails by label", () => {
  const money = ACTIONS.filter(
    ({ a }) => a.service === "stripe" && !a.name.includes("test_helpers") && MONEY.test(a.name.slice("stripe:".length)),
  );

  it("money movement is a financial write of high or critical risk", () => {
    expect(money.length).toBeGreaterThan(30);
    const off = money
      .filter(({ a }) => !(a.data.includes("financial") && a.kind === "write" && ["high", "critical"].includes(a.risk)))
      .map(({ a }) => `${a.name} ${a.kind} ${a.risk} ${a.data}`);
    expect(off).toEqual([]);
  });

  it("lists and searches of personal data across the account are bulk_pii", () => {
    for (const name of BULK_PII)
      expect(bundle.spec.actions[bundle.actionIndex.get(name) ?? -1]?.data).toContain("bulk_pii");
    const unlabelled = ACTIONS.filter(
      ({ a }) =>
        a.data.includes("pii") &&
        !a.data.includes("bulk_pii") &&
        a.params.length === 0 &&
        /\.(list|search)$/.test(a.name) &&
        !a.method.includes("DELETE"),
    ).map(({ a }) => a.name);
    expect(unlabelled).toEqual([]);
  });

  it.each(ACTIONS.map(({ a, i }) => [a.name, a, i] as const))("%s", (name, a, i) => {
    const want = [
      ...(a.data.includes("financial") && a.kind === "write" ? ["no-money-movement"] : []),
      ...(a.data.includes("bulk_pii") ? ["no-bulk-pii"] : []),
    ];
    expect(decided(a, i), name).toBe(want.length > 0 ? `deny ${want.join(",")}` : "allow");
    if (money.some((m) => m.i === i) || BULK_PII.includes(name)) expect(want.length, name).toBeGreaterThan(0);
  });

  it("one customer or one user is not a bulk read", () => {
    for (const name of ["stripe:customers.get", "slack:users.info", "stripe:charges.list"]) {
      const i = bundle.actionIndex.get(name) ?? -1;
      const a = bundle.spec.actions[i];
      expect(a && decided(a, i), name).toBe("allow");
    }
  });
});
