/**
 * Task profiles on the good path: the example profiles in policies/profiles/, selectors resolved to
 * exact action names, defaults, counts and the revision, the bare_workload_tokens setting and the
 * published schema. The refusals (file:line and message) are in broken.test.ts.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { profilesSchema, SCHEMAS } from "../../src/compiler/schema";
import { loadBundle } from "../../src/policy/load";
import { candidateRules } from "../../src/policy/rule-index";
import type { Bundle, ProfileSpec } from "../../src/policy/types";
import { CI_ISSUER, writePolicySet } from "../helpers/policy-set";

const REPO = join(import.meta.dirname, "..", "..");
const POLICIES = join(REPO, "policies");

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function compileOk(dir: string): Bundle {
  const result = compilePolicies(dir);
  if (!result.ok) throw new Error(result.problems.format());
  return result.bundle;
}

const prod = compileOk(POLICIES);
const profile = (b: Bundle, name: string): ProfileSpec => {
  const p = b.profiles.find((x) => x.name === name);
  if (!p) throw new Error(`no profile ${name}`);
  return p;
};

/** A minimal set: one service with a read, a write, a numeric argument and an alias. */
const SVC = {
  service: "svc",
  upstream: "https://api.example.com",
  credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
  actions: {
    "items.get": {
      method: "GET",
      path: "/items/{id}",
      kind: "read",
      risk: "low",
      data: ["pii"],
      resource: "item:{id}",
    },
    "items.list": { method: "GET", path: "/items", kind: "read", risk: "low" },
    "items.update": {
      method: "PATCH",
      path: "/items/{id}",
      kind: "write",
      risk: "medium",
      resource: "item:{id}",
      args: { amount: "integer" },
    },
    "items.put": {
      method: "PUT",
      path: "/items/{id}",
      kind: "write",
      risk: "medium",
      resource: "item:{id}",
      same_effect_as: ["items.update"],
    },
  },
};
const CONFIG = { secrets: ["API_TOKEN"], issuers: [CI_ISSUER] };

function compileProfiles(profiles: unknown[], config: Record<string, unknown> = CONFIG): Bundle {
  return compileOk(
    writePolicySet({ "firebreak.yaml": config, "services/svc.yaml": SVC, "profiles/p.yaml": { profiles } }),
  );
}

describe("the example profiles (policies/profiles/)", () => {
  it("compile, one per file, in file order", () => {
    expect(prod.profiles.map((p) => p.name)).toEqual([
      "crm-followup",
      "docs-digest",
      "inbox",
      "jira-triage",
      "release",
      "support",
      "triage",
    ]);
    for (const p of prod.profiles) {
      expect(p.source).toMatch(new RegExp(`^policies/profiles/${p.name}\\.yaml:\\d+$`));
      expect(p.max_lifetime_s).toBeGreaterThanOrEqual(p.ttl_s);
    }
  });

  it("triage: triage-bot, its rules' tools, globs resolved to sorted names", () => {
    const p = profile(prod, "triage");
    expect(p.agents).toEqual({ issuer: ["workloads"], sub: ["triage-bot"] });
    expect(p.ttl_s).toBe(600);
    expect(p.actions).toEqual([...p.actions].sort());
    // github:issues.labels.* resolved to every labels action.
    expect(p.actions).toEqual(
      expect.arrayContaining(["github:issues.labels.add", "github:issues.labels.list", "github:issues.labels.remove"]),
    );
    expect(p.actions.some((a) => a.startsWith("stripe:"))).toBe(false);
    expect(p.actions).not.toContain("github:pulls.merge");
    expect(p.budgets.per_action["github:issues.comments.create"]).toBe(20);
    expect(p.sequence.correlate[0]).toEqual({
      action: "github:issues.comments.create",
      read_by: ["github:issues.get", "github:issues.list"],
    });
  });

  it("release: merging without its aliases, one merge, announce only after publishing", () => {
    const p = profile(prod, "release");
    expect(p.agents?.sub).toEqual(["release-bot"]);
    expect(p.actions).toContain("github:pulls.merge");
    for (const alias of ["github:repos.merge", "github:contents.put", "github:git.refs.update"])
      expect(p.actions).not.toContain(alias);
    expect(p.budgets.per_action["github:pulls.merge"]).toBe(1);
    expect(p.sequence.requires).toContainEqual({ action: "github:pulls.merge", after: ["github:pulls.get"] });
  });

  it("support: a 50,000-cent refund total and the toxic-flow rule", () => {
    const p = profile(prod, "support");
    expect(p.budgets.totals).toEqual([{ action: "stripe:refunds.create", arg: "amount", max: 50000 }]);
    expect(p.sequence.forbid_after).toEqual([
      { read: ["data:pii"], deny: ["kind:write", "kind:delete"], allow_services: ["slack", "stripe"] },
    ]);
    expect(p.actions).toContain("github:issues.create");
  });

  it("every action a profile can call is selected by a rule for its agent", () => {
    for (const p of prod.profiles) {
      const sub = p.agents?.sub?.[0] as string;
      for (const name of p.actions) {
        const i = prod.actions.findIndex((a) => a.name === name);
        const agent = { issuer: p.agents?.issuer?.[0] ?? "", iss: "", sub, claims: {} };
        const [rules] = candidateRules(prod, i, agent) ?? [[]];
        expect(
          rules.some((r) => prod.rules[r] !== undefined && prod.rules[r].effect !== "deny"),
          `${p.name}: ${name} is never allowed for ${sub}`,
        ).toBe(true);
      }
    }
  });

  it("every action named in budgets and sequence rules is in the profile's actions", () => {
    for (const p of prod.profiles) {
      const named = [
        ...Object.keys(p.budgets.per_action),
        ...p.budgets.totals.map((t) => t.action),
        ...p.sequence.requires.flatMap((r) => [r.action, ...r.after]),
        ...p.sequence.correlate.flatMap((c) => [c.action, ...c.read_by]),
      ];
      for (const n of named) expect(p.actions, `${p.name}: ${n}`).toContain(n);
    }
  });
});

describe("compiling profiles", () => {
  it("defaults: ttl 600, max_lifetime 3600, no budgets, no sequence rules, any agent", () => {
    const b = compileProfiles([{ name: "p", actions: ["svc:items.get"] }]);
    expect(b.profiles).toEqual([
      {
        name: "p",
        agents: null,
        ttl_s: 600,
        max_lifetime_s: 3600,
        actions: ["svc:items.get"],
        budgets: { calls: null, per_action: {}, per_label: {}, services: null, windows: [], totals: [] },
        sequence: { requires: [], forbid_after: [], correlate: [] },
        effects: {},
        approvals: { ttl_s: 900, risk: null, approvers: null },
        source: expect.stringMatching(/profiles\/p\.yaml:1$/),
      },
    ]);
  });

  it("label and glob selectors resolve to the sorted qualified names; aliases are not added", () => {
    const b = compileProfiles([
      { name: "reads", actions: ["kind:read"] },
      { name: "glob", actions: ["svc:items.u*"] },
      { name: "all", actions: ["*"] },
    ]);
    expect(profile(b, "reads").actions).toEqual(["svc:items.get", "svc:items.list"]);
    // items.put has same_effect_as items.update: a rule would select it, a profile does not.
    expect(profile(b, "glob").actions).toEqual(["svc:items.update"]);
    expect(profile(b, "all").actions).toEqual(["svc:items.get", "svc:items.list", "svc:items.put", "svc:items.update"]);
  });

  it("an alias limited like its target is accepted", () => {
    const b = compileProfiles([
      {
        name: "p",
        actions: ["svc:items.*"],
        budgets: { per_action: { "svc:items.update": 1, "svc:items.put": 1 } },
      },
    ]);
    expect(profile(b, "p").budgets.per_action).toEqual({ "svc:items.update": 1, "svc:items.put": 1 });
  });

  it("carries agents, budgets and sequence rules as written", () => {
    const b = compileProfiles([
      {
        name: "p",
        agents: { issuer: ["ci"], sub: ["bot"], claims: { team: "ops" } },
        ttl: 60,
        max_lifetime: 120,
        actions: ["svc:items.get", "svc:items.update"],
        budgets: {
          calls: 5,
          per_action: { "svc:items.update": 2 },
          per_label: { "kind:write": 2, "data:pii": 3 },
          services: 1,
          windows: [{ calls: 2, seconds: 1 }],
          totals: [{ action: "svc:items.update", arg: "amount", max: 10.5 }],
        },
        sequence: {
          requires: [{ action: "svc:items.update", after: ["svc:items.get"] }],
          forbid_after: [{ read: ["data:pii"], deny: ["kind:write"] }],
          correlate: [{ action: "svc:items.update", read_by: ["svc:items.get"] }],
        },
      },
    ]);
    const p = profile(b, "p");
    expect(p.agents).toEqual({ issuer: ["ci"], sub: ["bot"], claims: { team: ["ops"] } });
    expect([p.ttl_s, p.max_lifetime_s]).toEqual([60, 120]);
    expect(p.budgets).toEqual({
      calls: 5,
      per_action: { "svc:items.update": 2 },
      per_label: { "kind:write": 2, "data:pii": 3 },
      services: 1,
      windows: [{ calls: 2, seconds: 1 }],
      totals: [{ action: "svc:items.update", arg: "amount", max: 10.5 }],
    });
    expect(p.sequence.forbid_after).toEqual([{ read: ["data:pii"], deny: ["kind:write"], allow_services: [] }]);
  });

  it("totals may name a GraphQL argument path (input.amount) the action declares, and no other", () => {
    const sdl = `type Query { tip(id: ID!): Tip }
type Mutation { sendTip(input: SendTipInput!): Tip }
type Tip { id: ID! }
input SendTipInput { amount: Int! note: String }`;
    const pay = {
      service: "pay",
      upstream: "https://pay.example.com",
      credential: { secret: "API_TOKEN", header: "Authorization", format: "Bearer {secret}" },
      graphql: { path: "/graphql", schema: "pay.graphql" },
      actions: {
        "graphql.sendTip": {
          method: "POST",
          path: "/graphql",
          graphql: "mutation.sendTip",
          kind: "write",
          risk: "medium",
          args: { "input.amount": "integer", "input.note": "string" },
        },
      },
    };
    const set = (arg: string) =>
      compilePolicies(
        writePolicySet({
          "firebreak.yaml": CONFIG,
          "services/pay.yaml": pay,
          "services/pay.graphql": sdl,
          "profiles/p.yaml": {
            profiles: [
              {
                name: "p",
                actions: ["pay:graphql.sendTip"],
                budgets: { totals: [{ action: "pay:graphql.sendTip", arg, max: 100 }] },
              },
            ],
          },
        }),
      );
    const ok = set("input.amount");
    if (!ok.ok) throw new Error(ok.problems.format());
    expect(profile(ok.bundle, "p").budgets.totals).toEqual([
      { action: "pay:graphql.sendTip", arg: "input.amount", max: 100 },
    ]);
    const undeclared = set("input.cents");
    expect(undeclared.ok).toBe(false);
    if (!undeclared.ok)
      expect(undeclared.problems.list.map((p) => p.message)).toEqual([
        expect.stringContaining(
          'pay:graphql.sendTip declares no argument "input.cents" (it declares input.amount, input.note)',
        ),
      ]);
    const notNumeric = set("input.note");
    expect(!notNumeric.ok && notNumeric.problems.list[0]?.message).toMatch(/"input.note" is declared string/);
    // A path is dotted names: an empty segment is refused by the schema before any lookup.
    const malformed = set("input..amount");
    expect(!malformed.ok && malformed.problems.list[0]?.where).toMatch(/profiles\/p\.yaml:\d+$/);
  });

  it("a policy set without policies/profiles/ has no profiles", () => {
    const b = compileOk(writePolicySet({ "firebreak.yaml": CONFIG, "services/svc.yaml": SVC }));
    expect(b.profiles).toEqual([]);
    expect(b.manifest.counts.profiles).toBe(0);
  });

  it("the same profile name in two files is refused", () => {
    const dir = writePolicySet({
      "firebreak.yaml": CONFIG,
      "services/svc.yaml": SVC,
      "profiles/a.yaml": { profiles: [{ name: "p", actions: ["svc:items.get"] }] },
      "profiles/b.yaml": { profiles: [{ name: "p", actions: ["svc:items.list"] }] },
    });
    const result = compilePolicies(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems.list).toHaveLength(1);
      expect(result.problems.list[0]?.where).toMatch(/profiles\/b\.yaml:1$/);
      expect(result.problems.list[0]?.message).toMatch(/profile name "p" is used twice \(also .*profiles\/a\.yaml:1\)/);
    }
  });
});

describe("profiles in the bundle", () => {
  it("manifest counts profiles and loadBundle checks the count", () => {
    expect(prod.manifest.counts.profiles).toBe(prod.profiles.length);
    expect(() => loadBundle(JSON.parse(JSON.stringify(prod)))).not.toThrow();
    const fewer = JSON.parse(JSON.stringify(prod)) as Bundle;
    fewer.profiles.pop();
    expect(() => loadBundle(fewer)).toThrow("bundle counts do not match its manifest");
    const missing = JSON.parse(JSON.stringify(prod)) as Partial<Bundle>;
    delete missing.profiles;
    expect(() => loadBundle(missing)).toThrow("bundle counts do not match its manifest");
  });

  it("the revision changes when a budget changes", () => {
    const dir = mkdtempSync(join(tmpdir(), "firebreak-profiles-"));
    temps.push(dir);
    cpSync(POLICIES, join(dir, "policies"), { recursive: true });
    const file = join(dir, "policies", "profiles", "release.yaml");
    const text = readFileSync(file, "utf8");
    expect(text).toContain("github:pulls.merge: 1");
    expect(compileOk(join(dir, "policies")).manifest.revision).toBe(prod.manifest.revision);
    writeFileSync(file, text.replace("github:pulls.merge: 1", "github:pulls.merge: 2"));
    const changed = compileOk(join(dir, "policies"));
    expect(changed.manifest.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(changed.manifest.revision).not.toBe(prod.manifest.revision);
    expect(profile(changed, "release").budgets.per_action["github:pulls.merge"]).toBe(2);
  });
});

describe("settings.bare_workload_tokens", () => {
  it("defaults to false, in the example policies and when omitted", () => {
    expect(prod.settings.bare_workload_tokens).toBe(false);
    expect(compileProfiles([]).settings.bare_workload_tokens).toBe(false);
  });

  it("is compiled when set, and must be a boolean", () => {
    const on = compileProfiles([], { ...CONFIG, settings: { bare_workload_tokens: true } });
    expect(on.settings.bare_workload_tokens).toBe(true);
    const dir = writePolicySet({
      "firebreak.yaml": { ...CONFIG, settings: { bare_workload_tokens: "yes" } },
      "services/svc.yaml": SVC,
    });
    const result = compilePolicies(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.format()).toContain('"settings.bare_workload_tokens" must be boolean');
  });
});

describe("settings.agent_limits and settings.admins", () => {
  it("agent_limits default to 10 live tasks and 60 starts per hour; admins to nobody", () => {
    const b = compileProfiles([]);
    expect(b.settings.agent_limits).toEqual({ live_tasks: 10, starts_per_hour: 60 });
    expect(b.settings.admins).toBeNull();
  });

  it("are compiled when set; admins must name declared issuers", () => {
    const issuer = CI_ISSUER.name;
    const set = compileProfiles([], {
      ...CONFIG,
      settings: {
        agent_limits: { live_tasks: 2, starts_per_hour: 5 },
        admins: { issuer: [issuer], claims: { team: "ops" } },
      },
    });
    expect(set.settings.agent_limits).toEqual({ live_tasks: 2, starts_per_hour: 5 });
    expect(set.settings.admins).toEqual({ issuer: [issuer], claims: { team: ["ops"] } });
    const dir = writePolicySet({
      "firebreak.yaml": { ...CONFIG, settings: { admins: { issuer: ["nobody"] } } },
      "services/svc.yaml": SVC,
    });
    const result = compilePolicies(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.format()).toContain('unknown issuer "nobody"');
  });
});

describe("the profiles schema", () => {
  it("is published as policies/schema/profiles.schema.json, up to date", () => {
    expect(SCHEMAS["profiles.schema.json"]).toBe(profilesSchema);
    const published = JSON.parse(readFileSync(join(POLICIES, "schema", "profiles.schema.json"), "utf8"));
    expect(published, "run `npx firebreak schema`").toEqual(JSON.parse(JSON.stringify(profilesSchema)));
  });

  it("the example profiles name it for editors", () => {
    for (const name of ["release", "support", "triage"]) {
      const text = readFileSync(join(POLICIES, "profiles", `${name}.yaml`), "utf8");
      expect(text.split("\n")[0]).toBe("# yaml-language-server: $schema=../schema/profiles.schema.json");
    }
  });
});

describe("a profile's scope", () => {
  const SCOPE_OK = join(REPO, "test", "fixtures", "broken", "scope-ok");

  it("the example profiles that call GitHub scope it to acme's repositories; the others set none", () => {
    const acme = { github: { repositories: ["acme/*"] } };
    for (const p of prod.profiles) {
      if (p.actions.some((a) => a.startsWith("github:"))) expect(p.scope, p.name).toEqual(acme);
      else expect(p, p.name).not.toHaveProperty("scope");
    }
    expect(prod.profiles.filter((p) => p.scope).map((p) => p.name)).toEqual(["release", "support", "triage"]);
  });

  it("is compiled lower-case, unique and sorted, per service; a profile without one has none", () => {
    const b = compileOk(SCOPE_OK);
    expect(profile(b, "ops").scope).toEqual({ github: { repositories: ["acme/*", "acme/api"] } });
    expect(profile(b, "lookup")).not.toHaveProperty("scope");
  });

  it("the dev overlay's GitHub App compiles with the example profiles' scopes (npm start)", () => {
    const result = compilePolicies(POLICIES, { dev: true });
    if (!result.ok) throw new Error(result.problems.format());
    expect(result.bundle.services.github?.provider).toMatchObject({ provider: "github_app", account: "acme" });
    expect(profile(result.bundle, "triage").scope).toEqual({ github: { repositories: ["acme/*"] } });
  });

  it("is in the published schema: per service, repositories, bounded", () => {
    const scope = (profilesSchema.properties.profiles.items.properties as Record<string, unknown>).scope as {
      additionalProperties: { properties: { repositories: { minItems: number; maxItems: number } } };
    };
    expect(scope.additionalProperties.properties.repositories).toMatchObject({ minItems: 1, maxItems: 100 });
  });
});
