#!/usr/bin/env node
// What-if for a proposed src change (docs/benchmarks.md): index claim-selected rules by claim value,
// as rules are already indexed by `sub`. Simulated without touching src/: the 10,000-rule bundle of
// the micro-benchmark, and a copy whose `any` list for the decided action keeps only what such an
// index would still scan for agent-1 (rules for everyone, and claim rules for team `platform`).
// The same decide() runs on both, interleaved.
//   node bench/whatif-claim-index.mjs [--rules 10000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { DECIDED, writePolicySet } from "./policies.mjs";

register();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--rules");
const RULES = i > 0 ? Number(process.argv[i + 1]) : 10000;
const { compilePolicies } = await import(join(ROOT, "src/compiler/compile.ts"));
const { loadBundle } = await import(join(ROOT, "src/policy/load.ts"));
const { decide } = await import(join(ROOT, "src/policy/evaluate.ts"));

const tmp = mkdtempSync(join(tmpdir(), "firebreak-whatif-"));
let compiled;
try {
  const dir = join(tmp, "policies");
  writePolicySet(ROOT, dir, RULES);
  compiled = compilePolicies(dir);
  if (!compiled.ok) throw new Error(compiled.problems.format());
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const now = loadBundle(JSON.parse(JSON.stringify(compiled.bundle)));
const action = now.actionIndex.get("github:issues.get");
const json = JSON.parse(JSON.stringify(compiled.bundle));
const team = DECIDED.agent.claims.team;
json.index[action].any = json.index[action].any.filter((r) => {
  const claims = json.rules[r].agents?.claims;
  return !claims || Object.values(claims).some((values) => values.includes(team));
});
const indexed = loadBundle(json);

const input = {
  agent: DECIDED.agent,
  action,
  resource: "repo:acme/api",
  request: {
    method: "GET",
    path: "/repos/acme/api/issues/1",
    params: { owner: "acme", repo: "api", issue_number: "1" },
    query: {},
    args: {},
  },
  task: {},
  now: new Date(),
};
const a = decide(now, input);
const b = decide(indexed, input);
if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error("the simulated index changes the decision");

let sink = 0;
const fns = { "index by sub (now)": () => decide(now, input), "index by sub and claim": () => decide(indexed, input) };
for (const f of Object.values(fns)) for (let k = 0; k < 100_000; k++) sink += f().rules.length;
const per = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
for (let r = 0; r < 40; r++) {
  for (const [name, f] of Object.entries(fns)) {
    for (let s = 0; s < 50; s++) {
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < 100; k++) sink += f().rules.length;
      per[name].push(Number(process.hrtime.bigint() - t0) / 100_000);
    }
  }
}
console.log(
  `${RULES} rules, github:issues.get by agent-1 (team ${team}); decision unchanged: ${a.effect} by ${a.rules}`,
);
console.log(
  `rules in "any": ${now.spec.index[action].any.length} now, ${indexed.spec.index[action].any.length} with a claim index`,
);
for (const [name, v] of Object.entries(per)) {
  v.sort((x, y) => x - y);
  console.log(`  decide p50 ${v[v.length >> 1].toFixed(3)} us   ${name}`);
}
if (sink < 0) console.log(sink);
