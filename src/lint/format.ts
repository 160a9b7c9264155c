/**
 * Lint output: text (`file:line: severity rule-id: message. Fix: ...`), JSON (a stable shape, version
 * 1) and SARIF 2.1.0 for GitHub code scanning (accepted findings as results with an in-source
 * suppression and its justification).
 */
import type { Finding } from "./finding";
import { countsOf } from "./lint";
import { LINT_RULES, type Severity } from "./rules";

export type LintFormat = "text" | "json" | "sarif";

export function formatText(findings: Finding[]): string {
  const lines = findings.map((f) =>
    f.accepted
      ? `${f.file}:${f.line}: accepted ${f.rule}: ${f.message} (${f.accepted.where}: ${f.accepted.reason})`
      : `${f.file}:${f.line}: ${f.severity} ${f.rule}: ${f.message}. Fix: ${f.fix}`,
  );
  const c = countsOf(findings);
  lines.push(`lint: ${c.error} error(s), ${c.warning} warning(s), ${c.note} note(s), ${c.accepted} accepted`);
  return lines.join("\n");
}

export function formatJson(findings: Finding[]): string {
  return JSON.stringify({ version: 1, counts: countsOf(findings), findings }, null, 2);
}

/** GitHub code scanning ranks security results by this score (0-10). */
const SECURITY_SEVERITY: Record<Severity, string> = { error: "8.0", warning: "5.0", note: "2.0" };

export function sarifLog(findings: Finding[], version: string): object {
  const ruleIndex = new Map<string, number>(LINT_RULES.map((r, i) => [r.id, i]));
  const rules = LINT_RULES.map((r) => ({
    id: r.id,
    name: r.id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
    shortDescription: { text: r.title },
    fullDescription: { text: r.why },
    help: {
      text: `${r.why} Fix: ${r.fix}. Accept with a reason: accept: [{ lint: ${r.id}, reason: "..." }] (docs/lint.md).`,
    },
    defaultConfiguration: { level: r.severity },
    properties: {
      tags: ["security", ...(r.standards.asi ? [r.standards.asi] : []), `MAESTRO-${r.standards.maestro}`],
      "security-severity": SECURITY_SEVERITY[r.severity],
    },
  }));
  const results = findings.map((f) => ({
    ruleId: f.rule,
    ruleIndex: ruleIndex.get(f.rule) ?? 0,
    level: f.severity,
    message: { text: `${f.message}. Fix: ${f.fix}` },
    locations: [{ physicalLocation: { artifactLocation: { uri: f.file }, region: { startLine: f.line } } }],
    partialFingerprints: { "firebreakLint/v1": `${f.rule}:${f.subject.kind}:${f.subject.name}` },
    ...(f.accepted ? { suppressions: [{ kind: "inSource", justification: f.accepted.reason }] } : {}),
  }));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [{ tool: { driver: { name: "firebreak-lint", version, rules } }, results }],
  };
}

export function formatFindings(findings: Finding[], format: LintFormat, version: string): string {
  if (format === "json") return formatJson(findings);
  if (format === "sarif") return JSON.stringify(sarifLog(findings, version), null, 2);
  return formatText(findings);
}
