/** `firebreak lint` from the command line: --help, formats, --out, exit codes with and without --strict, and `build`'s warnings. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main";
import { captureConsole } from "../helpers/console";

const { out, err } = captureConsole({ stdout: true });

const FIXTURES = "test/fixtures/lint";
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "firebreak-lint-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const lint = (...args: string[]) => main(["lint", ...args]);

describe("firebreak lint", () => {
  it("--help prints its usage and exits 0", async () => {
    expect(await lint("--help")).toBe(0);
    expect(out.join("\n")).toMatch(
      /^firebreak lint +\[--policies DIR\] \[--dev\] \[--strict\] \[--format text\|json\|sarif\]/,
    );
  });

  it("the shipped policies pass --strict, with and without the dev overlay", async () => {
    expect(await lint("--strict")).toBe(0);
    expect(await lint("--strict", "--dev")).toBe(0);
    expect(out.join("")).toContain("lint: 0 error(s), 0 warning(s), 0 note(s)");
  });

  it("an error fails; its line is file:line: severity rule-id: message. Fix: ..., the path from the repository root", async () => {
    expect(await lint("--policies", `${FIXTURES}/allow-any-agent`)).toBe(1);
    expect(out.join("")).toMatch(
      /^test\/fixtures\/lint\/allow-any-agent\/rules\/rules\.yaml:6: error allow-any-agent: rule anyone-reads allows any verified agent \(it names no agents\)\. Fix: add agents:/,
    );
  });

  it("a warning fails only with --strict; an accepted error fails neither", async () => {
    expect(await lint("--policies", `${FIXTURES}/report-mode-rule`)).toBe(0);
    expect(await lint("--policies", `${FIXTURES}/report-mode-rule`, "--strict")).toBe(1);
    expect(await lint("--policies", `${FIXTURES}/accepted`, "--strict")).toBe(0);
  });

  it("--format sarif --out writes a SARIF log whose locations are relative to the repository root", async () => {
    const file = join(dir, "lint.sarif");
    expect(await lint("--policies", `${FIXTURES}/report-mode-rule`, "--format", "sarif", "--out", file)).toBe(0);
    const log = JSON.parse(readFileSync(file, "utf8"));
    expect(log.version).toBe("2.1.0");
    expect(log.runs[0].results[0].locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: "test/fixtures/lint/report-mode-rule/rules/rules.yaml" },
      region: { startLine: 8 },
    });
    expect(err.join("\n")).toContain(`lint: 0 error(s), 1 warning(s), 0 accepted -> ${file}`);
  });

  it("--format json prints the findings", async () => {
    expect(await lint("--policies", `${FIXTURES}/unused-rule`, "--format", "json")).toBe(0);
    const json = JSON.parse(out.join(""));
    expect(json.findings.map((f: { rule: string; line: number }) => [f.rule, f.line])).toEqual([["unused-rule", 6]]);
  });

  it("an unknown format is usage (2); policies that do not compile are 1", async () => {
    expect(await lint("--format", "xml")).toBe(2);
    expect(err[0]).toContain("lint --format must be one of text, json, sarif");
    expect(await lint("--policies", `${FIXTURES}/accept-without-reason`)).toBe(1);
    expect(err.join("\n")).toContain('"rules.0.accept.0" is missing "reason"');
  });
});

describe("firebreak build", () => {
  it("prints lint findings as warnings and still writes the bundle", async () => {
    const bundle = join(dir, "bundle.json");
    expect(await main(["build", "--policies", `${FIXTURES}/allow-any-agent`, "--out", bundle])).toBe(0);
    expect(err.join("\n")).toContain(
      "test/fixtures/lint/allow-any-agent/rules/rules.yaml:6: lint error allow-any-agent: rule anyone-reads allows any verified agent",
    );
    expect(err.join("\n")).toContain("lint: 1 finding(s) (the build goes on");
    expect(JSON.parse(readFileSync(bundle, "utf8")).manifest.counts.rules).toBe(2);
  });
});
