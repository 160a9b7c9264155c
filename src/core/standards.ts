/**
 * The standards Firebreak's refusals and lint findings answer to: the OWASP Top 10 for Agentic
 * Applications 2026 (ASI01..ASI10), the CSA MAESTRO layer the risk sits in, and the NIST AI RMF
 * functions a control serves. The words only: which reason or finding maps to which id lives beside
 * the reason codes and the lint rules, and docs/standards.md is generated from those maps.
 */

/** OWASP Top 10 for Agentic Applications 2026, id -> title (genai.owasp.org, December 2025). */
export const ASI = {
  ASI01: "Agent Goal Hijack",
  ASI02: "Tool Misuse and Exploitation",
  ASI03: "Identity and Privilege Abuse",
  ASI04: "Agentic Supply Chain Vulnerabilities",
  ASI05: "Unexpected Code Execution",
  ASI06: "Memory and Context Poisoning",
  ASI07: "Insecure Inter-Agent Communication",
  ASI08: "Cascading Failures",
  ASI09: "Human-Agent Trust Exploitation",
  ASI10: "Rogue Agents",
} as const;
export type AsiId = keyof typeof ASI;

/** CSA MAESTRO (Multi-Agent Environment, Security, Threat, Risk and Outcome), layer -> name. */
export const MAESTRO = {
  L1: "Foundation Models",
  L2: "Data Operations",
  L3: "Agent Frameworks",
  L4: "Deployment and Infrastructure",
  L5: "Evaluation and Observability",
  L6: "Security and Compliance",
  L7: "Agent Ecosystem",
} as const;
export type MaestroLayer = keyof typeof MAESTRO;

/** NIST AI RMF 1.0 core functions. */
export const NIST_FUNCTIONS = ["GOVERN", "MAP", "MEASURE", "MANAGE"] as const;
export type NistFunction = (typeof NIST_FUNCTIONS)[number];

/** What one reason code or lint finding concerns. `asi` is null where no agentic risk applies (an allow). */
export interface StandardsRef {
  asi: AsiId | null;
  maestro: MaestroLayer;
  nist: readonly NistFunction[];
}
