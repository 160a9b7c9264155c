/** One lint finding, and how a check makes one. */
import { LINT_RULE_BY_ID, type LintId, type Severity } from "./rules";

export type SubjectKind = "rule" | "profile" | "issuer";

export interface Finding {
  rule: LintId;
  severity: Severity;
  /** Path relative to the repository root (`policies/rules/x.yaml`), and the line. */
  file: string;
  line: number;
  message: string;
  fix: string;
  /** What the finding is about: where an `accept:` entry for it is written. */
  subject: { kind: SubjectKind; name: string };
  /** Set when an `accept:` entry of the subject accepts it. */
  accepted: { reason: string; where: string } | null;
}

/** Splits `file:line`. */
export function splitWhere(where: string): { file: string; line: number } {
  const at = where.lastIndexOf(":");
  const line = Number(where.slice(at + 1));
  return Number.isInteger(line) && at > 0 ? { file: where.slice(0, at), line } : { file: where, line: 1 };
}

export function finding(
  rule: LintId,
  where: string,
  subject: Finding["subject"],
  message: string,
  fix?: string,
): Finding {
  const spec = LINT_RULE_BY_ID.get(rule);
  return {
    rule,
    severity: spec?.severity ?? "warning",
    ...splitWhere(where),
    message,
    fix: fix ?? spec?.fix ?? "",
    subject,
    accepted: null,
  };
}
