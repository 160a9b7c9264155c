/**
 * What the checks ask of a compiled bundle: per rule, the selectors it names and the actions they
 * select (read back from the bundle's rule index, so the lint sees exactly what the worker walks);
 * per profile, its actions; and whether two agent selectors can select one token, or one selects
 * every token of the other.
 */
import type { AgentMatch, Bundle, IssuerSpec, RuleBucket } from "../policy/types";

export interface LintModel {
  bundle: Bundle;
  /** Per rule (bundle order): the selectors it names. */
  selectors: string[][];
  /** Per rule: the action indexes it selects (aliases included, as the worker decides). */
  actions: Set<number>[];
  /** Per selector: the action indexes it selects. */
  bySelector: Map<string, number[]>;
  /** Per profile name: the action indexes it may call. */
  profileActions: Map<string, Set<number>>;
}

export function modelOf(bundle: Bundle): LintModel {
  const selectors: string[][] = bundle.rules.map(() => []);
  const actions: Set<number>[] = bundle.rules.map(() => new Set());
  const bySelector = new Map<string, number[]>();
  const rulesOf = bundle.buckets.map(rulesOfBucket);
  bundle.buckets.forEach((b, i) => {
    bySelector.set(b.selector, []);
    for (const r of rulesOf[i] ?? []) selectors[r]?.push(b.selector);
  });
  bundle.index.forEach((buckets, a) => {
    for (const b of buckets) {
      bySelector.get(bundle.buckets[b]?.selector ?? "")?.push(a);
      for (const r of rulesOf[b] ?? []) actions[r]?.add(a);
    }
  });
  const byName = new Map(bundle.actions.map((a, i) => [a.name, i]));
  const profileActions = new Map(
    bundle.profiles.map((p) => [p.name, new Set(p.actions.map((n) => byName.get(n) ?? -1))]),
  );
  return { bundle, selectors, actions, bySelector, profileActions };
}

function rulesOfBucket(b: RuleBucket): Set<number> {
  const out = new Set<number>(b.any);
  for (const list of Object.values(b.by_sub)) for (const r of list) out.add(r);
  for (const values of Object.values(b.by_claim))
    for (const list of Object.values(values)) for (const r of list) out.add(r);
  return out;
}

const meets = (a: string[] | undefined, b: string[] | undefined) =>
  a === undefined || b === undefined || a.some((x) => b.includes(x));
const within = (inner: string[] | undefined, outer: string[] | undefined) =>
  outer === undefined || inner?.every((x) => outer.includes(x)) === true;

/** Whether some token could be selected by both (null: any agent). */
export function overlaps(a: AgentMatch | null, b: AgentMatch | null): boolean {
  if (a === null || b === null) return true;
  if (!meets(a.issuer, b.issuer) || !meets(a.sub, b.sub)) return false;
  return Object.entries(a.claims ?? {}).every(([k, v]) => meets(v, b.claims?.[k]));
}

/** Whether every token `inner` selects is selected by `outer`. */
export function covers(outer: AgentMatch | null, inner: AgentMatch | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  if (!within(inner.issuer, outer.issuer) || !within(inner.sub, outer.sub)) return false;
  return Object.entries(outer.claims ?? {}).every(([k, v]) => within(inner.claims?.[k], v));
}

/** The workload issuers whose tokens a selector can select. */
export function issuersOf(match: AgentMatch | null, issuers: IssuerSpec[]): IssuerSpec[] {
  return issuers.filter((i) => i.kind === "workload" && (match?.issuer === undefined || match.issuer.includes(i.name)));
}
