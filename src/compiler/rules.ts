/**
 * Rule selectors resolved at compile time, and the rule index the worker walks: for each action, the
 * rules that select it, keyed by the subject they name (or `any`). The worker never scans rules that
 * cannot apply to the request's action and subject.
 */
import type { ActionSpec, RuleBucket, RuleSpec, ServiceSpec } from "../policy/types";

const LABELS: Record<string, (a: ActionSpec) => string[]> = {
  kind: (a) => [a.kind],
  risk: (a) => [a.risk],
  data: (a) => a.data,
};

/**
 * Resolves a rule's `actions` selectors to action indexes. Names and globs also select the actions
 * that declare `same_effect_as` one of the selected actions, so a rule on merging covers every alias
 * (`aliases: false`, used by task profiles, selects exactly the named actions).
 */
export function resolveSelectors(
  selectors: string[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  fail: (selectorIndex: number, message: string) => void,
  options: { aliases?: boolean } = {},
): number[] {
  const selected = new Set<number>();
  selectors.forEach((sel, k) => {
    const hits = resolveOne(sel, actions, services, options.aliases ?? true);
    if (typeof hits === "string") fail(k, hits);
    else for (const h of hits) selected.add(h);
  });
  return [...selected].sort((a, b) => a - b);
}

function resolveOne(
  sel: string,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  aliases: boolean,
): number[] | string {
  const all = actions.map((_, i) => i);
  if (sel === "*") return all;
  const colon = sel.indexOf(":");
  if (colon === -1)
    return `"${sel}" is not an action selector: write service:action, service:glob.*, kind:, risk: or data:`;
  const head = sel.slice(0, colon);
  const tail = sel.slice(colon + 1);
  // Fix: own property only; `constructor:x` used to crash the compiler and `toString:object` selected every action.
  const label = Object.hasOwn(LABELS, head) ? LABELS[head] : undefined;
  if (label) {
    const hits = all.filter((i) => label(actions[i]).includes(tail));
    return hits.length > 0 ? hits : `no action has ${head} "${tail}": check the label against the catalogs`;
  }
  if (!Object.hasOwn(services, head))
    return `unknown service "${head}" in "${sel}": add policies/services/${head}.yaml or fix the name`;
  const pattern = globRegExp(tail);
  const direct = all.filter((i) => actions[i].service === head && pattern.test(actions[i].name.slice(colon + 1)));
  if (direct.length === 0) {
    // Fix: a glob that matches nothing is not an "unknown action"; say so and where the names come from.
    if (tail.includes("*"))
      return `"${sel}" matches no action of ${head}: check the pattern against policies/services/${head}.yaml`;
    const near = nearest(
      sel,
      actions.filter((a) => a.service === head).map((a) => a.name),
    );
    return `unknown action "${sel}"${near ? `: did you mean "${near}"?` : ""}`;
  }
  if (!aliases) return direct;
  // Fix: aliases are followed transitively (an alias of an alias has the same effect too); this used
  // to stop after one step.
  const hits = new Set(direct);
  const names = new Set(direct.map((i) => actions[i].name));
  for (let grew = true; grew; ) {
    grew = false;
    for (const i of all) {
      if (!hits.has(i) && actions[i].same_effect_as.some((t) => names.has(t))) {
        hits.add(i);
        names.add(actions[i].name);
        grew = true;
      }
    }
  }
  return [...hits];
}

/**
 * One exact qualified action name (no glob, no label), as budgets and sequence rules name them:
 * its index, or what to change.
 */
export function lookupAction(
  name: string,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
): number | string {
  if (name.includes("*") || Object.hasOwn(LABELS, name.slice(0, name.indexOf(":"))))
    return `"${name}" is a selector: name one action as service:action`;
  const hits = resolveOne(name, actions, services, false);
  return typeof hits === "string" ? hits : hits[0];
}

/** A `kind:`, `risk:` or `data:` label that some action carries, or what to change. */
export function labelProblem(label: string, actions: ActionSpec[]): string | null {
  const colon = label.indexOf(":");
  const head = label.slice(0, colon);
  const tail = label.slice(colon + 1);
  if (colon === -1 || !Object.hasOwn(LABELS, head))
    return `"${label}" is not a label: write kind:<kind>, risk:<risk> or data:<label>`;
  return actions.some((a) => LABELS[head](a).includes(tail))
    ? null
    : `no action has ${head} "${tail}": check the label against the catalogs`;
}

/** The labels an action carries: `kind:<k>`, `risk:<r>`, `data:<d>`. */
export function labelsOf(a: ActionSpec): string[] {
  return [`kind:${a.kind}`, `risk:${a.risk}`, ...a.data.map((d) => `data:${d}`)];
}

function globRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*");
  return new RegExp(`^${escaped}$`);
}

/** The closest name by edit distance, if it is close enough to be a likely typo. */
function nearest(target: string, names: string[]): string | null {
  let best: string | null = null;
  let bestDist = Math.max(3, Math.floor(target.length / 4)) + 1;
  for (const n of names) {
    const d = distance(target, n);
    if (d < bestDist) [best, bestDist] = [n, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

export function buildIndex(actions: ActionSpec[], rules: RuleSpec[], selections: number[][]): RuleBucket[] {
  const index: RuleBucket[] = actions.map(() => ({ by_sub: Object.create(null), any: [] }));
  rules.forEach((rule, r) => {
    for (const a of selections[r]) {
      const bucket = index[a];
      const subs = rule.agents?.sub;
      if (!subs) bucket.any.push(r);
      else {
        // Fix: a subject listed twice indexed the rule twice (it then showed twice in a decision's rules).
        for (const s of new Set(subs)) {
          bucket.by_sub[s] ??= [];
          bucket.by_sub[s].push(r);
        }
      }
    }
  });
  return index;
}
