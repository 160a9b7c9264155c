// Generates realistic policy sets of a given rule count for the classify + decide micro-benchmark.
//
// Shape (fixed up front, not tuned to the targets; seeded, so every run generates the same rules):
//   - the real catalogs (policies/services/*.yaml: github, slack, stripe) and policies/firebreak.yaml;
//   - 1% org-wide guardrails (no `agents`: they apply to everyone), min. 2: deny rules on action
//     names, service globs or labels, half with a CEL condition;
//   - 2% team rules selected by a claim (`agents: { claims: { team: [...] } }`), min. 1;
//   - the rest: agents with 5 rules each (by `sub`, most also by `issuer`), spread over the catalog:
//     a label selector (kind:/risk:/data:), named actions, a service glob, an approve rule and a deny
//     rule; about half carry a CEL condition, 5% are report mode, 10% name two subjects.
// The decided request is `GET /github/repos/acme/api/issues/1` by agent-1 (issuer `workloads`, team
// `platform`): it is allowed by 3 rules and evaluates (without matching) a deny of its own and the
// guardrails that select `github:issues.get` (see `FIXED_*` below).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";

export const DECIDED = {
  method: "GET",
  url: "https://firebreak.example/github/repos/acme/api/issues/1",
  agent: { issuer: "workloads", iss: "https://oidc.acme.example", sub: "agent-1", claims: { team: "platform" } },
};

/** Rules of agent-1: three of them select github:issues.get; two of those allow it, one deny does not match. */
const FIXED_AGENT_1 = [
  {
    id: "agent-1-read-acme",
    effect: "allow",
    agents: { issuer: ["workloads"], sub: ["agent-1"] },
    actions: ["kind:read"],
    when: 'resource.startsWith("repo:acme/")',
  },
  { id: "agent-1-issues", effect: "allow", agents: { sub: ["agent-1"] }, actions: ["github:issues.*"] },
  {
    id: "agent-1-no-secrets-repo",
    effect: "deny",
    agents: { sub: ["agent-1"] },
    actions: ["github:issues.get", "github:contents.get"],
    when: 'resource == "repo:acme/secrets"',
    message: "Not that repository.",
  },
  {
    id: "agent-1-merge-approval",
    effect: "approve",
    agents: { issuer: ["workloads"], sub: ["agent-1"] },
    actions: ["github:pulls.merge"],
  },
  {
    id: "agent-1-announce",
    effect: "allow",
    agents: { sub: ["agent-1"] },
    actions: ["slack:chat.postMessage"],
    when: 'has(request.args.channel) && request.args.channel == "C0AGENT001"',
  },
];

/** Guardrails always present: one selects every github action (its condition is false here). */
const FIXED_GUARDRAILS = [
  {
    id: "guard-no-evil-repos",
    effect: "deny",
    actions: ["github:*"],
    when: 'resource.startsWith("repo:evil/")',
    message: "Nothing touches evil repositories.",
  },
  {
    id: "guard-no-admin",
    effect: "deny",
    actions: ["github:hooks.*", "github:repos.delete", "github:repos.transfer", "stripe:payouts.create"],
    message: "Administrative changes are made by people.",
  },
];

/** The team rule agent-1's claim matches. */
const FIXED_TEAM = [
  {
    id: "team-platform-read",
    effect: "allow",
    agents: { issuer: ["workloads"], claims: { team: ["platform"] } },
    actions: ["kind:read"],
    when: 'action.service == "github"',
  },
];

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads the catalogs: action names, labels and globs that exist. */
export function readCatalog(servicesDir) {
  const actions = [];
  // *.overrides.yaml are the catalog importer's input, not catalogs (as the compiler skips them).
  for (const f of readdirSync(servicesDir).filter((x) => x.endsWith(".yaml") && !x.endsWith(".overrides.yaml"))) {
    const d = parse(readFileSync(join(servicesDir, f), "utf8"));
    for (const [key, a] of Object.entries(d.actions)) {
      if (a.forbidden) continue;
      actions.push({ name: `${d.service}:${key}`, service: d.service, kind: a.kind, risk: a.risk, data: a.data ?? [] });
    }
  }
  const labels = [
    ...new Set(actions.flatMap((a) => [`kind:${a.kind}`, `risk:${a.risk}`, ...a.data.map((d) => `data:${d}`)])),
  ].sort();
  // `group.*` needs something after the dot: an action named `search` alone gives no glob.
  const dotted = actions.filter((a) => a.name.split(":")[1].includes("."));
  const globs = [...new Set(dotted.map((a) => `${a.service}:${a.name.split(":")[1].split(".")[0]}.*`))].sort();
  return { actions, labels, globs };
}

const GUARD_LABELS = ["kind:admin", "kind:delete", "risk:critical", "data:secrets", "data:financial"];
const BAD_ORGS = ["evil", "competitor", "archive", "legal-hold"];

function guardCondition(rnd, pick) {
  const org = pick(BAD_ORGS);
  const forms = [
    () => `resource.startsWith("repo:${org}/")`,
    () => `resource.endsWith("/${org}")`,
    () => `has(request.args.amount) && request.args.amount > ${10000 + Math.floor(rnd() * 1e6)}`,
    () => `"pii" in action.data && !resource.startsWith("channel:C0${Math.floor(rnd() * 1e6)}")`,
  ];
  return pick(forms)();
}

const ORGS = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
const TEAMS = ["payments", "infra", "data", "support", "growth", "security", "mobile", "web"];

function conditionFor(rnd, pick) {
  const org = pick(ORGS);
  const forms = [
    () => `resource.startsWith("repo:${org}/")`,
    () => `resource == "repo:${org}/api" || resource == "repo:${org}/web"`,
    () => `has(request.args.channel) && request.args.channel == "C0${Math.floor(rnd() * 1e6)}"`,
    () => `action.risk in ["low", "medium"] && !resource.startsWith("repo:${org}/infra")`,
    () => `has(request.args.amount) && request.args.amount < ${1000 + Math.floor(rnd() * 50000)}`,
  ];
  return pick(forms)();
}

/** The rules of one generated set, in source order. */
export function generateRules(total, seed = 1) {
  const rnd = mulberry32(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  return (catalog) => {
    const guardCount = Math.max(FIXED_GUARDRAILS.length, Math.round(total * 0.01));
    const teamCount = Math.max(FIXED_TEAM.length, Math.round(total * 0.02));
    const guards = [...FIXED_GUARDRAILS];
    const risky = catalog.actions.filter((a) => a.kind !== "read");
    for (let i = guards.length; i < guardCount; i++) {
      // A guardrail either names risky actions outright, or guards anything behind a condition
      // about places no agent should touch (never true for the decided request).
      const r =
        rnd() < 0.5
          ? { id: `guard-${i}`, effect: "deny", actions: [pick(risky).name, pick(GUARD_LABELS)] }
          : {
              id: `guard-${i}`,
              effect: "deny",
              actions: [pick([pick(catalog.actions).name, pick(catalog.globs), pick(catalog.labels)])],
              when: guardCondition(rnd, pick),
            };
      r.message = `Guardrail ${i}.`;
      guards.push(r);
    }
    const teams = [...FIXED_TEAM];
    for (let i = teams.length; i < teamCount; i++) {
      const r = {
        id: `team-${i}`,
        effect: rnd() < 0.8 ? "allow" : "deny",
        agents: { claims: { team: [pick(TEAMS)] } },
        actions: rnd() < 0.5 ? [pick(catalog.labels)] : [pick(catalog.globs), pick(catalog.actions).name],
      };
      if (rnd() < 0.5) r.when = conditionFor(rnd, pick);
      teams.push(r);
    }
    const agentRules = [...FIXED_AGENT_1];
    const remaining = total - guards.length - teams.length;
    for (let k = 2; agentRules.length < remaining; k++) {
      const sub = `agent-${k}`;
      const agents = () => {
        const subs = rnd() < 0.1 ? [sub, `agent-${k + 1}`] : [sub];
        return rnd() < 0.7 ? { issuer: ["workloads"], sub: subs } : { sub: subs };
      };
      const templates = [
        { effect: "allow", actions: [pick(catalog.labels)] },
        {
          effect: "allow",
          actions: [pick(catalog.actions).name, pick(catalog.actions).name, pick(catalog.actions).name],
        },
        { effect: "allow", actions: [pick(catalog.globs)] },
        { effect: "approve", actions: [pick(["risk:high", "risk:critical", pick(catalog.actions).name])] },
        { effect: "deny", actions: [pick(catalog.actions).name, pick(catalog.labels)], message: "Not for this agent." },
      ];
      templates.forEach((t, j) => {
        if (agentRules.length >= remaining) return;
        const r = { id: `${sub}-r${j}`, ...t, agents: agents() };
        if (rnd() < 0.5) r.when = conditionFor(rnd, pick);
        if (rnd() < 0.05) r.mode = "report";
        agentRules.push(r);
      });
    }
    return { guards, teams, agentRules: agentRules.slice(0, Math.max(0, remaining)) };
  };
}

/**
 * Writes a policy directory with `total` rules under `dir`: the repository's firebreak.yaml and
 * catalogs, and rules split in files of at most 500 rules (as a team of teams would keep them).
 */
export function writePolicySet(repoRoot, dir, total, seed = 1) {
  const src = join(repoRoot, "policies");
  mkdirSync(join(dir, "services"), { recursive: true });
  mkdirSync(join(dir, "rules"), { recursive: true });
  writeFileSync(join(dir, "firebreak.yaml"), readFileSync(join(src, "firebreak.yaml")));
  // The catalogs, the GraphQL schemas beside them (a service's `graphql.schema` names its file) and
  // their compact strings (`*.graphql.compact.json`, written by `catalog import`: src/compiler/graphql-schema.ts).
  const shipped = (x) => x.endsWith(".yaml") || x.endsWith(".graphql") || x.endsWith(".graphql.compact.json");
  for (const f of readdirSync(join(src, "services")).filter(shipped)) {
    writeFileSync(join(dir, "services", f), readFileSync(join(src, "services", f)));
  }
  const catalog = readCatalog(join(src, "services"));
  const { guards, teams, agentRules } = generateRules(total, seed)(catalog);
  writeFileSync(join(dir, "rules", "guardrails.yaml"), stringify({ rules: guards }));
  writeFileSync(join(dir, "rules", "teams.yaml"), stringify({ rules: teams }));
  for (let i = 0; i * 500 < agentRules.length; i++) {
    const part = agentRules.slice(i * 500, (i + 1) * 500);
    writeFileSync(join(dir, "rules", `agents-${String(i).padStart(3, "0")}.yaml`), stringify({ rules: part }));
  }
  return { guardrails: guards.length, team_rules: teams.length, agent_rules: agentRules.length };
}
