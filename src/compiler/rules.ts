/**
 * Rule selectors resolved at compile time, and the rule index the worker walks: per selector, the rules
 * naming it, keyed by the subject or claim value they select (or `any`); per action, the selectors that
 * select it. The worker never scans rules that cannot apply to the request's action and agent.
 */
import { emptyBucket } from "../policy/rule-index";
import type { ActionSpec, RuleBucket, RuleSpec, ServiceSpec } from "../policy/types";

const LABELS = {
  kind: (a: ActionSpec) => [a.kind],
  risk: (a: ActionSpec) => [a.risk],
  data: (a: ActionSpec) => a.data,
} satisfies Record<string, (a: ActionSpec) => string[]>;

/** Own property only: `constructor:x` must not crash the compiler, nor `toString:object` select every action. */
const isLabel = (head: string): head is keyof typeof LABELS => Object.hasOwn(LABELS, head);

/**
 * Resolves a rule's `actions` selectors to action indexes, ascending. Names and globs also select the
 * actions that declare `same_effect_as` one of the selected actions, so a rule on merging covers every
 * alias (`aliases: false`, used by task profiles, selects exactly the named actions).
 */
export function resolveSelectors(
  selectors: string[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  fail: (selectorIndex: number, message: string) => void,
  options: { aliases?: boolean } = {},
): number[] {
  let selected: number[] | null = null;
  eachResolved(selectors, actions, services, options.aliases ?? true, fail, (_, hits) => {
    selected = selected === null ? hits.slice() : union(selected, hits);
  });
  return selected ?? [];
}

/** Each selector resolved (cached per compile): `fail` for one that does not resolve, `hit` for one that does. */
function eachResolved(
  selectors: string[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  aliases: boolean,
  fail: (selectorIndex: number, message: string) => void,
  hit: (sel: string, hits: readonly number[]) => void,
): void {
  const index = indexOf(actions, services);
  selectors.forEach((sel, k) => {
    const hits = resolved(sel, index, actions, services, aliases);
    if (typeof hits === "string") fail(k, hits);
    else hit(sel, hits);
  });
}

/**
 * One selector's actions (ascending) or what to change, worked out once per compile: ten thousand rules
 * name the same few hundred labels, globs and actions, and a glob is a pass over its service's actions.
 */
function resolved(
  sel: string,
  index: ActionIndex,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  aliases: boolean,
): readonly number[] | string {
  const cache = aliases ? index.resolved : index.resolvedExactly;
  let hits = cache.get(sel);
  if (hits === undefined) {
    const found = resolveOne(sel, index, actions, services, aliases);
    hits = typeof found === "string" ? found : [...new Set(found)].sort((a, b) => a - b);
    cache.set(sel, hits);
  }
  return hits;
}

/** The union of two ascending lists of distinct indexes, ascending. */
function union(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x <= y) i++;
    if (y <= x) j++;
    out.push(Math.min(x, y));
  }
  while (i < a.length) out.push(a[i++] as number);
  while (j < b.length) out.push(b[j++] as number);
  return out;
}

function resolveOne(
  sel: string,
  index: ActionIndex,
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  aliases: boolean,
): readonly number[] | string {
  if (sel === "*") return actions.map((_, i) => i);
  const colon = sel.indexOf(":");
  if (colon === -1)
    return `"${sel}" is not an action selector: write service:action, service:glob.*, kind:, risk: or data:`;
  const head = sel.slice(0, colon);
  const tail = sel.slice(colon + 1);
  if (isLabel(head))
    return index.byLabel.get(sel) ?? `no action has ${head} "${tail}": check the label against the catalogs`;
  if (!Object.hasOwn(services, head))
    return `unknown service "${head}" in "${sel}": add policies/services/${head}.yaml or fix the name`;
  const exact = tail.includes("*") ? undefined : index.byName.get(sel);
  const direct =
    exact !== undefined ? [exact] : (index.byService.get(head) ?? []).filter(globMatcher(tail, colon + 1, actions));
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
  return aliases ? withAliases(direct, index, actions) : direct;
}

/** Whether an action's name after `service:` (`skip` characters) matches the glob. */
function globMatcher(glob: string, skip: number, actions: ActionSpec[]): (i: number) => boolean {
  const pattern = globRegExp(glob);
  return (i) => pattern.test(actions[i]!.name.slice(skip));
}

/** The actions and, transitively, the actions that declare the same effect (an alias of an alias too). */
function withAliases(direct: number[], index: ActionIndex, actions: ActionSpec[]): number[] {
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
  /** The services the selectors were resolved against: another set (another compile) starts afresh. */
  services: Record<string, ServiceSpec>;
  byName: Map<string, number>;
  byService: Map<string, number[]>;
  /** `kind:<k>`, `risk:<r>`, `data:<d>` -> the actions that carry it, ascending. */
  byLabel: Map<string, number[]>;
  /** Action name -> the actions that declare its effect (`same_effect_as`). */
  aliasesOf: Map<string, number[]>;
  /** Selector -> its actions with their aliases (rules), or what to change. */
  resolved: Map<string, readonly number[] | string>;
  /** Selector -> exactly its actions (profiles, budgets), or what to change. */
  resolvedExactly: Map<string, readonly number[] | string>;
}

const indexes = new WeakMap<ActionSpec[], ActionIndex>();

/** Lookups over the catalog, built once per compile: a selector costs its hits, not the catalog's size. */
function indexOf(actions: ActionSpec[], services: Record<string, ServiceSpec>): ActionIndex {
  const known = indexes.get(actions);
  if (known && known.services === services) return known;
  const index: ActionIndex = {
    services,
    byName: new Map(),
    byService: new Map(),
    byLabel: new Map(),
    aliasesOf: new Map(),
    resolved: new Map(),
    resolvedExactly: new Map(),
  };
  const add = <K>(map: Map<K, number[]>, key: K, i: number) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [i]);
    else list.push(i);
  };
  for (const [i, a] of actions.entries()) {
    index.byName.set(a.name, i);
    add(index.byService, a.service, i);
    // A data label listed twice selects the action once.
    for (const label of new Set(labelsOf(a))) add(index.byLabel, label, i);
    for (const t of a.same_effect_as) add(index.aliasesOf, t, i);
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
  const hits = resolved(name, indexOf(actions, services), actions, services, false);
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

/** A compiled rule and its selectors, each one that resolved (distinct, as written). */
export interface SelectedRule {
  spec: RuleSpec;
  selectors: string[];
}

/**
 * Checks a rule's selectors, reporting each that does not resolve: those that do, in order, each once.
 * Resolution is cached per compile, so ten thousand rules naming `kind:read` resolve it once.
 */
export function checkSelectors(
  selectors: string[],
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  fail: (selectorIndex: number, message: string) => void,
): string[] {
  const ok: string[] = [];
  eachResolved(selectors, actions, services, true, fail, (sel) => {
    if (!ok.includes(sel)) ok.push(sel);
  });
  return ok;
}

/**
 * The rule index: one bucket per distinct selector, holding the rules that name it by subject, by claim
 * or for anyone; and per action, the buckets whose selector selects it. A label selector shared by
 * thousands of rules is expanded over the catalog once, not once per rule.
 */
export function buildIndex(
  actions: ActionSpec[],
  services: Record<string, ServiceSpec>,
  rules: SelectedRule[],
): { index: number[][]; buckets: RuleBucket[] } {
  const bucketOf = new Map<string, RuleBucket>();
  rules.forEach(({ spec, selectors }, r) => {
    for (const sel of selectors) {
      let bucket = bucketOf.get(sel);
      if (bucket === undefined) {
        bucket = emptyBucket(sel);
        bucketOf.set(sel, bucket);
      }
      place(bucket, spec, r);
    }
  });
  const buckets = [...bucketOf.values()];
  const index: number[][] = actions.map(() => []);
  const catalog = indexOf(actions, services);
  buckets.forEach((bucket, b) => {
    const hits = resolved(bucket.selector, catalog, actions, services, true);
    if (typeof hits === "string") throw new Error(`internal: rule selector ${bucket.selector}: ${hits}`);
    for (const a of hits) index[a]!.push(b);
  });
  return { index, buckets };
}

/**
 * Files a rule in a bucket by whom it selects: each subject it names; else each allowed value of its first
 * claim in sorted order (every claim must match, so one of them is enough to find it by); else anyone.
 */
function place(bucket: RuleBucket, spec: RuleSpec, r: number): void {
  const add = (map: Record<string, number[]>, key: string) => {
    const list = map[key];
    if (list === undefined) map[key] = [r];
    else if (list.at(-1) !== r) list.push(r);
  };
  const { sub, claims } = spec.agents ?? {};
  const claim = claims ? Object.keys(claims).sort()[0] : undefined;
  if (sub) for (const s of sub) add(bucket.by_sub, s);
  else if (claims && claim !== undefined) {
    bucket.by_claim[claim] ??= Object.create(null) as Record<string, number[]>;
    for (const v of claims[claim] ?? []) add(bucket.by_claim[claim], v);
  } else bucket.any.push(r);
}
