/**
 * Standards on every reason (src/core/reason-standards.ts): every reason code has one family, every
 * family a well-formed StandardsRef, allows and only allows-or-records carry no ASI id; and
 * docs/standards.md is exactly what `firebreak standards` generates, with room for the lint rules'
 * section (rows passed in).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STANDARDS_FILE, standardsCommand, standardsPage } from "../../src/cli/standards";
import { asiOf, FAMILIES, type FamilyId, REASON_FAMILY, standardsOf } from "../../src/core/reason-standards";
import { httpFor, REASONS, type Reason } from "../../src/core/reasons";
import { ASI, MAESTRO, NIST_FUNCTIONS } from "../../src/core/standards";
import { STANDARDS_COMMAND, standardsMarkdown } from "../../src/core/standards-doc";

const ROOT = join(import.meta.dirname, "..", "..");

// Compile-time: the map is a Record over every reason code, so one that lacks a code does not compile.
// @ts-expect-error: "policy.denied" and the others are missing
const _partial: Record<Reason, FamilyId> = { "policy.allowed": "allowed" };
// @ts-expect-error: not a reason code
const _extra: Record<Reason, FamilyId> = { ...REASON_FAMILY, "policy.maybe": "policy" };

function io(root: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { env: {}, root, out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) },
    out,
    err,
  };
}

describe("every reason code maps to the standards", () => {
  it("has a family for each code in REASONS, and none for anything else", () => {
    const missing = REASONS.filter((r) => !Object.hasOwn(REASON_FAMILY, r));
    expect(missing).toEqual([]);
    expect(Object.keys(REASON_FAMILY).filter((k) => !(REASONS as readonly string[]).includes(k))).toEqual([]);
    for (const r of REASONS) expect(Object.keys(FAMILIES), r).toContain(REASON_FAMILY[r]);
  });

  it("uses only ids of the vocabulary: ASI (or null), MAESTRO layers, NIST functions", () => {
    for (const r of REASONS) {
      const ref = standardsOf(r);
      if (ref.asi !== null) expect(Object.keys(ASI), r).toContain(ref.asi);
      expect(Object.keys(MAESTRO), r).toContain(ref.maestro);
      expect(ref.nist.length, r).toBeGreaterThan(0);
      for (const f of ref.nist) expect(NIST_FUNCTIONS, r).toContain(f);
    }
  });

  it("gives every family a title and a reason, and uses every family", () => {
    const used = new Set(Object.values(REASON_FAMILY));
    for (const [id, f] of Object.entries(FAMILIES)) {
      expect(f.title.length, id).toBeGreaterThan(0);
      expect(f.why.length, id).toBeGreaterThan(40);
      expect(used.has(id as FamilyId), `family ${id} has no code`).toBe(true);
    }
  });

  it("has no ASI id exactly for allows, upstream failures and reading the records", () => {
    const none = REASONS.filter((r) => asiOf(r) === "");
    expect(none.sort()).toEqual(
      [
        "approval.granted",
        "decisions.invalid_query",
        "decisions.query_failed",
        "decisions.unavailable",
        "policy.allowed",
        "upstream.timeout",
        "upstream.unreachable",
      ].sort(),
    );
    // Every code the gateway answers 200 "ok" for is an allow, and carries none.
    for (const r of REASONS.filter((x) => httpFor(x).error === "ok")) expect(asiOf(r), r).toBe("");
  });

  it("maps the families the issue names where it names them", () => {
    expect(asiOf("identity.bad_signature")).toBe("ASI03");
    expect(asiOf("credential.unscoped")).toBe("ASI03");
    expect(asiOf("route.encoded_slash")).toBe("ASI02");
    expect(asiOf("request.duplicate_key")).toBe("ASI02");
    expect(asiOf("sequence.forbidden_after")).toBe("ASI02");
    expect(asiOf("budget.exhausted")).toBe("ASI08");
    expect(asiOf("approval.mismatch")).toBe("ASI09");
    expect(asiOf("agent.revoked")).toBe("ASI10");
    expect(asiOf("task.revoked")).toBe("ASI10");
    expect(asiOf("mcp.response_invalid")).toBe("ASI04");
    expect(standardsOf("policy.allowed")).toEqual({ asi: null, maestro: "L5", nist: ["MEASURE"] });
  });
});

describe("docs/standards.md", () => {
  it(`is current (else run ${STANDARDS_COMMAND})`, () => {
    const held = readFileSync(join(ROOT, STANDARDS_FILE), "utf8");
    expect(held === standardsPage(), `docs/standards.md is stale: run ${STANDARDS_COMMAND}`).toBe(true);
  });

  it("lists every reason code once in its table, with its ASI id, and every ASI and MAESTRO title", () => {
    const page = standardsPage();
    for (const r of REASONS) {
      const row = page.split("\n").filter((l) => l.startsWith(`| \`${r}\` `));
      expect(row, r).toHaveLength(1);
      expect(row[0]!.split("|")[2]!.trim(), r).toBe(standardsOf(r).asi ?? "-");
    }
    for (const [id, title] of Object.entries(ASI)) expect(page).toContain(`| ${id} | ${title}`);
    for (const title of Object.values(MAESTRO)) expect(page).toContain(title);
    for (const f of Object.values(FAMILIES)) expect(page).toContain(f.why);
  });

  it("takes further tables as sections: their rows appear in the summary and in a table of their own", () => {
    const lint = {
      heading: "Lint findings",
      noun: "lint rules",
      intro: "The lint rules.",
      rows: [{ id: "rule.wildcard_allow", title: "An allow for every agent", standards: standardsOf("policy.denied") }],
    };
    const page = standardsMarkdown([lint]);
    expect(page).toContain("## Lint findings");
    expect(page).toContain("| `rule.wildcard_allow` | ASI02 | L6      | MANAGE      | An allow for every agent |");
    expect(page).toMatch(
      /\*\*ASI02 Tool Misuse and Exploitation\*\*: reason codes .*; lint rules `rule\.wildcard_allow`\./,
    );
    expect(page).toMatch(/\| ASI02 \| Tool Misuse and Exploitation +\| \d+ +\| 1 +\|/);
    expect(standardsMarkdown([{ ...lint, rows: [] }])).toContain("No lint rules yet.");
  });
});

describe("firebreak standards", () => {
  it("--check passes on the repository's file, fails with the command on a stale one, --out writes it", () => {
    const ok = io(ROOT);
    expect(standardsCommand(["--check"], ok.io)).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "firebreak-standards-"));
    try {
      writeFileSync(join(dir, "stale.md"), "# Standards\n");
      const stale = io(dir);
      expect(standardsCommand(["--check", "--out", "stale.md"], stale.io)).toBe(1);
      expect(stale.err.join("")).toContain(`stale.md is stale: run ${STANDARDS_COMMAND}`);
      expect(standardsCommand(["--out", "stale.md"], stale.io)).toBe(0);
      expect(readFileSync(join(dir, "stale.md"), "utf8")).toBe(standardsPage());
      const printed = io(dir);
      expect(standardsCommand([], printed.io)).toBe(0);
      expect(printed.out.join("")).toBe(standardsPage());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a bad flag is a usage error, exit 2", () => {
    const bad = io(ROOT);
    expect(standardsCommand(["--bogus"], bad.io)).toBe(2);
    expect(bad.err.join("")).toMatch(/^firebreak standards: Unknown option '--bogus'/);
  });
});
