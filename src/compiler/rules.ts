/**
 * Rule selectors resolved at compile time, and the rule index the worker walks: for each action, the
 * rules that select it, keyed by the subject they name (or `any`). The worker never scans rules that
 * cannot apply to the request's action and subject.
 */
import type { ActionSpec, RuleBucket, RuleSpec, ServiceSpec } from "../policy/types";

const LABELS = {
  kind: (a: ActionSpec) => [a.kind],
  risk: (a: ActionSpec) => [a.risk],
  data: (a: ActionSpec) => a.data,
} satisfies Record<string, (a: ActionSpec) => string[]>;

/** Own property only: `constructor:x` must not crash the compiler, nor `toString:object` select every action. */
const isLabel = (head: string): head is keyof typeof LABELS => Object.hasOwn(LABELS, head);

/** The indexes of the actions `keep` accepts, ascending. */
function indexesWhere(actions: ActionSpec[], keep: (a: ActionSpec) => boolean): number[] {
  const out: number[] = [];
  actions.forEach((a, i) => {
    if (keep(a)) out.push(i);
  });
  return out;
}

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
  if (sel === "*") return actions.map((_, i) => i);
  const colon = sel.indexOf(":");
  if (colon === -1)
    return `"${sel}" is not an action selector: write service:action, service:glob.*, kind:, risk: or data:`;
  const head = sel.slice(0, colon);
  const tail = sel.slice(colon + 1);
  if (isLabel(head)) {
    const label = LABELS[head];
    const hits = indexesWhere(actions, (a) => label(a).includes(tail));
    return hits.length > 0 ? hits : `no action has ${head} "${tail}": check the label against the catalogs`;
  }
  if (!Object.hasOwn(services, head))
    return `unknown service "${head}" in "${sel}": add policies/services/${head}.yaml or fix the name`;
  const index = indexOf(actions);
  const exact = tail.includes("*") ? undefined : index.byName.get(sel);
  const pattern = globRegExp(tail);
  const direct =
    exact !== undefined
      ? [exact]
      : (index.byService.get(head) ?? []).filter((i) => pattern.test(actions[i]!.name.slice(colon + 1)));
  if (direct.length === 0) {
    // A glob that matches nothing is not an "unknown action": say so, and where the names come from.
    if (tail.includes("*"))
      return `"${sel}" matches no action of ${head}: check the pattern against policies/services/${head}.yaml`;
    const near = nearest(
      sel,
      actions.filter((a) => a.service === head).map((a) => a.name),
    );
    return `unknown action "${sel}"${near ? `: did you mean "${near}"?` : ""}`;
  }
  if (!aliases) return direct;
  // Aliases are followed transitively: an alias of an alias has the same effect too.
  const hits = new Set(direct);
  const todo = [...direct];
  for (let i = todo.pop(); i !== undefined; i = todo.pop()) {
    for (const alias of index.aliasesOf.get(actions[i]!.name) ?? []) {
      if (!hits.has(alias)) {
        hits.add(alias);
        todo.push(alias);
      }
    }
  }
  return [...hits];
}

interface ActionIndex {
  byName: Map<string, number>;
  byService: Map<string, number[]>;
  /** Action name -> the actions that declare its effect (`same_effect_as`). */
  aliasesOf: Map<string, number[]>;
}

const indexes = new WeakMap<ActionSpec[], ActionIndex>();

/** Lookups over the catalog, built once per compile: a selector costs its hits, not the catalog's size. */
function indexOf(actions: ActionSpec[]): ActionIndex {
  let index = indexes.get(actions);
  if (index) return index;
  index = { byName: new Map(), byService: new Map(), aliasesOf: new Map() };
  for (const [i, a] of actions.entries()) {
    index.byName.set(a.name, i);
    const mine = index.byService.get(a.service) ?? [];
    mine.push(i);
    index.byService.set(a.service, mine);
    for (const t of a.same_effect_as) index.aliasesOf.set(t, [...(index.aliasesOf.get(t) ?? []), i]);
  }
  indexes.set(actions, index);
  return index;
}

/**
 * One exact qualified action name (no glob, no label), as budgets and sequence rules name them:
 * its spec, or what to change.
 */
export function lookupAction(
  name: string,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
): ActionSpec | string {
  if (name.includes("*") || isLabel(name.slice(0, name.indexOf(":"))))
    return `"${name}" is a selector: name one action as service:action`;
  const hits = resolveOne(name, actions, services, false);
  if (typeof hits === "string") return hits;
  const [first] = hits;
  const spec = first === undefined ? undefined : actions[first];
  return spec ?? `unknown action "${name}"`;
}

/** A `kind:`, `risk:` or `data:` label that some action carries, or what to change. */
export function labelProblem(label: string, actions: ActionSpec[]): string | null {
  const colon = label.indexOf(":");
  const head = label.slice(0, colon);
  const tail = label.slice(colon + 1);
  if (colon === -1 || !isLabel(head))
    return `"${label}" is not a label: write kind:<kind>, risk:<risk> or data:<label>`;
  const labelsOfAction = LABELS[head];
  return actions.some((a) => labelsOfAction(a).includes(tail))
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

/** Levenshtein distance, one row of the table at a time. */
function distance(a: string, b: string): number {
  // row[j]: the distance between the part of `a` read so far and b.slice(0, j).
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = 0; // the previous row's entry at j - 1
    let left = 0; // this row's entry at j - 1
    row = row.map((up, j) => {
      const d = j === 0 ? i : Math.min(up + 1, left + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
      left = d;
      return d;
    });
  }
  return row.at(-1) ?? 0;
}

/** A compiled rule and the actions its selectors resolved to (indexes into the bundle's actions). */
export interface SelectedRule {
  spec: RuleSpec;
  actions: number[];
}

export function buildIndex(actions: ActionSpec[], rules: SelectedRule[]): RuleBucket[] {
  const index: RuleBucket[] = actions.map(() => ({ by_sub: Object.create(null), any: [] }));
  rules.forEach(({ spec, actions: selected }, r) => {
    const subs = spec.agents?.sub;
    for (const a of selected) {
      const bucket = index[a];
      if (bucket === undefined) throw new Error(`internal: rule ${spec.id} selects action ${a} of ${actions.length}`);
      if (!subs) bucket.any.push(r);
      else {
        // A subject listed twice indexes the rule once (else it shows twice in a decision's rules).
        for (const s of new Set(subs)) {
          bucket.by_sub[s] ??= [];
          bucket.by_sub[s].push(r);
        }
      }
    }
  });
  return index;
}
