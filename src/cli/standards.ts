/**
 * `firebreak standards [--out FILE] [--check]`: docs/standards.md, generated from the same tables the
 * code uses (src/core/reason-standards.ts for the reason codes, and the lint rules' section below).
 * Without --out it prints the page; --check compares it with FILE (default docs/standards.md) and
 * exits 1 when the file is stale. Exit codes: 0 ok, 1 stale, 2 usage.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { STANDARDS_COMMAND, type StandardsRow, type StandardsSection, standardsMarkdown } from "../core/standards-doc";
import { LINT_RULES } from "../lint/rules";
import { BUNDLE_REFUSAL_STANDARDS } from "../policy/bundle-standards";
import { defaultIo, type Io } from "./io";

export const STANDARDS_USAGE = `firebreak standards [--out FILE] [--check]

  Prints docs/standards.md: each reason code and lint rule with its OWASP Agentic (ASI) id, CSA MAESTRO
  layer and NIST AI RMF functions. --out FILE writes it; --check compares it with FILE (default
  docs/standards.md) and exits 1 when that is stale.`;

export const STANDARDS_FILE = "docs/standards.md";

/** The lint rules' rows (src/lint/rules.ts), in the table's order. */
export function lintRows(): StandardsRow[] {
  return LINT_RULES.map((r) => ({ id: r.id, title: r.title, standards: r.standards }));
}

export function lintSection(): StandardsSection {
  return {
    heading: "Lint findings",
    noun: "lint rules",
    intro:
      "Each `firebreak lint` rule maps to the risk its finding concerns, the same way: a finding in a policy is the standing version of a refusal at run time.",
    rows: lintRows(),
  };
}

/** The refusals of a bundle pushed to KV (docs/bundles.md), which keep the last good bundle in force. */
export function bundleSection(): StandardsSection {
  return {
    heading: "Bundle refusals",
    noun: "bundle refusals",
    intro:
      "A bundle pushed to KV that the worker does not put in force (docs/bundles.md): no call is refused for it, the last good bundle stays, and health names the code. The policy bundle is the gateway's own supply chain.",
    rows: Object.entries(BUNDLE_REFUSAL_STANDARDS).map(([id, r]) => ({ id, title: r.title, standards: r.standards })),
  };
}

/** The page as the repository holds it: the reason codes, then the lint rules, then the bundle refusals. */
export function standardsPage(): string {
  return standardsMarkdown([lintSection(), bundleSection()]);
}

export function standardsCommand(args: string[], io: Io = defaultIo()): number {
  const usage = (problem: string) => {
    io.err(`firebreak standards: ${problem}\n\n${STANDARDS_USAGE}\n`);
    return 2;
  };
  let values: { out?: string; check?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { out: { type: "string" }, check: { type: "boolean" }, help: { type: "boolean" } },
    }));
  } catch (e) {
    return usage((e as Error).message.split("\n")[0] ?? "bad arguments");
  }
  if (values.help) {
    io.out(`${STANDARDS_USAGE}\n`);
    return 0;
  }
  const page = standardsPage();
  if (values.check) {
    const file = values.out ?? STANDARDS_FILE;
    let held = "";
    try {
      held = readFileSync(resolve(io.root, file), "utf8");
    } catch {
      // a missing file is stale
    }
    if (held === page) return 0;
    io.err(`firebreak standards: ${file} is stale: run ${STANDARDS_COMMAND}\n`);
    return 1;
  }
  if (values.out === undefined) {
    io.out(page);
    return 0;
  }
  writeFileSync(resolve(io.root, values.out), page);
  io.err(`wrote ${values.out}\n`);
  return 0;
}
