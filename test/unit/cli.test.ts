/** The firebreak CLI's front door: --help everywhere, one line for bad input, and the dev build that never hangs npm start. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main";
import { captureConsole } from "../helpers/console";

const { out, err } = captureConsole();

const ROOT = join(import.meta.dirname, "..", "..");

afterEach(() => {
  delete process.env.FIREBREAK_DEV;
});

describe("--help", () => {
  it.each(["compile", "test", "build", "explain", "token", "dev-keys", "task-key", "schema"])(
    "firebreak %s --help prints its usage and exits 0, doing nothing else",
    async (command) => {
      expect(await main([command, "--help"])).toBe(0);
      expect(out.join("\n")).toMatch(new RegExp(`^firebreak ${command}\\b`));
      expect(err).toEqual([]);
    },
  );

  it("firebreak --help and help print every command; no command is usage (2)", async () => {
    expect(await main(["--help"])).toBe(0);
    expect(await main(["help"])).toBe(0);
    for (const c of ["compile", "catalog", "decisions", "replay"]) expect(out.join("\n")).toContain(`  ${c} `);
    expect(await main([])).toBe(2);
  });
});

describe("bad input is one line, never a stack trace", () => {
  it.each([
    [["compile", "--bogus"], /^firebreak compile: Unknown option '--bogus'/],
    [["token", "--agent", "a", "--claims", "{not json"], /^firebreak token: .*JSON/],
    [["frobnicate"], /^firebreak: unknown command "frobnicate"/],
  ])("%j", async (argv, first) => {
    expect(await main(argv)).toBe(2);
    expect(err[0]).toMatch(first);
    expect(err.join("\n")).not.toMatch(/\n\s+at /);
  });
});

describe("a dev build that fails keeps serving the last good bundle", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "firebreak-cli-"));
    cpSync(join(ROOT, "policies"), join(dir, "policies"), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 without touching the bundle, names the problem and what is served; a deploy build still fails", async () => {
    const bundle = join(dir, "bundle.json");
    const policies = join(dir, "policies");
    expect(await main(["build", "--policies", policies, "--out", bundle, "--dev"])).toBe(0);
    const good = readFileSync(bundle, "utf8");
    const rules = join(policies, "rules", "triage-bot.yaml");
    writeFileSync(rules, readFileSync(rules, "utf8").replace(/when: '/, "when: 'nonsense( && "));
    err.length = 0;
    expect(await main(["build", "--policies", policies, "--out", bundle, "--dev"])).toBe(0);
    expect(readFileSync(bundle, "utf8")).toBe(good);
    expect(err.join("\n")).toMatch(/triage-bot\.yaml:\d+/);
    const revision = JSON.parse(good).manifest.revision.slice(0, 12);
    // One line: the first problem's file:line, and what is served.
    expect(err.at(-1)).toMatch(
      new RegExp(
        `^firebreak: policies/rules/triage-bot\\.yaml:\\d+: CEL: .*; the gateway keeps serving bundle ${revision} until the next good edit$`,
      ),
    );
    expect(await main(["build", "--policies", policies, "--out", bundle])).toBe(1);
  });
});
