/** What every check reads: the bundle's model, where things are written, and the caps. */
import { DEFAULT_CAPS } from "../compiler/lint-caps";
import type { LintSources } from "../compiler/lint-sources";
import type { RuleSpec } from "../policy/types";
import { type Finding, finding } from "./finding";
import type { LintModel } from "./model";
import { type LintId, PUBLIC_ISSUERS } from "./rules";

export interface LintContext {
  model: LintModel;
  sources: LintSources;
  caps: { task_ttl: number; task_lifetime: number; calls: number; calls_per_minute: number };
  publicIssuers: string[];
  findings: Finding[];
}

export function contextOf(model: LintModel, sources: LintSources): LintContext {
  const caps = { ...DEFAULT_CAPS, ...sources.lint.caps };
  const publicIssuers = [...PUBLIC_ISSUERS, ...(sources.lint.public_issuers ?? [])].map(normalIssuer);
  return { model, sources, caps, publicIssuers, findings: [] };
}

/** An `iss` compared without a trailing slash. */
export const normalIssuer = (iss: string) => iss.replace(/\/+$/, "");

type Kind = "rule" | "profile" | "issuer";

/** `file:line` of a key of a rule, profile or issuer, else of the entry itself. */
export function whereOf(ctx: LintContext, kind: Kind, name: string, key?: string): string {
  const src = { rule: ctx.sources.rules, profile: ctx.sources.profiles, issuer: ctx.sources.issuers }[kind].get(name);
  const fallback =
    kind === "rule"
      ? ctx.model.bundle.rules.find((r) => r.id === name)?.source
      : kind === "profile"
        ? ctx.model.bundle.profiles.find((p) => p.name === name)?.source
        : undefined;
  return (key !== undefined ? src?.keys[key] : undefined) ?? src?.where ?? fallback ?? "policies/firebreak.yaml:1";
}

export function report(
  ctx: LintContext,
  rule: LintId,
  subject: { kind: Kind; name: string },
  key: string | undefined,
  message: string,
  fix?: string,
): void {
  ctx.findings.push(finding(rule, whereOf(ctx, subject.kind, subject.name, key), subject, message, fix));
}

export const ruleSubject = (r: RuleSpec) => ({ kind: "rule" as const, name: r.id });

/** A short list of names for a message: the first few and how many more. */
export function listed(names: string[], max = 3): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
