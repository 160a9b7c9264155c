/**
 * Rule selectors and the rule index at scale, against plain scans: every label, name and glob of the
 * shipped catalogs resolves (with and without aliases) to what a pass over every action finds, lists
 * of selectors to the union of their parts, and the index finds for every agent and action exactly the
 * rules a scan of every rule finds, in the same order.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { buildIndex, labelsOf, resolveSelectors, type SelectedRule } from "../../src/compiler/rules";
import { canonicalJson, type Json } from "../../src/core/canonical-json";
import { type Agent, agentMatches } from "../../src/policy/evaluate";
import { candidateRules, rulesSelecting } from "../../src/policy/rule-index";
import type { ActionSpec, Bundle, RuleSpec } from "../../src/policy/types";

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

describe("buildIndex", () => {
  const SUBJECTS = ["agent-1", "agent-2", "b", "a", "10", "2", "__proto__", "constructor", "😀", ""];
  const TEAMS = ["platform", "infra", "__proto__", "toString"];
  const SELECTORS = [
    ...labels.slice(0, 12),
    "github:issues.*",
    "github:pulls.*",
    "slack:chat.*",
    "stripe:*",
    "*",
    ...actions.filter((_, i) => i % 97 === 0).map((a) => a.name),
    ...actions.filter((a) => a.same_effect_as.length > 0).map((a) => a.same_effect_as[0] as string),
  ];
  let seed = 9;
  const next = (m: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % m;
  };
  const some = <T>(xs: T[], max: number) => Array.from({ length: next(max) + 1 }, () => xs[next(xs.length)] as T);
  const agents = (): RuleSpec["agents"] => {
    const pick = next(6);
    if (pick === 0) return null;
    if (pick === 1) return { issuer: ["workloads"] };
    if (pick <= 3) return { sub: some(SUBJECTS, 2), ...(next(2) ? { issuer: ["workloads"] } : {}) };
    // Claims, sometimes two of them, sometimes a value listed twice, sometimes with a subject too.
    const claims: Record<string, string[]> = { team: some(TEAMS, 2) };
    if (next(3) === 0) claims.env = ["prod"];
    return next(5) === 0 ? { sub: some(SUBJECTS, 1), claims } : { claims };
  };
  const rule = (i: number): SelectedRule => ({
    spec: {
      id: `r${i}`,
      effect: "allow",
      mode: "enforce",
      agents: agents(),
      when: null,
      message: null,
      approvers: null,
      source: `rules.yaml:${i}`,
    },
    selectors: [...new Set(some(SELECTORS, 3))],
  });
  const rules: SelectedRule[] = Array.from({ length: 1500 }, (_, i) => rule(i));
  const built = buildIndex(actions, services, rules);
  const bundle = { ...result.bundle, rules: rules.map((r) => r.spec), ...built } as Bundle;
  const scans = new Map(SELECTORS.map((sel) => [sel, scan(sel, true) as number[]]));
  /** Per action, by a pass over every rule: the rules whose selectors select it, ascending. */
  const selecting: number[][] = actions.map(() => []);
  rules.forEach(({ selectors }, r) => {
    for (const a of new Set(selectors.flatMap((sel) => scans.get(sel) ?? []))) selecting[a]!.push(r);
  });

  it("finds, for every agent and action, exactly the rules a scan of every rule finds, in the same order", () => {
    const probes: Agent[] = [];
    for (const sub of SUBJECTS)
      for (const team of [...TEAMS, undefined, ["platform", "infra"], 7]) {
        const claims: Record<string, unknown> = team === undefined ? {} : { team };
        if (next(2)) claims.env = "prod";
        probes.push({ issuer: next(2) ? "workloads" : "people", iss: "https://x", sub, claims });
      }
    let checked = 0;
    for (const agent of probes)
      for (let a = 0; a < actions.length; a += 7) {
        const applies = (r: number) => agentMatches(rules[r]!.spec.agents, agent);
        // The order of a decision's rules: those naming the agent's subject, then the rest, each in rule order.
        const mine = (r: number) => rules[r]!.spec.agents?.sub !== undefined;
        const want = [selecting[a]!.filter(mine), selecting[a]!.filter((r) => !mine(r))].map((list) =>
          list.filter(applies),
        );
        const got = candidateRules(bundle, a, agent);
        expect(got, `${agent.sub} ${JSON.stringify(agent.claims)} ${actions[a]!.name}`).not.toBeNull();
        for (const list of got!) expect(new Set(list).size).toBe(list.length);
        expect(got!.map((list) => list.filter(applies))).toEqual(want);
        checked += want[0]!.length + want[1]!.length;
      }
    expect(checked).toBeGreaterThan(10_000);
  });

  it("stores each selector once, and an action lists only the selectors that select it", () => {
    expect(new Set(built.buckets.map((b) => b.selector)).size).toBe(built.buckets.length);
    const named = new Set(rules.flatMap((r) => r.selectors));
    expect(built.buckets.map((b) => b.selector).sort()).toEqual([...named].sort());
    const want: number[][] = actions.map(() => []);
    built.buckets.forEach((b, id) => {
      for (const a of scans.get(b.selector) ?? []) want[a]!.push(id);
    });
    expect(built.index).toEqual(want);
    expect(actions.map((_, a) => rulesSelecting(bundle, a))).toEqual(selecting);
  });

  it("is written the same way by the same rules (the bundle's revision is a hash of it)", () => {
    const again = buildIndex(structuredClone(actions), services, structuredClone(rules));
    expect(canonicalJson(again as unknown as Json, "index-first")).toBe(
      canonicalJson(built as unknown as Json, "index-first"),
    );
  });

  it("refuses a selector that does not resolve", () => {
    expect(() => buildIndex(actions, services, [{ spec: rules[0]!.spec, selectors: ["github:nope"] }])).toThrow(
      'internal: rule selector github:nope: unknown action "github:nope"',
    );
  });
});
