/**
 * `firebreak lint` over test/fixtures/lint/<case>/: each case is the clean set plus one dangerous-but-
 * valid thing, and lints to exactly the findings listed here, each at its file:line. Then acceptances,
 * the shipped policies, and the SARIF log against the SARIF 2.1.0 schema.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { formatJson, formatText, sarifLog } from "../../src/lint/format";
import { type Finding, fails, lintBundle } from "../../src/lint/lint";
import { LINT_RULES } from "../../src/lint/rules";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "lint");
const ROOT = join(import.meta.dirname, "..", "..");

function lint(dir: string, dev = false): Finding[] {
  const result = compilePolicies(dir, { dev });
  if (!result.ok) throw new Error(result.problems.format());
  return lintBundle(result.bundle, result.sources);
}

const lintCase = (name: string) => lint(join(FIXTURES, name));
const brief = (f: Finding) => `${f.rule} ${f.file}:${f.line}`;

/** Case -> its findings, `rule file:line` (file relative to test/fixtures/lint/). */
const CASES: Record<string, string[]> = {
  "allow-any-agent": ["allow-any-agent allow-any-agent/rules/rules.yaml:6"],
  "allow-every-action": ["allow-every-action allow-every-action/rules/rules.yaml:9"],
  "service-wide-write-glob": ["service-wide-write-glob service-wide-write-glob/rules/rules.yaml:11"],
  "critical-without-approval": ["critical-without-approval critical-without-approval/rules/rules.yaml:6"],
  "profile-without-budget": ["profile-without-budget profile-without-budget/profiles/profiles.yaml:2"],
  "budget-above-cap": [
    "budget-above-cap budget-above-cap/profiles/profiles.yaml:6",
    "budget-above-cap budget-above-cap/profiles/profiles.yaml:13",
  ],
  "condition-always-true": ["condition-always-true condition-always-true/rules/rules.yaml:10"],
  "rule-shadowed": ["rule-shadowed rule-shadowed/rules/rules.yaml:6"],
  "rule-shadowed-by-approve": ["rule-shadowed rule-shadowed-by-approve/rules/rules.yaml:7"],
  "rule-unreachable": [
    "rule-unreachable rule-unreachable/rules/rules.yaml:10",
    "rule-unreachable rule-unreachable/rules/rules.yaml:11",
    "rule-unreachable rule-unreachable/rules/rules.yaml:16",
  ],
  "report-mode-rule": ["report-mode-rule report-mode-rule/rules/rules.yaml:8"],
  "ttl-above-cap": [
    "ttl-above-cap ttl-above-cap/profiles/profiles.yaml:4",
    "ttl-above-cap ttl-above-cap/profiles/profiles.yaml:5",
  ],
  "caps-configured": [
    "ttl-above-cap caps-configured/profiles/profiles.yaml:2",
    "budget-above-cap caps-configured/profiles/profiles.yaml:5",
  ],
  // github-actions, and a person issuer of Google; not the one that requires an owner (trailing slash and all).
  "issuer-public-unrestricted": [
    "issuer-public-unrestricted issuer-public-unrestricted/firebreak.yaml:19",
    "issuer-public-unrestricted issuer-public-unrestricted/firebreak.yaml:26",
  ],
  "unused-agent": ["unused-agent unused-agent/rules/rules.yaml:8"],
  "unused-profile": ["unused-profile unused-profile/profiles/profiles.yaml:6"],
  "unused-rule": ["unused-rule unused-rule/rules/rules.yaml:6"],
  "accept-unused": ["accept-unused accept-unused/rules/rules.yaml:7", "accept-unused accept-unused/rules/rules.yaml:8"],
};

describe("one fixture per lint rule", () => {
  it("the clean set lints clean", () => {
    expect(lintCase("clean")).toEqual([]);
  });

  it.each(Object.entries(CASES))("%s", (name, expected) => {
    const findings = lintCase(name);
    expect(findings.map(brief)).toEqual(expected);
    for (const f of findings) {
      expect(f.accepted).toBeNull();
      expect(f.fix).not.toBe("");
      expect(f.severity).toBe(LINT_RULES.find((r) => r.id === f.rule)?.severity);
    }
  });

  it("every lint rule has a fixture that finds it", () => {
    const found = new Set(Object.values(CASES).flatMap((list) => list.map((l) => l.split(" ")[0])));
    expect(LINT_RULES.map((r) => r.id).filter((id) => !found.has(id))).toEqual([]);
  });

  it("messages name the rule, profile or issuer and what makes it dangerous", () => {
    const [glob] = lintCase("service-wide-write-glob");
    expect(glob?.message).toMatch(/bot-whole-service allows "svc:\*": 4 write, delete or admin actions/);
    const [critical] = lintCase("critical-without-approval");
    expect(critical?.message).toContain("svc:items.payout in tasks of profile ops");
    const [shadowed] = lintCase("rule-shadowed");
    expect(shadowed?.message).toContain("no-updates denies all its actions");
  });
});

describe("the lint table", () => {
  it("ids are unique and stable in form; each rule has a title, a fix, a reason and standards", () => {
    const ids = LINT_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of LINT_RULES) {
      expect(r.id).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(r.title.length).toBeGreaterThan(10);
      expect(r.fix.length).toBeGreaterThan(10);
      expect(r.why.length).toBeGreaterThan(10);
      expect(r.standards.maestro).toMatch(/^L[1-7]$/);
      if (r.standards.asi !== null) expect(r.standards.asi).toMatch(/^ASI(0[1-9]|10)$/);
      expect(r.standards.nist.length).toBeGreaterThan(0);
    }
  });

  it("docs/lint.md has a section for every rule", () => {
    const doc = readFileSync(join(ROOT, "docs", "lint.md"), "utf8");
    for (const r of LINT_RULES) expect(doc).toContain(`### \`${r.id}\``);
  });
});

describe("accepting a finding in the policy file", () => {
  it("an accept: entry with a reason accepts the finding of its rule, which then fails nothing", () => {
    const findings = lintCase("accepted");
    expect(findings.map(brief)).toEqual(["allow-any-agent accepted/rules/rules.yaml:6"]);
    expect(findings[0]?.accepted).toEqual({
      reason: "items are public: any verified agent may read them",
      where: "accepted/rules/rules.yaml:10",
    });
    expect(fails(findings, true)).toBe(false);
    expect(fails(lintCase("allow-any-agent"), false)).toBe(true);
  });

  it("issuers and profiles accept their own findings", () => {
    const findings = lintCase("accepted-issuer-profile");
    expect(findings.map((f) => [brief(f), f.accepted?.where])).toEqual([
      [
        "issuer-public-unrestricted accepted-issuer-profile/firebreak.yaml:19",
        "accepted-issuer-profile/firebreak.yaml:24",
      ],
      [
        "profile-without-budget accepted-issuer-profile/profiles/profiles.yaml:2",
        "accepted-issuer-profile/profiles/profiles.yaml:6",
      ],
    ]);
    expect(fails(findings, true)).toBe(false);
  });

  it("an acceptance accepts only its own subject's finding", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "firebreak-lint-")), "policies");
    cpSync(join(FIXTURES, "accepted"), dir, { recursive: true });
    const rules = join(dir, "rules", "rules.yaml");
    writeFileSync(
      rules,
      `${readFileSync(rules, "utf8")}  - id: anyone-updates\n    effect: allow\n    actions: ["svc:items.update"]\n`,
    );
    const result = compilePolicies(dir);
    rmSync(dirname(dir), { recursive: true, force: true });
    if (!result.ok) throw new Error(result.problems.format());
    const findings = lintBundle(result.bundle, result.sources);
    expect(findings.map((f) => [f.subject.name, f.accepted !== null])).toEqual([
      ["anyone-reads", true],
      ["anyone-updates", false],
    ]);
  });

  it("an accept: entry without a reason does not compile", () => {
    const result = compilePolicies(join(FIXTURES, "accept-without-reason"));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.format()).toBe(
      'accept-without-reason/rules/rules.yaml:6: "rules.0.accept.0" is missing "reason": add it',
    );
  });

  it("a stale acceptance and one naming no lint rule are findings, and fail --strict", () => {
    const findings = lintCase("accept-unused");
    expect(findings.map((f) => f.message)).toEqual([
      "rule bot-works accepts allow-any-agent, but it has no such finding",
      'accept names "allow-anyone", which is no lint rule',
    ]);
    expect(fails(findings, false)).toBe(false);
    expect(fails(findings, true)).toBe(true);
  });

  it("acceptances never reach the bundle: accepting a finding leaves the revision as it was", () => {
    const revision = (withAccept: boolean) => {
      const dir = join(mkdtempSync(join(tmpdir(), "firebreak-lint-")), "policies");
      cpSync(join(FIXTURES, "accepted"), dir, { recursive: true });
      const rules = join(dir, "rules", "rules.yaml");
      const text = readFileSync(rules, "utf8");
      if (!withAccept) writeFileSync(rules, text.slice(0, text.indexOf("    accept:")));
      const result = compilePolicies(dir);
      rmSync(dirname(dir), { recursive: true, force: true });
      if (!result.ok) throw new Error(result.problems.format());
      expect(JSON.stringify(result.bundle)).not.toContain("items are public");
      return result.bundle.manifest.revision;
    };
    expect(revision(true)).toBe(revision(false));
  });
});

describe("what keeps a critical action behind a person", () => {
  /** The critical-without-approval case with `extra` appended to its rules or profile. */
  function lintWith(file: "rules/rules.yaml" | "profiles/profiles.yaml", extra: string, replace?: [string, string]) {
    const dir = join(mkdtempSync(join(tmpdir(), "firebreak-lint-")), "policies");
    cpSync(join(FIXTURES, "critical-without-approval"), dir, { recursive: true });
    const path = join(dir, file);
    let text = readFileSync(path, "utf8") + extra;
    if (replace) text = text.replace(replace[0], replace[1]);
    writeFileSync(path, text);
    const result = compilePolicies(dir);
    rmSync(dirname(dir), { recursive: true, force: true });
    if (!result.ok) throw new Error(result.problems.format());
    return lintBundle(result.bundle, result.sources).map((f) => f.rule);
  }

  it("an approve rule for the same agents (the allow, which then never decides, is shadowed instead)", () => {
    const approve =
      '  - id: payouts-need-a-person\n    effect: approve\n    agents: { issuer: [ci], sub: [bot] }\n    actions: ["svc:items.payout"]\n';
    expect(lintWith("rules/rules.yaml", approve)).toEqual(["rule-shadowed"]);
  });

  it("approvals.risk on the profile", () => {
    expect(lintWith("profiles/profiles.yaml", "    approvals: { risk: critical }\n")).toEqual([]);
  });

  it("a deny for everyone (the allow is then shadowed instead)", () => {
    const deny = '  - id: no-payouts\n    effect: deny\n    actions: ["svc:items.payout"]\n';
    expect(lintWith("rules/rules.yaml", deny)).toEqual(["rule-shadowed"]);
  });

  it("but not an approve rule with a condition: it may not match", () => {
    const approve =
      '  - id: some-payouts-need-a-person\n    effect: approve\n    agents: { issuer: [ci], sub: [bot] }\n    actions: ["svc:items.payout"]\n    when: \'resource == "x"\'\n';
    expect(lintWith("rules/rules.yaml", approve)).toEqual(["critical-without-approval"]);
  });
});

describe("the lint: block", () => {
  /** The clean set with `files` written over it, compiled. */
  function compileWith(files: Record<string, string>, dev = false) {
    const dir = join(mkdtempSync(join(tmpdir(), "firebreak-lint-")), "policies");
    cpSync(join(FIXTURES, "clean"), dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    }
    const result = compilePolicies(dir, { dev });
    rmSync(dirname(dir), { recursive: true, force: true });
    return result;
  }
  const config = readFileSync(join(FIXTURES, "clean", "firebreak.yaml"), "utf8");

  it("is schema-checked like the rest of firebreak.yaml", () => {
    const result = compileWith({ "firebreak.yaml": `${config}lint:\n  caps:\n    task_ttl: soon\n` });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.problems.format()).toBe('policies/firebreak.yaml:20: "lint.caps.task_ttl" must be integer');
  });

  it("is read from firebreak.yaml only: in the dev overlay it is a problem", () => {
    const result = compileWith({ "dev/dev.yaml": "lint:\n  caps: { calls: 10 }\n" }, true);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.problems.format()).toBe(
        "policies/dev/dev.yaml:1: lint is only read from policies/firebreak.yaml: move it there",
      );
  });

  it("public_issuers adds providers to the built-in list", () => {
    const result = compileWith({ "firebreak.yaml": `${config}lint:\n  public_issuers: [https://ci.example.com/]\n` });
    if (!result.ok) throw new Error(result.problems.format());
    expect(lintBundle(result.bundle, result.sources).map(brief)).toEqual([
      "issuer-public-unrestricted policies/firebreak.yaml:7",
    ]);
  });
});

describe("the shipped policies", () => {
  it.each([false, true])("lint clean, or carry their accepted findings with reasons (dev %s)", (dev) => {
    const findings = lint(join(ROOT, "policies"), dev);
    expect(findings.filter((f) => f.accepted === null).map(brief)).toEqual([]);
    for (const f of findings) expect(f.accepted?.reason.trim()).not.toBe("");
  });

  it("the github-actions issuer requires acme's repositories", () => {
    const result = compilePolicies(join(ROOT, "policies"));
    if (!result.ok) throw new Error(result.problems.format());
    const issuer = result.bundle.issuers.find((i) => i.name === "github-actions");
    expect(issuer?.require).toEqual({ repository_owner: ["acme"] });
  });
});

describe("output", () => {
  const findings = [...lintCase("rule-unreachable"), ...lintCase("accepted")];

  it("text: file:line: severity rule-id: message. Fix: ...", () => {
    const lines = formatText(findings).split("\n");
    expect(lines[0]).toBe(
      "rule-unreachable/rules/rules.yaml:10: warning rule-unreachable: rule never-true's condition is always false: 1 == 2. Fix: fix the condition, the actions or the claims, or remove the rule",
    );
    expect(lines.at(-1)).toBe("lint: 0 error(s), 3 warning(s), 0 note(s), 1 accepted");
  });

  it("JSON: a stable shape", () => {
    const json = JSON.parse(formatJson(findings));
    expect(json.version).toBe(1);
    expect(json.counts).toEqual({ error: 0, warning: 3, note: 0, accepted: 1 });
    expect(Object.keys(json.findings[0]).sort()).toEqual(
      ["accepted", "file", "fix", "line", "message", "rule", "severity", "subject"].sort(),
    );
  });

  it("SARIF is valid against the SARIF 2.1.0 schema, with rules, locations and in-source suppressions", () => {
    const schema = JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json"), "utf8"));
    const log = sarifLog(findings, "0.1.0") as {
      runs: { tool: { driver: { rules: { id: string }[] } }; results: Record<string, unknown>[] }[];
    };
    const verdict = new Validator(schema, "4", false).validate(log);
    expect(verdict.errors).toEqual([]);
    expect(verdict.valid).toBe(true);
    const [run] = log.runs;
    expect(run?.tool.driver.rules.map((r) => r.id)).toEqual(LINT_RULES.map((r) => r.id));
    expect(run?.results[0]).toMatchObject({
      ruleId: "rule-unreachable",
      level: "warning",
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: "rule-unreachable/rules/rules.yaml" },
            region: { startLine: 10 },
          },
        },
      ],
    });
    expect(run?.results.at(-1)).toMatchObject({
      ruleId: "allow-any-agent",
      level: "error",
      suppressions: [{ kind: "inSource", justification: "items are public: any verified agent may read them" }],
    });
  });

  it("the schema check has teeth: a result without a message is refused", () => {
    const schema = JSON.parse(readFileSync(join(ROOT, "test", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json"), "utf8"));
    const log = sarifLog(findings, "0.1.0") as { runs: { results: Record<string, unknown>[] }[] };
    delete log.runs[0]?.results[0]?.message;
    expect(new Validator(schema, "4", false).validate(log).valid).toBe(false);
  });
});
