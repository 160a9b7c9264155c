/**
 * decide(): precedence (deny > approve > allow > default deny), report mode, condition errors, agent
 * matching, and the rule index buckets. Bundles are compiled from small policy sets written to a
 * temporary directory (JSON is YAML), so the index and conditions are the compiler's own.
 */
import { describe, expect, it } from "vitest";
import type { RuleData } from "../../src/compiler/compile";
import { type Agent, agentMatches, type DecisionInput, decide } from "../../src/policy/evaluate";
import type { LoadedBundle } from "../../src/policy/load";
import { CI_ISSUER, compileSet, STAFF_ISSUER } from "../helpers/policy-set";

const CONFIG = {
  secrets: ["API_TOKEN"],
  issuers: [
    CI_ISSUER,
    STAFF_ISSUER,
    {
      name: "k8s",
      issuer: "https://k8s.example.com",
      audience: ["fb"],
      algorithms: ["ES256"],
      jwks_uri: "https://k8s.example.com/jwks",
    },
  ],
};
const SERVICE = {
  service: "svc",
  upstream: "https://api.example.com",
  credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
  actions: {
    "items.get": { method: "GET", path: "/items/{id}", kind: "read", risk: "low", resource: "item:{id}" },
    "items.update": {
      method: "PATCH",
      path: "/items/{id}",
      kind: "write",
      risk: "medium",
      resource: "item:{id}",
      args: { count: "integer" },
    },
    "items.purge": { method: "DELETE", path: "/items", kind: "delete", risk: "critical", forbidden: "never purge" },
  },
};

function bundleOf(rules: RuleData[], mode: "enforce" | "report" = "enforce"): LoadedBundle {
  return compileSet({
    "firebreak.yaml": { settings: { mode }, ...CONFIG },
    "services/svc.yaml": SERVICE,
    "rules/rules.yaml": { rules },
  });
}

const BOT: Agent = {
  issuer: "ci",
  iss: "https://ci.example.com",
  sub: "bot",
  claims: { team: "infra", groups: ["dev", "ops"] },
};

function input(b: LoadedBundle, action: string, over: Partial<DecisionInput> = {}): DecisionInput {
  const index = b.actionIndex.get(`svc:${action}`);
  if (index === undefined) throw new Error(action);
  return {
    agent: BOT,
    action: index,
    resource: "item:1",
    request: { method: "GET", path: "/items/1", params: { id: "1" }, query: {}, args: {}, headers: {} },
    task: {},
    now: new Date("2025-01-01T12:00:00Z"),
    ...over,
  };
}

const allow = (id: string, extra: Partial<RuleData> = {}): RuleData => ({
  id,
  effect: "allow",
  actions: ["svc:items.*"],
  ...extra,
});
const deny = (id: string, extra: Partial<RuleData> = {}): RuleData => ({
  id,
  effect: "deny",
  actions: ["svc:items.*"],
  ...extra,
});
const approve = (id: string, extra: Partial<RuleData> = {}): RuleData => ({
  id,
  effect: "approve",
  actions: ["svc:items.*"],
  approvers: { issuer: ["staff"] },
  ...extra,
});

describe("decide: precedence", () => {
  it("denies by default", () => {
    const b = bundleOf([allow("other", { actions: ["svc:items.update"] })]);
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "deny",
      reason: "policy.no_match",
      rules: [],
      message: null,
      report: null,
    });
  });

  it("allows with a matching allow rule", () => {
    const b = bundleOf([allow("a")]);
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "allow",
      reason: "policy.allowed",
      rules: ["a"],
      message: null,
      report: null,
    });
  });

  it("deny beats allow, with the deny rule's message", () => {
    const b = bundleOf([allow("a"), deny("d", { message: "no items" })]);
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "deny",
      reason: "policy.denied",
      rules: ["d"],
      message: "no items",
      report: null,
    });
  });

  it("approve beats allow", () => {
    const b = bundleOf([allow("a"), approve("p")]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({
      effect: "approval_required",
      reason: "approval.required",
      rules: ["p"],
    });
  });

  it("deny beats approve", () => {
    const b = bundleOf([approve("p"), deny("d"), allow("a")]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({ effect: "deny", reason: "policy.denied", rules: ["d"] });
  });

  it("lists every rule of the winning effect", () => {
    const b = bundleOf([deny("d1"), allow("a"), deny("d2", { message: "second" })]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({ effect: "deny", rules: ["d1", "d2"], message: "second" });
  });

  it("a forbidden action is denied whatever the rules say", () => {
    const b = bundleOf([allow("a", { actions: ["*"] })]);
    expect(decide(b, input(b, "items.purge"))).toEqual({
      effect: "deny",
      reason: "action.forbidden",
      rules: [],
      message: "never purge",
      report: null,
    });
  });

  it("a rule applies only to the actions it selects", () => {
    const b = bundleOf([allow("a", { actions: ["svc:items.get"] }), deny("d", { actions: ["kind:write"] })]);
    expect(decide(b, input(b, "items.get")).effect).toBe("allow");
    expect(decide(b, input(b, "items.update"))).toMatchObject({ effect: "deny", rules: ["d"] });
  });
});

describe("decide: report mode", () => {
  it("a report-mode deny does not block an allow; it is returned as the report", () => {
    const b = bundleOf([allow("a"), deny("d", { mode: "report", message: "would stop" })]);
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "allow",
      reason: "policy.allowed",
      rules: ["a"],
      message: null,
      report: { effect: "deny", reason: "policy.denied", rules: ["d"], message: "would stop" },
    });
  });

  it("a report-mode approve is reported as approval_required", () => {
    const b = bundleOf([allow("a"), approve("p", { mode: "report" })]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({
      effect: "allow",
      report: { effect: "approval_required", reason: "approval.required", rules: ["p"] },
    });
  });

  it("report deny is reported over report approve", () => {
    const b = bundleOf([allow("a"), approve("p", { mode: "report" }), deny("d", { mode: "report" })]);
    expect(decide(b, input(b, "items.get")).report).toMatchObject({ effect: "deny", rules: ["d"] });
  });

  it("an enforce deny wins over everything and carries no report", () => {
    const b = bundleOf([allow("a"), deny("r", { mode: "report" }), deny("d")]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({ effect: "deny", rules: ["d"], report: null });
  });

  it("in an enforce bundle, a report-only deny without an allow is still the default deny", () => {
    const b = bundleOf([deny("r", { mode: "report" })]);
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "deny",
      reason: "policy.no_match",
      rules: [],
      message: null,
      report: null,
    });
  });

  it("a report bundle allows what default deny would refuse, reporting policy.no_match", () => {
    const b = bundleOf([], "report");
    expect(decide(b, input(b, "items.get"))).toEqual({
      effect: "allow",
      reason: "policy.allowed",
      rules: [],
      message: null,
      report: { effect: "deny", reason: "policy.no_match", rules: [], message: null },
    });
  });

  it("in a report bundle rules default to report mode; mode: enforce still blocks", () => {
    const b = bundleOf([deny("d"), deny("hard", { mode: "enforce", actions: ["svc:items.update"] })], "report");
    expect(decide(b, input(b, "items.get"))).toMatchObject({
      effect: "allow",
      report: { effect: "deny", reason: "policy.denied", rules: ["d"] },
    });
    expect(decide(b, input(b, "items.update"))).toMatchObject({
      effect: "deny",
      reason: "policy.denied",
      rules: ["hard"],
      report: null,
    });
  });

  it("a forbidden action is denied even in a report bundle", () => {
    const b = bundleOf([], "report");
    expect(decide(b, input(b, "items.purge"))).toMatchObject({ effect: "deny", reason: "action.forbidden" });
  });
});

describe("decide: conditions", () => {
  const cond = "request.args.count > 5";
  const withCount = (b: LoadedBundle, args: Record<string, unknown>) =>
    input(b, "items.update", {
      request: { method: "PATCH", path: "/items/1", params: { id: "1" }, query: {}, args, headers: {} },
    });

  it("a true condition matches, a false one does not", () => {
    const b = bundleOf([allow("a", { when: cond })]);
    expect(decide(b, withCount(b, { count: 6 })).effect).toBe("allow");
    expect(decide(b, withCount(b, { count: 5 }))).toMatchObject({ effect: "deny", reason: "policy.no_match" });
  });

  it("an allow rule whose condition fails to evaluate does not match (an error never widens access)", () => {
    const b = bundleOf([allow("a", { when: cond })]);
    expect(decide(b, withCount(b, {}))).toMatchObject({ effect: "deny", reason: "policy.no_match", rules: [] });
    expect(decide(b, withCount(b, { count: "many" }))).toMatchObject({ effect: "deny", reason: "policy.no_match" });
  });

  it("a deny rule whose condition fails to evaluate matches, with policy.condition_error", () => {
    const b = bundleOf([allow("a"), deny("d", { when: cond, message: "too many" })]);
    expect(decide(b, withCount(b, {}))).toEqual({
      effect: "deny",
      reason: "policy.condition_error",
      rules: ["d"],
      message: "too many",
      report: null,
    });
    expect(decide(b, withCount(b, { count: 1 })).effect).toBe("allow");
    expect(decide(b, withCount(b, { count: 9 }))).toMatchObject({ effect: "deny", reason: "policy.denied" });
  });

  it("an approve rule whose condition fails to evaluate matches", () => {
    const b = bundleOf([allow("a"), approve("p", { when: cond })]);
    expect(decide(b, withCount(b, {}))).toMatchObject({
      effect: "approval_required",
      reason: "policy.condition_error",
      rules: ["p"],
    });
  });

  it("a report-mode deny with an error is reported as condition_error", () => {
    const b = bundleOf([allow("a"), deny("d", { when: cond, mode: "report" })]);
    expect(decide(b, withCount(b, {}))).toMatchObject({
      effect: "allow",
      report: { effect: "deny", reason: "policy.condition_error" },
    });
  });

  it("conditions see agent, action, resource and now", () => {
    const b = bundleOf([
      allow("a", {
        when: 'agent.sub == "bot" && agent.issuer == "ci" && agent.claims.team == "infra" && action.kind == "read" && action.name == "svc:items.get" && "dev" in agent.claims.groups && resource == "item:1" && now.getFullYear("UTC") == 2025',
      }),
    ]);
    expect(decide(b, input(b, "items.get")).effect).toBe("allow");
    expect(decide(b, input(b, "items.get", { resource: "item:2" })).effect).toBe("deny");
  });
});

describe("decide: agents", () => {
  it("matches by issuer name", () => {
    const b = bundleOf([allow("a", { agents: { issuer: ["k8s"] } })]);
    expect(decide(b, input(b, "items.get")).effect).toBe("deny");
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, issuer: "k8s" } })).effect).toBe("allow");
  });

  it("matches by subject", () => {
    const b = bundleOf([allow("a", { agents: { sub: ["bot", "other"] } })]);
    expect(decide(b, input(b, "items.get")).effect).toBe("allow");
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub: "other" } })).effect).toBe("allow");
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub: "bot2" } })).effect).toBe("deny");
  });

  it("matches by claims, string or array valued; every listed claim must match", () => {
    const b = bundleOf([allow("a", { agents: { claims: { team: "infra", groups: ["ops", "sre"] } } })]);
    expect(decide(b, input(b, "items.get")).effect).toBe("allow");
    const claims = (c: Record<string, unknown>) => input(b, "items.get", { agent: { ...BOT, claims: c } });
    expect(decide(b, claims({ team: "infra", groups: "sre" })).effect).toBe("allow");
    expect(decide(b, claims({ team: "infra", groups: ["dev"] })).effect).toBe("deny");
    expect(decide(b, claims({ team: "infra" })).effect).toBe("deny");
    expect(decide(b, claims({ team: ["infra"], groups: ["ops"] })).effect).toBe("allow");
    expect(decide(b, claims({ team: "web", groups: ["ops"] })).effect).toBe("deny");
  });

  it("claim values must be strings", () => {
    const b = bundleOf([allow("a", { agents: { claims: { level: "1" } } })]);
    const claims = (c: Record<string, unknown>) => input(b, "items.get", { agent: { ...BOT, claims: c } });
    expect(decide(b, claims({ level: "1" })).effect).toBe("allow");
    expect(decide(b, claims({ level: 1 })).effect).toBe("deny");
    expect(decide(b, claims({ level: [1] })).effect).toBe("deny");
    expect(decide(b, claims({ level: { "1": true } })).effect).toBe("deny");
  });

  it("agentMatches: null matches anyone; prototype keys are not claims", () => {
    expect(agentMatches(null, BOT)).toBe(true);
    expect(agentMatches({ claims: { constructor: ["function Object() { [native code] }"] } }, BOT)).toBe(false);
    expect(agentMatches({ claims: { toString: ["x"] } }, { ...BOT, claims: {} })).toBe(false);
    expect(agentMatches({ issuer: ["ci"], sub: ["bot"], claims: { team: ["infra"] } }, BOT)).toBe(true);
    expect(agentMatches({ issuer: [], sub: ["bot"] }, BOT)).toBe(false);
  });
});

describe("decide: the rule index", () => {
  it("consults both the subject's rules and the rules for anyone", () => {
    const b = bundleOf([allow("mine", { agents: { sub: ["bot"] } }), deny("everyone")]);
    const i = b.actionIndex.get("svc:items.get") as number;
    expect(b.spec.index[i]).toEqual([0]);
    expect(b.spec.buckets).toEqual([{ selector: "svc:items.*", by_sub: { bot: [0] }, by_claim: {}, any: [1] }]);
    expect(decide(b, input(b, "items.get"))).toMatchObject({ effect: "deny", rules: ["everyone"] });
  });

  it("stores a selector once and lists, per action, the selectors that select it", () => {
    const b = bundleOf([
      allow("a", { actions: ["svc:items.get", "kind:read"] }),
      deny("b", { actions: ["kind:read"], when: "false" }),
      allow("c", { actions: ["svc:items.update"] }),
    ]);
    expect(b.spec.buckets.map((k) => [k.selector, k.any])).toEqual([
      ["svc:items.get", [0]],
      ["kind:read", [0, 1]],
      ["svc:items.update", [2]],
    ]);
    expect(b.spec.index[b.actionIndex.get("svc:items.get") as number]).toEqual([0, 1]);
    expect(b.spec.index[b.actionIndex.get("svc:items.update") as number]).toEqual([2]);
    // A rule reached through two of its selectors is evaluated, and reported, once.
    expect(decide(b, input(b, "items.get")).rules).toEqual(["a"]);
  });

  it("finds a rule selecting by claim through the agent's claim value, and only then", () => {
    const b = bundleOf([
      allow("infra", { agents: { claims: { team: ["infra"] } } }),
      allow("data", { agents: { claims: { team: ["data"] } } }),
      allow("ops-infra", { agents: { claims: { team: ["infra"], groups: ["ops"] } } }),
      allow("anyone"),
    ]);
    const i = b.actionIndex.get("svc:items.get") as number;
    const bucket = b.spec.buckets[b.spec.index[i]![0]!]!;
    // Under the first claim in sorted order (groups before team), once per allowed value.
    expect(bucket.by_claim).toEqual({ team: { infra: [0], data: [1] }, groups: { ops: [2] } });
    expect(bucket.any).toEqual([3]);
    const as = (claims: Record<string, unknown>) => decide(b, input(b, "items.get", { agent: { ...BOT, claims } }));
    expect(as({ team: "infra", groups: ["dev", "ops"] }).rules).toEqual(["infra", "ops-infra", "anyone"]);
    expect(as({ team: ["data", "infra"] }).rules).toEqual(["infra", "data", "anyone"]);
    expect(as({ team: "data", groups: "ops" }).rules).toEqual(["data", "anyone"]);
    expect(as({ team: 7, groups: { ops: true } }).rules).toEqual(["anyone"]);
    expect(as({}).rules).toEqual(["anyone"]);
  });

  it.each(["__proto__", "constructor", "toString"])("a claim value %s does not reach the prototype", (value) => {
    const b = bundleOf([allow("infra", { agents: { claims: { team: ["infra"] } } })]);
    const agent = { ...BOT, claims: { team: value } };
    expect(decide(b, input(b, "items.get", { agent }))).toMatchObject({ effect: "deny", reason: "policy.no_match" });
    const odd = bundleOf([allow("odd", { agents: { claims: { team: [value] } } })]);
    expect(decide(odd, input(odd, "items.get", { agent })).rules).toEqual(["odd"]);
  });

  it("collects allows from both buckets, subject rules first", () => {
    const b = bundleOf([
      allow("any-1"),
      allow("mine", { agents: { sub: ["bot"] } }),
      allow("theirs", { agents: { sub: ["other"] } }),
    ]);
    expect(decide(b, input(b, "items.get")).rules).toEqual(["mine", "any-1"]);
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub: "other" } })).rules).toEqual(["theirs", "any-1"]);
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub: "nobody" } })).rules).toEqual(["any-1"]);
  });

  it("a subject listed twice is indexed (and reported) once", () => {
    const b = bundleOf([allow("mine", { agents: { sub: ["bot", "bot"] } })]);
    expect(decide(b, input(b, "items.get")).rules).toEqual(["mine"]);
  });

  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])(
    "subject %s does not reach the prototype",
    (sub) => {
      const b = bundleOf([allow("mine", { agents: { sub: ["bot"] } })]);
      expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub } }))).toMatchObject({
        effect: "deny",
        reason: "policy.no_match",
      });
    },
  );

  it("a subject named __proto__ can be given rules", () => {
    const b = bundleOf([allow("odd", { agents: { sub: ["__proto__"] } })]);
    expect(decide(b, input(b, "items.get", { agent: { ...BOT, sub: "__proto__" } })).rules).toEqual(["odd"]);
    expect(decide(b, input(b, "items.get")).effect).toBe("deny");
  });
});

describe("decide: a bundle whose positions do not resolve", () => {
  const invalid = { effect: "deny", reason: "bundle.invalid", rules: [], report: null };

  it("refuses an action index past the catalog", () => {
    const b = bundleOf([allow("all")]);
    expect(decide(b, input(b, "items.get", { action: b.spec.actions.length }))).toMatchObject(invalid);
  });

  it("refuses an action without its index entry", () => {
    const b = bundleOf([allow("all")]);
    const i = b.actionIndex.get("svc:items.get") as number;
    const spec = { ...b.spec, index: b.spec.index.slice(0, i) };
    expect(decide({ ...b, spec }, input(b, "items.get"))).toMatchObject(invalid);
  });

  it("refuses an action whose index names a bucket that does not exist", () => {
    const b = bundleOf([allow("all")]);
    const i = b.actionIndex.get("svc:items.get") as number;
    const index = b.spec.index.map((ids, a) => (a === i ? [...ids, b.spec.buckets.length] : ids));
    expect(decide({ ...b, spec: { ...b.spec, index } }, input(b, "items.get"))).toMatchObject(invalid);
  });

  it("refuses, even in a report bundle, when a bucket names a rule that does not exist", () => {
    const b = bundleOf([allow("all")], "report");
    const buckets = b.spec.buckets.map((bucket) => ({ ...bucket, any: [...bucket.any, 7] }));
    expect(decide({ ...b, spec: { ...b.spec, buckets } }, input(b, "items.get"))).toMatchObject(invalid);
  });
});
