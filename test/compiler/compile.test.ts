/**
 * The compiler on the real example policies (policies/), the bundle it builds (dev overlay, revision,
 * counts, rule index, aliases), the published schemas, and the `firebreak` CLI end to end.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, importJWK, jwtVerify } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { compilePolicies } from "../../src/compiler/compile";
import { SCHEMAS } from "../../src/compiler/schema";
import { taskKeys } from "../../src/identity/task-token";
import { loadBundle } from "../../src/policy/load";
import type { Bundle } from "../../src/policy/types";

const REPO = join(import.meta.dirname, "..", "..");
const POLICIES = join(REPO, "policies");
const CLI = join(REPO, "bin", "firebreak.mjs");
const DEV_ISSUER = "https://dev-issuer.firebreak.local";

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A fresh temporary directory holding a copy of policies/ (as `<tmp>/policies`). */
function copyPolicies(): string {
  const dir = mkdtempSync(join(tmpdir(), "firebreak-compile-"));
  temps.push(dir);
  cpSync(POLICIES, join(dir, "policies"), { recursive: true });
  return dir;
}

function compileOk(dir: string, dev = false): Bundle {
  const result = compilePolicies(dir, { dev });
  if (!result.ok) throw new Error(result.problems.format());
  return result.bundle;
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, "utf8");
  expect(text, `${file} should contain ${from}`).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

const prod = compileOk(POLICIES);
const dev = compileOk(POLICIES, true);
const actionIndex = (b: Bundle, name: string) => {
  const i = b.actions.findIndex((a) => a.name === name);
  expect(i, name).toBeGreaterThanOrEqual(0);
  return i;
};
const ruleIndex = (b: Bundle, id: string) => {
  const i = b.rules.findIndex((r) => r.id === id);
  expect(i, id).toBeGreaterThanOrEqual(0);
  return i;
};
/** The rules indexed for the action named `name`, over all the selectors that select it. */
const bucketOf = (b: Bundle, name: string) => {
  const ids = b.index[actionIndex(b, name)];
  if (!ids) throw new Error(`the index has no entry for ${name}`);
  return mergedBucket(b, ids);
};
/** Buckets as one: each subject's rules, and the rules for anyone, ascending. */
function mergedBucket(b: Bundle, ids: number[]) {
  const by_sub: Record<string, number[]> = {};
  const any: number[] = [];
  for (const id of ids) {
    const bucket = b.buckets[id];
    if (!bucket) throw new Error(`the index names bucket ${id} of ${b.buckets.length}`);
    for (const [sub, rules] of Object.entries(bucket.by_sub)) by_sub[sub] = [...(by_sub[sub] ?? []), ...rules];
    any.push(...bucket.any);
  }
  const sorted = (xs: number[]) => [...new Set(xs)].sort((x, y) => x - y);
  for (const sub of Object.keys(by_sub)) by_sub[sub] = sorted(by_sub[sub] ?? []);
  return { by_sub, any: sorted(any) };
}

describe("compiling policies/", () => {
  it("without --dev: no dev issuer, https upstreams, manifest.dev false", () => {
    expect(prod.manifest.dev).toBe(false);
    expect(prod.issuers.map((i) => i.name).sort()).toEqual(["github-actions", "people", "workloads"]);
    expect(prod.issuers.map((i) => i.kind)).toEqual(["workload", "workload", "person"]);
    for (const issuer of prod.issuers) {
      expect(issuer.issuer).not.toBe(DEV_ISSUER);
      expect(issuer.jwks).not.toEqual({ var: "DEV_ISSUER_JWKS" });
    }
    expect(JSON.stringify(prod)).not.toContain("dev-issuer.firebreak.local");
    for (const svc of Object.values(prod.services)) expect(svc.upstream).toMatch(/^https:\/\/[a-z]/);
  });

  it("approvers: people approve (rule approvers, settings.approvers), normalised like agents", () => {
    const merge = prod.rules[ruleIndex(prod, "release-merge-needs-approval")];
    expect(merge?.approvers).toEqual({ issuer: ["people"], claims: { groups: ["release-managers"] } });
    expect(prod.settings.approvers).toEqual({ issuer: ["people"], claims: { groups: ["firebreak-approvers"] } });
    expect(prod.rules.filter((r) => r.effect !== "approve").every((r) => r.approvers === null)).toBe(true);
    // The dev overlay's people issuer replaces the production one by name, with the dev key.
    expect(dev.issuers.find((i) => i.name === "people")).toMatchObject({
      kind: "person",
      issuer: "https://dev-people.firebreak.local",
      jwks: { var: "DEV_ISSUER_JWKS" },
    });
  });

  it("with --dev: the workloads issuer is the dev issuer, upstreams are local, manifest.dev true", () => {
    expect(dev.manifest.dev).toBe(true);
    const workloads = dev.issuers.filter((i) => i.name === "workloads");
    expect(workloads).toHaveLength(1);
    expect(workloads[0]).toMatchObject({ issuer: DEV_ISSUER, jwks: { var: "DEV_ISSUER_JWKS" } });
    // Other issuers are untouched.
    expect(dev.issuers.find((i) => i.name === "github-actions")).toEqual(
      prod.issuers.find((i) => i.name === "github-actions"),
    );
    for (const [name, svc] of Object.entries(dev.services)) {
      expect(svc.upstream).toBe(`http://127.0.0.1:8788/${name}`);
    }
    expect(dev.manifest.revision).not.toBe(prod.manifest.revision);
  });

  it("the revision is a deterministic sha256 and does not depend on where policies/ lives", () => {
    expect(prod.manifest.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(compileOk(POLICIES).manifest.revision).toBe(prod.manifest.revision);
    expect(compileOk(join(copyPolicies(), "policies")).manifest.revision).toBe(prod.manifest.revision);
    expect(() => loadBundle(JSON.parse(JSON.stringify(prod)))).not.toThrow();
  });

  it("the revision changes when a rule changes", () => {
    const dir = join(copyPolicies(), "policies");
    edit(join(dir, "rules", "triage-bot.yaml"), '"C0TRIAGE01"', '"C0TRIAGE02"');
    const changed = compileOk(dir);
    expect(changed.manifest.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(changed.manifest.revision).not.toBe(prod.manifest.revision);
  });

  it("counts match the bundle and the sources", () => {
    const c = prod.manifest.counts;
    expect(c).toEqual({
      issuers: prod.issuers.length,
      services: Object.keys(prod.services).length,
      actions: prod.actions.length,
      rules: prod.rules.length,
      profiles: prod.profiles.length,
    });
    const sources = (sub: string) =>
      ["github", "slack", "stripe", "gmail", "drive", "calendar", "jira", "notion", "linear", "crm"].map((s) =>
        parse(readFileSync(join(POLICIES, sub, `${s}.yaml`), "utf8")),
      );
    const actions = sources("services").reduce((n, svc) => n + Object.keys(svc.actions).length, 0);
    const rules = ["guardrails", "release-bot", "support-bot", "triage-bot"]
      .concat(["workspace-guardrails", "inbox-assistant", "jira-triage", "docs-digest", "crm-assistant"])
      .map((f) => parse(readFileSync(join(POLICIES, "rules", `${f}.yaml`), "utf8")).rules.length)
      .reduce((a, b) => a + b, 0);
    const profiles = ["release", "support", "triage", "inbox", "jira-triage", "docs-digest", "crm-followup"]
      .map((f) => parse(readFileSync(join(POLICIES, "profiles", `${f}.yaml`), "utf8")).profiles.length)
      .reduce((a, b) => a + b, 0);
    expect(c).toEqual({ issuers: 3, services: 10, actions, rules, profiles });
    expect(prod.index).toHaveLength(prod.actions.length);
    expect(dev.manifest.counts).toEqual(c);
  });

  it("a rule naming subjects is indexed under each subject for every action it selects", () => {
    const r = ruleIndex(prod, "triage-read-repos");
    for (const name of ["github:issues.get", "github:pulls.files.list", "github:repos.get"]) {
      const bucket = bucketOf(prod, name);
      expect(bucket.by_sub["triage-bot"]).toContain(r);
      expect(bucket.any).not.toContain(r);
    }
    // ... and nowhere else.
    const selected = prod.index.flatMap((ids, a) =>
      Object.values(mergedBucket(prod, ids).by_sub).flat().includes(r) ? [a] : [],
    );
    expect(selected).toHaveLength(9);
    for (const b of prod.buckets) {
      for (const [sub, rules] of Object.entries(b.by_sub)) {
        for (const i of rules) expect(prod.rules[i]?.agents?.sub).toContain(sub);
      }
    }
  });

  it("a rule without subjects is indexed under `any`", () => {
    const r = ruleIndex(prod, "no-admin-changes");
    expect(prod.rules[r]?.agents).toBeNull();
    for (const name of ["github:hooks.create", "github:repos.delete", "github:repos.transfer"]) {
      const bucket = bucketOf(prod, name);
      expect(bucket.any).toContain(r);
      expect(Object.values(bucket.by_sub).flat()).not.toContain(r);
    }
    for (const b of prod.buckets) {
      for (const i of b.any) {
        expect(prod.rules[i], String(i)).toBeDefined();
        expect(prod.rules[i]?.agents?.sub).toBeUndefined();
      }
      expect(b.any).toEqual([...b.any].sort((x, y) => x - y));
    }
  });

  it("selecting github:pulls.merge also selects its aliases", () => {
    const r = ruleIndex(prod, "release-merge-needs-approval");
    const aliases = [
      "github:pulls.merge",
      "github:repos.merge",
      "github:repos.merge_upstream",
      "github:git.refs.update",
      "github:contents.put",
      "github:contents.delete",
    ];
    for (const name of aliases) {
      expect(bucketOf(prod, name).by_sub["release-bot"], name).toContain(r);
    }
    for (const name of ["github:pulls.get", "github:pulls.update_branch", "github:git.refs.create"]) {
      expect(bucketOf(prod, name).by_sub["release-bot"] ?? [], name).not.toContain(r);
    }
  });

  it("aliases are followed transitively", () => {
    const dir = join(copyPolicies(), "policies");
    const svc = join(dir, "services", "github.yaml");
    // repos.merge is an alias of pulls.merge; make an alias of that alias (github.yaml is generated:
    // edited as YAML, whatever layout the importer writes).
    const catalog = parse(readFileSync(svc, "utf8"));
    expect(catalog.actions["repos.dispatch"].same_effect_as).toEqual(["actions.workflows.dispatch"]);
    catalog.actions["repos.dispatch"].same_effect_as = ["repos.merge"];
    writeFileSync(svc, stringify(catalog));
    const b = compileOk(dir);
    const r = ruleIndex(b, "release-merge-needs-approval");
    expect(bucketOf(b, "github:repos.dispatch").by_sub["release-bot"]).toContain(r);
  });

  it("policies/schema/*.json are up to date with src/compiler/schema.ts", () => {
    for (const [file, schema] of Object.entries(SCHEMAS)) {
      const published = JSON.parse(readFileSync(join(POLICIES, "schema", file), "utf8"));
      expect(published, `${file}: run \`npx firebreak schema\``).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });
});

/** Runs the CLI as a user would: `node bin/firebreak.mjs ...` in `cwd`. */
function cli(args: string[], cwd = REPO) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, FIREBREAK_DEV: "" },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

describe("the firebreak CLI", () => {
  it("compile on a broken set exits 1, prints file:line and writes nothing", () => {
    const out = join(copyPolicies(), "bundle.json");
    const broken = join(REPO, "test", "fixtures", "broken", "three-mistakes");
    const r = cli(["compile", "--policies", broken, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("three-mistakes/services/svc.yaml:2: upstream");
    expect(r.stderr).toContain("three-mistakes/rules/rules.yaml:6: CEL: Unknown variable: agnet");
    expect(r.stderr).toContain("3 problem(s); nothing was written.");
    expect(existsSync(out)).toBe(false);
  });

  it("compile writes the bundle", () => {
    const dir = copyPolicies();
    const r = cli(["compile", "--out", "out/bundle.json"], dir);
    expect(r.code, r.all).toBe(0);
    const bundle = JSON.parse(readFileSync(join(dir, "out", "bundle.json"), "utf8"));
    expect(bundle.manifest.revision).toBe(prod.manifest.revision);
  });

  it("test exits 0 on policies/", () => {
    const r = cli(["test"]);
    expect(r.code, r.all).toBe(0);
    expect(r.stderr).toMatch(/policy tests: [1-9]\d* passed, 0 failed/);
  });

  it("test exits 1 with a diff when an expectation is changed", () => {
    const dir = copyPolicies();
    const tests = join(dir, "policies", "tests", "triage-bot.yaml");
    edit(
      tests,
      'expect: { decision: deny, reason: policy.no_match, action: "github:pulls.merge" }',
      'expect: { decision: allow, reason: policy.no_match, action: "github:pulls.merge" }',
    );
    const r = cli(["test"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAIL policies/tests/triage-bot.yaml:");
    expect(r.stderr).toContain("cannot merge a pull request");
    expect(r.stderr).toContain('- decision: "allow"');
    expect(r.stderr).toContain('+ decision: "deny"');
    expect(r.stderr).toMatch(/policy tests: \d+ passed, 1 failed/);
  });

  it("explain shows the action and the decision", () => {
    const r = cli([
      "explain",
      "--agent",
      "triage-bot",
      "--issuer",
      "workloads",
      "PUT",
      "/github/repos/acme/api/pulls/1/merge",
    ]);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/^action\s+github:pulls\.merge \(kind write, risk high/m);
    expect(r.stdout).toMatch(/^resource\s+repo:acme\/api$/m);
    expect(r.stdout).toMatch(/^decision\s+deny \(policy\.no_match\)/m);
  });

  it("token mints a dev JWT and creates the dev key and .dev.vars in the working directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "firebreak-token-"));
    temps.push(dir);
    const r = cli(["token", "--agent", "x"], dir);
    expect(r.code, r.all).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: DEV_ISSUER, sub: "x", aud: "firebreak-dev" });
    expect(existsSync(join(dir, ".dev", "issuer-key.json"))).toBe(true);
    const vars = readFileSync(join(dir, ".dev.vars"), "utf8");
    expect(vars).toMatch(/^DEV_ISSUER_JWKS='\{"keys":\[/m);
    // The token verifies with the public key the dev issuer publishes in .dev.vars.
    const jwks = JSON.parse(/^DEV_ISSUER_JWKS='(.*)'$/m.exec(vars)?.[1] ?? "{}");
    const key = await importJWK(jwks.keys[0], "ES256");
    await expect(jwtVerify(token, key, { issuer: DEV_ISSUER, audience: "firebreak-dev" })).resolves.toBeTruthy();
    // The issuer's private key never lands in .dev.vars (the task key does: it is the local FIREBREAK_TASK_KEY).
    const issuerKey = JSON.parse(readFileSync(join(dir, ".dev", "issuer-key.json"), "utf8"));
    expect(vars).not.toContain(issuerKey.private.d);
    expect(/^DEV_ISSUER_JWKS='(.*)'$/m.exec(vars)?.[1]).not.toContain('"d":');
  });

  it("dev-keys writes a stable dev task key to .dev/ and FIREBREAK_TASK_KEY to .dev.vars", async () => {
    const dir = mkdtempSync(join(tmpdir(), "firebreak-devkeys-"));
    temps.push(dir);
    const first = cli(["dev-keys"], dir);
    expect(first.code, first.all).toBe(0);
    const stored = JSON.parse(readFileSync(join(dir, ".dev", "task-key.json"), "utf8"));
    const vars = readFileSync(join(dir, ".dev.vars"), "utf8");
    const bound = /^FIREBREAK_TASK_KEY='(.*)'$/m.exec(vars)?.[1] ?? "";
    expect(JSON.parse(bound)).toEqual(stored);
    const keys = await taskKeys({ FIREBREAK_TASK_KEY: bound });
    expect(keys.ok && keys.keys.current.kid).toBe(stored.kid);
    // Running it again keeps the key.
    expect(cli(["dev-keys"], dir).code).toBe(0);
    expect(readFileSync(join(dir, ".dev.vars"), "utf8")).toBe(vars);
  });

  it("task-key prints a fresh private Ed25519 JWK with a kid on stdout, the how-to on stderr", async () => {
    const a = cli(["task-key"]);
    const b = cli(["task-key"]);
    expect(a.code, a.all).toBe(0);
    const jwk = JSON.parse(a.stdout);
    expect(a.stdout.trim().split("\n")).toHaveLength(1);
    expect(jwk).toMatchObject({
      kty: "OKP",
      crv: "Ed25519",
      alg: "EdDSA",
      kid: expect.any(String),
      d: expect.any(String),
    });
    expect(JSON.parse(b.stdout).d).not.toBe(jwk.d);
    expect(a.stderr).toContain("wrangler secret put FIREBREAK_TASK_KEY");
    expect((await taskKeys({ FIREBREAK_TASK_KEY: a.stdout.trim() })).ok).toBe(true);
  });
});
