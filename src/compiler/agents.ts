/**
 * Selectors of identities (`agents:` of rules and profiles, `approvers:`, `settings.admins`): one
 * normal form for the worker (every claim value a list) and one check that each issuer named exists and
 * is of the kind the selector is for. Workload issuers identify agents; person issuers identify the
 * people who approve. An approver selector naming a workload issuer would let an agent
 * approve, and an agent selector naming a person issuer would let a person's token act as an agent:
 * both are compile errors.
 */
import type { AgentMatch, IssuerKind, IssuerSpec } from "../policy/types";
import type { Problems } from "./source";

export interface MatchData {
  issuer?: string[];
  sub?: string[];
  claims?: Record<string, string | string[]>;
}

type At = (...path: (string | number)[]) => string;

/** `kind` null: any kind (operators may be people or workloads). */
export function compileMatch(
  data: MatchData,
  at: At,
  field: string,
  issuers: IssuerSpec[],
  kind: IssuerKind | null,
  problems: Problems,
): AgentMatch {
  (data.issuer ?? []).forEach((name, i) => {
    const issuer = issuers.find((s) => s.name === name);
    if (!issuer)
      problems.add(at(field, "issuer", i), `unknown issuer "${name}": declare it in policies/firebreak.yaml`);
    else if (kind !== null && issuer.kind !== kind)
      problems.add(
        at(field, "issuer", i),
        kind === "person"
          ? `issuer "${name}" is a workload issuer: approvers must come from an issuer with kind: person (an agent may never approve)`
          : `issuer "${name}" has kind: person: agents must come from workload issuers (a person's token never acts as an agent)`,
      );
  });
  const claims = data.claims
    ? Object.fromEntries(Object.entries(data.claims).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]))
    : undefined;
  return {
    ...(data.issuer ? { issuer: data.issuer } : {}),
    ...(data.sub ? { sub: data.sub } : {}),
    ...(claims ? { claims } : {}),
  };
}
