/**
 * Rule selectors and the rule index at scale, against plain scans: every label, name and glob of the
 * shipped catalogs resolves (with and without aliases) to what a pass over every action finds, lists
 * of selectors to the union of their parts, and the index holds what adding the rules one by one gives,
 * in the same key order (the bundle is written in it).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { buildIndex, labelsOf, resolveSelectors, type SelectedRule } from "../../src/compiler/rules";
import { canonicalJson, type Json } from "../../src/core/canonical-json";
import type { ActionSpec, RuleBucket, RuleSpec } from "../../src/policy/types";

const result = compilePolicies(join(import.meta.dirname, "..", "..", "policies"));
if (!result.ok) throw new Error(result.problems.format());
const { services } = result.bundle;
// A copy, so the lookups are built here and not reused from the compile.
const actions: ActionSpec[] = structuredClone(result.bundle.actions);

/** What a selector selects, by a pass over every action (aliases followed to a fixed point). */
function scan(sel: string, aliases: boolean): number[] | string {
  const all = actions.map((_, i) => i);
  if (sel === "*") return all;
  const colon = sel.indexOf(":");
  if (colon === -1)
    return `"${sel}" is not an action selector: write service:action, service:glob.*, kind:, risk: or data:`;
  const [head, tail] = [sel.slice(0, colon), sel.slice(colon + 1)];
  if (head === "kind" || head === "risk" || head === "data") {
    const hits = all.filter((i) => labelsOf(actions[i]!).includes(sel));
    return hits.length > 0 ? hits : `no action has ${head} "${tail}": check the label against the catalogs`;
  }
  if (!Object.hasOwn(services, head))
    return `unknown service "${head}" in "${sel}": add policies/services/${head}.yaml or fix the name`;
  const pattern = new RegExp(`^${tail.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
  const hits = new Set(
    all.filter((i) => actions[i]!.service === head && pattern.test(actions[i]!.name.slice(colon + 1))),
  );
  if (hits.size === 0)
    return tail.includes("*")
      ? `"${sel}" matches no action of ${head}: check the pattern against policies/services/${head}.yaml`
      : `unknown action "${sel}"`;
  for (let grown = aliases; grown; ) {
    grown = false;
    for (const i of all) {
      if (hits.has(i) || !actions[i]!.same_effect_as.some((t) => [...hits].some((h) => actions[h]!.name === t)))
        continue;
      hits.add(i);
      grown = true;
    }
  }
  return [...hits].sort((a, b) => a - b);
}

function resolve(selectors: string[], aliases: boolean): { hits: number[]; failed: [number, string][] } {
  const failed: [number, string][] = [];
  const hits = resolveSelectors(selectors, actions, services, (k, m) => failed.push([k, m]), { aliases });
  return { hits, failed };
}

const labels = [...new Set(actions.flatMap(labelsOf))];
const names = actions.map((a) => a.name);
const globs = [
  ...new Set(
    actions.flatMap((a) => [`${a.service}:*`, `${a.name.split(".")[0]}.*`, `${a.service}:*${a.name.slice(-3)}`]),
  ),
];
const misses = [
  "kind:nothing",
  "data:",
  "risk:",
  "github:no.such.*",
  "nosuch:x",
  "constructor:x",
  "toString:object",
  "*x",
];
const selectors = ["*", ...labels, ...names, ...globs, ...misses];

describe("resolveSelectors over the shipped catalogs", () => {
  it.each([true, false])("each selector alone is what a scan finds (aliases: %s)", (aliases) => {
    expect(labels.length).toBeGreaterThan(10);
    expect(globs.length).toBeGreaterThan(500);
    for (const sel of selectors) {
      const want = scan(sel, aliases);
      const got = resolve([sel], aliases);
      if (typeof want === "string") {
        expect(got.hits, sel).toEqual([]);
        expect(got.failed, sel).toEqual([[0, want]]);
      } else {
        expect(got, sel).toEqual({ hits: want, failed: [] });
      }
    }
  });

  it("an unknown action names the closest one", () => {
    expect(resolve(["github:pulls.merg"], true).failed).toEqual([
      [0, 'unknown action "github:pulls.merg": did you mean "github:pulls.merge"?'],
    ]);
  });

  it("a list selects the union of its selectors, ascending, and names each one that fails", () => {
    let seed = 5;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed;
    };
    for (let n = 0; n < 400; n++) {
      const list = Array.from({ length: 1 + (next() % 4) }, () => selectors[next() % selectors.length] as string);
      const aliases = next() % 2 === 0;
      const parts = list.map((s) => scan(s, aliases));
      const union = [...new Set(parts.flatMap((p) => (typeof p === "string" ? [] : p)))].sort((a, b) => a - b);
      const got = resolve(list, aliases);
      expect(got.hits, list.join(" ")).toEqual(union);
      expect(got.failed.map(([k]) => k)).toEqual(parts.flatMap((p, k) => (typeof p === "string" ? [k] : [])));
    }
  });

  it("what it returns is the caller's: changing it changes no later answer", () => {
    const first = resolve(["kind:read"], true).hits;
    first.length = 0;
    expect(resolve(["kind:read"], true).hits).toEqual(scan("kind:read", true));
  });
});

/** The index as the rules are added one by one, each subject once per rule. */
function indexRuleByRule(n: number, rules: SelectedRule[]): RuleBucket[] {
  const index: RuleBucket[] = Array.from({ length: n }, () => ({ by_sub: Object.create(null), any: [] }));
  rules.forEach(({ spec, actions: selected }, r) => {
    for (const a of selected) {
      const bucket = index[a]!;
      if (!spec.agents?.sub) bucket.any.push(r);
      else
        for (const s of new Set(spec.agents.sub)) {
          bucket.by_sub[s] ??= [];
          bucket.by_sub[s].push(r);
        }
    }
  });
  return index;
}

describe("buildIndex", () => {
  const SUBJECTS = ["agent-1", "agent-2", "b", "a", "10", "2", "__proto__", "constructor", "😀", ""];
  const rule = (i: number, sub: string[] | null): RuleSpec => ({
    id: `r${i}`,
    effect: "allow",
    mode: "enforce",
    agents: sub === null ? null : { sub },
    when: null,
    message: null,
    approvers: null,
    source: `rules.yaml:${i}`,
  });

  it("holds what adding the rules one by one gives, in the same key order", () => {
    let seed = 9;
    const next = (m: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % m;
    };
    const rules: SelectedRule[] = Array.from({ length: 3000 }, (_, i) => {
      const sub =
        next(4) === 0 ? null : Array.from({ length: next(3) }, () => SUBJECTS[next(SUBJECTS.length)] as string);
      const selected = [...new Set(Array.from({ length: next(40) }, () => next(actions.length)))].sort((a, b) => a - b);
      return { spec: rule(i, sub), actions: selected };
    });
    const built = buildIndex(actions, rules);
    const want = indexRuleByRule(actions.length, rules);
    expect(JSON.stringify(built)).toBe(JSON.stringify(want));
    expect(canonicalJson(built as unknown as Json, "index-first")).toBe(
      canonicalJson(want as unknown as Json, "index-first"),
    );
  });

  it("refuses an action index outside the catalog", () => {
    expect(() => buildIndex(actions, [{ spec: rule(0, null), actions: [actions.length] }])).toThrow(
      `internal: rule r0 selects action ${actions.length} of ${actions.length}`,
    );
  });
});
