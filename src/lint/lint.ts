/**
 * `firebreak lint`: (compiled bundle, where its parts are written, caps) -> findings. Pure: it reads
 * the bundle the compiler made and the side map of positions the compile returned (no YAML, no I/O).
 * Then each `accept:` entry accepts the findings of its rule on its own rule, profile or issuer; one
 * that accepts nothing is a finding itself (`accept-unused`).
 */
import type { Acceptance, EntitySource, LintSources } from "../compiler/lint-sources";
import type { Bundle } from "../policy/types";
import { checkRules } from "./check-rules";
import { checkIssuers, checkProfiles, checkUsage } from "./check-scope";
import { contextOf, type LintContext } from "./context";
import { type Finding, finding, type SubjectKind } from "./finding";
import { modelOf } from "./model";
import { LINT_RULE_BY_ID, type Severity } from "./rules";

export type { Finding } from "./finding";

export function lintBundle(bundle: Bundle, sources: LintSources): Finding[] {
  const ctx = contextOf(modelOf(bundle), sources);
  checkRules(ctx);
  checkProfiles(ctx);
  checkIssuers(ctx);
  checkUsage(ctx);
  applyAcceptances(ctx);
  return ctx.findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.rule.localeCompare(b.rule));
}

function applyAcceptances(ctx: LintContext): void {
  const stale: Finding[] = [];
  const kinds: [SubjectKind, Map<string, EntitySource>][] = [
    ["rule", ctx.sources.rules],
    ["profile", ctx.sources.profiles],
    ["issuer", ctx.sources.issuers],
  ];
  for (const [kind, map] of kinds)
    for (const [name, src] of map)
      for (const a of src.accept) {
        const matched = ctx.findings.filter(
          (f) => f.rule === a.lint && f.subject.kind === kind && f.subject.name === name && f.accepted === null,
        );
        for (const f of matched) f.accepted = { reason: a.reason, where: a.where };
        if (matched.length === 0) stale.push(staleAcceptance(a, { kind, name }));
      }
  ctx.findings.push(...stale);
}

function staleAcceptance(a: Acceptance, subject: Finding["subject"]): Finding {
  const known = LINT_RULE_BY_ID.has(a.lint);
  return finding(
    "accept-unused",
    a.where,
    subject,
    known
      ? `${subject.kind} ${subject.name} accepts ${a.lint}, but it has no such finding`
      : `accept names "${a.lint}", which is no lint rule`,
    known ? "remove the accept: entry" : "fix the lint rule's id (docs/lint.md lists them) or remove the entry",
  );
}

export interface LintCounts {
  error: number;
  warning: number;
  note: number;
  accepted: number;
}

export function countsOf(findings: Finding[]): LintCounts {
  const counts: LintCounts = { error: 0, warning: 0, note: 0, accepted: 0 };
  for (const f of findings) {
    if (f.accepted) counts.accepted++;
    else counts[f.severity]++;
  }
  return counts;
}

/** Whether the findings fail the lint: unaccepted errors; with `strict`, unaccepted warnings too. */
export function fails(findings: Finding[], strict: boolean): boolean {
  const failing: Severity[] = strict ? ["error", "warning"] : ["error"];
  return findings.some((f) => f.accepted === null && failing.includes(f.severity));
}
