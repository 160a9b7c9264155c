/**
 * Walking the rule index: which rules can decide one action for one agent. The compiler stores each
 * selector once (a bucket) and, per action, the buckets that select it; a request looks at the few
 * buckets of its action, and in each only at the rules naming its subject, its claim values, or no
 * one. What it scans grows with the rules that can apply, not with the size of the policy set.
 */
import { own } from "./routes";
import type { Agent, Bundle, RuleBucket } from "./types";

/**
 * Visits each rule that may decide `action` for `agent` once, with its place in a decision's order:
 * the rules selecting the agent's subject first, then the others (by claim or by no one), each part in
 * rule order. Visits come in no particular order; `visit` returning false stops the walk. False when
 * the bundle names a bucket or an action it does not have (or `visit` stopped). Walks do not nest:
 * `visit` must not start another walk over the same bundle.
 */
export function forEachCandidate(
  spec: Bundle,
  action: number,
  agent: Agent,
  visit: (rule: number, order: number) => boolean,
): boolean {
  const ids = spec.index[action];
  if (ids === undefined) return false;
  const { marks, stamp } = newWalk(spec);
  const others = spec.rules.length;
  for (const id of ids) {
    const bucket = spec.buckets[id];
    if (bucket === undefined) return false;
    for (const r of own(bucket.by_sub, agent.sub) ?? NONE) if (fresh(marks, stamp, r) && !visit(r, r)) return false;
    for (const claim of Object.keys(bucket.by_claim)) {
      const values = bucket.by_claim[claim] as Record<string, number[]>;
      const held = own(agent.claims, claim);
      for (const v of Array.isArray(held) ? held : [held]) {
        if (typeof v !== "string") continue;
        for (const r of own(values, v) ?? NONE) if (fresh(marks, stamp, r) && !visit(r, others + r)) return false;
      }
    }
    for (const r of bucket.any) if (fresh(marks, stamp, r) && !visit(r, others + r)) return false;
  }
  return true;
}

const NONE: readonly number[] = [];

/** Whether this walk meets the rule for the first time (marking it met). Not a closure: none is made per walk. */
function fresh(marks: Uint32Array, stamp: number, r: number): boolean {
  if (marks[r] === stamp) return false;
  marks[r] = stamp;
  return true;
}

/**
 * A per-bundle marker for "visited in this walk": each walk takes a new stamp, so checking a rule
 * costs one array read and no walk allocates. Walks never interleave (they are synchronous).
 */
const walks = new WeakMap<Bundle, { marks: Uint32Array; stamp: number }>();

function newWalk(spec: Bundle): { marks: Uint32Array; stamp: number } {
  let walk = walks.get(spec);
  if (walk === undefined) {
    walk = { marks: new Uint32Array(spec.rules.length), stamp: 0 };
    walks.set(spec, walk);
  }
  if (walk.stamp === 0xffffffff) {
    walk.marks.fill(0);
    walk.stamp = 0;
  }
  walk.stamp += 1;
  return walk;
}

/** The rules `forEachCandidate` visits, in a decision's order: [the subject's, the others]; null as it. */
export function candidateRules(spec: Bundle, action: number, agent: Agent): [number[], number[]] | null {
  const mine: number[] = [];
  const others: number[] = [];
  const ok = forEachCandidate(spec, action, agent, (r, order) => {
    (order === r ? mine : others).push(r);
    return true;
  });
  return ok ? [mine.sort((a, b) => a - b), others.sort((a, b) => a - b)] : null;
}

/** Every rule that selects the action, whoever it selects, ascending (explain, lint, the compiler's tests). */
export function rulesSelecting(spec: Bundle, action: number): number[] {
  const lists: (readonly number[])[] = [];
  for (const id of spec.index[action] ?? []) {
    const bucket = spec.buckets[id];
    if (bucket === undefined) continue;
    lists.push(...Object.values(bucket.by_sub), bucket.any);
    for (const values of Object.values(bucket.by_claim)) lists.push(...Object.values(values));
  }
  return merged(lists);
}

/** Ascending lists of rule indexes as one ascending list without repeats; one list is returned as is. */
function merged(lists: (readonly number[])[]): number[] {
  if (lists.length === 0) return [];
  if (lists.length === 1) return lists[0] as number[];
  const all = lists.flat().sort((a, b) => a - b);
  return all.filter((r, i) => i === 0 || r !== all[i - 1]);
}

/** An empty bucket for a selector (null-prototype maps: a subject named `__proto__` is just a key). */
export function emptyBucket(selector: string): RuleBucket {
  return { selector, by_sub: Object.create(null), by_claim: Object.create(null), any: [] };
}
