/**
 * `firebreak lint`: compile, then lint (src/lint/), in text, JSON or SARIF 2.1.0. Exit 1 on an
 * unaccepted error (with --strict, on an unaccepted warning too) or when the policies do not compile.
 * `firebreak build` prints the unaccepted findings as warnings and never fails on them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { COMPILER_VERSION, compilePolicies } from "../compiler/compile";
import type { LintSources } from "../compiler/lint-sources";
import { formatFindings, type LintFormat } from "../lint/format";
import { countsOf, type Finding, fails, lintBundle } from "../lint/lint";
import type { Bundle } from "../policy/types";

const FORMATS: readonly LintFormat[] = ["text", "json", "sarif"];

export interface LintOptions {
  policies: string;
  dev: boolean;
  strict: boolean;
  format?: string;
  out?: string;
}

export function lintCommand(o: LintOptions, usage: (problem: string) => number): number {
  const format = (o.format ?? "text") as LintFormat;
  if (!FORMATS.includes(format)) return usage(`lint --format must be one of ${FORMATS.join(", ")}`);
  const result = compilePolicies(resolve(o.policies), { dev: o.dev });
  if (!result.ok) {
    console.error(result.problems.format());
    console.error(`\n${result.problems.list.length} problem(s): fix them, then lint.`);
    return 1;
  }
  const findings = lintFindings(result.bundle, result.sources, o.policies);
  const text = formatFindings(findings, format, COMPILER_VERSION);
  if (o.out) {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, `${text}\n`);
    const c = countsOf(findings);
    console.error(`lint: ${c.error} error(s), ${c.warning} warning(s), ${c.accepted} accepted -> ${o.out}`);
  } else process.stdout.write(`${text}\n`);
  return fails(findings, o.strict) ? 1 : 0;
}

/** The findings, their files relative to the working directory (the repository root, for SARIF). */
export function lintFindings(bundle: Bundle, sources: LintSources, policies: string): Finding[] {
  const base = dirname(resolve(policies));
  const local = (file: string) => relative(process.cwd(), join(base, file)) || file;
  const relocate = (where: string) => {
    const at = where.lastIndexOf(":");
    return `${local(where.slice(0, at))}${where.slice(at)}`;
  };
  return lintBundle(bundle, sources).map((f) => ({
    ...f,
    file: local(f.file),
    accepted: f.accepted ? { ...f.accepted, where: relocate(f.accepted.where) } : null,
  }));
}

/** For `firebreak build`: the unaccepted findings on stderr, as warnings; never a failure. */
export function printLintWarnings(bundle: Bundle, sources: LintSources, policies: string): void {
  const open = lintFindings(bundle, sources, policies).filter((f) => f.accepted === null);
  if (open.length === 0) return;
  for (const f of open) console.error(`${f.file}:${f.line}: lint ${f.severity} ${f.rule}: ${f.message}. Fix: ${f.fix}`);
  console.error(`lint: ${open.length} finding(s) (the build goes on; \`firebreak lint --strict\` fails on them)`);
}
