/**
 * docs/standards.md, generated: the standards vocabulary (./standards.ts) and every table that maps
 * something onto it. The reason codes' rows come from ./reason-standards.ts; other tables (the lint
 * rules) are passed in as `extra` sections, so this module imports nothing above layer 0.
 * test/unit/standards.test.ts regenerates the page and compares it with the file.
 */
import { FAMILIES, type FamilyId, REASON_FAMILY } from "./reason-standards";
import { REASONS } from "./reasons";
import { ASI, type AsiId, MAESTRO, NIST_FUNCTIONS, type StandardsRef } from "./standards";

/** One thing that maps onto the standards: a reason code, a lint rule. */
export interface StandardsRow {
  id: string;
  /** A short description, or the family it belongs to. */
  title: string;
  standards: StandardsRef;
}

/** A table of rows of one kind, with its own section in the page and in the per-ASI summary. */
export interface StandardsSection {
  /** Section heading, e.g. "Lint findings". */
  heading: string;
  /** What the rows are, for the summary's column: "lint rules". */
  noun: string;
  /** One paragraph under the heading. */
  intro: string;
  rows: readonly StandardsRow[];
}

export const STANDARDS_COMMAND = "npx firebreak standards --out docs/standards.md";

/** The reason codes as rows, in REASONS order, titled by their family. */
export function reasonRows(): StandardsRow[] {
  return REASONS.map((code) => {
    const family = FAMILIES[REASON_FAMILY[code]];
    return { id: code, title: family.title, standards: family.standards };
  });
}

/** The whole page. `extra`: further sections after the reason codes (the lint rules, once they exist). */
export function standardsMarkdown(extra: readonly StandardsSection[] = []): string {
  const reasons: StandardsSection = {
    heading: "Reason codes",
    noun: "reason codes",
    intro:
      "Every reason code (`REASONS` in `src/core/reasons.ts`, docs/reasons.md) belongs to one family in `src/core/reason-standards.ts` (`REASON_FAMILY` is a `Record<Reason, …>`, so a new code does not compile without one). A decision record's `asi` field is its reason's ASI id (docs/analytics.md).",
    rows: reasonRows(),
  };
  const sections = [reasons, ...extra];
  return [
    "# Standards",
    "",
    `Generated from the code by \`${STANDARDS_COMMAND}\`; do not edit by hand (test/unit/standards.test.ts fails when it is stale).`,
    "",
    "Firebreak maps each refusal (and each lint finding) to the risk it concerns in the [OWASP Top 10 for Agentic Applications 2026](https://genai.owasp.org/resource/owasp-top-10-for-agentic-applications-for-2026/) (ASI01..ASI10), to the [CSA MAESTRO](https://cloudsecurityalliance.org/blog/2025/02/06/agentic-ai-threat-modeling-framework-maestro) layer the control sits in, and to the [NIST AI RMF 1.0](https://www.nist.gov/itl/ai-risk-management-framework) functions it serves. An ASI id of `-` means no agentic risk was refused (an allowed call, an upstream failure, reading the records).",
    "",
    ...asiSummary(sections),
    ...maestroTable(sections),
    ...nistTable(),
    ...familiesPart(),
    ...sections.flatMap(sectionPart),
  ].join("\n");
}

function asiSummary(sections: StandardsSection[]): string[] {
  const ids: (AsiId | null)[] = [...(Object.keys(ASI) as AsiId[]), null];
  const of = (s: StandardsSection, id: AsiId | null) => s.rows.filter((r) => r.standards.asi === id);
  const name = (id: AsiId | null) => (id === null ? "- (no agentic risk)" : `${id} ${ASI[id]}`);
  const rows = ids.map((id) => [
    id ?? "-",
    id === null ? "(none)" : ASI[id],
    ...sections.map((s) => String(of(s, id).length)),
  ]);
  const lists = ids.flatMap((id) => {
    const parts = sections.flatMap((s) => (of(s, id).length > 0 ? [`${s.noun} ${codes(of(s, id))}`] : []));
    return [`- **${name(id)}**: ${parts.length > 0 ? parts.join("; ") : "nothing maps here"}.`];
  });
  return [
    "## OWASP Top 10 for Agentic Applications 2026",
    "",
    "How many codes answer to each risk, then which. A gateway sees calls, not prompts: a hijacked goal (ASI01) or poisoned memory (ASI06) reaches Firebreak as the tool misuse, privilege use or flow it leads to, and is refused as that.",
    "",
    ...table(["id", "title", ...sections.map((s) => s.noun)], rows),
    "",
    ...lists,
    "",
  ];
}

function maestroTable(sections: StandardsSection[]): string[] {
  const headers = ["layer", "name", ...sections.map((s) => s.noun)];
  const rows = (Object.keys(MAESTRO) as (keyof typeof MAESTRO)[]).map((layer) => [
    layer,
    MAESTRO[layer],
    ...sections.map((s) => String(s.rows.filter((r) => r.standards.maestro === layer).length)),
  ]);
  return ["## CSA MAESTRO layers", "", ...table(headers, rows), ""];
}

const NIST_WORDS: Record<(typeof NIST_FUNCTIONS)[number], string> = {
  GOVERN: "who may decide and approve: operators, approvers, the shipped bundle",
  MAP: "the context of a call: classifying it to one catalog action with its labels",
  MEASURE: "the decision record: one per request, queried by `firebreak decisions` and the dashboard",
  MANAGE: "the refusal itself: the risk treated before anything is forwarded",
};

function nistTable(): string[] {
  return [
    "## NIST AI RMF functions",
    "",
    ...table(
      ["function", "in Firebreak"],
      NIST_FUNCTIONS.map((f) => [f, NIST_WORDS[f]]),
    ),
    "",
  ];
}

function familiesPart(): string[] {
  const out = ["## Reason families", ""];
  for (const id of Object.keys(FAMILIES) as FamilyId[]) {
    const f = FAMILIES[id];
    const members = (Object.keys(REASON_FAMILY) as (keyof typeof REASON_FAMILY)[]).filter(
      (code) => REASON_FAMILY[code] === id,
    );
    out.push(
      `### ${f.title}`,
      "",
      `${refWords(f.standards)}. ${f.why}`,
      "",
      `Codes: ${members.map((c) => `\`${c}\``).join(", ")}.`,
      "",
    );
  }
  return out;
}

function sectionPart(s: StandardsSection): string[] {
  const head = [`## ${s.heading}`, "", s.intro, ""];
  if (s.rows.length === 0) return [...head, `No ${s.noun} yet.`, ""];
  const rows = s.rows.map((r) => [
    `\`${r.id}\``,
    r.standards.asi ?? "-",
    r.standards.maestro,
    r.standards.nist.join(", ") || "-",
    r.title,
  ]);
  return [...head, ...table(["id", "ASI", "MAESTRO", "NIST AI RMF", "title"], rows), ""];
}

function refWords(r: StandardsRef): string {
  const asi = r.asi === null ? "No ASI id" : `${r.asi} ${ASI[r.asi]}`;
  const nist = r.nist.length > 0 ? `, NIST ${r.nist.join(", ")}` : "";
  return `${asi}; MAESTRO ${r.maestro} ${MAESTRO[r.maestro]}${nist}`;
}

function codes(rows: StandardsRow[]): string {
  return rows.length === 0 ? "-" : rows.map((r) => `\`${r.id}\``).join(", ");
}

/** A Markdown table with its columns padded to one width, as the other pages under docs/ are. */
function table(headers: string[], rows: string[][]): string[] {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const all = [headers, ...rows].map((r) => r.map(cell));
  const widths = headers.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(all[0]!), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...all.slice(1).map(line)];
}
